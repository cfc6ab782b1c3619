"""Compatibility gate: every event version ever published stays readable.

For each event type and EVERY schema version on disk there must be fixture events
(``fixtures/events/<Type>.v<N>.json``); each must be valid at its own version and,
after decoding and upcasting, valid at the CURRENT version. Adding ``v3`` of an
event without fixtures or without a v2 -> v3 upcaster therefore fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import decode_event, encode, validate_event, validate_event_any_version
from schemas.registry import (
    COMMAND_TYPES,
    CURRENT_COMMAND_VERSIONS,
    CURRENT_EVENT_VERSIONS,
    EVENT_TYPES,
    SCHEMA_DIR,
    command_validator,
    event_versions,
    result_validator,
    schema_document,
)
from streams.catalog import ProductState, evolve

FIXTURES = Path(__file__).parent / "fixtures" / "events"

ALL_EVENT_VERSIONS = [(t, v) for t in sorted(EVENT_TYPES) for v in event_versions(t)]


def _fixtures(event_type: str, version: int) -> list[dict[str, Any]]:
    path = FIXTURES / f"{event_type}.v{version}.json"
    assert path.exists(), f"add example events for {event_type} v{version} to {path}"
    events: list[dict[str, Any]] = json.loads(path.read_text())
    assert events, f"{path} holds no events"
    return events


@pytest.mark.parametrize(("event_type", "version"), ALL_EVENT_VERSIONS)
def test_every_version_upcasts_to_current(event_type: str, version: int) -> None:
    for event in _fixtures(event_type, version):
        assert (event["type"], event["schema_version"]) == (event_type, version)
        validate_event_any_version(event)
        current = decode_event(encode(event))
        assert current["schema_version"] == CURRENT_EVENT_VERSIONS[event_type]
        validate_event(current)
        assert current["event_id"] == event["event_id"]


@pytest.mark.parametrize(("event_type", "version"), ALL_EVENT_VERSIONS)
def test_every_version_can_be_applied_to_state(event_type: str, version: int) -> None:
    """evolve must accept upcast historic events (here on a state one version behind)."""
    for event in _fixtures(event_type, version):
        state = ProductState(
            sku=event["sku"], version=event["version"] - 1, registered=event["version"] > 1
        )
        assert evolve(state, event).version == event["version"]


def test_no_orphan_fixtures() -> None:
    known = {f"{t}.v{v}.json" for t, v in ALL_EVENT_VERSIONS}
    assert {p.name for p in FIXTURES.glob("*.json")} <= known


def test_schema_files_are_well_formed() -> None:
    pattern = re.compile(r"^[A-Z][A-Za-z0-9]*\.v[1-9][0-9]*\.json$")
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        document = json.loads(path.read_text())
        relative = path.relative_to(SCHEMA_DIR).as_posix()
        assert document["$schema"] == "http://json-schema.org/draft-07/schema#", relative
        assert document["$id"].endswith("/" + relative), relative
        assert document["title"] and document["description"], relative
        if path.parent.name in ("commands", "events"):
            assert pattern.match(path.name), relative


def test_every_type_and_version_compiles() -> None:
    for command_type in COMMAND_TYPES:
        command_validator(command_type, CURRENT_COMMAND_VERSIONS[command_type])
    for event_type, version in ALL_EVENT_VERSIONS:
        assert schema_document("events", event_type, version)["properties"]["schema_version"] == {
            "const": version
        }
    result_validator()({"command_id": None, "sku": None, "status": "rejected", "rule": "json"})


def test_money_is_never_a_json_number_in_any_schema() -> None:
    """Guard against a future schema declaring a price as "type": "number"."""
    for path in SCHEMA_DIR.rglob("*.json"):
        assert '"number"' not in path.read_text(), path
