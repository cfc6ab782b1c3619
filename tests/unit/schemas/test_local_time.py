"""Wall-clock times in IANA zones, daylight-saving transitions included (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.local_time import LocalTimeError, parse_instant


@pytest.mark.parametrize(
    ("text", "tz", "utc"),
    [
        ("2026-11-27 00:00", "Europe/Berlin", datetime(2026, 11, 26, 23, 0, tzinfo=UTC)),
        ("2026-07-01 00:00", "Europe/Berlin", datetime(2026, 6, 30, 22, 0, tzinfo=UTC)),
        ("2026-03-29 03:00", "Europe/Berlin", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-03-29 01:59:59", "Europe/Berlin", datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)),
        ("2026-10-25 03:00", "Europe/Berlin", datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),
        ("2026-03-08 03:00", "America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        ("2026-12-01", "UTC", datetime(2026, 12, 1, tzinfo=UTC)),
        # an explicit offset wins over --tz
        (
            "2026-10-25T02:30:00+02:00",
            "America/New_York",
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
        ("2026-10-25T02:30:00+01:00", "Europe/Berlin", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ],
)
def test_wall_clock_times_name_one_instant(text: str, tz: str, utc: datetime) -> None:
    assert parse_instant(text, tz) == utc


def test_a_time_the_clocks_jump_over_is_refused() -> None:
    with pytest.raises(
        LocalTimeError, match=r"does not exist in Europe/Berlin.*\+01:00 to \+02:00"
    ):
        parse_instant("2026-03-29 02:30", "Europe/Berlin")


def test_a_time_that_happens_twice_is_refused_with_both_offsets() -> None:
    with pytest.raises(LocalTimeError, match=r"happens twice.*\+02:00.*\+01:00"):
        parse_instant("2026-10-25 02:30", "Europe/Berlin")
    with pytest.raises(LocalTimeError, match="happens twice"):
        parse_instant("2026-11-01 01:30", "America/New_York")


@pytest.mark.parametrize(
    ("text", "tz"), [("next friday", "UTC"), ("2026-11-27 00:00", "Mars/Base")]
)
def test_nonsense_is_refused_with_what_to_type(text: str, tz: str) -> None:
    with pytest.raises(LocalTimeError):
        parse_instant(text, tz)
