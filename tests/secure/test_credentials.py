"""How credentials are given: URL, connect() keywords, environment; refused with one clear line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import coordkit
from coordkit.core.url import parse_url
from coordkit.testing._certs import CertificateAuthority

ENV = (
    "COORDKIT_USER",
    "COORDKIT_PASSWORD",
    "COORDKIT_PASSWORD_FILE",
    "COORDKIT_CA",
    "COORDKIT_CERT",
    "COORDKIT_KEY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    authority = CertificateAuthority(tmp_path)
    alice, bob = authority.issue("alice", client=True), authority.issue("bob", client=True)
    paths = {"ca": authority.ca, "cert": alice.cert, "key": alice.key, "bob_key": bob.key}
    for name, text in (("password", "s3cret-pw\n"), ("garbage", "not PEM\n")):
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    (tmp_path / "notutf8").write_bytes(b"\xff\xfepw")
    paths.update(notutf8=str(tmp_path / "notutf8"), folder=str(tmp_path))
    return paths


@pytest.mark.parametrize(
    "url",
    [
        "etcd://alice:s3cret-pw@127.0.0.1:2379",
        "zk://alice:s3cret-pw@h1:2181,h2/ns",
        # a '/', '?' or '#' in the password ended the authority early: the
        # URL parser's messages then quoted the password, or a part of it
        "etcd://alice:s3cret-pw/x@127.0.0.1:2379",
        "zk://alice:s3cret-pw?x@h1:2181",
        "etcd://alice:s3cret-pw#x@h1:2379/ns",
        "zk://alice:s3cret-pw/x@h1",
    ],
)
def test_a_password_in_the_url_is_refused_saying_where_it_goes(url: str) -> None:
    with pytest.raises(coordkit.ConfigurationError) as caught:
        coordkit.connect(url)
    message = str(caught.value)
    assert "s3cret-pw" not in message and "alice:***@" in message
    assert (
        "password_file=" in message and "--password-file" in message and "COORDKIT_PASSWORD_FILE" in message
    )


@pytest.mark.parametrize(
    "url", ["zk://h1:2181,h2:2181/ns@x", "etcd://h1:2379/ns@x?ttl=5", "zk://[::1]:2181/a@b"]
)
def test_an_at_sign_after_host_port_is_no_password(url: str) -> None:
    parse_url(url, {})  # host:port before the '@': no user:password form, nothing refused


def test_user_at_host_and_etcds(files: dict[str, str]) -> None:
    target = parse_url(
        "etcds://alice@h1:2379,h2/ns?ca=" + files["ca"], {}, {"password_file": files["password"]}
    )
    assert target.endpoints == ("h1:2379", "h2:2379") and target.namespace == "/ns"
    assert target.security.user == "alice" and target.security.password == "s3cret-pw"
    assert target.security.tls == coordkit.TLS(ca=files["ca"])
    assert "s3cret-pw" not in repr(target) and "password=***" in repr(target)


def test_a_password_cannot_be_serialised_or_spread_by_accident(files: dict[str, str]) -> None:
    """Security is no tuple and no dataclass: what would print or dump its fields fails
    instead of showing the password (json, %-formatting, unpacking, asdict)."""
    target = parse_url("etcd://alice@h1", {}, {"password_file": files["password"]})
    security = target.security
    assert security.password == "s3cret-pw"
    for spread in (json.dumps, list, dataclasses.asdict, lambda s: "%s %s %s %s %s" % s):  # noqa: UP031
        with pytest.raises(TypeError):
            spread(security)
    with pytest.raises(TypeError):
        json.dumps(target)  # a parsed URL holds its Security: the same refusal
    assert "s3cret-pw" not in "%s" % (security,) and "s3cret-pw" not in f"{target}"  # noqa: UP031
    with pytest.raises(AttributeError):
        security.password = "other"  # type: ignore[misc]


def test_query_options_and_keywords(files: dict[str, str]) -> None:
    query = f"?tls=true&cert={files['cert']}&key={files['key']}"
    assert parse_url("etcd://h" + query, {}).security.tls == coordkit.TLS(None, files["cert"], files["key"])
    assert parse_url("zk://h?tls=true", {}).security.tls == coordkit.TLS()
    keyword = coordkit.TLS(ca=files["ca"])
    assert parse_url("etcd://h", {}, {"tls": keyword}).security.tls == keyword
    with pytest.raises(coordkit.ConfigurationError, match="tls=false but cert, key given"):
        parse_url("etcd://h" + query, {}, {"tls": False})


def test_environment_and_precedence(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COORDKIT_USER", "env-user")
    monkeypatch.setenv("COORDKIT_PASSWORD_FILE", files["password"])
    monkeypatch.setenv("COORDKIT_CA", files["ca"])
    from_env = parse_url("etcd://h", {}).security
    assert (from_env.user, from_env.password, from_env.tls) == (
        "env-user",
        "s3cret-pw",
        coordkit.TLS(ca=files["ca"]),
    )
    assert parse_url("etcd://alice@h", {}).security.user == "alice"  # the URL over the environment
    assert parse_url("etcd://alice@h", {}, {"user": "bob", "password": "pw"}).security.user == "bob"
    assert parse_url("memory://", {}).security.enabled is False  # memory:// ignores the environment


@pytest.mark.parametrize(
    "url, keywords, expected",
    [
        ("etcd://h", {"password": "pw"}, "a password was given without a user"),
        ("etcd://alice@h", {}, "user 'alice' has no password: put the password in a file"),
        ("etcd://h", {"user": "a", "password": "p", "password_file": "/x"}, "not both"),
        ("etcd://h?cert={cert}", {}, "a client cert needs its key too"),
        (
            "etcd://h",
            {"tls": coordkit.TLS(ca="/nonexistent/ca.pem")},
            "ca file '/nonexistent/ca.pem' does not exist",
        ),
        (
            "etcd://h",
            {"user": "a", "password_file": "/nonexistent/pw"},
            "password_file file '/nonexistent/pw'",
        ),
        ("etcd://h?tls=maybe", {}, "tls='maybe' must be true or false"),
        ("etcd://h", {"acl": "creator"}, "acl= is a ZooKeeper option"),
        ("zk://h", {"acl": "everyone"}, "is not scheme:id:perms"),
        ("memory://", {"user": "a", "password": "p"}, "memory:// has no TLS or authentication"),
        # a ':' made the ZooKeeper digest "a:b:p", which the server reads as user "a", password "b:p"
        ("zk://h", {"user": "a:b", "password": "p"}, "user name 'a:b' has a ':'"),
        ("etcd://h", {"user": "a:b", "password": "p"}, "user name 'a:b' has a ':'"),
        ("zk://al%0Aice@h", {"password": "p"}, "a control character"),
        ("etcd://h", {"user": "", "password": "p"}, "user= is empty"),
        ("zk://h", {"user": "a", "password_file": "{notutf8}"}, "is not UTF-8 text"),
        ("etcd://h", {"user": "a", "password_file": "{folder}"}, "is a directory, not a file"),
        ("zk://h?acl=foo:bar:r", {}, "is not scheme:id:perms"),
        ("zk://h?acl=digest:bob:r", {}, "is not scheme:id:perms"),
        ("zk://h?acl=ip::r", {}, "is not scheme:id:perms"),
        # files that cannot load were reported by the handshake as the server refusing the certificate
        ("etcd://h?cert={cert}&key={bob_key}", {}, "is not the private key of the certificate"),
        ("zk://h?cert={cert}&key={garbage}", {}, "must be PEM files: a certificate and its unencrypted"),
        ("etcd://h?cert={cert}&key={cert}", {}, "must be PEM files"),
        ("zk://h?ca={garbage}", {}, "holds no PEM certificate"),
        # bytes became the password "b'pw'"; an empty one was sent (ZooKeeper: the identity "alice:")
        ("etcd://h", {"user": "a", "password": b"pw"}, "password= must be a str, not bytes"),
        ("zk://h", {"user": "a", "password": ""}, "password= is empty"),
    ],
)
def test_bad_credentials_are_one_clear_line(
    url: str, keywords: dict[str, object], expected: str, files: dict[str, str]
) -> None:
    with pytest.raises(coordkit.ConfigurationError) as caught:
        parse_url(
            url.format(**files),
            {},
            {k: v.format(**files) if isinstance(v, str) else v for k, v in keywords.items()},
        )
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_creator_acl_needs_a_user() -> None:
    with pytest.raises(coordkit.ConfigurationError, match="needs a user"):
        coordkit.connect("zk://127.0.0.1:1", acl="creator")
