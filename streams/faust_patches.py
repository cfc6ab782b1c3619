"""Small, pinned changes to faust-streaming that the projections depend on.

Each is written against faust-streaming 0.15.3 with aiokafka 0.14.0; on any
other version :func:`apply` refuses to start, so an upgrade is a deliberate
act that re-reads each patch (tests/unit/test_faust_patches.py checks both the
pin and the effect).

* **Read committed.** The command processor publishes in Kafka transactions;
  a consumer must read committed records only, or it sees events of batches
  that were aborted (and redone). Faust asks aiokafka for ``read_committed``
  only in its own ``exactly_once`` mode (``_create_worker_consumer`` in
  faust/transport/drivers/aiokafka.py), which the projections do not use:
  they are at-least-once with idempotent sinks.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["PINNED", "apply"]

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}

_applied = False


def apply() -> None:
    """Install the patches (idempotent)."""
    global _applied
    if _applied:
        return
    found = {"faust-streaming": faust.__version__, "aiokafka": aiokafka.__version__}
    if found != PINNED:
        raise RuntimeError(
            f"streams/faust_patches.py is written for {PINNED}, found {found}: "
            "re-check each patch against the new versions, then update PINNED"
        )
    thread = faust_aiokafka.AIOKafkaConsumerThread
    create = thread._create_worker_consumer

    def create_read_committed(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._isolation_level = "read_committed"
        return consumer

    thread._create_worker_consumer = create_read_committed  # type: ignore[method-assign]
    _applied = True
