"""Typed results of the schedule queries (see :mod:`read_models.pricing.schedule_queries`).

Amounts and instants as in :mod:`read_models.pricing.models`: exact decimals
(canonical strings in JSON), aware UTC datetimes. What is *planned* (a price a
schedule will set, a step still to come) is always marked as such: it is what
the processor will do if nothing changes, never what happened.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from read_models.pricing.models import Amount, Currency, PricePoint, PriceType, UtcDatetime

__all__ = [
    "AsOfPrice",
    "Campaign",
    "CampaignList",
    "CampaignSummary",
    "PlannedPrice",
    "PlannedStep",
    "ProductSchedules",
    "SaleReference",
    "ScheduleCounts",
    "ScheduleStatus",
    "ScheduledChange",
    "UpcomingChange",
]

ScheduleStatus = Literal["planned", "running", "done", "cancelled", "missed"]

_CONFIG = ConfigDict(extra="forbid", frozen=True)


class AsOfPrice(PricePoint):
    """The price at an instant: what was charged (``planned`` false: the history), or,
    for an instant still to come, what the schedules will set (``planned`` true;
    ``valid_to`` is then the next planned change)."""

    planned: bool


class ScheduledChange(BaseModel):
    """A schedule of one SKU as the read model holds it.

    ``started_at``: when its start took effect (the price's ``valid_from``);
    ``ended_at``: when a sale's end took effect, or when it was cancelled;
    ``reason``: why it was cancelled (the note given, else ``cancelled``,
    ``discontinued`` or ``missed``).
    """

    model_config = _CONFIG

    sku: str
    schedule_id: str
    currency: Currency
    amount: Amount
    price_type: PriceType
    starts_at: UtcDatetime
    ends_at: UtcDatetime | None
    campaign_id: str | None
    status: ScheduleStatus
    started_at: UtcDatetime | None
    ended_at: UtcDatetime | None
    reason: str | None


class PlannedPrice(BaseModel):
    """What customers will pay right after a step, and the regular price then."""

    model_config = _CONFIG

    amount: Amount
    price_type: PriceType
    regular_amount: Amount | None


class PlannedStep(BaseModel):
    """A step still to come: a schedule's start, or a sale's end.

    ``effective_at`` is when it will take effect: ``planned_at``, or now when that
    has passed (the processor is behind). ``outcome``: ``price_changed`` (what
    customers pay changes), ``regular_price_changed`` (only the regular price: a
    sale runs, or it is the price already), ``missed`` (a sale whose window will
    have passed), ``cancelled`` (a sale with no regular price to return to: its
    price stays).
    """

    model_config = _CONFIG

    step: Literal["start", "end"]
    planned_at: UtcDatetime
    effective_at: UtcDatetime
    outcome: Literal["price_changed", "regular_price_changed", "missed", "cancelled"]
    price: PlannedPrice | None


class SaleReference(BaseModel):
    """The EU Omnibus reference of a sale at its start ``reference_at``: the lowest
    price of ``[window_start, reference_at)``, real and planned prices alike (see
    :mod:`read_models.pricing.planned`). Only when ``is_reduction`` may the sale be
    announced as a reduction, with ``lowest_30_days`` as the prior price."""

    model_config = _CONFIG

    reference_at: UtcDatetime
    window_start: UtcDatetime
    amount: Amount
    lowest_30_days: Amount | None
    is_reduction: bool


class UpcomingChange(ScheduledChange):
    """A schedule with its steps to come and, for a sale, its Omnibus reference."""

    steps: list[PlannedStep]
    omnibus: SaleReference | None


class ProductSchedules(BaseModel):
    """The schedules of a SKU: those to come (planned, running) and, on request, the
    finished ones; ordered by start."""

    model_config = _CONFIG

    sku: str
    #: the instant the plan was computed for (steps before it take effect at it)
    now: UtcDatetime
    schedules: list[UpcomingChange]


class ScheduleCounts(BaseModel):
    """How many schedules are in each status."""

    model_config = _CONFIG

    planned: int = Field(ge=0)
    running: int = Field(ge=0)
    done: int = Field(ge=0)
    cancelled: int = Field(ge=0)
    missed: int = Field(ge=0)


class CampaignSummary(BaseModel):
    """A campaign: its schedules per status, its first start and its last end."""

    model_config = _CONFIG

    campaign_id: str
    total: int = Field(ge=1)
    counts: ScheduleCounts
    skus: int = Field(ge=1, description="distinct SKUs")
    starts_at: UtcDatetime = Field(description="the earliest start")
    ends_at: UtcDatetime = Field(description="the latest end (a regular change: its start)")


class Campaign(CampaignSummary):
    """A campaign and its schedules across SKUs, by start then SKU (the first ``limit``)."""

    schedules: list[ScheduledChange]
    truncated: bool = Field(description="more schedules than `limit`: the rest are left out")


class CampaignList(BaseModel):
    """Campaigns by id; ``next_after`` continues the list (null: no more)."""

    model_config = _CONFIG

    campaigns: list[CampaignSummary]
    next_after: str | None
