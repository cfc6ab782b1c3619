"""decide/evolve: every accepted command, every rejection rule, determinism."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from schemas.codec import encode
from schemas.ids import event_id
from streams.catalog import (
    ALREADY_DISCONTINUED,
    ALREADY_REGISTERED,
    DISCONTINUED,
    INSUFFICIENT_STOCK,
    MAX_STOCK,
    NOT_FOUND,
    PRICE_NOT_POSITIVE,
    STOCK_LIMIT,
    VERSION_CONFLICT,
    Accepted,
    EventOutOfOrderError,
    ProductState,
    Rejected,
    decide,
    evolve,
    evolve_all,
)
from tests.unit.builders import VALID_DATA, accepted, make_command, rejected

SKU = "SKU-1"


def run(state: ProductState, type_: str, data: dict[str, Any], **kw: Any) -> ProductState:
    """Decide and apply, asserting acceptance."""
    n = kw.pop("n", state.version)
    command = make_command(type_, data, command_id=f"cmd-{n}-{type_}", **kw)
    return evolve_all(state, accepted(decide(command, state)))


@pytest.fixture
def registered() -> ProductState:
    return run(ProductState.empty(SKU), "RegisterProduct", VALID_DATA["RegisterProduct"])


@pytest.fixture
def stocked(registered: ProductState) -> ProductState:
    state = run(registered, "AdjustStock", {"delta": 10})
    return run(state, "ChangePrice", {"amount": "20", "currency": "EUR"})


@pytest.fixture
def discontinued(stocked: ProductState) -> ProductState:
    return run(stocked, "DiscontinueProduct", {"reason": "gone"})


# ------------------------------------------------------------------ accepted


def test_register_minimal_fills_defaults() -> None:
    command = make_command("RegisterProduct", {"name": "Mug"}, correlation_id="flow-1")
    (event,) = accepted(decide(command, ProductState.empty(SKU)))
    assert event == {
        "event_id": event_id("cmd-1", 0, SKU),
        "type": "ProductRegistered",
        "schema_version": 1,
        "sku": SKU,
        "version": 1,
        "occurred_at": "2025-06-01T12:00:00.000000Z",
        "command_id": "cmd-1",
        "correlation_id": "flow-1",
        "causation_id": "cmd-1",
        "data": {
            "name": "Mug",
            "description": "",
            "brand": "",
            "category_path": [],
            "attributes": {},
            "tags": [],
        },
    }


def test_register_full(registered: ProductState) -> None:
    assert registered.version == 1
    assert registered.registered and not registered.discontinued
    assert registered.name == "Chef's knife"
    assert registered.category_path == ("Home", "Kitchen", "Knives")
    assert registered.attributes == {"blade": "20 cm"}
    assert registered.tags == ("chef", "forged")
    assert registered.stock == 0
    assert registered.prices == {}


def test_correlation_defaults_to_command_id() -> None:
    command = make_command("RegisterProduct", {"name": "Mug"}, command_id="abc")
    (event,) = accepted(decide(command, ProductState.empty(SKU)))
    assert event["correlation_id"] == event["causation_id"] == event["command_id"] == "abc"


def test_update_details_emits_changed_fields_only(registered: ProductState) -> None:
    data = {"name": "New name", "brand": "Acme", "tags": ["chef"]}
    (event,) = accepted(decide(make_command("UpdateProductDetails", data), registered))
    assert event["type"] == "ProductDetailsUpdated"
    assert event["version"] == 2
    assert event["data"] == {"name": "New name", "tags": ["chef"]}  # brand unchanged
    state = evolve(registered, event)
    assert (state.name, state.brand, state.tags, state.version) == (
        "New name",
        "Acme",
        ("chef",),
        2,
    )
    assert state.category_path == registered.category_path


def test_update_details_without_change_is_a_no_op(registered: ProductState) -> None:
    data = {"name": "Chef's knife", "attributes": {"blade": "20 cm"}}
    decision = decide(make_command("UpdateProductDetails", data), registered)
    assert decision == Accepted([])


def test_change_price(stocked: ProductState) -> None:
    command = make_command(
        "ChangePrice", {"amount": "17.5", "currency": "EUR", "price_type": "sale"}
    )
    (event,) = accepted(decide(command, stocked))
    assert event["data"] == {"amount": "17.5", "currency": "EUR", "price_type": "sale"}
    state = evolve(stocked, event)
    assert state.prices == {"EUR": {"amount": "17.5", "price_type": "sale"}}


def test_change_price_defaults_to_regular_and_keeps_other_currencies(
    stocked: ProductState,
) -> None:
    state = run(stocked, "ChangePrice", {"amount": "25", "currency": "USD"})
    assert state.prices == {
        "EUR": {"amount": "20", "price_type": "regular"},
        "USD": {"amount": "25", "price_type": "regular"},
    }


def test_same_price_is_a_no_op(stocked: ProductState) -> None:
    same = make_command("ChangePrice", {"amount": "20.00", "currency": "EUR"})
    assert decide(same, stocked) == Accepted([])
    other_type = make_command(
        "ChangePrice", {"amount": "20", "currency": "EUR", "price_type": "sale"}
    )
    assert len(accepted(decide(other_type, stocked))) == 1


def test_adjust_stock(registered: ProductState) -> None:
    command = make_command("AdjustStock", {"delta": 7, "reason": "delivery"})
    (event,) = accepted(decide(command, registered))
    assert event["data"] == {"delta": 7, "quantity": 7, "reason": "delivery"}
    state = evolve(registered, event)
    (event,) = accepted(decide(make_command("AdjustStock", {"delta": -7}, command_id="c2"), state))
    assert event["data"] == {"delta": -7, "quantity": 0, "reason": ""}
    assert evolve(state, event).stock == 0


def test_discontinue(stocked: ProductState) -> None:
    (event,) = accepted(decide(make_command("DiscontinueProduct", {}), stocked))
    assert event["data"] == {"reason": ""}
    state = evolve(stocked, event)
    assert state.discontinued and state.version == stocked.version + 1


def test_expected_version_match_is_accepted(stocked: ProductState) -> None:
    run(stocked, "AdjustStock", {"delta": 1}, expected_version=stocked.version)
    run(ProductState.empty(SKU), "RegisterProduct", {"name": "n"}, expected_version=0)


# ------------------------------------------------------------------ rejected


def test_register_twice(registered: ProductState) -> None:
    rejected(decide(make_command("RegisterProduct", {"name": "x"}), registered), ALREADY_REGISTERED)
    # existence is reported before a version conflict
    command = make_command("RegisterProduct", {"name": "x"}, expected_version=0)
    rejected(decide(command, registered), ALREADY_REGISTERED)


@pytest.mark.parametrize("type_", sorted(set(VALID_DATA) - {"RegisterProduct"}))
def test_not_found(type_: str) -> None:
    decision = decide(make_command(type_, VALID_DATA[type_]), ProductState.empty(SKU))
    rejected(decision, NOT_FOUND)


@pytest.mark.parametrize(
    "type_", ["UpdateProductDetails", "ChangePrice", "AdjustStock", "SetStock"]
)
def test_discontinued(type_: str, discontinued: ProductState) -> None:
    rejected(decide(make_command(type_, VALID_DATA[type_]), discontinued), DISCONTINUED)


def test_already_discontinued(discontinued: ProductState) -> None:
    command = make_command("DiscontinueProduct", {})
    rejected(decide(command, discontinued), ALREADY_DISCONTINUED)


@pytest.mark.parametrize("amount", ["0", "0.0", "0.0000"])
def test_price_not_positive(amount: str, registered: ProductState) -> None:
    command = make_command("ChangePrice", {"amount": amount, "currency": "EUR"})
    rejected(decide(command, registered), PRICE_NOT_POSITIVE)


def test_insufficient_stock(stocked: ProductState) -> None:
    decision = decide(make_command("AdjustStock", {"delta": -11}), stocked)
    assert "10" in rejected(decision, INSUFFICIENT_STOCK).message


@pytest.mark.parametrize("type_", sorted(VALID_DATA))
def test_version_conflict(type_: str, stocked: ProductState) -> None:
    state = stocked if type_ != "RegisterProduct" else ProductState.empty(SKU)
    wrong = state.version + 1
    decision = decide(make_command(type_, VALID_DATA[type_], expected_version=wrong), state)
    message = rejected(decision, VERSION_CONFLICT).message
    assert str(wrong) in message and str(state.version) in message


def test_version_conflict_wins_over_lifecycle_rules(discontinued: ProductState) -> None:
    command = make_command("DiscontinueProduct", {}, expected_version=1)
    rejected(decide(command, discontinued), VERSION_CONFLICT)


# ------------------------------------------------------------------ purity


@pytest.mark.parametrize("type_", sorted(VALID_DATA))
def test_determinism(type_: str, stocked: ProductState) -> None:
    state = stocked if type_ != "RegisterProduct" else ProductState.empty(SKU)
    if type_ == "CancelScheduledPriceChange":  # something to cancel
        planned = make_command("SchedulePriceChange", VALID_DATA["SchedulePriceChange"])
        state = evolve_all(state, accepted(decide(planned, state)))
    command = make_command(type_, VALID_DATA[type_], command_id="fixed")
    original = copy.deepcopy(command)
    first = decide(command, state)
    second = decide(copy.deepcopy(command), ProductState.from_dict(state.to_dict()))
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert [encode(e) for e in first.events] == [encode(e) for e in second.events]
    assert command == original  # decide does not mutate its input


def test_event_ids_are_pinned() -> None:
    """The namespace UUID and the naming rule never change: events already in the log
    keep their ids, and read models recognise a re-published event by it."""
    (event,) = accepted(
        decide(make_command("RegisterProduct", {"name": "n"}), ProductState.empty(SKU))
    )
    assert event["event_id"] == "042d6d14-fc86-5b3a-ae9a-0308269416b4"  # uuid5(NS, "SKU-1/cmd-1:0")
    # Events written before the SKU was part of the name: uuid5(NS, "cmd-1:0").
    assert event_id("cmd-1", 0) == "f04f75e6-dc1d-52f3-908a-676576d4a8c3"


def test_the_same_command_id_on_two_products_gives_distinct_event_ids() -> None:
    a = accepted(
        decide(make_command("RegisterProduct", {"name": "n"}, sku="A"), ProductState.empty("A"))
    )
    b = accepted(
        decide(make_command("RegisterProduct", {"name": "n"}, sku="B"), ProductState.empty("B"))
    )
    assert a[0]["event_id"] != b[0]["event_id"]


def test_event_time_is_canonical_utc_and_never_runs_backwards() -> None:
    state = ProductState(
        sku=SKU, version=3, registered=True, updated_at="2025-06-01T12:00:00.000000Z"
    )
    later = make_command(
        "AdjustStock", {"delta": 1}, occurred_at="2025-06-01t14:30:00.123456789+02:00"
    )
    (event,) = accepted(decide(later, state))
    assert event["occurred_at"] == "2025-06-01T12:30:00.123456Z"
    earlier = make_command("AdjustStock", {"delta": 1}, occurred_at="2025-06-01T11:00:00Z")
    (clamped,) = accepted(decide(earlier, state))
    assert clamped["occurred_at"] == "2025-06-01T12:00:00.000000Z"
    assert evolve(state, clamped).updated_at == "2025-06-01T12:00:00.000000Z"


def test_stock_never_grows_past_the_json_safe_limit() -> None:
    state = ProductState(sku=SKU, version=1, registered=True, stock=MAX_STOCK - 5)
    assert accepted(decide(make_command("AdjustStock", {"delta": 5}), state))
    refused = decide(make_command("AdjustStock", {"delta": 6}), state)
    assert isinstance(refused, Rejected) and refused.reason == STOCK_LIMIT


def test_event_data_does_not_alias_command() -> None:
    command = make_command("RegisterProduct", copy.deepcopy(VALID_DATA["RegisterProduct"]))
    (event,) = accepted(decide(command, ProductState.empty(SKU)))
    command["data"]["tags"].append("mutated")
    assert event["data"]["tags"] == ["chef", "forged"]


def test_wrong_sku_or_type_is_a_programming_error(registered: ProductState) -> None:
    with pytest.raises(ValueError):
        decide(make_command("DiscontinueProduct", {}, sku="OTHER"), registered)
    with pytest.raises(ValueError):
        decide(make_command("Explode", {}), registered)


# ------------------------------------------------------------------ evolve & state


def test_state_round_trips_through_json(discontinued: ProductState) -> None:
    import orjson

    restored = ProductState.from_dict(orjson.loads(orjson.dumps(discontinued.to_dict())))
    assert restored == discontinued


def test_state_from_dict_tolerates_missing_fields() -> None:
    assert ProductState.from_dict({"sku": SKU}) == ProductState.empty(SKU)


def test_evolve_ignores_already_applied_events(registered: ProductState) -> None:
    command = make_command("AdjustStock", {"delta": 3})
    (event,) = accepted(decide(command, registered))
    once = evolve(registered, event)
    assert evolve(once, event) == once


def test_evolve_refuses_gaps_and_foreign_skus(registered: ProductState) -> None:
    (event,) = accepted(decide(make_command("AdjustStock", {"delta": 3}), registered))
    with pytest.raises(EventOutOfOrderError):
        evolve(registered, {**event, "version": 5})
    with pytest.raises(EventOutOfOrderError):
        evolve(ProductState.empty("OTHER"), event)


def test_evolve_upcasts_historic_events(registered: ProductState) -> None:
    old = {
        "event_id": event_id("legacy", 0),
        "type": "PriceChanged",
        "schema_version": 1,
        "sku": SKU,
        "version": 2,
        "occurred_at": "2019-01-01T00:00:00Z",
        "command_id": "legacy",
        "correlation_id": "legacy",
        "causation_id": "legacy",
        "data": {"price": "9.90", "currency": "EUR"},
    }
    state = evolve(registered, old)
    assert state.prices == {"EUR": {"amount": "9.90", "price_type": "regular"}}
    assert state.version == 2


def test_full_lifecycle_versions_are_consecutive() -> None:
    state = ProductState.empty(SKU)
    history: list[dict[str, Any]] = []
    steps: list[tuple[str, dict[str, Any]]] = [
        ("RegisterProduct", {"name": "n"}),
        ("ChangePrice", {"amount": "1.5", "currency": "CHF"}),
        ("AdjustStock", {"delta": 2}),
        ("UpdateProductDetails", {"description": "d"}),
        ("DiscontinueProduct", {"reason": "r"}),
    ]
    for i, (type_, data) in enumerate(steps):
        command = make_command(type_, data, command_id=f"c{i}", expected_version=state.version)
        events = accepted(decide(command, state))
        history.extend(events)
        state = evolve_all(state, events)
    assert [e["version"] for e in history] == [1, 2, 3, 4, 5]
    assert evolve_all(ProductState.empty(SKU), history) == state


def test_event_ids_are_rfc4122_uuid5_of_the_command_id_and_index() -> None:
    import uuid

    from schemas.ids import EVENT_NAMESPACE, event_id

    for command_id in ("cmd-1", "0b6f5a8e-8f7a-4d0e-9a38-2f4a3c1d9e11", "ünïcode ✓", ""):
        for index in (0, 1, 17):
            expected = str(uuid.uuid5(EVENT_NAMESPACE, f"{command_id}:{index}"))
            assert event_id(command_id, index) == expected
