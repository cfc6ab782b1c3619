"""Bytes <-> messages, with the contract enforced at the boundary.

Everything that enters the system from outside (commands from any language) or is
read back from the log (events of any historic version) passes through here, so the
pure core only ever sees messages that are valid at a known version. Checks run
cheapest first (size, JSON, type, version, schema) and stop at the first violation,
which is reported as a :class:`ContractError` that the processor turns into a
rejected result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastjsonschema import JsonSchemaValueException

from schemas import registry
from schemas.errors import ROOT_FIELD, ContractError, from_validation_error, join_path
from schemas.upcasting import upcast

__all__ = [
    "MAX_MESSAGE_BYTES",
    "best_effort_address",
    "decode_command",
    "decode_event",
    "encode",
    "validate_command",
    "validate_event",
    "validate_event_any_version",
]

#: Upper bound for one command or event. Far above any real product (the largest
#: legal RegisterProduct is ~40 KiB), well below Kafka's default 1 MiB message limit,
#: and it bounds the memory one hostile message can cost the processor.
MAX_MESSAGE_BYTES = 256 * 1024


def encode(obj: Mapping[str, Any]) -> bytes:
    """Serialise a message to UTF-8 JSON.

    Key order is kept as built (not sorted): ``decide`` builds events in a fixed
    order, so the same decision always encodes to the same bytes.
    """
    return orjson.dumps(obj)


def _parse_object(raw: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    size = len(raw)
    if size > MAX_MESSAGE_BYTES:
        raise ContractError(
            ROOT_FIELD, "size", f"message is {size} bytes, the limit is {MAX_MESSAGE_BYTES}"
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractError(ROOT_FIELD, "json", f"message is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ContractError(
            ROOT_FIELD, "type", f"message must be a JSON object, got {type(obj).__name__}"
        )
    return obj


_NOT_AN_INTEGER = (
    "{path} must be an integer, not a fractional number (an integer beyond 64 bits is read as one)"
)


def _reject_floats(message: Mapping[str, Any]) -> None:
    """No field of any command or event is a non-integer number (money is a string).

    JSON Schema treats ``1.0`` as an integer, so the schema alone would let
    ``"delta": 1.0`` through and put a float into stock arithmetic. Every
    integer-typed property of our schemas sits in the envelope or directly in
    ``data`` (``tests/unit/schemas/test_codec.py`` checks that over all schema files), and
    everything deeper is string-typed, where the schema itself refuses a number.
    So two shallow loops suffice: this runs on every command a client sends.
    """
    for key, value in message.items():
        if type(value) is float:
            raise ContractError(key, "type", _NOT_AN_INTEGER.format(path=key))
    _reject_data_floats(message.get("data"))


def _reject_data_floats(data: object) -> None:
    if type(data) is dict:
        for key, value in data.items():
            if type(value) is float:
                path = join_path("data", str(key))
                raise ContractError(path, "type", _NOT_AN_INTEGER.format(path=path))


def _check_type_and_version(
    message: Mapping[str, Any], known: Mapping[str, tuple[int, ...]], what: str
) -> tuple[str, int]:
    type_ = message.get("type")
    if "type" not in message:
        raise ContractError("type", "required", "type is required")
    if not isinstance(type_, str) or type_ not in known:
        raise ContractError("type", "unknown_type", f"type: unknown {what} type {type_!r}")
    if "schema_version" not in message:
        raise ContractError("schema_version", "required", "schema_version is required")
    version = message["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ContractError("schema_version", "type", "schema_version must be integer")
    if version not in known[type_]:
        supported = ", ".join(map(str, known[type_]))
        raise ContractError(
            "schema_version",
            "unknown_version",
            f"schema_version: {type_} v{version} is not supported (supported: {supported})",
        )
    return type_, version


def _validate(validator: registry.Validator, message: Mapping[str, Any]) -> None:
    try:
        validator(message)
    except JsonSchemaValueException as exc:
        raise from_validation_error(exc) from None
    _reject_floats(message)


_COMMAND_VERSIONS = {t: (v,) for t, v in registry.CURRENT_COMMAND_VERSIONS.items()}
_EVENT_VERSIONS = {t: registry.event_versions(t) for t in registry.EVENT_TYPES}
_CURRENT_EVENTS = {t: (v,) for t, v in registry.CURRENT_EVENT_VERSIONS.items()}


def _integers(properties: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of integer-typed properties (``"type": "integer"`` or a list with it)."""
    return tuple(
        name
        for name, spec in properties.items()
        if spec.get("type") == "integer" or "integer" in (spec.get("type") or ())
    )


