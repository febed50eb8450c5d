"""The memory adapter's fault switch, a product feature for users' tests: unreachable (nothing
takes effect) or unreachable with ``applied=True`` (every request takes effect, every reply is
lost), and reachable again."""

from __future__ import annotations

import uuid

import pytest

import coordkit
from coordkit.backends.base import Put
from coordkit.errors import BackendUnavailableError, ConflictError, KeyExistsError
from coordkit.testing import eventually

pytestmark = pytest.mark.memory


@pytest.fixture
def url() -> str:
    return f"memory://faults-{uuid.uuid4().hex[:8]}"


def test_unreachable_nothing_takes_effect(url: str) -> None:
    with coordkit.connect(url, timeout=0.3) as client, coordkit.connect(url) as other:
        client.backend.set_reachable(False)  # type: ignore[attr-defined]
        with pytest.raises(BackendUnavailableError, match="unreachable"):
            client.put("k", "v")
        assert other.get("k") is None
        client.backend.set_reachable(True)  # type: ignore[attr-defined]
        client.put("k", "v")
        assert other.get_text("k") == "v"


def test_applied_every_request_takes_effect_and_no_reply_comes(url: str) -> None:
    with coordkit.connect(url, timeout=0.3) as client, coordkit.connect(url) as other:
        client.put("taken", "x")
        backend = client.backend
        backend.set_reachable(False, applied=True)  # type: ignore[attr-defined]
        assert client.state is coordkit.SessionState.SUSPENDED  # the client is told, as by a cut link
        with pytest.raises(BackendUnavailableError, match="reply was lost"):
            client.put("k", "v", ephemeral=True)
        assert other.get_text("k") == "v"  # it landed, on the client's session
        entry = other.get("k")
        assert entry is not None and entry.lease == client.session.session_id
        with pytest.raises(BackendUnavailableError):  # not the KeyExistsError nobody heard
            client.put("taken", "y", create=True)
        with pytest.raises(BackendUnavailableError):
            client.backend.get("taken")  # type: ignore[attr-defined]
        with pytest.raises(BackendUnavailableError):  # a new watch is refused
            client.backend.watch("taken", lambda event: None, prefix=False)  # type: ignore[attr-defined]
        backend.set_reachable(True)  # type: ignore[attr-defined]
        eventually(lambda: client.state is coordkit.SessionState.CONNECTED, timeout=5, message="CONNECTED")
        with pytest.raises(KeyExistsError):  # answers flow again, errors included
            client.put("taken", "y", create=True)
        with pytest.raises(ConflictError):
            client.put("taken", "y", version=99)
        assert client.get_text("k") == "v"


def test_a_closed_client_is_refused_even_while_replies_are_lost(url: str) -> None:
    client = coordkit.connect(url)
    backend = client.backend
    backend.set_reachable(False, applied=True)  # type: ignore[attr-defined]
    client.close()
    with pytest.raises(coordkit.ClosedError):
        backend.commit([Put("k", b"v")])  # type: ignore[attr-defined]
    with coordkit.connect(url) as other:
        assert other.get("k") is None  # and nothing took effect
