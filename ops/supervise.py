"""Keeping a worker's role processes running: what `eventcart worker` does with several roles.

Each role runs as its own child process (each Faust app wants its own event
loop; the processor is a plain loop). A child that exits without being asked
to is started again, with a backoff (1 s, doubling to 30 s, reset once it has
run a minute), and the restart is logged: a crashed role never stays down
silently. SIGTERM or SIGINT is forwarded to every child; the supervisor
waits for them (each finishes its batch and commits) and exits.

Children ask the kernel for SIGTERM when the supervisor dies
(``PR_SET_PDEATHSIG``), so a supervisor killed with kill -9 leaves no orphan
still holding a consumer group membership or a transactional id.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Child", "supervise"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent goes (Linux only)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    command: Sequence[str]
    #: the child's environment (None: this process's)
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = 1.0
    restart_at: float = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(list(self.command), env=self.env, preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()
        log.info("%s started (pid %d)", self.name, self.proc.pid)


def supervise(children: Sequence[Child], *, poll_s: float = 0.5) -> int:
    """Run the children until SIGTERM/SIGINT; return the highest exit code seen at the end."""
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for child in children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.start()
    while not stopping.is_set():
        now = time.monotonic()
        for child in children:
            assert child.proc is not None
            code = child.proc.poll()
            if code is None:
                if now - child.started_at > 60:
                    child.backoff_s = 1.0
                continue
            if child.restart_at == 0.0:
                child.restart_at = now + child.backoff_s
                log.error(
                    "%s exited with code %s; starting it again in %.0f s",
                    child.name,
                    code,
                    child.backoff_s,
                )
            elif now >= child.restart_at:
                child.restart_at = 0.0
                child.backoff_s = min(30.0, child.backoff_s * 2)
                child.start()
        stopping.wait(poll_s)
    codes = [child.proc.wait() for child in children if child.proc is not None]
    return max((abs(code) for code in codes if code not in (0, -signal.SIGTERM)), default=0)
