"""The import ledger against the running system: an entry per imported product at
the version the pricing read model shows, a second import that sends nothing, a
change made outside the feed that the ledger never hides, a count with
deliveries added after it that is set again on the next import, and a ledger
dropped between two imports that costs lookups and nothing else."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ops.feed_ledger import ledger_schema
from producers import commands as c
from producers.client import CommandClient
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings
from tests.fixtures.feed_import import import_feed
from tests.fixtures.read_models import pricing_rows, search_docs, wait_for_versions

pytestmark = pytest.mark.services


def _import(settings: Settings, feed: Path, *args: str) -> tuple[int, dict[str, int], str]:
    code, report, out = import_feed(settings, feed, *args)
    assert "import ledger" not in out, out  # it was neither switched off nor left unwritten
    return code, report, out


def _feed(path: Path, skus: list[str], stock: dict[str, int] | None = None) -> None:
    """A plain CSV of products: name, price 10.00 EUR and stock by position."""
    lines = ["sku,name,category_path,price,currency,stock"]
    for n, sku in enumerate(skus):
        count = (stock or {}).get(sku, n % 50)
        lines.append(f"{sku},Product {n},Ledger,10.00,EUR,{count}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _ledger(settings: Settings, skus: list[str]) -> dict[str, tuple[int, int]]:
    """SKU -> (fingerprint, version) of the ledger's entries; {} when it has no table."""
    query = sql.SQL("SELECT sku, fingerprint, version FROM {}.feed_ledger WHERE sku = ANY(%s)")
    try:
        with psycopg.connect(postgres_conninfo(settings)) as conn:
            rows = conn.execute(
                query.format(sql.Identifier(ledger_schema(settings))), [skus]
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return {str(sku): (int(fp), int(version)) for sku, fp, version in rows}


def _versions(settings: Settings, skus: list[str]) -> dict[str, int]:
    """The products' versions in the pricing read model."""
    return {r["sku"]: int(r["version"]) for r in pricing_rows(settings, "product", skus)}


def _stock(settings: Settings, skus: list[str]) -> dict[str, tuple[int, int]]:
    """SKU -> (stock in search, stock in pricing)."""
    docs = search_docs(settings, skus)
    pg = {r["sku"]: int(r["quantity"]) for r in pricing_rows(settings, "stock", skus)}
    return {sku: (int(docs[sku]["stock"]), pg.get(sku, 0)) for sku in skus}


def _assert_ledger_matches_pricing(settings: Settings, skus: list[str]) -> None:
    ledger, versions = _ledger(settings, skus), _versions(settings, skus)
    assert set(ledger) == set(skus), f"{len(ledger)} entries for {len(skus)} products"
    wrong = {sku: (v, versions.get(sku)) for sku, (_fp, v) in ledger.items() if v != versions[sku]}
    assert not wrong, f"entry version != pricing version: {dict(list(wrong.items())[:5])}"


def test_an_import_leaves_an_entry_per_product_and_the_same_file_again_sends_nothing(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    settings = module_settings
    skus = [f"FL-A-{n:03d}" for n in range(200)]
    feed = tmp_path / "a.csv"
    _feed(feed, skus)
    _, report, out = _import(settings, feed)
    assert (report["registered"], report["price"], report["refused"]) == (200, 200, 0), out
    assert report["stock"] == 196, out  # n % 50 == 0 has stock 0: no SetStock
    _assert_ledger_matches_pricing(settings, skus)
    versions = _versions(settings, skus)
    assert {versions[sku] for sku in skus} == {2, 3}  # registered, price (, stock)

    _, report, out = _import(settings, feed)
    assert (report["unchanged"], report["sent"], report["refused"]) == (200, 0, 0), out
    assert _versions(settings, skus) == versions


def test_a_change_made_outside_the_feed_is_never_hidden_by_the_ledger(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    settings = module_settings
    skus = [f"FL-B-{n:03d}" for n in range(200)]
    feed = tmp_path / "b.csv"
    _feed(feed, skus)
    _, report, out = _import(settings, feed)
    assert (report["registered"], report["refused"]) == (200, 0), out
    _assert_ledger_matches_pricing(settings, skus)

    repriced, renamed = skus[10:15], skus[100:105]
    changed: dict[str, int] = {}
    for sku in repriced:
        result = system_client.send(c.change_price(sku, "12.34", "EUR"), timeout_s=60)
        assert result.accepted and result.event_ids and result.version, result
        changed[sku] = result.version
    for sku in renamed:
        result = system_client.send(c.update_product_details(sku, name="Renamed"), timeout_s=60)
        assert result.accepted and result.event_ids and result.version, result
        changed[sku] = result.version
    wait_for_versions(settings, changed)
    assert _versions(settings, list(changed)) == changed
    assert all(search_docs(settings, renamed)[sku]["name"] == "Renamed" for sku in renamed)

    # The same file: exactly the ten changed products are restored.
    _, report, out = _import(settings, feed)
    assert report == {
        **report,
        "registered": 0,
        "details": 5,
        "price": 5,
        "stock": 0,
        "unchanged": 190,
        "refused": 0,
        "sent": 10,
    }, out
    docs = search_docs(settings, renamed)
    assert {docs[sku]["name"] for sku in renamed} == {
        f"Product {skus.index(sku)}" for sku in renamed
    }
    prices = {
        r["sku"]: r["regular_amount"] or r["amount"]
        for r in pricing_rows(settings, "current_price", repriced)
        if r["currency"] == "EUR"
    }
    assert set(prices) == set(repriced) and set(prices.values()) == {Decimal(10)}, prices
    versions = _versions(settings, list(changed))
    assert all(versions[sku] == changed[sku] + 1 for sku in changed), (versions, changed)
    _assert_ledger_matches_pricing(settings, skus)  # the ten restored are entered anew

    _, report, out = _import(settings, feed)
    assert (report["unchanged"], report["sent"]) == (200, 0), out


def test_a_count_with_deliveries_after_it_is_set_again_on_the_next_import(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    settings = module_settings
    skus = [f"FL-C-{n:03d}" for n in range(20)]
    delivered = skus[:5]
    feed = tmp_path / "c.csv"
    _feed(feed, skus, stock=dict.fromkeys(skus, 10))
    _, report, out = _import(settings, feed)
    assert (report["registered"], report["stock"], report["refused"]) == (20, 20, 0), out
    _assert_ledger_matches_pricing(settings, skus)

    time.sleep(0.01)
    counted_at = datetime.now(UTC)  # the deliveries below are not in the count
    time.sleep(0.01)
    after: dict[str, int] = {}
    for sku in delivered:
        result = system_client.send(c.adjust_stock(sku, 3), timeout_s=60)
        assert result.accepted and result.version, result
        after[sku] = result.version
    wait_for_versions(settings, after)
    assert _stock(settings, delivered) == dict.fromkeys(delivered, (13, 13))

    # A count of 20 for the delivered five (13 now): set, and the deliveries added.
    _feed(feed, skus, stock={**dict.fromkeys(skus, 10), **dict.fromkeys(delivered, 20)})
    for attempt in range(2):
        _, report, out = _import(settings, feed, "--counted-at", counted_at.isoformat())
        assert report == {
            **report,
            "stock": 5,  # the second time, accepted with no event: the same figure
            "unchanged": 15,
            "refused": 0,
            "sent": 5,
        }, (attempt, out)
        assert _stock(settings, delivered) == dict.fromkeys(delivered, (23, 23)), attempt
        assert _stock(settings, skus[5:]) == dict.fromkeys(skus[5:], (10, 10)), attempt
        # No entry at the product's version: a count plus later deliveries is not the row.
        versions, ledger = _versions(settings, delivered), _ledger(settings, delivered)
        assert all(versions[sku] == after[sku] + 1 for sku in delivered), (attempt, versions)
        assert all(ledger.get(sku, (0, 0))[1] != versions[sku] for sku in delivered), ledger


def test_a_dropped_ledger_costs_lookups_only_and_is_made_again(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    settings = module_settings
    skus = [f"FL-D-{n:03d}" for n in range(200)]
    feed = tmp_path / "d.csv"
    _feed(feed, skus)
    _, report, out = _import(settings, feed)
    assert (report["registered"], report["refused"]) == (200, 0), out
    _assert_ledger_matches_pricing(settings, skus)
    versions = _versions(settings, skus)

    with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(ledger_schema(settings)))
        )
    assert _ledger(settings, skus) == {}

    _, report, out = _import(settings, feed)
    assert (report["unchanged"], report["sent"], report["refused"]) == (200, 0, 0), out
    assert _versions(settings, skus) == versions
    _assert_ledger_matches_pricing(settings, skus)  # entered again from the lookups
