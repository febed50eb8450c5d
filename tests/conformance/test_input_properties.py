"""Every name and value is refused up front with the same error on every backend, or the
round trip gives back exactly what was written (Hypothesis over awkward characters)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import coordkit
from coordkit import ConfigurationError, InvalidNameError
from coordkit.discovery._checks import check_service
from coordkit.names import validate_name, validate_value
from coordkit.testing.strategies import names, values

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Hypothesis warns when the global ``random`` state moves while it draws an example. Here it is
# kazoo's connection threads that move it (the jitter of a reconnect, the shuffle of a cluster's
# hosts), concurrently with the draw: no strategy of this module uses ``random``.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)


def _verdict(check: Any, *args: Any) -> str | None:
    """The error the edge gives for ``args`` (None: accepted), independent of any backend."""
    try:
        check(*args)
    except ConfigurationError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@SETTINGS
@given(name=names(), value=values())
def test_a_name_is_refused_everywhere_or_stored_exactly(
    client: coordkit.Client, name: str, value: str | bytes
) -> None:
    expected = _verdict(validate_name, name, "key") or _verdict(validate_value, value)
    try:
        client.put(name, value)
    except ConfigurationError as exc:
        assert f"{type(exc).__name__}: {exc}" == expected
        return
    assert expected is None, f"{name!r} / {value!r} was stored although the edge refuses it"
    entry = client.get(name)
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    assert entry is not None and entry.value == raw


@SETTINGS
@given(service=names())
def test_a_service_name_is_refused_everywhere_or_registered(client: coordkit.Client, service: str) -> None:
    expected = _verdict(check_service, service)
    try:
        registration = client.register(service, "127.0.0.1", 8080)
    except ConfigurationError as exc:
        assert f"{type(exc).__name__}: {exc}" == expected
        return
    assert expected is None, f"service {service!r} was registered although the edge refuses it"
    try:
        assert registration.id in [i.id for i in client.instances(service)]
    finally:
        registration.close()


@pytest.mark.parametrize("value", ["a\ud800", "\udfff", "x\ud83d"])
def test_a_lone_surrogate_value_is_a_configuration_error(client: coordkit.Client, value: str) -> None:
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        client.put("/v", value)
    assert client.get("/v") is None


@pytest.mark.parametrize("name", ["svc\u0085", "svc\ufffe", "svc\ue000", "svc\U0001f600"])
def test_names_zookeeper_refuses_are_refused_up_front_everywhere(client: coordkit.Client, name: str) -> None:
    with pytest.raises(InvalidNameError, match="U\\+"):
        client.put(f"/{name}", "x")
    with pytest.raises(InvalidNameError, match="U\\+"):
        client.register(name, "127.0.0.1", 8080)
    with pytest.raises(InvalidNameError, match="U\\+"):
        client.lock(name)
    assert client.tree("/") == []


@pytest.mark.parametrize("bad", ["a\ud800", "\udfff"])
def test_a_lone_surrogate_in_a_registration_is_a_configuration_error(
    client: coordkit.Client, bad: str
) -> None:
    """Metadata and uri_spec are refused up front like values; a refused update leaves the
    registration as it was (it once kept the bad metadata, and every later write of it,
    re-registration included, raised UnicodeEncodeError)."""
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        client.register("svc", "127.0.0.1", 8080, metadata={"zone": bad})
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        client.register("svc", "127.0.0.1", 8080, uri_spec="{scheme}://" + bad)
    with pytest.raises(ConfigurationError, match="lone surrogate"):
        client.register("svc", "127.0.0.1", 8080, uri_spec={"parts": [{"value": bad, "variable": False}]})
    assert client.instances("svc") == []
    with client.register("svc", "127.0.0.1", 8080, metadata={"zone": "eu"}) as registration:
        with pytest.raises(ConfigurationError, match="lone surrogate"):
            registration.update(metadata={"zone": bad})
        assert registration.update(weight=2).metadata == {"zone": "eu"}
        assert [(i.metadata, i.weight) for i in client.instances("svc")] == [({"zone": "eu"}, 2)]


@SETTINGS
@given(name=names())
def test_a_recipe_name_or_config_key_is_refused_everywhere_or_used(
    client: coordkit.Client, name: str
) -> None:
    """Lock and election names and config keys: the edge's verdict on every backend, and a
    name it accepts works (a lock is taken and released, a setting written and read back)."""
    from coordkit.config.values import normalize_key
    from coordkit.names import recipe_name

    expected = _verdict(recipe_name, name, "lock name")
    try:
        lock = client.lock(name)
    except ConfigurationError as exc:
        assert f"{type(exc).__name__}: {exc}" == expected
    else:
        assert expected is None, f"lock {name!r} was made although the edge refuses it"
        assert lock.acquire(timeout=10)
        lock.release()
    expected = _verdict(normalize_key, name)
    with client.config("props", writable=True) as config:
        try:
            config.set(name, 1)
        except ConfigurationError as exc:
            assert f"{type(exc).__name__}: {exc}" == expected
            return
        assert expected is None, f"config key {name!r} was written although the edge refuses it"
        assert config.get(name) == 1
