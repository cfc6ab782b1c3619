"""The processor's local store: checkpointed with its data, all or nothing (SQLite, no service)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from streams.changelog_keys import result_key, state_key
from streams.processor_store import PartitionStore


def test_writes_move_the_checkpoint_with_the_data(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p0.sqlite3")
    assert store.checkpoint == 0
    store.write([(b"state\x00A", b"{1}", 10), (b"result\x00A\x00c1", b"{r}", 10)], 7)
    assert store.checkpoint == 7
    assert store.load([b"state\x00A", b"result\x00A\x00c1", b"state\x00B"]) == {
        b"state\x00A": b"{1}",
        b"result\x00A\x00c1": b"{r}",
    }
    store.write([(b"state\x00A", b"{2}", 11), (b"result\x00A\x00c1", None, 11)], 9)
    store.close()

    reopened = PartitionStore(tmp_path / "p0.sqlite3")
    assert reopened.checkpoint == 9
    assert reopened.load([b"state\x00A", b"result\x00A\x00c1"]) == {b"state\x00A": b"{2}"}


def test_only_results_expire(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p.sqlite3")
    store.write(
        [
            (b"state\x00A", b"s", 1),
            (b"result\x00A\x00old", b"r", 1_000),
            (b"result\x00A\x00new", b"r", 5_000),
        ],
        3,
    )
    assert store.expired_results(before_ms=2_000, limit=10) == [b"result\x00A\x00old"]


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p.sqlite3")
    store.write([(b"state\x00A", b"s", 1)], 1)
    with pytest.raises(sqlite3.ProgrammingError):
        store.write([(b"state\x00B", b"s", 1), (object(), None, 1)], 2)  # type: ignore[list-item]
    assert store.checkpoint == 1
    assert store.load([b"state\x00B"]) == {}


def test_reset_forgets_everything(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p.sqlite3")
    store.write([(b"state\x00A", b"s", 1)], 5)
    store.reset()
    assert (store.checkpoint, store.count()) == (0, 0)


def _state(sku: str, due: str | None) -> bytes:
    raw: dict[str, object] = {"sku": sku, "version": 3, "attributes": {"due": "not a state field"}}
    if due is not None:
        raw["due"] = due
    return orjson.dumps(raw)


def test_due_index_follows_every_write_of_a_state(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p.sqlite3")
    a, b, c = state_key("A"), state_key("B"), state_key("C")
    store.write(
        [
            (a, _state("A", "2025-06-02T00:00:00.000000Z"), 1),
            (b, _state("B", "2025-06-01T00:00:00.000000Z"), 1),
            (c, _state("C", None), 1),
            (result_key("A", "cmd"), b'{"due":"2025-01-01T00:00:00Z"}', 1),  # a result: never due
        ],
        4,
    )
    assert store.due("2025-06-03T00:00:00.000000Z", 10) == [b, a]  # most overdue first
    assert store.due("2025-06-01T12:00:00.000000Z", 10) == [b]
    assert store.due("2025-06-03T00:00:00.000000Z", 1) == [b]
    store.write([(b, _state("B", None), 2)], 5)  # fired: nothing due any more
    assert store.due("2025-06-03T00:00:00.000000Z", 10) == [a]
    store.write([(a, None, 3)], 6)
    assert store.due("9999-01-01T00:00:00.000000Z", 10) == [] and store.next_due() is None


def test_a_store_written_before_schedules_gets_the_due_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE record (key BLOB PRIMARY KEY, value BLOB NOT NULL, stamp INTEGER)"
        " WITHOUT ROWID;"
        "CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 0), offset INTEGER NOT NULL);"
        "INSERT INTO checkpoint VALUES (0, 7);"
    )
    db.execute("INSERT INTO record VALUES (?, ?, NULL)", (state_key("A"), _state("A", None)))
    db.commit()
    db.close()
    store = PartitionStore(path)
    assert store.checkpoint == 7 and store.count() == 1
    store.write([(state_key("A"), _state("A", "2025-06-02T00:00:00.000000Z"), 1)], 8)
    assert store.next_due() == "2025-06-02T00:00:00.000000Z"
