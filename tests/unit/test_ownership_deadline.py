"""The ownership deadline's margin: its default, how to set it, and what is refused."""

from __future__ import annotations

import uuid

import pytest

import coordkit
from coordkit.core.session import default_margin


def _url(query: str = "") -> str:
    return f"memory://deadline-{uuid.uuid4().hex}{query}"


def test_the_default_margin_scales_with_the_ttl_and_sets_the_deadline() -> None:
    with coordkit.connect(_url(), ttl=10) as client:
        session = client.session
        assert session.margin == pytest.approx(default_margin(10)) == pytest.approx(0.3)
        assert session.valid_until == session.last_heard + session.ttl - session.margin


@pytest.mark.parametrize("how", ["keyword", "query"])
def test_the_margin_can_be_set(how: str) -> None:
    client = (
        coordkit.connect(_url(), ttl=4, margin=0.5)
        if how == "keyword"
        else coordkit.connect(_url("?margin=0.5"), ttl=4)
    )
    with client:
        assert client.session.margin == 0.5


@pytest.mark.parametrize("margin", [-0.1, 2.0, 5, "soon", float("nan")])
def test_a_margin_outside_zero_to_half_the_ttl_is_refused(margin: object) -> None:
    with pytest.raises(coordkit.ConfigurationError, match="margin"):
        coordkit.connect(_url(), ttl=4, margin=margin)  # type: ignore[arg-type]
