"""Contract violations, expressed so that a client in any language can act on them.

The command processor answers every rejected message on the results topic. A raw
validator exception is useless there (its paths name Python variables, its text is
library-specific), so every violation is converted into a :class:`ContractError`
carrying a JSON path (``data.amount``), a stable rule name (``pattern``) and a human
message. Clients switch on ``rule``; people read ``message``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastjsonschema import JsonSchemaValueException

__all__ = ["ROOT_FIELD", "ContractError", "from_validation_error", "join_path"]

#: Field path used when the violation concerns the message as a whole.
ROOT_FIELD = "$"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ContractError(Exception):
    """A message broke its published contract (schema, size, encoding, known type/version).

    Attributes:
        field: JSON path of the offending value, e.g. ``data.amount`` or
            ``data.tags[2]``; ``"$"`` for the whole message.
        rule: stable machine name of the broken rule (``required``, ``type``,
            ``pattern``, ``enum``, ``maxLength``, ``json``, ``size``,
            ``unknown_type``, ``unknown_version``, ``upcast``, ...).
        message: human explanation, starting with the field path.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.message = message

    def __repr__(self) -> str:
        return f"ContractError(field={self.field!r}, rule={self.rule!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, str]:
        """The fields a rejected result carries (see ``schemas/json/result.json``)."""
        return {"field": self.field, "rule": self.rule, "message": self.message}


def join_path(parent: str, key: str | int) -> str:
    """Append a key or index to a JSON path (``data`` + ``amount`` -> ``data.amount``)."""
    if isinstance(key, int):
        return f"{'' if parent == ROOT_FIELD else parent}[{key}]"
    if parent in ("", ROOT_FIELD):
        return key
    return f"{parent}.{key}"


def _clean_name(name: str | None) -> str:
    """Turn fastjsonschema's ``data.data.amount`` (root variable is called ``data``) into
    ``data.amount``; the root itself becomes ``$``."""
    if not name or name == "data":
        return ROOT_FIELD
    if name.startswith("data."):
        return name[len("data.") :]
    if name.startswith("data["):
        return name[len("data") :]
    return name


def from_validation_error(exc: JsonSchemaValueException) -> ContractError:
    """Convert a fastjsonschema violation into a :class:`ContractError`.

    For ``required`` and ``additionalProperties`` the library reports the enclosing
    object; we point at the missing or unexpected property instead, because that is
    the field a client has to fix.
    """
    rule = str(exc.rule or "schema")
    field = _clean_name(exc.name)
    value: Any = exc.value
    definition: Any = exc.definition
    message = str(exc.message)
    prefix = exc.name or "data"
    rest = message[len(prefix) :].strip() if message.startswith(prefix) else message

    if rule == "required" and isinstance(value, Mapping) and isinstance(definition, Mapping):
        missing = [k for k in definition.get("required", []) if k not in value]
        if missing:
            field = join_path(field, str(missing[0]))
            return ContractError(field, rule, f"{field} is required")
    if (
        rule == "additionalProperties"
        and isinstance(value, Mapping)
        and isinstance(definition, Mapping)
    ):
        known = definition.get("properties", {})
        extra = sorted(str(k) for k in value if k not in known)
        if extra:
            field = join_path(field, extra[0])
            return ContractError(field, rule, f"{field} is not an allowed property")
    if rule == "not" and isinstance(definition, Mapping) and "const" in definition.get("not", {}):
        return ContractError(field, rule, f"{field} must not be {definition['not']['const']!r}")
    if rule == "enum" and isinstance(definition, Mapping):
        allowed = list(definition.get("enum", []))
        shown = ", ".join(map(str, allowed[:8])) + (", ..." if len(allowed) > 8 else "")
        return ContractError(field, rule, f"{field} must be one of: {shown} (got {value!r})")
    return ContractError(field, rule, f"{field} {rest}".strip())
