"""Names map one-to-one to keys, and bad names never get through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordkit.errors import InvalidNameError
from coordkit.names import KeyMapper, join, validate_name, validate_path

SEGMENT = st.text(  # what every backend accepts: the Basic Multilingual Plane below U+FFF0,
    # without controls, surrogates and private use (ZooKeeper's rule, made everybody's)
    alphabet=st.characters(
        max_codepoint=0xFFEF, blacklist_categories=("Cc", "Cs", "Co"), blacklist_characters="/"
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
NAME = st.builds(
    lambda lead, parts: ("/" if lead else "") + "/".join(parts),
    st.booleans(),
    st.lists(SEGMENT, min_size=1, max_size=5),
)


@given(NAME)
def test_valid_names_round_trip_through_every_layout(name: str) -> None:
    assert validate_name(name) == name
    for mapper in (KeyMapper("etcd"), KeyMapper("path"), KeyMapper("etcd", "/ns"), KeyMapper("path", "/ns")):
        key = mapper.to_key(name)
        back = mapper.to_name(key)
        assert mapper.to_key(back) == key


@given(NAME, NAME)
def test_etcd_without_namespace_keeps_names_exactly(a: str, b: str) -> None:
    mapper = KeyMapper("etcd")
    assert (mapper.to_key(a) == mapper.to_key(b)) == (a == b)


@given(NAME, NAME)
def test_path_layout_is_one_to_one_on_absolute_names(a: str, b: str) -> None:
    mapper = KeyMapper("path", "/ns")
    same_name = a.lstrip("/") == b.lstrip("/")
    assert (mapper.to_key(a) == mapper.to_key(b)) == same_name


@given(NAME)
def test_prefix_contains_exactly_the_keys_below(name: str) -> None:
    for mapper in (KeyMapper("etcd"), KeyMapper("path", "/ns")):
        prefix = mapper.prefix_of(name)
        assert mapper.to_key(join(name, "child")).startswith(prefix)
        assert not mapper.to_key(name).startswith(prefix)


@pytest.mark.parametrize(
    "bad",
    ["", "/", "//", "a//b", "a/", "/a/./b", "..", "a/..", "\x00", "a\x7fb", "a\rb", "\ud800", "x" * 4097],
)
def test_bad_names_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(bad)
    assert str(info.value)


def test_paths_accept_the_root_and_a_trailing_slash() -> None:
    assert validate_path("/") == "/"
    assert validate_path("/a/b/") == "/a/b"
    with pytest.raises(InvalidNameError):
        validate_path("a//")


def test_etcdctl_spelling_is_kept() -> None:
    assert KeyMapper("etcd").to_key("mylock") == "mylock"
    assert KeyMapper("etcd").to_key("/a/b") == "/a/b"
    assert KeyMapper("etcd", "/ns").to_key("mylock") == "/ns/mylock"
    assert KeyMapper("path").to_key("mylock") == "/mylock"
