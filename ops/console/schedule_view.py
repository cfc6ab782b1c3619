"""Scheduled prices in the console, as pure functions: the schedule form's checks, the
rows of a product's upcoming changes, and a campaign's progress.

The form takes what a person types: a wall-clock date and time and an IANA zone
(default UTC). :func:`schemas.local_time.parse_instant` turns them into the one
instant they name, exactly as ``eventcart schedule add --tz`` does, and refuses a
time a daylight-saving jump skips or a setback repeats: its message is shown
beside the field and nothing is sent, because a guess would put a sale an hour
off. Everything the contract would refuse anyway (amount, currency, ids, a sale
without an end) is refused here too, field by field, so a person learns what to
fix where they typed it rather than from a 422.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from read_models.pricing.schedule_models import ProductSchedules, ScheduleCounts, ScheduleStatus
from schemas.local_time import LocalTimeError, parse_instant, zone
from schemas.money import format_amount

__all__ = [
    "ID",
    "STATUSES",
    "ZONES",
    "ScheduleForm",
    "ScheduleRequest",
    "ScheduleRow",
    "Segment",
    "campaign_url",
    "check",
    "instant_text",
    "progress",
    "schedule_rows",
]

#: The contract's amount pattern (schemas/json/common/definitions.json): no leading zero.
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: The contract's schedule_id and campaign_id pattern (schemas/json/common/definitions.json).
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
#: Offered as suggestions in the time-zone field; any IANA name is accepted.
ZONES = (
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Warsaw",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
)
#: The statuses of a schedule, in the order of its life (a campaign's bar, its counts).
STATUSES: tuple[ScheduleStatus, ...] = ("done", "running", "planned", "cancelled", "missed")


@dataclass(frozen=True)
class ScheduleForm:
    """The schedule form's fields as typed, kept to show them again beside any error."""

    currency: str = "EUR"
    amount: str = ""
    price_type: str = "regular"
    starts: str = ""
    ends: str = ""
    tz: str = "UTC"
    schedule_id: str = ""
    campaign_id: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, Sequence[str]]) -> ScheduleForm:
        def one(name: str, default: str = "") -> str:
            return (fields.get(name) or [default])[0].strip()

        return cls(
            currency=one("currency").upper(),
            amount=one("amount"),
            price_type=one("price_type", "regular"),
            starts=one("starts"),
            ends=one("ends"),
            tz=one("tz") or "UTC",
            schedule_id=one("schedule_id"),
            campaign_id=one("campaign_id"),
        )

    @property
    def sale(self) -> bool:
        return self.price_type == "sale"


@dataclass(frozen=True)
class ScheduleRequest:
    """A schedule the form may send: instants resolved, the schedule id chosen."""

    schedule_id: str
    currency: str
    amount: str
    starts_at: datetime
    ends_at: datetime | None
    campaign_id: str | None


def _instant(text: str, tz: str, errors: dict[str, str], field: str) -> datetime | None:
    try:
        return parse_instant(text, tz)
    except LocalTimeError as exc:
        errors[field] = str(exc)
        return None


def default_id(form: ScheduleForm, starts_at: datetime) -> str:
    """The schedule id when none is typed: the campaign's, as ``eventcart schedule add``
    names it (so the shell can cancel it across SKUs), else the kind, currency and
    start, so two changes typed for two currencies never replace each other."""
    if form.campaign_id:
        return form.campaign_id
    kind = "sale" if form.sale else "price"
    return f"{kind}-{form.currency}-{starts_at:%Y%m%dT%H%M%SZ}"


