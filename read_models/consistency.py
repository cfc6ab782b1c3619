"""Read-your-writes: wait (bounded) until a read model has applied a position.

A query that passes a position token (``schemas.position_token``) is answered
only once the read model it reads has handled every listed offset, or gets a
clear "not yet consistent" answer when the wait bound runs out: never stale data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from schemas.position_token import parse_token

__all__ = ["MAX_WAIT_MS", "missing", "parse_token", "wait_until_applied"]

MAX_WAIT_MS = 10_000


def missing(applied: Mapping[int, int], wanted: Mapping[int, int]) -> dict[int, int]:
    """The wanted positions not applied yet (partition -> wanted offset)."""
    return {p: o for p, o in wanted.items() if applied.get(p, -1) < o}


async def wait_until_applied(
    read_applied: Callable[[], Awaitable[Mapping[int, int]]],
    wanted: Mapping[int, int],
    wait_ms: int,
) -> dict[int, int]:
    """Poll until every wanted offset is applied or wait_ms passes; return what is still missing."""
    deadline = time.monotonic() + min(wait_ms, MAX_WAIT_MS) / 1000
    delay = 0.005
    while True:
        still = missing(await read_applied(), wanted)
        if not still or time.monotonic() >= deadline:
            return still
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.1)
