"""`eventcart verify`: no drift on a healthy system; a document or a row altered by hand is
found, reported (table and JSON) and repaired."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
from elasticsearch import Elasticsearch
from psycopg import sql

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.oracle import traffic
from tests.fixtures.read_models import wait_for_versions
from tests.fixtures.workers import cli

SKUS = [f"V-{i}" for i in range(40)]


def eventcart(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(settings, *args, timeout_s=600)


def test_verify_finds_reports_and_repairs_drift(
    system_client: CommandClient, module_settings: Settings, tmp_path: Path
) -> None:
    system_client.send_batch([c.register_product(s, f"Product {s}", brand="Acme") for s in SKUS])
    results = system_client.send_batch(traffic(SKUS, 400, seed=3))
    versions: dict[str, int] = {}
    for result in results:
        if result.accepted and result.sku:
            versions[result.sku] = max(versions.get(result.sku, 0), result.version or 0)
    wait_for_versions(module_settings, versions)

    clean = eventcart(module_settings, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no drift" in clean.stdout and "products checked" in clean.stdout

    es = Elasticsearch(module_settings.elasticsearch_url)
    es.update(index=module_settings.search_index, id="V-1", doc={"name": "tampered"}, refresh=True)
    es.index(
        index=module_settings.search_index,
        id="NOBODY",
        document={"sku": "NOBODY", "status": "active", "version": 1},
        refresh=True,
    )
    schema = sql.Identifier(module_settings.pricing_schema)
    with psycopg.connect(module_settings.postgres_dsn.get_secret_value(), autocommit=True) as pg:
        pg.execute(
            sql.SQL("UPDATE {}.stock SET quantity = quantity + 1 WHERE sku = 'V-2'").format(schema)
        )
        pg.execute(sql.SQL("DELETE FROM {}.price_history WHERE sku = 'V-3'").format(schema))

    report = tmp_path / "drift.json"
    drifted = eventcart(module_settings, "verify", "--report", str(report))
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    whole = json.loads(report.read_text())
    found = {(d["model"], d["sku"], d["kind"]) for d in whole["drifts"]}
    assert found == {
        ("search", "V-1", "different"),
        ("search", "NOBODY", "unknown"),
        ("pricing", "V-2", "different"),
        ("pricing", "V-3", "different"),
    }

    # Memory bounded: a partition larger than the budget is checked in slices of its
    # SKUs, one read each; the finding is the same.
    sliced_report = tmp_path / "sliced.json"
    tight = module_settings.model_copy(update={"verify_events_in_memory": 20})
    sliced = eventcart(tight, "verify", "--report", str(sliced_report))
    assert sliced.returncode == 1, sliced.stdout + sliced.stderr
    in_slices = json.loads(sliced_report.read_text())
    assert {(d["model"], d["sku"], d["kind"]) for d in in_slices["drifts"]} == found
    assert (in_slices["skus"], in_slices["events"]) == (whole["skus"], whole["events"])
    assert "tampered" not in drifted.stdout and "fields name" in drifted.stdout

    repaired = eventcart(module_settings, "verify", "--repair")
    assert repaired.returncode == 1  # the unknown document is reported, not deleted
    assert "repaired: 2 in pricing, 1 in search" in repaired.stdout
    es.delete(index=module_settings.search_index, id="NOBODY", refresh=True)
    again = eventcart(module_settings, "verify")
    assert again.returncode == 0, again.stdout + again.stderr
