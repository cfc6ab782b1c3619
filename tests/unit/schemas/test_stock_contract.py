"""The contract of counts: SetStock commands and StockAdjusted v2 events (codec only).

The wrong SetStock fields, by rule, are in ``test_codec.py``'s ``WRONG_FIELDS``.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.codec import decode_command, decode_event, encode, validate_event
from schemas.errors import ContractError
from schemas.ids import event_id
from tests.unit.builders import make_command

COUNTED = "2025-06-01T02:00:00Z"


@pytest.mark.parametrize("quantity", [0, 2**53 - 1])
def test_set_stock_takes_every_quantity_a_json_client_reads_exactly(quantity: int) -> None:
    data = {"quantity": quantity, "counted_at": "2025-06-01t04:00:00.5+02:00"}
    assert decode_command(encode(make_command("SetStock", data)))["data"] == data


def _stock_event(**data: Any) -> dict[str, Any]:
    return {
        "event_id": event_id("cmd-1", 0),
        "type": "StockAdjusted",
        "schema_version": 2,
        "sku": "SKU-1",
        "version": 2,
        "occurred_at": "2025-06-01T12:00:00Z",
        "command_id": "cmd-1",
        "correlation_id": "cmd-1",
        "causation_id": "cmd-1",
        "data": {"reason": "", **data},
    }


def test_stock_adjusted_v2_takes_a_count_and_large_deltas() -> None:
    validate_event(_stock_event(delta=2**53 - 1, quantity=2**53 - 1, counted_at=COUNTED))
    validate_event(_stock_event(delta=-(2**53 - 1), quantity=0))


@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ({"delta": 0, "quantity": 1}, "data.delta", "not"),
        ({"delta": 2**53, "quantity": 2**53}, "data.delta", "maximum"),
        ({"delta": 1, "quantity": 1, "counted_at": "yesterday"}, "data.counted_at", "format"),
        (
            {"delta": 1, "quantity": 1, "quantity_before": 0},
            "data.quantity_before",
            "additionalProperties",
        ),
    ],
)
def test_stock_adjusted_v2_refuses(data: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ContractError) as info:
        validate_event(_stock_event(**data))
    assert (info.value.field, info.value.rule) == (field, rule)


def test_stock_adjusted_v1_decodes_as_v2() -> None:
    old = _stock_event(delta=3, quantity=3)
    old["schema_version"] = 1
    decoded = decode_event(encode(old))
    assert decoded["schema_version"] == 2
    assert decoded["data"] == old["data"]
