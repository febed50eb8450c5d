"""Registration on every backend: visible to others, gone at once on deregister or close,
updated in place, re-registered exactly once after the session is lost."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
from coordkit import EventType, WatchEvent
from coordkit.discovery import ServiceInstance
from coordkit.discovery.formats import format_for
from coordkit.testing import eventually

DEADLINE = 10.0
Make = Callable[..., coordkit.Client]


def test_registration_is_visible_to_another_clients_cache(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    with other.discover("payment") as cache:
        assert cache.instances == ()
        reg = owner.register(
            "payment", "10.0.0.7", 8080, id="a", metadata={"zone": "eu-1"}, weight=3, ssl_port=8443
        )
        assert cache.wait_for(lambda found: len(found) == 1, DEADLINE)
        (seen,) = cache.instances
        assert seen == reg.instance
        assert (seen.name, seen.id, seen.endpoint, dict(seen.metadata), seen.weight, seen.ssl_port) == (
            "payment",
            "a",
            "10.0.0.7:8080",
            {"zone": "eu-1"},
            3,
            8443,
        )
        assert other.instances("payment") == [reg.instance]


def test_key_is_ephemeral_and_owned_by_the_session(client: coordkit.Client) -> None:
    reg = client.register("payment", "h", 80)
    entry = client.get(reg.key)
    assert reg.key == f"/services/payment/{reg.id}" and len(reg.id) == 36  # a UUID, as Curator's
    assert entry is not None and entry.lease == client.session.session_id
    assert reg.registered


def test_deregister_removes_it_at_once(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    reg = owner.register("payment", "h", 80, id="a")
    keep = owner.register("payment", "h", 81, id="b")
    with other.discover("payment") as cache:
        assert [i.id for i in cache.instances] == ["a", "b"]
        reg.deregister()
        assert other.get(reg.key) is None  # gone when deregister() returns
        assert cache.wait_for(lambda found: [i.id for i in found] == ["b"], DEADLINE)
        reg.deregister()  # idempotent
        assert not reg.registered and keep.registered


def test_context_manager_deregisters(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    with owner.register("payment", "h", 80) as reg:
        assert other.get(reg.key) is not None
    assert other.get(reg.key) is None


def test_closing_the_client_removes_it_at_once(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    reg = owner.register("payment", "h", 80)
    with other.discover("payment") as cache:
        assert len(cache.instances) == 1
        owner.close()
        assert other.get(reg.key) is None
        assert cache.wait_for(lambda found: found == (), DEADLINE)
    reg.deregister()  # after close: nothing to do, no error


def test_update_changes_the_same_key_in_place(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    reg = owner.register("payment", "h", 80, metadata={"zone": "a"})
    before = owner.get(reg.key)
    with other.discover("payment") as cache:
        updated = reg.update(weight=7, metadata={"zone": "a", "draining": "true"})
        assert cache.wait_for(lambda found: found == (updated,), DEADLINE)
    after = owner.get(reg.key)
    assert before is not None and after is not None
    assert after.create_revision == before.create_revision and after.version == before.version + 1
    assert (updated.weight, dict(updated.metadata)) == (7, {"zone": "a", "draining": "true"})
    assert updated.registered_at == reg.instance.registered_at  # registration time is kept
    reg.update(weight=2)
    assert reg.instance.metadata == {"zone": "a", "draining": "true"}  # untouched when not given
    reg.deregister()
    with pytest.raises(coordkit.ClosedError):
        reg.update(weight=1)


def test_another_session_cannot_take_a_registered_id(make_client: Make) -> None:
    first, second = make_client(), make_client()
    first.register("payment", "h", 80, id="same")
    with pytest.raises(coordkit.KeyExistsError, match="unique id"):
        second.register("payment", "h", 81, id="same")
    (only,) = second.instances("payment")
    assert only.port == 80


def test_a_key_deleted_by_someone_else_is_created_again_by_update(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    reg = owner.register("payment", "h", 80)
    other.delete(reg.key)
    reg.update(weight=4)
    (found,) = other.instances("payment")
    assert found.weight == 4 and owner.get(reg.key).lease == owner.session.session_id  # type: ignore[union-attr]


def test_a_key_removed_while_it_is_adopted_is_created_again(make_client: Make) -> None:
    """The session already has the key (another registration of this id, or a write of an
    earlier register() that landed unanswered and whose removal is pending): the adopting write
    compares the key's incarnation, and if the key was removed between the read and the write,
    register() creates it again rather than raising the ConflictError nobody expects from it."""
    owner, other = make_client(), make_client()
    owner.register("payment", "h", 80, id="same")
    read = owner.get
    removed: list[str] = []

    def read_then_removed(key: str) -> object:  # the adopting read, then somebody's removal
        entry = read(key)
        if not removed:
            removed.append(key)
            other.delete(key)
        return entry

    owner.get = read_then_removed  # type: ignore[method-assign]
    second = owner.register("payment", "h", 81, id="same")
    assert removed and second.registered
    (found,) = other.instances("payment")
    assert found.port == 81 and other.get(second.key).lease == owner.session.session_id  # type: ignore[union-attr]


def test_reregistered_exactly_once_after_session_expiry(make_client: Make) -> None:
    owner, watcher = make_client(), make_client()
    reg = owner.register("payment", "h", 80, id="a")
    events: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()
    with watcher.watch("/services", events.put, recursive=True):
        generation = owner.session.generation
        owner.expire_session()
        eventually(
            lambda: reg.registered and owner.session.generation > generation,
            timeout=DEADLINE,
            message="registered again in a new session",
        )
        # The watch delivers in store order: once this later write arrives, every write of
        # the registration made before it has arrived too.
        owner.put("/services/zz-sentinel", "x")
        seen = _until(events, "/services/zz-sentinel")
    puts = [e for e in seen if e.key == reg.key and e.type is EventType.PUT]
    deletes = [e for e in seen if e.key == reg.key and e.type is EventType.DELETE]
    assert len(puts) == 1 and len(deletes) == 1, seen
    entry = owner.get(reg.key)
    assert entry is not None and entry.lease == owner.session.session_id
    assert [i.id for i in watcher.instances("payment")] == ["a"]


def test_update_while_the_session_is_replaced_is_written_by_the_reregistration(make_client: Make) -> None:
    owner = make_client()
    reg = owner.register("payment", "h", 80)
    generation = owner.session.generation
    owner.expire_session()
    reg.update(weight=9)
    eventually(
        lambda: reg.registered and owner.session.generation > generation,
        timeout=DEADLINE,
        message="registered again in a new session",
    )
    assert [i.weight for i in owner.instances("payment")] == [9]


def _until(events: queue.SimpleQueue[WatchEvent], key: str) -> list[WatchEvent]:
    seen: list[WatchEvent] = []
    deadline = time.monotonic() + DEADLINE
    while not any(e.key == key for e in seen):
        seen.append(events.get(timeout=max(0.0, deadline - time.monotonic())))
    return seen


def test_a_create_that_landed_unanswered_in_a_session_since_replaced_is_created_again(
    make_client: Make, old_session_kept: Callable[..., Any], replace_session: Callable[..., int]
) -> None:
    """register()'s create landed, its reply was lost, and the session was replaced while the
    server still holds the old one (etcd renews leases on a leader change): the key the retry
    finds is this registration's own, of that earlier session, not another session's. It is
    removed and created in the current session."""
    owner, other = make_client(), make_client()
    first = owner.session.session_id
    put = owner.put

    def landed_then_replaced(key: str, value: Any, **options: Any) -> object:
        owner.put = put  # type: ignore[method-assign]  # once
        put(key, value, **options)  # in the first session
        with old_session_kept(owner):
            replace_session(owner)
        raise coordkit.BackendUnavailableError("the reply was lost")

    owner.put = landed_then_replaced  # type: ignore[method-assign]
    reg = owner.register("payment", "h", 80, id="a")
    found = other.get(reg.key)
    assert reg.registered and found is not None and found.lease == owner.session.session_id != first
    assert [i.port for i in other.instances("payment")] == [80]


def test_a_key_of_an_earlier_session_holding_another_value_is_not_taken_for_ours(
    make_client: Make, old_session_kept: Callable[..., Any], replace_session: Callable[..., int]
) -> None:
    """As above, but what the earlier session holds under the key is not what this
    registration's create sent: another registration of the id on this client wrote it (its
    instance has its own port and registration time). The retry must leave it alone, not
    remove it as its own leftover: register() fails as for any key held by another session,
    and the other registration's key is untouched."""
    owner, other = make_client(), make_client()
    first = owner.session.session_id
    put = owner.put
    sibling = format_for(owner.backend.capabilities.layout).encode(ServiceInstance("payment", "a", "h", 81))

    def sibling_landed_then_replaced(key: str, value: Any, **options: Any) -> object:
        owner.put = put  # type: ignore[method-assign]  # once
        assert value != sibling
        put(key, sibling, **options)  # the other registration's create, in the first session
        with old_session_kept(owner):
            replace_session(owner)
        raise coordkit.BackendUnavailableError("the reply was lost")

    owner.put = sibling_landed_then_replaced  # type: ignore[method-assign]
    with pytest.raises(coordkit.KeyExistsError, match="already has an instance a"):
        owner.register("payment", "h", 80, id="a")
    found = other.get("/services/payment/a")
    assert found is not None and found.lease == first and found.value == sibling
    assert [i.port for i in other.instances("payment")] == [81]
