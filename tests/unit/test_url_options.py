"""URL query options are validated whatever keywords are passed (issue 9, library surface)."""

from __future__ import annotations

import pytest

from coordkit import ConfigurationError
from coordkit.core.url import OPTION_DOCS, parse_url


@pytest.mark.parametrize(
    "url", ["memory://?ttl=abc", "etcd://h/ns?ttl=abc", "zk://h?timeout=-1", "etcd://h?connect_timeout=inf"]
)
def test_a_bad_query_option_is_refused_even_when_a_keyword_overrides_it(url: str) -> None:
    name = url.rpartition("?")[2].partition("=")[0]
    with pytest.raises(ConfigurationError, match=f"{name}=") as caught:
        parse_url(url, {name: 5})
    assert "\n" not in str(caught.value)


def test_a_query_ttl_out_of_range_is_refused_even_when_overridden() -> None:
    with pytest.raises(ConfigurationError, match="outside 1-3600"):
        parse_url("etcd://h?ttl=0.5", {"ttl": 5})


def test_an_unknown_query_option_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown option.*colour") as caught:
        parse_url("zk://h?colour=red&ttl=3", {"ttl": 5})
    for name in OPTION_DOCS:
        assert name in str(caught.value)


def test_an_option_given_twice_in_the_query_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"ttl.*twice"):
        parse_url("etcd://h?ttl=3&ttl=abc", {})


def test_keywords_override_valid_query_options() -> None:
    target = parse_url("etcd://h?ttl=3&timeout=2", {"ttl": 7})
    assert (target.ttl, target.timeout, target.connect_timeout) == (7.0, 2.0, 2.0)


def test_the_dev_servers_are_an_installed_url_provider() -> None:
    """connect() without a URL finds a dev server through this entry point (setup.cfg); a stale
    install without it would silently stop finding one: reinstall (pip install -e .)."""
    from importlib.metadata import entry_points

    from coordkit.core.url import URL_PROVIDERS

    assert "coordkit.dev:default_url" in {ep.value for ep in entry_points(group=URL_PROVIDERS)}
