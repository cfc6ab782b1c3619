"""What the exporter computes without Kafka: stuck imports from their status files, and
lag as time written for a person."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ops.exporter import import_idle_seconds
from ops.status import age
from producers.feeds.import_report import ImportReport
from producers.http_imports import ImportStatus, lock, write_status


def an_import(root: Path, name: str, state: str, idle_s: float) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    status = ImportStatus(
        import_id=name, status=state, started_at="2026-12-07T10:00:00Z", report=ImportReport()
    )
    write_status(directory, status)
    stamp = time.time() - idle_s
    os.utime(directory / "status.json", (stamp, stamp))
    return directory


def test_only_running_imports_whose_lock_is_held_count(tmp_path: Path) -> None:
    working = an_import(tmp_path, "a", "running", 5)
    stuck = an_import(tmp_path, "b", "running", 400)
    an_import(tmp_path, "c", "done", 9000)
    an_import(tmp_path, "d", "running", 9000)  # its process is gone: lock free, interrupted
    held = [lock(working), lock(stuck)]
    try:
        running, idle = import_idle_seconds(tmp_path)
    finally:
        for handle in held:
            assert handle is not None
            handle.close()
    assert running == 2
    assert 399 <= idle <= 402


def test_no_imports_no_idle_time(tmp_path: Path) -> None:
    assert import_idle_seconds(tmp_path / "none") == (0, 0.0)


def test_lag_as_time_reads_as_a_person_says_it() -> None:
    assert [age(s) for s in (0, 0.01, 4.24, 59.9, 185, 7440)] == [
        "0 s",
        "0 s",
        "4.2 s",
        "59.9 s",
        "3 min 5 s",
        "2 h 4 min",
    ]
