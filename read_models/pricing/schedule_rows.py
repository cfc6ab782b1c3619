"""Scheduled price changes as ``scheduled_price`` rows: the planner's part for one SKU (pure).

A schedule's row follows its events:

* ``PriceChangeScheduled``: the whole row, status ``planned`` (again with the
  same ``schedule_id``: the row is replaced, as the pending schedule was);
* a ``PriceChanged`` or ``RegularPriceChanged`` naming it with step ``start``:
  a sale is ``running``, a regular change ``done``; ``started_at`` = when it
  took effect;
* step ``end`` (a sale gave way to the regular price): ``done``, ``ended_at``;
* ``PriceChangeScheduleCancelled``: ``cancelled`` (``missed`` when its reason
  is), ``ended_at`` = when, ``reason`` = the note if there is one, else the reason.

"When it took effect" is the event's (clamped) instant, the ``valid_from`` of
the history row the same change wrote; the planned instant is on that row.

Within a batch, a schedule gets one operation: the whole row, with the later
events applied to it, when it was planned in the batch; else one
:class:`~read_models.pricing.ops.ScheduleUpdate` doing what all its events did.
Both are guarded by the event version, like every operation of a plan.

A ``schedule_id`` the processor lets a SKU use again (after its schedule was
cancelled, or long after it took effect) replaces that row: the key is
``(sku, schedule_id)`` as in the product's state; the price history keeps the
``schedule_id`` of every change it made.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from read_models.pricing import fields
from read_models.pricing.fields import PRICE_TYPES, SCHEDULE_STEPS, InvalidEventError
from read_models.pricing.ops import (
    CANCELLED,
    DONE,
    MISSED,
    PLANNED,
    RUNNING,
    Plan,
    ScheduleRow,
    ScheduleUpdate,
)

__all__ = ["ScheduleFold", "ScheduleStep", "schedule_step"]

#: ``(schedule_id, step, planned_at)`` of a change a schedule made.
ScheduleStep = tuple[str, str, datetime]


def schedule_step(data: Mapping[str, Any], version: int) -> ScheduleStep | None:
    """The schedule fields of a ``PriceChanged`` / ``RegularPriceChanged``; None for a
    change a command made directly. The three come together or not at all."""
    schedule_id = data.get("schedule_id")
    if schedule_id is None:
        if data.get("schedule_step") is not None or data.get("planned_at") is not None:
            raise InvalidEventError(
                f"version {version}: schedule_step or planned_at without a schedule_id"
            )
        return None
    step = data.get("schedule_step")
    if step not in SCHEDULE_STEPS:
        raise InvalidEventError(f"version {version}: unknown schedule_step {step!r}")
    return (
        fields.text(data, "schedule_id", version),
        str(step),
        fields.instant(data.get("planned_at"), version, "planned_at"),
    )


class ScheduleFold:
    """The ``scheduled_price`` operations of one SKU's events in a batch."""

    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.rows: dict[str, ScheduleRow] = {}  # planned in this batch
        self.updates: dict[str, ScheduleUpdate] = {}  # planned before it

    def planned(self, data: Mapping[str, Any], version: int) -> None:
        """``PriceChangeScheduled``: the whole row, replacing any earlier one of the id."""
        price_type = data.get("price_type")
        if price_type not in PRICE_TYPES:
            raise InvalidEventError(f"version {version}: unknown price_type {price_type!r}")
        schedule_id = fields.text(data, "schedule_id", version)
        starts_at = fields.instant(data.get("starts_at"), version, "starts_at")
        ends_at = fields.optional_instant(data, "ends_at", version)
        if price_type == "sale" and (ends_at is None or ends_at <= starts_at):
            raise InvalidEventError(f"version {version}: a sale needs an ends_at after starts_at")
        self.rows[schedule_id] = ScheduleRow(
            sku=self.sku,
            schedule_id=schedule_id,
            currency=fields.text(data, "currency", version),
            amount=fields.amount(data, version),
            price_type=str(price_type),
            starts_at=starts_at,
            ends_at=ends_at,
            campaign_id=fields.optional_text(data, "campaign_id", version),
            status=PLANNED,
            started_at=None,
            ended_at=None,
            reason=None,
            version=version,
        )
        self.updates.pop(schedule_id, None)  # the replaced row's fate no longer matters

    def took_effect(self, step: ScheduleStep, version: int, at: datetime, *, sale: bool) -> None:
        """A step of the schedule took effect at ``at``: a sale's start (``sale``: the
        change was a sale price) makes it run, any other step finishes it."""
        schedule_id, kind, _ = step
        if kind == "start":
            status = RUNNING if sale else DONE
            self._update(ScheduleUpdate(self.sku, schedule_id, version, status, started_at=at))
        else:
            self._update(ScheduleUpdate(self.sku, schedule_id, version, DONE, ended_at=at))

    def cancelled(self, data: Mapping[str, Any], version: int, at: datetime) -> None:
        """``PriceChangeScheduleCancelled``: it will not (further) take effect."""
        schedule_id = fields.text(data, "schedule_id", version)
        reason = fields.text(data, "reason", version)
        note = fields.optional_text(data, "note", version) if data.get("note") != "" else None
        status = MISSED if reason == "missed" else CANCELLED
        self._update(
            ScheduleUpdate(
                self.sku, schedule_id, version, status, ended_at=at, reason=note or reason
            )
        )

    def _update(self, update: ScheduleUpdate) -> None:
        schedule_id = update.schedule_id
        if schedule_id in self.rows:
            self.rows[schedule_id] = self.rows[schedule_id].updated(update)
        elif schedule_id in self.updates:
            self.updates[schedule_id] = self.updates[schedule_id].then(update)
        else:
            self.updates[schedule_id] = update

    def emit(self, into: Plan) -> None:
        into.schedules.extend(self.rows.values())
        into.schedule_updates.extend(self.updates.values())
