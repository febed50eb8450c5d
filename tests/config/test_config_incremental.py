"""A config applies one coordkit change from the watch's events (and a few single-key
reads) instead of reading the whole subtree, and only when the events are that whole
change on top of the state it has (coordkit.config.incremental).

The rules are checked on the function itself, over hand-made events; then on every
backend, that a reader follows another client's changes without one full read and that
each batch is one whole change, and that what the rules refuse still arrives (by a full
read)."""

from __future__ import annotations

import json
import queue
from collections.abc import Callable

import pytest

import coordkit
from coordkit import Entry, EventType, WatchEvent
from coordkit.config import ConfigChanges
from coordkit.config.incremental import MAX_READS, next_state

DEADLINE = 10.0
ROOT = "/config/app"
MARKER = ROOT + "/.version"
MakeClient = Callable[..., coordkit.Client]


def entry(key: str, value: bytes, revision: int, *, version: int = 1, created: int | None = None) -> Entry:
    return Entry(ROOT + "/" + key, value, version, created or revision, revision, 0)


def marker(revision: int, version: int, keys: list[str], *, created: int = 1) -> Entry:
    return entry(".version", json.dumps({"keys": keys}).encode(), revision, version=version, created=created)


def put(e: Entry) -> WatchEvent:
    return WatchEvent(EventType.PUT, e.key, e, e.mod_revision)


def delete(key: str, revision: int) -> WatchEvent:
    return WatchEvent(EventType.DELETE, ROOT + "/" + key, None, revision)


KNOWN = {e.key: e for e in (marker(5, 3, ["a"]), entry("a", b"1", 5), entry("b", b"2", 4))}


class Reads:
    """``get`` over a dict, recording the keys read."""

    def __init__(self, *entries: Entry) -> None:
        self.store = {e.key: e for e in entries}
        self.keys: list[str] = []

    def __call__(self, key: str) -> Entry | None:
        self.keys.append(key)
        return self.store.get(key)


def values(state: tuple[list[Entry], int] | None) -> tuple[dict[str, bytes], int]:
    assert state is not None, "the change was not applied from its events"
    entries, revision = state
    return {e.key.rsplit("/", 1)[1]: e.value for e in entries}, revision


# --- the rules -------------------------------------------------------------------------------
def test_one_whole_change_from_its_events_alone() -> None:
    reads = Reads()
    events = [put(marker(9, 4, ["a", "c"])), put(entry("a", b"10", 9, version=2)), put(entry("c", b"3", 9))]
    got, revision = values(next_state(KNOWN, events, ROOT, MARKER, reads))
    assert revision == 9 and reads.keys == []
    assert {k: v for k, v in got.items() if k != ".version"} == {"a": b"10", "b": b"2", "c": b"3"}


def test_the_marker_is_read_when_its_event_has_not_come_yet() -> None:
    reads = Reads(marker(9, 4, ["a"]))
    got, revision = values(next_state(KNOWN, [put(entry("a", b"10", 9))], ROOT, MARKER, reads))
    assert (got["a"], revision, reads.keys) == (b"10", 9, [MARKER])


def test_keys_without_an_event_are_read_then_the_marker_again() -> None:
    m = marker(9, 4, ["a", "b", "c"])
    reads = Reads(m, entry("c", b"3", 9))  # b: deleted by the change, no event yet
    got, _ = values(next_state(KNOWN, [put(m), put(entry("a", b"10", 9))], ROOT, MARKER, reads))
    assert reads.keys == [ROOT + "/b", ROOT + "/c", MARKER]
    assert "b" not in got and got["c"] == b"3"


def test_a_deleted_key_is_read_whatever_its_event_says() -> None:
    m = marker(9, 4, ["a", "b"])
    reads = Reads(m)
    got, _ = values(next_state(KNOWN, [delete("a", 9), delete("b", 12), put(m)], ROOT, MARKER, reads))
    assert "a" not in got and "b" not in got and reads.keys == [ROOT + "/a", ROOT + "/b", MARKER]
    # A DELETE stamped with the change's revision, of a key the change wrote: not applied.
    written = Reads(m, entry("a", b"10", 9))
    got, _ = values(next_state(KNOWN, [delete("a", 9), put(m)], ROOT, MARKER, written))
    assert got["a"] == b"10"