#: The command envelope's integer properties other than schema_version (an int by then).
_ENVELOPE_INTEGERS = tuple(
    name
    for name in _integers(registry.load_document("envelope/command.json")["properties"])
    if name != "schema_version"
)
#: The validators of the command types met so far, by (type, current version).
_COMMAND_VALIDATORS: dict[tuple[Any, Any], registry.Validator] = {}


def validate_command(command: Mapping[str, Any]) -> None:
    """Check a command (already a dict) against the schema of its type at the current
    version; raise :class:`ContractError` on the first violation.

    Commands are validated strictly at the current version only: a client that sends
    an older or newer shape gets a clear ``unknown_version`` answer instead of a guess.
    """
    version = command.get("schema_version")
    # The common case in one lookup; anything else gets the checks and their errors.
    # (``type(...) is int``: True == 1 would otherwise find version 1's validator.)
    validator = (
        _COMMAND_VALIDATORS.get((command.get("type"), version)) if type(version) is int else None
    )
    if validator is None:
        type_, version = _check_type_and_version(command, _COMMAND_VERSIONS, "command")
        validator = _COMMAND_VALIDATORS[(type_, version)] = registry.command_validator(
            type_, version
        )
    try:
        validator(command)
    except JsonSchemaValueException as exc:
        raise from_validation_error(exc) from None
    # As _reject_floats, on the hot path: of the envelope, only its other integers.
    for key in _ENVELOPE_INTEGERS:
        if type(command.get(key)) is float:
            raise ContractError(key, "type", _NOT_AN_INTEGER.format(path=key))
    _reject_data_floats(command.get("data"))


def decode_command(raw: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """Parse and validate one message from the commands topic."""
    command = _parse_object(raw)
    validate_command(command)
    return command


def validate_event(event: Mapping[str, Any]) -> None:
    """Check an event about to be published: it must be valid at the CURRENT version
    of its type (we never write old versions)."""
    type_, version = _check_type_and_version(event, _CURRENT_EVENTS, "event")
    _validate(registry.event_validator(type_, version), event)


def validate_event_any_version(event: Mapping[str, Any]) -> None:
    """Check an event against the schema of its own (possibly historic) version."""
    type_, version = _check_type_and_version(event, _EVENT_VERSIONS, "event")
    _validate(registry.event_validator(type_, version), event)


def decode_event(raw: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """Parse one message from the events topic, validate it at its own version, and
    upcast it to the current version of its type.

    An upcast result is validated again at the current version, so a faulty
    upcaster is caught here (rule ``upcast``) instead of corrupting a read model.
    """
    event = _parse_object(raw)
    validate_event_any_version(event)
    if event["schema_version"] == registry.CURRENT_EVENT_VERSIONS[event["type"]]:
        return event
    upcasted = upcast(event)
    try:
        validate_event(upcasted)
    except ContractError as exc:
        raise ContractError(
            exc.field, "upcast", f"upcast {event['type']} is invalid: {exc.message}"
        ) from exc
    return upcasted


def best_effort_address(raw: bytes | bytearray | memoryview | str) -> tuple[str | None, str | None]:
    """``(command_id, sku)`` of a message that failed validation, as far as readable.

    The processor must answer every command, including broken ones; the client
    correlates answers by ``command_id``. Values are returned only when they are
    strings of sane length, so a hostile message cannot inject arbitrary data into
    the result; otherwise ``None``. Never raises. Oversized messages are still read
    (Kafka's own message limit bounds them), so they can be answered too.
    """
    try:
        obj = orjson.loads(raw.encode("utf-8") if isinstance(raw, str) else raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(obj, dict):
        return None, None

    def pick(key: str, limit: int) -> str | None:
        value = obj.get(key)
        return value if isinstance(value, str) and 0 < len(value) <= limit else None

    return pick("command_id", 128), pick("sku", 64)
