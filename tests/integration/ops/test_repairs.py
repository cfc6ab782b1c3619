"""Repairs decided by what the store holds, whatever earlier repairs did.

A store that lost writes is repaired by replaying a range of the events topic
into the live version (`eventcart replay ... --from-offset / --from-timestamp`),
by the live projection filling a version gap from the log, or by re-driving a
dead letter. Each applies an event when the store lacks it and skips it only
when the store holds that version or a newer one: no forward-only checkpoint
decides, so a second repair below the first still repairs, and a document
deleted from the index is put back at once (its tombstone is not mistaken for
a newer document). Every test loses data, repairs, then loses other data and
repairs again, and ends with both read models equal to the fold of the log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from elasticsearch import Elasticsearch
from psycopg import sql

from ops import dlq
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams import dead_letters
from streams.admission import partition_for
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.oracle import assert_read_models_equal_oracle, traffic
from tests.fixtures.workers import Worker, run_cli

pytestmark = pytest.mark.timeout(900)

SKUS = [f"R-{i}" for i in range(16)]
SINGLES = [f"R-ONE-{i}" for i in range(6)]  # registered only: one event each


@pytest.fixture(scope="module")
def began() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def workers(
    module_settings: Settings, make_worker: Callable[[str], Worker], began: datetime
) -> Iterator[dict[str, Worker]]:
    started = {
        r: make_worker(r) for r in ("command-processor", "search-projection", "pricing-projection")
    }
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        client.send_batch([c.register_product(s, f"Repair product {s}") for s in SKUS + SINGLES])
        client.send_batch(traffic(SKUS, 300, seed=7))
    assert_read_models_equal_oracle(module_settings, SKUS + SINGLES)
    yield started


def lose_rows(settings: Settings, *skus: str) -> None:
    """PostgreSQL lost every row of these products (as after restoring an older backup)."""
    with psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        for table in ("current_price", "price_history", "stock", "scheduled_price", "product"):
            conn.execute(
                sql.SQL("DELETE FROM {}.{} WHERE sku = ANY(%s)").format(
                    sql.Identifier(settings.pricing_schema), sql.Identifier(table)
                ),
                [list(skus)],
            )


def lose_documents(es: Elasticsearch, settings: Settings, *skus: str) -> None:
    """Elasticsearch lost these documents; each deletion leaves a versioned tombstone."""
    for sku in skus:
        es.delete(index=settings.search_index, id=sku)


def written(out: str, name: str) -> int:
    match = re.search(rf"{name}: ([\d,]+) written \(the store lacked them\), ([\d,]+) already", out)
    assert match, out
    return int(match.group(1).replace(",", ""))


def test_a_repair_by_offset_repairs_and_the_same_repair_repairs_again(
    workers: dict[str, Worker], module_settings: Settings, es: Elasticsearch
) -> None:
    for lost_rows, lost_docs in ((["R-1"], ["R-2", "R-3"]), (["R-4"], ["R-5"])):
        lose_rows(module_settings, *lost_rows)
        lose_documents(es, module_settings, *lost_docs)  # and repaired at once
        out = run_cli(module_settings, "replay", "all", "--from-offset", "0")
        assert written(out, "pricing") > 0 and written(out, "search") > 0, out
        assert_read_models_equal_oracle(module_settings, SKUS + SINGLES)


def test_a_repair_by_timestamp_repairs_twice_as_well(
    workers: dict[str, Worker], module_settings: Settings, es: Elasticsearch, began: datetime
) -> None:
    for lost in (["R-6", "R-7"], ["R-8"]):
        lose_rows(module_settings, *lost)
        lose_documents(es, module_settings, *lost)
        out = run_cli(
            module_settings,
            "replay",
            "all",
            "--from-timestamp",
            began.isoformat(timespec="seconds"),
        )
        assert written(out, "pricing") > 0 and written(out, "search") > 0, out
        assert_read_models_equal_oracle(module_settings, SKUS + SINGLES)


def test_two_gaps_in_one_partition_are_both_filled(
    workers: dict[str, Worker], module_settings: Settings, es: Elasticsearch
) -> None:
    """The live projection meets two products whose history the store lost, one after the
    other, in the same partition: the second's history lies below where the first fill
    read up to, and is filled all the same."""
    partitions = module_settings.partitions
    by_partition: dict[int, list[str]] = {}
    for sku in SKUS[9:]:
        by_partition.setdefault(partition_for(sku.encode(), partitions), []).append(sku)
    first, second = next(skus for skus in by_partition.values() if len(skus) >= 2)[:2]
    with CommandClient(module_settings) as client:
        for sku in (first, second):
            lose_rows(module_settings, sku)
            lose_documents(es, module_settings, sku)
            assert client.send(c.adjust_stock(sku, 5), timeout_s=60).accepted
            assert_read_models_equal_oracle(module_settings, [sku])
    assert_read_models_equal_oracle(module_settings, SKUS + SINGLES)


def test_a_redrive_below_an_earlier_repair_is_applied(
    workers: dict[str, Worker], module_settings: Settings
) -> None:
    """Dead letters re-driven highest offset first: each one the store lacks is applied."""
    topics = Topics.from_settings(module_settings)
    records = {
        r["key"].decode(): r
        for r in read_topic(module_settings, topics.events)
        if r["key"] and r["key"].decode() in SINGLES
    }
    lose_rows(module_settings, *SINGLES)
    letters = [
        dlq.Letter(
            index,
            dead_letters.dead_letter(
                "pricing-projection",
                topic=topics.events,
                partition=record["partition"],
                offset=record["offset"],
                key=record["key"],
                raw=record["raw"],
                error={"field": "$", "rule": "store_rejected", "message": "lost by the store"},
            ),
        )
        for index, record in enumerate(
            sorted(records.values(), key=lambda r: (r["offset"], r["partition"]), reverse=True)
        )
    ]
    for letter in letters:  # one at a time, as an operator would
        [outcome] = dlq.redrive(module_settings, "pricing-projection", [letter])
        assert outcome.outcome == "applied", outcome
    outcomes = dlq.redrive(module_settings, "pricing-projection", letters)
    assert {o.outcome for o in outcomes} == {"already held"}  # nothing written twice
    assert_read_models_equal_oracle(module_settings, SKUS + SINGLES)
