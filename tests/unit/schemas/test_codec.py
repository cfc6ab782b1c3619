"""The codec enforces the command/event contract and reports violations precisely."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import orjson
import pytest

from schemas.codec import (
    MAX_MESSAGE_BYTES,
    best_effort_address,
    decode_command,
    decode_event,
    encode,
    validate_event,
)
from schemas.errors import ContractError
from schemas.ids import EVENT_NAMESPACE, event_id, new_command_id
from schemas.money import format_amount, is_positive, parse_amount
from schemas.registry import COMMAND_TYPES, CURRENT_EVENT_VERSIONS, EVENT_TYPES
from tests.unit.builders import VALID_DATA, make_command


def _raw(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _contract_error(raw: bytes) -> ContractError:
    with pytest.raises(ContractError) as info:
        decode_command(raw)
    return info.value


def test_registry_lists_all_types() -> None:
    assert set(VALID_DATA) == COMMAND_TYPES
    assert {
        "ProductRegistered",
        "ProductDetailsUpdated",
        "PriceChanged",
        "StockAdjusted",
        "ProductDiscontinued",
        "PriceChangeScheduled",
        "PriceChangeScheduleCancelled",
        "RegularPriceChanged",
    } == EVENT_TYPES
    assert CURRENT_EVENT_VERSIONS["PriceChanged"] == 3
    assert CURRENT_EVENT_VERSIONS["StockAdjusted"] == 2


@pytest.mark.parametrize("type_", sorted(VALID_DATA))
def test_every_command_type_decodes(type_: str) -> None:
    command = make_command(type_, VALID_DATA[type_], correlation_id="corr", expected_version=3)
    assert decode_command(_raw(command)) == command


def test_optional_envelope_fields_may_be_absent() -> None:
    command = make_command("DiscontinueProduct", {})
    assert decode_command(encode(command)) == command


def test_decode_accepts_str_and_bytearray() -> None:
    command = make_command("AdjustStock", {"delta": -1})
    assert decode_command(bytearray(encode(command))) == command
    assert decode_command(encode(command).decode()) == command


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b"{not json", "json"),
        (b"", "json"),
        (b"\xff\xfe", "json"),
        (b"[1, 2]", "type"),
        (b'"text"', "type"),
    ],
)
def test_malformed_messages(raw: bytes, rule: str) -> None:
    error = _contract_error(raw)
    assert (error.field, error.rule) == ("$", rule)


def test_oversized_message_is_rejected_before_parsing() -> None:
    command = make_command("RegisterProduct", {"name": "x" * MAX_MESSAGE_BYTES})
    error = _contract_error(_raw(command))
    assert (error.field, error.rule) == ("$", "size")
    assert best_effort_address(_raw(command)) == ("cmd-1", "SKU-1")


def test_unknown_type() -> None:
    error = _contract_error(_raw(make_command("DeleteEverything", {})))
    assert (error.field, error.rule) == ("type", "unknown_type")
    error = _contract_error(_raw(make_command(42, {})))  # type: ignore[arg-type]
    assert (error.field, error.rule) == ("type", "unknown_type")


def test_missing_type() -> None:
    command = make_command("AdjustStock", {"delta": 1})
    del command["type"]
    error = _contract_error(_raw(command))
    assert (error.field, error.rule) == ("type", "required")


@pytest.mark.parametrize(
    ("version", "rule"), [(2, "unknown_version"), ("1", "type"), (True, "type")]
)
def test_schema_version_is_strict(version: Any, rule: str) -> None:
    command = make_command("AdjustStock", {"delta": 1}, schema_version=version)
    error = _contract_error(_raw(command))
    assert (error.field, error.rule) == ("schema_version", rule)


COUNTED = "2025-06-01T02:00:00Z"

WRONG_FIELDS: list[tuple[str, Any, dict[str, Any], str, str]] = [
    # (type, data, envelope overrides, expected field, expected rule)
    ("ChangePrice", {"amount": 12.5, "currency": "EUR"}, {}, "data.amount", "type"),
    ("ChangePrice", {"amount": "12.50", "currency": "EURO"}, {}, "data.currency", "enum"),
    ("ChangePrice", {"amount": "12.50", "currency": "XYZ"}, {}, "data.currency", "enum"),
    ("ChangePrice", {"amount": "12.50", "currency": "eur"}, {}, "data.currency", "enum"),
    ("ChangePrice", {"amount": "-1", "currency": "EUR"}, {}, "data.amount", "pattern"),
    ("ChangePrice", {"amount": "1e3", "currency": "EUR"}, {}, "data.amount", "pattern"),
    ("ChangePrice", {"amount": "01.5", "currency": "EUR"}, {}, "data.amount", "pattern"),
    ("ChangePrice", {"amount": "1.23456", "currency": "EUR"}, {}, "data.amount", "pattern"),
    (
        "ChangePrice",
        {"amount": "1", "currency": "EUR", "price_type": "promo"},
        {},
        "data.price_type",
        "enum",
    ),
    ("ChangePrice", {"currency": "EUR"}, {}, "data.amount", "required"),
    (
        "ChangePrice",
        {"amount": "1", "currency": "EUR", "x": 1},
        {},
        "data.x",
        "additionalProperties",
    ),
    ("RegisterProduct", {}, {}, "data.name", "required"),
    ("RegisterProduct", {"name": ""}, {}, "data.name", "minLength"),
    ("RegisterProduct", {"name": "n" * 201}, {}, "data.name", "maxLength"),
    ("RegisterProduct", {"name": "n", "category_path": []}, {}, "data.category_path", "minItems"),
    (
        "RegisterProduct",
        {"name": "n", "category_path": ["a", ""]},
        {},
        "data.category_path[1]",
        "minLength",
    ),
    ("RegisterProduct", {"name": "n", "tags": ["a", "a"]}, {}, "data.tags", "uniqueItems"),
    ("RegisterProduct", {"name": "n", "attributes": {"k": 1}}, {}, "data.attributes.k", "type"),
    (
        "RegisterProduct",
        {"name": "n", "attributes": {"k" * 51: "v"}},
        {},
        "data.attributes",
        "propertyNames",
    ),
    ("UpdateProductDetails", {}, {}, "data", "minProperties"),
    ("AdjustStock", {"delta": 0}, {}, "data.delta", "not"),
    ("AdjustStock", {"delta": 1_000_001}, {}, "data.delta", "maximum"),
    ("AdjustStock", {"delta": 1.0}, {}, "data.delta", "type"),
    ("AdjustStock", {"delta": "5"}, {}, "data.delta", "type"),
    ("SetStock", {"counted_at": "2025-06-01T02:00:00Z"}, {}, "data.quantity", "required"),
    ("SetStock", {"quantity": 1}, {}, "data.counted_at", "required"),
    ("SetStock", {"quantity": -1, "counted_at": COUNTED}, {}, "data.quantity", "minimum"),
    ("SetStock", {"quantity": 2**53, "counted_at": COUNTED}, {}, "data.quantity", "maximum"),
    ("SetStock", {"quantity": 1.0, "counted_at": COUNTED}, {}, "data.quantity", "type"),
    ("SetStock", {"quantity": "1", "counted_at": COUNTED}, {}, "data.quantity", "type"),
    (
        "SetStock",
        {"quantity": 1, "counted_at": "2025-06-01T02:00:00"},
        {},
        "data.counted_at",
        "format",
    ),
    ("SetStock", {"quantity": 1, "counted_at": 1748743200}, {}, "data.counted_at", "type"),
    (
        "SetStock",
        {"quantity": 1, "counted_at": COUNTED, "reason": "r" * 201},
        {},
        "data.reason",
        "maxLength",
    ),
    (
        "SetStock",
        {"quantity": 1, "counted_at": COUNTED, "delta": 1},
        {},
        "data.delta",
        "additionalProperties",
    ),
    ("DiscontinueProduct", {"reason": "r" * 501}, {}, "data.reason", "maxLength"),
    ("DiscontinueProduct", {}, {"sku": "bad sku"}, "sku", "pattern"),
    ("DiscontinueProduct", {}, {"sku": "-leading-dash"}, "sku", "pattern"),
    ("DiscontinueProduct", {}, {"sku": "A\n"}, "sku", "pattern"),
    ("DiscontinueProduct", {}, {"command_id": ""}, "command_id", "minLength"),
    ("DiscontinueProduct", {}, {"command_id": "c" * 129}, "command_id", "maxLength"),
    ("DiscontinueProduct", {}, {"occurred_at": "2025-06-01T12:00:00"}, "occurred_at", "format"),
    ("DiscontinueProduct", {}, {"occurred_at": "2025-02-30T12:00:00Z"}, "occurred_at", "format"),
    ("DiscontinueProduct", {}, {"occurred_at": "yesterday"}, "occurred_at", "format"),
    ("DiscontinueProduct", {}, {"expected_version": -1}, "expected_version", "minimum"),
    ("DiscontinueProduct", {}, {"expected_version": 2.0}, "expected_version", "type"),
    ("DiscontinueProduct", {}, {"surprise": True}, "surprise", "additionalProperties"),
    ("DiscontinueProduct", [], {}, "data", "type"),
]


@pytest.mark.parametrize(("type_", "data", "envelope", "field", "rule"), WRONG_FIELDS)
def test_wrong_field(
    type_: str, data: dict[str, Any], envelope: dict[str, Any], field: str, rule: str
) -> None:
    error = _contract_error(_raw(make_command(type_, data, **envelope)))
    assert (error.field, error.rule) == (field, rule), error.message
    assert error.message.startswith(field)


@pytest.mark.parametrize("missing", ["command_id", "sku", "occurred_at", "data"])
def test_missing_envelope_field(missing: str) -> None:
    command = make_command("DiscontinueProduct", {})
    del command[missing]
    error = _contract_error(_raw(command))
    assert (error.field, error.rule) == (missing, "required")


@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY", "CHF", "XCG"])
def test_iso_currencies_accepted(currency: str) -> None:
    decode_command(_raw(make_command("ChangePrice", {"amount": "1", "currency": currency})))


@pytest.mark.parametrize("stamp", ["2025-06-01T12:00:00+02:00", "2025-06-01t12:00:00.123456z"])
def test_rfc3339_timestamps(stamp: str) -> None:
    decode_command(_raw(make_command("DiscontinueProduct", {}, occurred_at=stamp)))


def test_error_message_is_short_for_big_enums() -> None:
    error = _contract_error(_raw(make_command("ChangePrice", {"amount": "1", "currency": "XYZ"})))
    assert len(error.message) < 200
    assert "XYZ" in error.message


def test_best_effort_address() -> None:
    assert best_effort_address(b'{"command_id": "c-9", "sku": "S", "type": 1}') == ("c-9", "S")
    assert best_effort_address(b'{"command_id": 5, "sku": ["S"]}') == (None, None)
    assert best_effort_address(b"[]") == (None, None)
    assert best_effort_address(b"garbage") == (None, None)
    assert best_effort_address(orjson.dumps({"command_id": "c" * 500})) == (None, None)


def test_encode_round_trip_is_byte_stable() -> None:
    command = make_command("RegisterProduct", VALID_DATA["RegisterProduct"])
    assert encode(decode_command(encode(command))) == encode(command)


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id("cmd-1", 0),
        "type": "PriceChanged",
        "schema_version": 3,
        "sku": "SKU-1",
        "version": 2,
        "occurred_at": "2025-06-01T12:00:00Z",
        "command_id": "cmd-1",
        "correlation_id": "cmd-1",
        "causation_id": "cmd-1",
        "data": {"amount": "10", "currency": "EUR", "price_type": "regular"},
    }
    event.update(overrides)
    return event


def test_validate_event_accepts_current_and_refuses_old_versions() -> None:
    validate_event(_event())
    with pytest.raises(ContractError) as info:
        validate_event(_event(schema_version=1, data={"price": "10", "currency": "EUR"}))
    assert info.value.rule == "unknown_version"


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"version": 0}, "version", "minimum"),
        ({"event_id": "not-a-uuid"}, "event_id", "pattern"),
        ({"data": {"amount": "10", "currency": "EUR"}}, "data.price_type", "required"),
        ({"data": {"amount": 10, "currency": "EUR", "price_type": "sale"}}, "data.amount", "type"),
    ],
)
def test_invalid_events(overrides: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(ContractError) as info:
        validate_event(_event(**overrides))
    assert (info.value.field, info.value.rule) == (field, rule)
    with pytest.raises(ContractError):
        decode_event(encode(_event(**overrides)))


def test_decode_event_upcasts_old_versions() -> None:
    old = _event(schema_version=1, data={"price": "10.5", "currency": "EUR"})
    decoded = decode_event(encode(old))
    assert decoded["schema_version"] == 3
    assert decoded["data"] == {"amount": "10.5", "currency": "EUR", "price_type": "regular"}
    assert decoded["event_id"] == old["event_id"]


def test_decode_event_unknown_version() -> None:
    with pytest.raises(ContractError) as info:
        decode_event(encode(_event(schema_version=4)))
    assert (info.value.field, info.value.rule) == ("schema_version", "unknown_version")


def test_command_is_not_mutated_by_validation() -> None:
    command = make_command("ChangePrice", {"amount": "1", "currency": "EUR"})
    before = copy.deepcopy(command)
    decoded = decode_command(encode(command))
    assert decoded == before
    assert "price_type" not in decoded["data"]


def test_ids() -> None:
    assert event_id("c", 0) == event_id("c", 0)
    assert event_id("c", 0) != event_id("c", 1) != event_id("d", 1)
    assert event_id("c", 0) == str(uuid.uuid5(EVENT_NAMESPACE, "c:0"))
    with pytest.raises(ValueError):
        event_id("c", -1)
    assert new_command_id() != new_command_id()


def test_money() -> None:
    assert parse_amount("12.50") == parse_amount("12.5")
    assert format_amount(parse_amount("12.50")) == "12.5"
    assert format_amount(parse_amount("100")) == "100"
    assert is_positive("0.0001")
    assert not is_positive("0")
    assert not is_positive("0.0000")
    with pytest.raises(TypeError):
        parse_amount(12.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        parse_amount("1e2")


def test_integer_fields_sit_in_the_envelope_or_directly_in_data() -> None:
    """The codec's float check looks only there (it is on every send's hot path)."""
    import json
    from pathlib import Path

    from schemas.registry import SCHEMA_DIR

    def integer_paths(node: object, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        found: list[tuple[str, ...]] = []
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
                found.append(path)
            for key, value in node.items():
                step = (
                    path
                    if key
                    in {
                        "properties",
                        "definitions",
                        "items",
                        "allOf",
                        "anyOf",
                        "oneOf",
                        "then",
                        "else",
                        "if",
                        "not",
                    }
                    else (*path, key)
                )
                found.extend(integer_paths(value, step))
        elif isinstance(node, list):
            for item in node:
                found.extend(integer_paths(item, path))
        return found

    message_schemas = [
        f
        for d in ("commands", "events", "envelope", "common")
        for f in (Path(SCHEMA_DIR) / d).glob("*.json")
    ]
    for schema_file in message_schemas:
        document = json.loads(schema_file.read_text())
        for path in integer_paths(document, ()):
            fields = [p for p in path if p != "data"]
            assert len(fields) <= 1, f"{schema_file.name}: integer field {'.'.join(path)} is nested"
