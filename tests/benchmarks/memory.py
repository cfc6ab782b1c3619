"""Memory and disk per component during a long benchmark step, from /proc and du.

A scale run must show that memory stays bounded as the log grows: each step
samples the resident set of every component (the stack's services and the
command doing the work) twice a second and keeps the peak; the disk each
service's data folder takes is read after the step.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ops.stack import manager
from schemas.config.settings import Settings
from tests.benchmarks.cpu import tree

__all__ = ["RssMeter", "disk_bytes", "rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
SERVICES = ("kafka", "elasticsearch", "postgres")


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes together (gone ones count nothing)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def disk_bytes(path: Path) -> int:
    """Bytes a folder's files take, files that vanish while counted skipped."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


class RssMeter:
    """Peak resident memory per component while a step runs."""

    def __init__(self, settings: Settings) -> None:
        self.services = {
            s.name: pid
            for s in manager.pick(settings, list(SERVICES))
            if (pid := s.pid()) is not None
        }
        self.data_dirs = {s.name: s.data_dir for s in manager.pick(settings, list(SERVICES))}

    @contextmanager
    def step(self, worker: str, pid: int | None = None) -> Iterator[dict[str, int]]:
        """Sample until the block ends; ``pid`` is the step's own process (this one if
        None). Yields the dict of peaks, filled in as the step runs."""
        peaks: dict[str, int] = {}
        stop = threading.Event()
        own = pid if pid is not None else os.getpid()

        def sample() -> None:
            while True:
                groups = {name: tree(p) for name, p in self.services.items()}
                groups[worker] = tree(own) if pid is not None else [own]
                for name, pids in groups.items():
                    peaks[name] = max(peaks.get(name, 0), rss_bytes(pids))
                if stop.wait(0.5):
                    return

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield peaks
        finally:
            stop.set()
            thread.join()

    def disk(self) -> dict[str, int]:
        return {name: disk_bytes(path) for name, path in self.data_dirs.items()}
