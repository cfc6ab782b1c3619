"""One batch of commands decided as the processor decides it, without Kafka."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from streams.admission import partition_for
from streams.catalog import Accepted, Decision, ProductState, decide
from streams.command_batch import Record, admit_all, decide_batch
from tests.unit.builders import VALID_DATA, make_command

PARTITIONS = 3


def records(*commands: dict[str, Any]) -> list[Record]:
    out = []
    for offset, command in enumerate(commands):
        sku = str(command["sku"])
        partition = partition_for(sku.encode(), PARTITIONS)
        out.append(Record(partition, offset, sku.encode(), orjson.dumps(command)))
    return out


def register(sku: str, command_id: str) -> dict[str, Any]:
    return make_command(
        "RegisterProduct", VALID_DATA["RegisterProduct"], sku=sku, command_id=command_id
    )


def stock(sku: str, command_id: str, delta: int) -> dict[str, Any]:
    return make_command("AdjustStock", {"delta": delta}, sku=sku, command_id=command_id)


def test_a_batch_decides_in_order_against_the_state_it_builds() -> None:
    batch = records(register("A", "c1"), stock("A", "c2", 5), stock("A", "c3", -9))
    decision = decide_batch(admit_all(batch, PARTITIONS), {}, {})
    statuses = [(a.result or {}).get("status") for a in decision.answers]
    assert statuses == ["accepted", "accepted", "rejected"]
    assert [e["version"] for _, e in decision.events] == [1, 2]
    assert decision.answers[2].result["reason"] == "insufficient_stock"  # type: ignore[index]
    assert [list(a.events) for a in decision.answers] == [[0], [1], []]
    assert all(a.store for a in decision.answers)
    partition, state = decision.states["A"]
    assert (state.version, state.stock) == (2, 5)
    assert partition == batch[0].partition


def test_a_repeated_command_id_is_answered_again_and_publishes_nothing() -> None:
    first = stock("A", "c2", 5)
    stored = {"A": ProductState(sku="A", version=1, registered=True)}
    decision = decide_batch(admit_all(records(first, first), PARTITIONS), stored, {})
    assert len(decision.events) == 1
    assert decision.answers[1].result is decision.answers[0].result
    assert not decision.answers[1].store

    answered = {("A", "c2"): {"status": "accepted", "version": 2}}
    again = decide_batch(admit_all(records(first), PARTITIONS), stored, answered)
    assert again.events == [] and again.states == {}
    assert again.answers[0].result == {"status": "accepted", "version": 2}


def test_idempotency_is_per_sku_and_command_id() -> None:
    decision = decide_batch(
        admit_all(records(register("A", "same"), register("B", "same")), PARTITIONS), {}, {}
    )
    assert [(a.result or {}).get("status") for a in decision.answers] == ["accepted"] * 2
    assert len(decision.events) == 2


def test_refused_records_are_answered_dead_lettered_and_not_stored() -> None:
    bad = make_command("ChangePrice", {"amount": "1", "currency": "EURO"}, sku="A")
    batch = records(bad)
    batch.append(Record(0, 9, b"A", b"{not json"))
    decision = decide_batch(admit_all(batch, PARTITIONS), {}, {})
    invalid, broken = decision.answers
    assert invalid.result is not None and invalid.result["rule"] == "enum"
    assert invalid.dead_letter is not None and not invalid.store
    assert broken.result is None and broken.dead_letter is not None


def test_the_version_guard_refuses_an_event_that_does_not_follow_the_stored_version() -> None:
    def skipping(command: Mapping[str, Any], state: ProductState) -> Decision:
        decision = decide(command, state)
        assert isinstance(decision, Accepted)
        return Accepted([{**e, "version": e["version"] + 1} for e in decision.events])

    stored = {"A": ProductState(sku="A", version=4, registered=True)}
    decision = decide_batch(
        admit_all(records(stock("A", "c9", 1)), PARTITIONS), stored, {}, decider=skipping
    )
    assert decision.events == [] and decision.states == {}
    (answer,) = decision.answers
    assert answer.result is not None and answer.result["reason"] == "internal_error"
    assert "version 6" in answer.result["message"] and "at version 4" in answer.result["message"]
    assert answer.dead_letter is not None and not answer.store


def test_a_command_that_changes_nothing_stores_its_answer_but_no_state() -> None:
    stored = {
        "A": ProductState(
            sku="A",
            version=2,
            registered=True,
            prices={"EUR": {"amount": "49.90", "price_type": "sale"}},
        )
    }
    same = make_command("ChangePrice", VALID_DATA["ChangePrice"], sku="A", command_id="c5")
    decision = decide_batch(admit_all(records(same), PARTITIONS), stored, {})
    (answer,) = decision.answers
    assert answer.result is not None
    assert (answer.result["status"], answer.result["version"]) == ("accepted", 2)
    assert answer.store and decision.states == {} and decision.events == []
