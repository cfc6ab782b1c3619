"""Deciding one batch of commands: the processor's whole logic, without I/O.

The transactional loop (``streams.processor``) reads a batch of records, loads
the stored states and results of the SKUs and command ids in it, and calls
:func:`decide_batch`. What comes back is everything the batch's transaction
will hold: the events in order, one answer per record, the final state of
every SKU it changed, and the dead letters. Nothing here reads a clock or a
store, so the same batch against the same stored data always decides the same
way, and a unit test can run it as the processor does.

Rules, in order, per record:

1. admission (``streams.admission``): contract, key, partition; a refusal is
   answered ``invalid`` (when it names a command id) and dead-lettered, and
   not stored: the command never reached a decision, so a corrected command
   with the same id is decided afresh;
2. a ``(sku, command_id)`` answered before (stored, or earlier in this batch)
   gets that answer again and publishes nothing;
3. the pure decider (``streams.catalog.decide``) against the SKU's state;
4. the version guard: every event must carry the SKU's stored version + 1
   (then + 2, ...). An event that does not is never published: the command is
   answered ``internal_error`` and dead-lettered. ``decide`` cannot produce
   such an event today; the guard makes a fork in the events topic
   impossible to write even if it one day could.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.errors import ContractError
from streams.admission import Admitted, Refused, admit
from streams.catalog import Accepted, Decision, ProductState, decide, evolve_all

__all__ = [
    "Admission",
    "Answer",
    "BatchDecision",
    "Record",
    "admit_all",
    "decide_batch",
    "guarded_events",
]


@dataclass(frozen=True)
class Record:
    """One record of the commands topic, as the consumer handed it over."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Answer:
    """What one record led to."""

    record: Record
    sku: str | None
    command_id: str | None
    #: the result to publish (None: too broken to name a command id)
    result: dict[str, Any] | None
    #: indices into BatchDecision.events of this command's events
    events: range = range(0)
    #: a new decision, to be stored for idempotency
    store: bool = False
    #: why the record goes to the dead-letter topic, if it does
    dead_letter: ContractError | None = None
    #: the ``traceparent`` its result carries (tracing on, command traced)
    trace: bytes | None = None


@dataclass
class BatchDecision:
    answers: list[Answer] = field(default_factory=list)
    #: (sku, event), in publishing order
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: sku -> (commands partition, state after the batch), for SKUs the batch changed
    states: dict[str, tuple[int, ProductState]] = field(default_factory=dict)
    #: index into events -> the ``traceparent`` it carries (its command was traced)
    traces: dict[int, bytes] = field(default_factory=dict)


#: a record and what admission made of it
Admission = tuple[Record, Admitted | Refused]


def rejected(
    command_id: str | None, sku: str | None, reason: str, message: str, **extra: Any
) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "sku": sku,
        "status": "rejected",
        "reason": reason,
        "message": message,
        **extra,
    }


def admit_all(records: Sequence[Record], partitions: int) -> list[Admission]:
    """Admission of every record (``partitions``: the commands topic's count). The
    processor loads the stored states and results the admitted commands name, then
    calls :func:`decide_batch`."""
    return [(r, admit(r.key, r.value, r.partition, partitions)) for r in records]


def decide_batch(
    admissions: Sequence[Admission],
    states: Mapping[str, ProductState],
    results: Mapping[tuple[str, str], dict[str, Any]],
    decider: Callable[[Mapping[str, Any], ProductState], Decision] = decide,
) -> BatchDecision:
    """Decide the admitted records in order.

    ``states`` and ``results`` hold what is stored for the batch's SKUs and
    (sku, command_id) pairs (absent: never registered / never answered).
    ``decider`` is :func:`streams.catalog.decide` except in the guard's own tests.
    """
    batch = BatchDecision()
    current: dict[str, ProductState] = {}
    answered: dict[tuple[str, str], dict[str, Any]] = {}
    for record, admitted in admissions:
        if isinstance(admitted, Refused):
            batch.answers.append(_refusal(record, admitted))
            continue
        batch.answers.append(
            _decide_one(record, admitted, batch, current, answered, states, results, decider)
        )
    return batch


def _refusal(record: Record, refused: Refused) -> Answer:
    err = refused.error
    result = None
    if refused.command_id is not None:
        result = rejected(
            refused.command_id, refused.sku, "invalid", err.message, field=err.field, rule=err.rule
        )
    return Answer(record, refused.sku, refused.command_id, result, dead_letter=err)


def _decide_one(
    record: Record,
    admitted: Admitted,
    batch: BatchDecision,
    current: dict[str, ProductState],
    answered: dict[tuple[str, str], dict[str, Any]],
    states: Mapping[str, ProductState],
    results: Mapping[tuple[str, str], dict[str, Any]],
    decider: Callable[[Mapping[str, Any], ProductState], Decision],
) -> Answer:
    sku, command_id = admitted.sku, admitted.command_id
    known = answered.get((sku, command_id)) or results.get((sku, command_id))
    if known is not None:
        return Answer(record, sku, command_id, known)
    state = current.get(sku) or states.get(sku) or ProductState.empty(sku)
    try:
        decision = decider(admitted.command, state)
        new_state = _guarded(state, decision)
    except Exception as exc:  # a bug in decide must not stop the partition
        error = ContractError("$", "internal_error", f"deciding the command failed: {exc!r}")
        failed = rejected(command_id, sku, "internal_error", error.message)
        return Answer(record, sku, command_id, failed, dead_letter=error)
    result: dict[str, Any]
    if isinstance(decision, Accepted):
        first = len(batch.events)
        batch.events.extend((sku, event) for event in decision.events)
        current[sku] = new_state
        if decision.events:
            batch.states[sku] = (record.partition, new_state)
        result = {
            "command_id": command_id,
            "sku": sku,
            "status": "accepted",
            "version": new_state.version,
            "event_ids": [e["event_id"] for e in decision.events],
            "positions": [],
        }
        answer = Answer(record, sku, command_id, result, range(first, len(batch.events)), True)
    else:
        result = rejected(command_id, sku, decision.reason, decision.message, version=state.version)
        answer = Answer(record, sku, command_id, result, store=True)
    answered[(sku, command_id)] = result
    return answer


class VersionGuardError(RuntimeError):
    """An event would not follow its SKU's version: publishing it would fork the log."""


def _guarded(state: ProductState, decision: Decision) -> ProductState:
    if not isinstance(decision, Accepted):
        return state
    return guarded_events(state, decision.events)


def guarded_events(state: ProductState, events: Sequence[Mapping[str, Any]]) -> ProductState:
    """The state after ``events``, refusing any event that is not the next version of
    this SKU (:class:`VersionGuardError`): a decision's or a firing's."""
    version = state.version
    for event in events:
        if event.get("sku") != state.sku or event.get("version") != version + 1:
            raise VersionGuardError(
                f"event {event.get('event_id')} of {event.get('sku')!r} has version "
                f"{event.get('version')}, but {state.sku!r} is at version {version}"
            )
        version += 1
    return evolve_all(state, events)
