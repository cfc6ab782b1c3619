"""Instants in the contract: what a command may carry, and the one form events carry.

Commands may state ``occurred_at`` in any RFC 3339 form with an explicit
offset: ``T`` or ``t``, ``Z``, ``z`` or ``+hh:mm``, any number of fractional
digits. Events carry one canonical form only, UTC with ``Z`` and exactly six
fractional digits (``2026-11-26T10:00:00.000000Z``), so no consumer ever
parses a variant, and canonical strings sort in time order.

Refused (the codec answers rule ``format``): leap seconds (``:60``), offsets
without a colon (``+0530``, not RFC 3339), impossible dates, and instants
outside 0001-01-01..9999-12-31 once converted to UTC. Fractional digits
beyond microseconds are cut (not rounded).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["canonical", "format_utc", "is_valid", "parse"]

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z",
)
_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")


def parse(value: str) -> datetime:
    """The instant ``value`` names, as an aware UTC datetime; ValueError when it is no
    RFC 3339 date-time with an offset, or its UTC instant is out of range."""
    if _CANONICAL.match(value):  # every event the processor writes: already UTC
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not a valid instant: {value!r} ({exc})") from None
    if not _RFC3339.match(value):
        raise ValueError(f"not an RFC 3339 date-time with an offset: {value!r}")
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid instant: {value!r} ({exc})") from None


def is_valid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse(value)
    except ValueError:
        return False
    return True


def format_utc(instant: datetime) -> str:
    """The canonical text of an aware datetime (years zero-padded to four digits, which
    ``strftime("%Y")`` does not do everywhere)."""
    t = instant.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}Z"
    )


def canonical(value: str) -> str:
    """The canonical form of an RFC 3339 date-time (already canonical text is returned as is)."""
    if _CANONICAL.match(value):
        return value
    return format_utc(parse(value))