def check(form: ScheduleForm) -> tuple[ScheduleRequest | None, dict[str, str]]:
    """The schedule to send, or None and what is wrong, by field name."""
    errors: dict[str, str] = {}
    if not _CURRENCY.match(form.currency):
        errors["currency"] = "a currency is three capital letters, like EUR"
    if not _AMOUNT.match(form.amount):
        errors["amount"] = "give an amount like 19.99 (up to four decimals)"
    elif not any(c in "123456789" for c in form.amount):
        errors["amount"] = "the price must be greater than zero"
    if form.price_type not in ("regular", "sale"):
        errors["price_type"] = "the price type is regular or sale"
    for field, value in (("schedule_id", form.schedule_id), ("campaign_id", form.campaign_id)):
        if value and not ID.match(value):
            errors[field] = (
                "letters, digits and . _ : / - only (starting with a letter or digit), at most 128"
            )
    try:
        zone(form.tz)
    except LocalTimeError as exc:
        errors["tz"] = str(exc)
        return None, errors  # no time can be read in a zone that does not exist
    starts_at = ends_at = None
    if not form.starts:
        errors["starts"] = "when the price takes effect: a date and time"
    else:
        starts_at = _instant(form.starts, form.tz, errors, "starts")
    if form.sale:
        if not form.ends:
            errors["ends"] = "a sale needs an end: a date and time"
        else:
            ends_at = _instant(form.ends, form.tz, errors, "ends")
        if starts_at is not None and ends_at is not None and ends_at <= starts_at:
            errors["ends"] = "the sale must end after it starts"
    if errors or starts_at is None:
        return None, errors
    request = ScheduleRequest(
        schedule_id=form.schedule_id or default_id(form, starts_at),
        currency=form.currency,
        amount=form.amount,
        starts_at=starts_at,
        ends_at=ends_at,
        campaign_id=form.campaign_id or None,
    )
    return request, {}


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ScheduleRow:
    """One planned or running schedule as the product page lists it."""

    schedule_id: str
    currency: str
    amount: str
    price_type: str
    starts_at: datetime
    ends_at: datetime | None
    status: str
    campaign_id: str | None
    #: a sale's EU Omnibus reference: the lowest price of the 30 days before its start
    #: (None: no price in force then) and whether it may be shown as a reduction
    lowest_30_days: str | None
    is_reduction: bool | None
    #: when the processor is behind: the instant its next step will take effect (now)
    late: bool

    @property
    def cancel_label(self) -> str:
        return "End sale now" if self.status == "running" else "Cancel"


def schedule_rows(schedules: ProductSchedules | None) -> list[ScheduleRow]:
    """The product's planned and running schedules, by start (as the query orders them)."""
    if schedules is None:
        return []
    rows = []
    for s in schedules.schedules:
        if s.status not in ("planned", "running"):
            continue
        reference = s.omnibus
        rows.append(
            ScheduleRow(
                schedule_id=s.schedule_id,
                currency=s.currency,
                amount=format_amount(s.amount),
                price_type=s.price_type,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                status=s.status,
                campaign_id=s.campaign_id,
                lowest_30_days=(
                    format_amount(reference.lowest_30_days)
                    if reference is not None and reference.lowest_30_days is not None
                    else None
                ),
                is_reduction=None if reference is None else reference.is_reduction,
                late=any(step.effective_at > step.planned_at for step in s.steps),
            )
        )
    return rows


def instant_text(at: datetime | None) -> str:
    """An instant as the console writes it, in UTC: seconds only when there are some
    (a schedule planned to the second says so), a dash for none."""
    if at is None:
        return "\u2013"
    return at.strftime("%Y-%m-%d %H:%M:%S UTC" if at.second else "%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- campaigns


def campaign_url(campaign_id: str) -> str:
    """The console page of a campaign (its id may hold '/', kept as it is: the route
    takes the rest of the path). An id with a '.' or '..' between its slashes would be
    read by the browser as a step up the path: then its slashes are escaped too (the
    server reads %2F as '/')."""
    steps = any(part in (".", "..") for part in campaign_id.split("/"))
    return "/console/campaigns/" + quote(campaign_id, safe="" if steps else "/")


@dataclass(frozen=True)
class Segment:
    """One status's part of a campaign's progress bar, in percent of its schedules."""

    status: ScheduleStatus
    count: int
    start: float
    width: float


def progress(counts: ScheduleCounts) -> list[Segment]:
    """The bar's segments, in the order of a schedule's life, empty statuses left out;
    the widths add up to 100 (for a campaign with any schedule)."""
    total = sum(getattr(counts, status) for status in STATUSES)
    segments = []
    start = 0.0
    for status in STATUSES:
        count: int = getattr(counts, status)
        if count and total:
            width = 100.0 * count / total
            segments.append(Segment(status, count, round(start, 3), round(width, 3)))
            start += width
    return segments