@pytest.mark.parametrize(
    ("events", "stored"),
    [
        ([put(marker(9, 5, ["a"])), put(entry("a", b"x", 9))], ()),  # two changes folded
        ([put(marker(9, 1, ["a"], created=8)), put(entry("a", b"x", 9))], ()),  # marker re-created
        ([put(marker(9, 4, ["a"])), put(entry("a", b"x", 11))], ()),  # written again since
        ([put(marker(9, 4, ["a"])), put(entry("a", b"x", 9)), put(entry("z", b"1", 8))], ()),  # another write
        ([put(entry("z", b"1", 8))], (marker(5, 3, ["a"]),)),  # a write of another tool alone
        ([put(entry("a", b"x", 9))], (marker(9, 5, ["a"]),)),  # the marker read is a later change
        ([put(entry("a", b"x", 9))], ()),  # the marker is gone
        ([put(entry(".version", b"not json", 9, version=4, created=1)), put(entry("a", b"x", 9))], ()),
        ([put(marker(9, 4, ["a", "../etc"])), put(entry("a", b"x", 9))], ()),  # no config key
    ],
)
def test_what_the_events_cannot_tell_is_left_to_a_full_read(
    events: list[WatchEvent], stored: tuple[Entry, ...]
) -> None:
    assert next_state(KNOWN, events, ROOT, MARKER, Reads(*stored)) is None


def test_a_key_read_at_another_revision_or_a_marker_that_moved_refuses() -> None:
    m = marker(9, 4, ["a", "c"])
    events = [put(m), put(entry("a", b"10", 9))]
    assert next_state(KNOWN, events, ROOT, MARKER, Reads(m, entry("c", b"3", 12))) is None
    moved = Reads(marker(14, 5, ["c"]), entry("c", b"3", 9))  # the next change came during the reads
    assert next_state(KNOWN, events, ROOT, MARKER, moved) is None


def test_no_marker_known_or_too_many_keys_to_read_makes_no_read() -> None:
    reads = Reads()
    without = {k: e for k, e in KNOWN.items() if k != MARKER}
    assert next_state(without, [put(entry("a", b"x", 9))], ROOT, MARKER, reads) is None
    many = [f"k{i}" for i in range(MAX_READS + 1)]
    assert next_state(KNOWN, [put(marker(9, 4, many))], ROOT, MARKER, reads) is None
    assert reads.keys == []


# --- on every backend ------------------------------------------------------------------------
class Batches:
    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[ConfigChanges] = queue.SimpleQueue()

    def __call__(self, changes: ConfigChanges) -> None:
        self.queue.put(changes)

    def next(self) -> dict[str, object]:
        try:
            batch = self.queue.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail("no change batch arrived in time")
        return {key: change.new for key, change in batch.items()}


def test_changes_of_another_client_are_followed_without_reading_the_subtree(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    with writer.config("app", writable=True) as out:
        out.update({"a": 0, "b/c": 0, "gone": 0})
        with reader.config("app") as cfg:
            full_reads: list[int] = []
            read = cfg._follower._read
            cfg._follower._read = lambda: (full_reads.append(1), read())[1]
            batches = Batches()
            cfg.on_change(batches)
            for i in range(1, 6):
                out.update({"a": i, "b/c": i})
                assert batches.next() == {"a": i, "b/c": i}
            out.delete("gone")
            assert batches.next() == {"gone": None}
            out.update({"new": 1}, delete=["never-stored"])  # a key without any event
            assert batches.next() == {"new": 1}
            assert full_reads == []
            assert cfg.refresh().to_dict() == {"a": 5, "b/c": 5, "new": 1}
            assert full_reads == [1]  # refresh() reads the store


def test_a_write_of_another_tool_is_still_seen_by_a_full_read(make_client: MakeClient) -> None:
    reader, writer = make_client(), make_client()
    with writer.config("app", writable=True) as out, reader.config("app") as cfg:
        out.set("a", 1)
        assert cfg.wait_until(lambda snapshot: snapshot.get("a") == 1, DEADLINE)
        batches = Batches()
        cfg.on_change(batches)
        writer.put(ROOT + "/z", "7")  # no marker
        assert batches.next() == {"z": 7}
        out.set("a", 2)
        assert batches.next() == {"a": 2}
