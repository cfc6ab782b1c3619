"""The catalog of contract files under ``schemas/json`` and their compiled validators.

The JSON files are the contract (language-neutral, usable from any client); this
module only reads them. Types and versions are discovered from the file names
(``commands/<Type>.v<N>.json``, ``events/<Type>.v<N>.json``), so adding a version is
adding a file, and the highest version on disk is the current one. Validators are
compiled once per process and cached, because compiling is far slower than
validating and the processor validates every message.

``$ref`` between files is resolved from this directory only: the ``$id`` URLs are
names, never fetched, so validation cannot make network calls.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import fastjsonschema
import jsonschema_rs
from fastjsonschema import JsonSchemaValueException

from schemas import timestamps

__all__ = [
    "BASE_URI",
    "COMMAND_TYPES",
    "CURRENT_COMMAND_VERSIONS",
    "CURRENT_EVENT_VERSIONS",
    "EVENT_TYPES",
    "SCHEMA_DIR",
    "Kind",
    "Validator",
    "command_validator",
    "command_versions",
    "event_validator",
    "event_versions",
    "load_document",
    "result_validator",
    "schema_document",
]

Kind = Literal["commands", "events"]
Validator = Callable[[Any], Any]

SCHEMA_DIR = Path(__file__).parent / "json"
#: Prefix of every ``$id``; maps 1:1 onto :data:`SCHEMA_DIR`.
BASE_URI = "https://eventcart.example/schemas/"

_FILE_NAME = re.compile(r"^(?P<type>[A-Z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)\.json$")


def _is_rfc3339(value: Any) -> bool:
    """RFC 3339 ``date-time`` with a mandatory offset, a real calendar date, and an
    instant that exists in UTC (see ``schemas.timestamps``).

    The library's built-in check is a regex only (it accepts February 30th); we also
    parse the value so every timestamp in the log can be read back by any consumer.
    """
    return timestamps.is_valid(value)


_FORMATS: Mapping[str, Callable[[Any], bool]] = {"date-time": _is_rfc3339}


def _discover(kind: Kind) -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {}
    for path in sorted((SCHEMA_DIR / kind).glob("*.json")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise RuntimeError(f"unexpected schema file name: {path}")
        found.setdefault(match["type"], []).append(int(match["version"]))
    for type_, versions in found.items():
        versions.sort()
        if versions != list(range(1, len(versions) + 1)):
            raise RuntimeError(f"{kind}/{type_}: versions must be 1..N without gaps: {versions}")
    return {t: tuple(v) for t, v in sorted(found.items())}


_COMMAND_VERSIONS = _discover("commands")
_EVENT_VERSIONS = _discover("events")

#: Every command type that has a schema file.
COMMAND_TYPES: frozenset[str] = frozenset(_COMMAND_VERSIONS)
#: Every event type that has a schema file.
EVENT_TYPES: frozenset[str] = frozenset(_EVENT_VERSIONS)
#: Commands are accepted at these versions only (strict: see COMPATIBILITY.md).
CURRENT_COMMAND_VERSIONS: Mapping[str, int] = MappingProxyType(
    {t: v[-1] for t, v in _COMMAND_VERSIONS.items()}
)
#: Events are written at, and upcast to, these versions.
CURRENT_EVENT_VERSIONS: Mapping[str, int] = MappingProxyType(
    {t: v[-1] for t, v in _EVENT_VERSIONS.items()}
)


def command_versions(command_type: str) -> tuple[int, ...]:
    """All versions of a command type on disk (empty if the type is unknown)."""
    return _COMMAND_VERSIONS.get(command_type, ())


def event_versions(event_type: str) -> tuple[int, ...]:
    """All versions of an event type on disk, oldest first (empty if unknown)."""
    return _EVENT_VERSIONS.get(event_type, ())


@functools.cache
def load_document(relative: str) -> dict[str, Any]:
    """Parse one schema file, by path relative to :data:`SCHEMA_DIR` (cached: do not
    mutate the result; :func:`schema_document` hands out copies)."""
    path = (SCHEMA_DIR / relative).resolve()
    if SCHEMA_DIR.resolve() not in path.parents:
        raise ValueError(f"schema path escapes {SCHEMA_DIR}: {relative}")
    with path.open("rb") as fh:
        document: dict[str, Any] = json.load(fh)
    return document


def _resolve_local(uri: str) -> dict[str, Any]:
    """``$ref`` handler: map an ``$id`` URL onto a file; never touch the network."""
    base = uri.split("#", 1)[0]
    if not base.startswith(BASE_URI):
        raise ValueError(f"refusing to resolve non-local schema reference: {uri}")
    return load_document(base[len(BASE_URI) :])


def schema_document(kind: Kind, type_: str, version: int) -> dict[str, Any]:
    """The raw JSON Schema of one command or event version (KeyError if none).

    Returns a copy: the cached document is shared by the compiled validators."""
    _check_exists(kind, type_, version)
    return copy.deepcopy(load_document(f"{kind}/{type_}.v{version}.json"))


def _check_exists(kind: Kind, type_: str, version: int) -> None:
    versions = _COMMAND_VERSIONS if kind == "commands" else _EVENT_VERSIONS
    if version not in versions.get(type_, ()):
        raise KeyError(f"no schema for {kind}/{type_} v{version}")


@functools.cache
def _compile(relative: str) -> Validator:
    """A validator that is fast on valid input and precise on invalid input.

    Every command a client sends is validated on its hot path, so the common
    case (valid) is answered by jsonschema-rs, compiled Rust, about 4x faster
    than fastjsonschema here. Only an invalid message pays for fastjsonschema,
    whose errors name the field and the rule exactly as the contract promises.
    Should the two ever disagree, the message is still refused, with the Rust
    validator's first error.
    """
    document = load_document(relative)
    precise: Validator = fastjsonschema.compile(
        document,
        handlers={"https": _resolve_local, "http": _resolve_local},
        formats=_FORMATS,
        use_default=False,
    )
    fast = jsonschema_rs.validator_for(
        document, retriever=_resolve_local, formats=dict(_FORMATS), validate_formats=True
    )

    def validate(instance: Any) -> Any:
        if fast.is_valid(instance):
            return instance
        precise(instance)
        first = next(iter(fast.iter_errors(instance)))
        path = ".".join(["data", *(str(step) for step in first.instance_path)])
        raise JsonSchemaValueException(
            first.message, name=path, rule=type(first.kind).__name__.lower()
        )

    return validate


def command_validator(command_type: str, version: int) -> Validator:
    """Compiled validator of the whole command message (envelope + data)."""
    _check_exists("commands", command_type, version)
    return _compile(f"commands/{command_type}.v{version}.json")


def event_validator(event_type: str, version: int) -> Validator:
    """Compiled validator of the whole event message (envelope + data)."""
    _check_exists("events", event_type, version)
    return _compile(f"events/{event_type}.v{version}.json")


def result_validator() -> Validator:
    """Compiled validator of a message on the command results topic."""
    return _compile("result.json")
