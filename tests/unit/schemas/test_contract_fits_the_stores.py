"""Whatever the contract lets a client send, once accepted, fits both read models.

Commands are generated from the JSON Schemas themselves (hypothesis-jsonschema,
extreme values included), decided with the pure decider, and projected with
the pure search and pricing code; every document is then checked against the
search mapping's field types, and every row operation against the pricing
tables' column types. Kept in step with the stores by
``tests/integration/producers/test_contract_end_to_end.py``, which sends the same kind
of commands through the real processor and stores.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from read_models.pricing.rows import Plan, plan
from read_models.projection import PositionedEvent
from read_models.search.document import project
from read_models.search.mapping import index_body
from schemas import codec, timestamps
from schemas.errors import ContractError
from streams.catalog import MAX_STOCK, Accepted, ProductState, decide, evolve_all
from tests.fixtures.contract_strategies import commands_for

SKUS = ["A", "b-2", "Z" * 64]
INT64 = (-(2**63), 2**63 - 1)
INTEGER_RANGES = {"long": INT64, "integer": (-(2**31), 2**31 - 1), "short": (-(2**15), 2**15 - 1)}
CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
COMPLETION_RESERVED = {"\x00", "\x1e", "\x1f"}


def accepted_events(commands: list[dict[str, Any]], stock: int = 0) -> list[dict[str, Any]]:
    """Decide the commands a client may send, in order; the events of those accepted.

    Every product starts registered with ``stock`` units (the deltas a command may
    carry are small, and only a long history reaches the large quantities)."""
    states = {
        sku: ProductState(sku=sku, version=1, registered=True, name="n", stock=stock)
        for sku in SKUS
    }
    events: list[dict[str, Any]] = []
    for command in commands:
        try:
            codec.validate_command(command)
        except ContractError:
            continue  # the generator's date-times include impossible calendar dates
        sku = command["sku"]
        state = states.get(sku) or ProductState.empty(sku)
        decision = decide(command, state)
        if isinstance(decision, Accepted):
            for event in decision.events:
                codec.validate_event(event)
            states[sku] = evolve_all(state, decision.events)
            events.extend(decision.events)
    return events


def check_document(doc: dict[str, Any], properties: dict[str, Any]) -> None:
    for name, value in doc.items():
        if name == "prices":
            for price in value.values():
                assert isinstance(price["amount"], float) and price["amount"] == price["amount"]
                assert abs(price["amount"]) < 1.8e308
            continue
        kind = properties[name]["type"]  # dynamic: strict, so every field is mapped
        if kind in INTEGER_RANGES:
            low, high = INTEGER_RANGES[kind]
            assert isinstance(value, int) and low <= value <= high, (name, kind, value)
        elif kind == "date":
            assert value is None or CANONICAL.match(value), (name, value)
        elif kind == "completion":
            for text in value["input"]:
                assert not COMPLETION_RESERVED & set(text), (name, text)
        elif kind == "keyword" and value is not None:
            texts = value if isinstance(value, list) else [value]
            assert all(len(t.encode()) <= 32766 for t in texts), name  # Lucene's term limit
        elif kind == "flattened":
            assert all(isinstance(v, str) for v in value.values())
            assert not any("\x00" in key for key in value), value  # refused by flattened


def check_rows(planned: Plan) -> None:
    """The pricing columns (read_models/pricing/migrations): numeric(16,4), bigint,
    char(3) ^[A-Z]{3}$, price_type, timestamptz, intervals that do not invert."""
    for row in [*planned.current_prices, *planned.history_rows]:
        amount = Decimal(row.amount)
        assert abs(amount) < Decimal(10) ** 12 and amount.as_tuple().exponent >= -4, amount
        assert re.fullmatch(r"[A-Z]{3}", row.currency) and row.price_type in ("regular", "sale")
        assert isinstance(row.valid_from, datetime) and row.valid_from.tzinfo is not None
    for history in planned.history_rows:
        assert history.valid_to is None or history.valid_to >= history.valid_from
    for stock in planned.stock:
        assert 0 <= stock.quantity <= INT64[1]
    for product in planned.products:
        assert 1 <= product.version <= INT64[1]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(commands_for(SKUS), min_size=1, max_size=30),
    st.sampled_from([0, 2**31 - 100, MAX_STOCK - 2_000_000, MAX_STOCK]),
)
def test_every_accepted_command_fits_both_read_models(
    commands: list[dict[str, Any]], stock: int
) -> None:
    events = accepted_events(commands, stock)
    properties = index_body(rich=False)["mappings"]["properties"]
    docs: dict[str, dict[str, Any]] = {}
    for event in events:
        assert CANONICAL.match(event["occurred_at"])
        doc = project(docs.get(event["sku"]), event)
        check_document(doc, properties)
        docs[event["sku"]] = doc
    planned = plan([PositionedEvent(e, 0, i) for i, e in enumerate(events)], dict.fromkeys(SKUS, 1))
    assert planned.invalid == [] and planned.gaps == []
    check_rows(planned)


@given(commands_for(SKUS))
def test_event_time_is_canonical_and_in_order(command: dict[str, Any]) -> None:
    try:
        codec.validate_command(command)
    except ContractError:
        return
    instant = timestamps.parse(command["occurred_at"])
    assert timestamps.parse(timestamps.canonical(command["occurred_at"])) == instant.replace(
        microsecond=instant.microsecond
    )
