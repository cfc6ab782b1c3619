"""The command builders fill the envelope and state instants as the contract wants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from producers import commands as c
from schemas.codec import validate_command


def test_set_stock_states_a_datetime_count_in_utc() -> None:
    counted = datetime(2026, 6, 1, 4, 0, tzinfo=timezone(timedelta(hours=2)))
    command = c.set_stock("SKU-1", 40, counted, reason="nightly feed", command_id="feed-1")
    validate_command(command)
    assert command["type"] == "SetStock"
    assert command["command_id"] == "feed-1"
    assert command["data"] == {
        "quantity": 40,
        "counted_at": "2026-06-01T02:00:00.000000Z",
        "reason": "nightly feed",
    }


def test_set_stock_takes_the_count_time_as_a_feed_states_it() -> None:
    occurred = datetime(2026, 6, 1, 9, tzinfo=UTC)
    command = c.set_stock("SKU-1", 0, "2026-06-01T02:00:00+00:00", occurred_at=occurred)
    validate_command(command)
    assert command["data"] == {"quantity": 0, "counted_at": "2026-06-01T02:00:00+00:00"}
