"""How a worker joins its consumer group: static members, eager rebalancing.

Static membership (``group.instance.id``, one per worker id) gives a
restarted worker its partitions back at once: the coordinator keeps the
member's assignment through a restart (or a kill -9) shorter than the
session timeout, without a rebalance.

The rebalancing protocol must then be the eager one (``range``), not the
cooperative ``cooperative-sticky``. Under the cooperative protocol a partition
that moves is revoked in one rebalance and assigned in a *follow-up*
rebalance, which the member that gave it up asks for. A static member that is
restarted between the two never asks (its new incarnation rejoins a stable
group and gets its cached assignment back, with no rebalance), so the
partition is assigned to nobody until some later rebalance: observed in a
rolling restart of the processors (one of three command partitions went
unconsumed for minutes, ``tests/faults/test_rolling_restart.py``). Every eager
generation assigns every partition, so no restart can leave one out; the price
is that each rebalance pauses all of a worker's partitions for a moment,
which static membership makes rare.
"""

from __future__ import annotations

from typing import Any

from schemas.config.settings import Settings

__all__ = ["static_member"]


def static_member(settings: Settings, group: str, instance: str) -> dict[str, Any]:
    """The consumer properties of a static member ``instance`` of ``group``."""
    return {
        "group.id": group,
        "group.instance.id": instance,
        "partition.assignment.strategy": "range",
        "session.timeout.ms": settings.session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.session_timeout_ms // 10),
    }
