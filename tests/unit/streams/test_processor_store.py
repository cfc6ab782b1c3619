"""The processor's local store: checkpointed with its data, all or nothing (SQLite, no service)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
        store.write([(b"state\x00B", b"s", 1), (b"state\x00C", object(), 1)], 2)  # type: ignore[list-item]
    assert store.checkpoint == 1
    assert store.load([b"state\x00B"]) == {}


def test_reset_forgets_everything(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "p.sqlite3")
    store.write([(b"state\x00A", b"s", 1)], 5)
    store.reset()
    assert (store.checkpoint, store.count()) == (0, 0)
