"""Instants as people type them: a wall-clock time in an IANA zone, or RFC 3339.

The contract carries instants only (RFC 3339 with an offset). A person planning
a sale thinks "Friday 00:00 in Berlin"; this module turns that into the one
instant it names, and refuses the two wall-clock times that name none or two:

* a time skipped by a daylight-saving jump (02:30 on the last Sunday of March
  in Europe/Berlin) does not exist: refused, naming the jump;
* a time repeated when the clocks go back (02:30 on the last Sunday of
  October) happens twice: refused, naming both offsets to choose from.

Guessing would put a sale an hour off on two nights a year, silently.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas import timestamps

__all__ = ["LocalTimeError", "parse_instant", "zone"]

_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)


class LocalTimeError(ValueError):
    """The text names no instant, or not exactly one; the message says what to type."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Berlin``, ``UTC``), or LocalTimeError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LocalTimeError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC"
        ) from None


def _wall_clock(text: str) -> datetime | None:
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def parse_instant(text: str, tz: str = "UTC") -> datetime:
    """The aware UTC instant ``text`` names: RFC 3339 with an offset as it is, or a
    wall-clock time (``2026-11-27 00:00``) in zone ``tz``."""
    text = text.strip()
    if timestamps.is_valid(text):
        return timestamps.parse(text)
    local = _wall_clock(text)
    if local is None:
        raise LocalTimeError(
            f"{text!r} is not a time: write 2026-11-27 00:00 (in --tz) or 2026-11-27T00:00:00+01:00"
        )
    where = zone(tz)
    first = local.replace(tzinfo=where, fold=0)
    second = local.replace(tzinfo=where, fold=1)
    offsets = (first.utcoffset(), second.utcoffset())
    if offsets[0] != offsets[1]:
        # Either skipped (the round trip through UTC lands elsewhere) or repeated.
        back = first.astimezone(UTC).astimezone(where).replace(tzinfo=None)
        if back != local:
            raise LocalTimeError(
                f"{text} does not exist in {tz}: the clocks jump over it "
                f"(from {_offset(offsets[0])} to {_offset(offsets[1])}); "
                "pick a time after the jump or give an offset"
            )
        raise LocalTimeError(
            f"{text} happens twice in {tz} (at {_offset(offsets[0])} and then at "
            f"{_offset(offsets[1])}); write it with the offset you mean, e.g. "
            f"{local.isoformat()}{_offset(offsets[0])}"
        )
    return first.astimezone(UTC)


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
