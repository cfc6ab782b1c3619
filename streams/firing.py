"""Firing what is due: the scheduled counterpart of ``command_batch``, without I/O.

The processor finds the products whose schedules are due in its local store
(``PartitionStore.due``), loads their states and calls :func:`fire_due` with
the time it read from its clock. What comes back has the shape of a decided
command batch (events in order, the final state of every product, no answers),
so the same :class:`~streams.batch_writer.BatchWriter` publishes it in one
transaction with the states and the consumed offsets: a schedule fires exactly
once because its state, without it, commits with its event, and a processor
that lost the partition cannot commit at all.

The version guard of ``command_batch`` applies here too, and a product whose
firing fails (a bug, never expected) is reported, not fired, so one broken
state cannot stop the schedules of every other product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.catalog import ProductState, fire
from streams.command_batch import BatchDecision, guarded_events

__all__ = ["Firing", "fire_due"]


@dataclass
class Firing:
    """The batch to publish, and the products that could not be fired (sku -> why)."""

    batch: BatchDecision = field(default_factory=BatchDecision)
    failed: dict[str, str] = field(default_factory=dict)


def fire_due(states: Mapping[str, tuple[int, ProductState]], now: str) -> Firing:
    """The events of everything due at ``now`` (canonical) for ``states``:
    sku -> (commands partition, stored state). Products in SKU order, each product's
    events in the order of their instants."""
    firing = Firing()
    for sku in sorted(states):
        partition, state = states[sku]
        try:
            events = fire(state, now)
            if not events:
                continue
            new_state = guarded_events(state, events)
        except Exception as exc:  # a bug in fire must not stop every other product's
            firing.failed[sku] = repr(exc)
            continue
        firing.batch.events.extend((sku, event) for event in events)
        firing.batch.states[sku] = (partition, new_state)
    return firing
