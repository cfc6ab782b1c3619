"""Where the cores go: CPU seconds per component of the running system, from /proc.

On a two-core machine that runs Kafka, Elasticsearch, PostgreSQL, the three
roles and the load generator together, latency under load is mostly waiting
for a core; a benchmark that prints its latencies prints this beside them, so
"what is slow" and "what is busy" are read together.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ops.stack import manager
from schemas.config.settings import Settings

__all__ = ["CpuMeter", "components", "tree"]

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[0]
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _workers(role: str) -> list[int]:
    """Processes running `eventcart worker --only ROLE`, retitled as they run (the
    processor ``eventcart ROLE ...``, Faust ``[Faust:Worker] ... eventcart-ROLE ...``);
    the outermost of each tree."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        retitled = line.startswith(b"eventcart ") or b"Faust:Worker" in line
        if role.encode() in line and (b"--only" in line or retitled):
            pids.append(int(entry.name))
    children = {p for pid in pids for p in tree(pid)[1:]}
    return [pid for pid in pids if pid not in children]


def components(settings: Settings, roles: Iterable[str]) -> dict[str, list[int]]:
    """The processes of each component: the stack's services, the roles, this process."""
    found: dict[str, list[int]] = {}
    for service in manager.pick(settings, ["kafka", "elasticsearch", "postgres"]):
        pid = service.pid()
        if pid is not None:
            found[service.name] = tree(pid)
    for role in roles:
        found[role] = [p for pid in _workers(role) for p in tree(pid)]
    found["benchmark (load, watchers)"] = [os.getpid()]
    return found


class CpuMeter:
    """CPU seconds per component between :meth:`start` and :meth:`report`."""

    def __init__(self, settings: Settings, roles: Iterable[str]) -> None:
        self.settings, self.roles = settings, list(roles)
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for name, pids in components(self.settings, self.roles).items():
            used[name] = sum(stat[1] for pid in pids if (stat := _stat(pid)) is not None)
        return used

    def start(self) -> None:
        self._before = self._now()

    def report(self, seconds: float) -> list[str]:
        """One line per component: its share of one core over ``seconds``."""
        after = self._now()
        shares = {
            name: (after[name] - self._before.get(name, 0.0)) / seconds * 100 for name in after
        }
        lines = [f"    {name:<28} {share:6.0f}% of a core" for name, share in shares.items()]
        lines.append(f"    {'all':<28} {sum(shares.values()):6.0f}% (2 cores = 200%)")
        return lines
