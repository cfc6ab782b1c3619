"""fire_due: what the processor publishes for the due products of a step (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from streams import firing
from streams.catalog import Accepted, ProductState, decide, evolve_all
from streams.firing import fire_due
from tests.unit.builders import make_command


def _product(sku: str, start: str) -> ProductState:
    state = ProductState.empty(sku)
    commands: list[tuple[str, dict[str, Any]]] = [
        ("RegisterProduct", {"name": sku}),
        ("ChangePrice", {"amount": "10", "currency": "EUR"}),
        (
            "SchedulePriceChange",
            {"schedule_id": "r", "currency": "EUR", "amount": "11", "starts_at": start},
        ),
    ]
    for index, (type_, data) in enumerate(commands):
        decision = decide(make_command(type_, data, sku=sku, command_id=f"c{index}"), state)
        assert isinstance(decision, Accepted)
        state = evolve_all(state, decision.events)
    return state


def test_due_products_fire_in_sku_order_with_their_new_states() -> None:
    states = {
        "B": (1, _product("B", "2025-06-02T00:00:00Z")),
        "A": (0, _product("A", "2025-06-02T00:00:00Z")),
        "C": (0, _product("C", "2025-07-01T00:00:00Z")),  # not due yet
    }
    result = fire_due(states, "2025-06-02T00:00:00.500000Z")
    assert [sku for sku, _ in result.batch.events] == ["A", "B"]
    assert result.batch.answers == [] and result.failed == {}
    assert {
        sku: (p, s.version, s.prices["EUR"]["amount"])
        for sku, (p, s) in result.batch.states.items()
    } == {
        "A": (0, 4, "11"),
        "B": (1, 4, "11"),
    }


def test_a_product_that_cannot_fire_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = firing.fire

    def broken_for_a(state: ProductState, now: str) -> list[dict[str, Any]]:
        if state.sku == "A":
            raise KeyError("a state this code cannot read")
        return real(state, now)

    monkeypatch.setattr(firing, "fire", broken_for_a)
    states = {s: (0, _product(s, "2025-06-02T00:00:00Z")) for s in ("A", "B")}
    result = fire_due(states, "2025-06-03T00:00:00Z")
    assert list(result.failed) == ["A"] and "KeyError" in result.failed["A"]
    assert [sku for sku, _ in result.batch.events] == ["B"]
