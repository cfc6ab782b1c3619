"""Why people rebuild: a model change (repairs of a store that lost writes: test_repairs.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from producers import commands as c
from producers.client import CommandClient
from read_models.search.index import alias_target
from schemas.config.settings import Settings
from tests.fixtures.oracle import assert_read_models_equal_oracle, traffic
from tests.fixtures.read_models import search_docs
from tests.fixtures.workers import Worker, run_cli

SKUS = [f"M-{i}" for i in range(10)]


@pytest.fixture(scope="module")
def workers(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> Iterator[dict[str, Worker]]:
    started = {
        r: make_worker(r) for r in ("command-processor", "search-projection", "pricing-projection")
    }
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        client.send_batch([c.register_product(s, f"Model product {s}") for s in SKUS])
        client.send_batch(traffic(SKUS, 200, seed=31))
    assert_read_models_equal_oracle(module_settings, SKUS)
    yield started


def test_live_projection_refuses_an_older_model_until_a_replay(
    workers: dict[str, Worker], module_settings: Settings, es: Elasticsearch
) -> None:
    alias = module_settings.search_index
    search = workers["search-projection"]
    search.stop()
    # Pretend the code moved on: the live index was built for model version 0.
    es.indices.put_mapping(index=alias, meta={"model_version": 0})
    search.start()
    with CommandClient(module_settings) as client:
        renamed = client.send(
            c.update_product_details("M-1", name="Renamed after the model change")
        )
    time.sleep(8)
    assert search_docs(module_settings, ["M-1"])["M-1"]["version"] < (renamed.version or 0)
    assert "rebuild it with `eventcart replay search`" in search.log.read_text()

    run_cli(module_settings, "replay", "search")
    assert alias_target(es, alias) == f"{alias}_v2"
    assert_read_models_equal_oracle(module_settings, SKUS)  # the worker went on by itself
