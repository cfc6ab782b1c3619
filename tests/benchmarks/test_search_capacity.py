"""Search capacity as a shop would load it: queries/s and latency through the query API,
beside two ceilings measured in the same run.

For each catalog size (``--capacity-products``, default 100,000 and 1,000,000) and
each concurrency (1, 8, 32, 64 closed-loop clients), the load generator
(tests/benchmarks/loadgen, Go) runs for ``--capacity-seconds``:

- **API, mix**: a storefront's traffic through the query API (text with typos,
  text with filters, category browsing, deeper pages, autocomplete, price lookups;
  search_load.KIND_WEIGHTS), per kind;
- **API, text**: the text searches alone (facets and highlights on);
- **Elasticsearch, same bodies**: the search kinds' exact bodies straight to
  Elasticsearch: the store's ceiling for our own query;
- **simplest query**: one ``multi_match`` per text search, no facets, no highlight,
  straight to Elasticsearch: what the store does at best for the same words;
- **previous query** (at 8 and 32 clients): the body before it was rebuilt for
  capacity, straight to Elasticsearch, to keep the "before" measurable.

Beside the figures: relevance on the judged set for the previous and the current
query (at 100,000 products), the CPU seconds per 1,000 text searches of
Elasticsearch, the API and the load generator, the top of a py-spy profile of the
API under load, and Elasticsearch's own profile of one search. Targets (issue:
search capacity): text search >= 150 queries/s at 32 clients with p99 <= 250 ms
at 100,000 products, and >= 0.5x the simplest query's queries/s.

The catalog (tests/fixtures/relevance/corpus.py) is indexed with the projection's
own fold of the decided events, in one bulk load; the index is kept between runs
(``eventcart-bench-corpus-N``) unless ``--capacity-fresh``. Price lookups ask for
the first 100,000 SKUs, projected into PostgreSQL by the pricing sink.
Run: ``pytest -m benchmark -s tests/benchmarks/test_search_capacity.py``.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from elasticsearch import Elasticsearch, helpers

from read_models.pricing.migrate import migrate
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent
from read_models.search.index import create_index
from read_models.search.model_version import MODEL_VERSION
from read_models.search.models import SearchRequest
from read_models.search.query_body import build_query
from schemas.config.settings import Settings
from tests.benchmarks.profiling import py_spy, top_frames
from tests.benchmarks.search_load import build_loadgen, lines, mix, run_load
from tests.fixtures.apis import api_process
from tests.fixtures.relevance.corpus import products, sku_of
from tests.fixtures.relevance.evaluate import (
    evaluate,
    events_of,
    index_corpus,
    previous_top_ten,
    report,
    top_ten,
)
from tests.fixtures.workers import free_port_block

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(4 * 3600)]

CONCURRENCY = (1, 8, 32, 64)
PRICED = 100_000
MIX = 16_000
#: Judged relevance is computed up to this size (every product is graded per query).
RELEVANCE_UP_TO = 100_000
CORPUS_MARK = "relevance-corpus-1"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "catalog_size" in metafunc.fixturenames:
        sizes = [int(n) for n in str(metafunc.config.getoption("--capacity-products")).split(",")]
        metafunc.parametrize("catalog_size", sizes, scope="module", ids=[f"{n}" for n in sizes])


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_loadgen(tmp_path_factory.mktemp("loadgen"))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def alias(es: Elasticsearch, catalog_size: int, request: pytest.FixtureRequest) -> str:
    """The corpus of ``catalog_size`` products behind an alias, loaded once and kept."""
    name = f"eventcart-bench-corpus-{catalog_size}"
    index = f"{name}_v{MODEL_VERSION}"
    fresh = bool(request.config.getoption("--capacity-fresh"))
    if es.indices.exists(index=index) and not fresh:
        meta = es.indices.get_mapping(index=index)[index]["mappings"].get("_meta", {})
        if meta.get("corpus") == CORPUS_MARK and es.count(index=index)["count"] == catalog_size:
            print(f"\ncorpus of {catalog_size:,} products: kept from an earlier run ({index})")
            return name
    es.options(ignore_status=404).indices.delete(index=index)
    create_index(es, index)
    es.indices.put_settings(index=index, settings={"refresh_interval": "-1"})
    began = time.perf_counter()
    loaded = index_corpus(es, index, products(catalog_size))
    es.indices.put_settings(index=index, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=index)
    es.indices.put_mapping(
        index=index, meta={"model_version": MODEL_VERSION, "corpus": CORPUS_MARK}
    )
    es.indices.put_alias(index=index, name=name)
    print(f"\nindexed {loaded:,} products in {time.perf_counter() - began:.0f} s ({index})")
    return name


@pytest.fixture(scope="module")
def priced(module_settings: Settings) -> Settings:
    """The pricing read model of the first PRICED products (the price lookups' SKUs)."""
    dsn = module_settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, module_settings.pricing_schema)
    offset = 0
    with PricingSink(dsn, module_settings.pricing_schema) as sink:
        batch: list[PositionedEvent] = []
        for product in products(PRICED):
            for event in events_of(product):
                batch.append(PositionedEvent(event, 0, offset))
                offset += 1
            if len(batch) >= 5000:
                sink.apply(batch)
                batch = []
        if batch:
            sink.apply(batch)
    return module_settings


@pytest.fixture(scope="module")
def api(priced: Settings, alias: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    settings = priced.model_copy(
        update={"search_index": alias, "query_api_port": free_port_block(1)}
    )
    with api_process(settings, "queries", settings.query_api_port) as proc:
        yield f"http://127.0.0.1:{settings.query_api_port}", proc


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children so far (uvicorn's workers are children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return ticks / 100 + sum(_cpu_seconds(k) for k in kids)


def _elasticsearch_pid(es: Elasticsearch) -> int:
    nodes = es.nodes.info(node_id="_local", metric="process")["nodes"]
    return int(next(iter(nodes.values()))["process"]["id"])


@contextmanager
def _changing(
    es: Elasticsearch, alias: str, catalog_size: int, per_second: int
) -> Iterator[list[int]]:
    """Products changing while the load runs, as the live projection changes them: every
    100 ms a bulk of price and stock updates, refreshed by the index's 1 s interval (each
    refresh that changed a shard also drops that shard's request cache)."""
    stop = threading.Event()
    written = [0]

    def write() -> None:
        rng = random.Random(3)
        while not stop.wait(0.1):
            actions = []
            for _ in range(max(1, per_second // 10)):
                amount = f"{rng.randint(900, 39900) / 100:.2f}"
                stock = rng.randint(0, 60)
                actions.append({
                    "_op_type": "update", "_index": alias, "_id": sku_of(rng.randrange(catalog_size)),
                    "doc": {"prices": {"EUR": {"amount": float(amount), "amount_text": amount,
                                               "price_type": "regular"}},
                            "stock": stock, "in_stock": stock > 0},
                })  # fmt: skip
            ok, _ = helpers.bulk(es, actions, raise_on_error=False)
            written[0] += ok

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield written
    finally:
        stop.set()
        thread.join()


def _es_profile(es: Elasticsearch, alias: str, q: str) -> list[str]:
    body = build_query(SearchRequest(q=q, size=20))
    for _ in range(3):  # warm
        es.search(index=alias, body=body, request_cache=False)
    answer = es.search(index=alias, body={**body, "profile": True}, request_cache=False).body
    shard = answer["profile"]["shards"][0]
    [searched] = shard["searches"]
    query_ms = sum(q["time_in_nanos"] for q in searched["query"]) / 1e6
    out = [
        f"    took {answer['took']} ms (profiling on); query {query_ms:.1f} ms, "
        f"rewrite {searched['rewrite_time'] / 1e6:.1f} ms, "
        f"aggregations {sum(a['time_in_nanos'] for a in shard['aggregations']) / 1e6:.1f} ms"
    ]
    fetch = shard.get("fetch")
    if fetch:
        phases = ", ".join(f"{c['type']} {c['time_in_nanos'] / 1e6:.1f}" for c in fetch["children"])
        out.append(f"    fetch {fetch['time_in_nanos'] / 1e6:.1f} ms: {phases}")
    return out


def _line(name: str, result: dict[str, Any], kinds: tuple[str, ...] | None = None) -> str:
    if kinds:
        picked = [result["kinds"][k] for k in kinds if k in result["kinds"]]
        count = sum(s["count"] for s in picked)
        qps = sum(s["qps"] for s in picked)
        p50 = max(s["p50_ms"] for s in picked)
        p99 = max(s["p99_ms"] for s in picked)
    else:
        o = result["overall"]
        count, qps, p50, p99 = o["count"], o["qps"], o["p50_ms"], o["p99_ms"]
    errors = result["overall"]["errors"]
    return f"  {name:<34} {qps:8.1f}/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  ({count} requests, {errors} errors)"


def test_search_capacity(
    catalog_size: int,
    es: Elasticsearch,
    alias: str,
    api: tuple[str, subprocess.Popen[bytes]],
    loadgen: Path,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    settings: Settings,
) -> None:
    url, proc = api
    seconds = float(request.config.getoption("--capacity-seconds"))
    es_url = settings.elasticsearch_url
    out = [f"\nsearch capacity, {catalog_size:,} products, {seconds:.0f} s per run"]

    if catalog_size <= RELEVANCE_UP_TO:
        catalog = list(products(catalog_size))

        out.append(report(evaluate(previous_top_ten(es, alias), catalog), "relevance, previous"))
        out.append(report(evaluate(top_ten(es, alias), catalog), "relevance, this query"))
        del catalog

    requests = mix(MIX, priced=PRICED)
    text_only = mix(MIX, priced=PRICED, kinds=("text",))
    forms = {
        "api mix": lines(requests, "api", api=url, elasticsearch=es_url, alias=alias),
        "api text": lines(text_only, "api", api=url, elasticsearch=es_url, alias=alias),
        "es same": lines(requests, "same", api=url, elasticsearch=es_url, alias=alias),
        "es same text": lines(text_only, "same", api=url, elasticsearch=es_url, alias=alias),
        "simplest": lines(text_only, "simplest", api=url, elasticsearch=es_url, alias=alias),
        "previous": lines(text_only, "previous", api=url, elasticsearch=es_url, alias=alias),
    }
    es_pid = _elasticsearch_pid(es)
    ratios: list[str] = []

    def load(form: str, clients: int) -> dict[str, Any]:
        # every run starts with empty request caches: only its own repeats hit
        es.indices.clear_cache(index=alias, request=True)
        return run_load(loadgen, forms[form], clients, seconds, tmp_path)

    for clients in CONCURRENCY:
        out.append(f"\n {clients} concurrent clients")
        mixed = load("api mix", clients)
        out.append(_line("query API, mix (all kinds)", mixed))
        for kind in sorted(mixed["kinds"]):
            out.append(_line(f"  {kind}", mixed, (kind,)))
        profile = tmp_path / "api-profile.txt"
        spy = py_spy(proc.pid, int(seconds), profile, children=True) if clients == 32 else None
        cpu_before = (_cpu_seconds(es_pid), _cpu_seconds(proc.pid))
        text = load("api text", clients)
        cpu_after = (_cpu_seconds(es_pid), _cpu_seconds(proc.pid))
        out.append(_line("query API, text search", text))
        same = load("es same", clients)
        out.append(_line("Elasticsearch, same bodies (mix)", same))
        same_text = load("es same text", clients)
        out.append(_line("Elasticsearch, same bodies (text)", same_text))
        simplest = load("simplest", clients)
        out.append(_line("simplest query (ceiling)", simplest))
        if clients in (8, 32):
            previous = load("previous", clients)
            out.append(_line("previous query, straight to ES", previous))
        api_qps, simple_qps = text["overall"]["qps"], simplest["overall"]["qps"]
        ratios.append(
            f"  {clients:>2} clients: text through the API {api_qps:.0f}/s = "
            f"{api_qps / simple_qps:.2f}x the simplest query ({simple_qps:.0f}/s), "
            f"{api_qps / same_text['overall']['qps']:.2f}x our bodies straight to ES"
        )
        if clients == 32:
            served = max(text["overall"]["count"], 1) / 1000
            out.append(
                f"  CPU per 1,000 text searches at 32 clients: Elasticsearch "
                f"{(cpu_after[0] - cpu_before[0]) / served:.1f} s, query API "
                f"{(cpu_after[1] - cpu_before[1]) / served:.1f} s, load generator "
                f"{text['loadgen_cpu_seconds'] / served:.2f} s"
            )
            if spy is not None:
                spy.wait(timeout=seconds + 60)
                out.append("  py-spy --gil, query API under the text load, own time:")
                out.extend(top_frames(profile.read_text() if profile.exists() else ""))
            with _changing(es, alias, catalog_size, per_second=100) as written:
                live = load("api text", clients)
            out.append(_line("query API, text, 100 products/s changing", live))
            out.append(f"    ({written[0]:,} product updates written during the run)")
    out.append("\n ratios (target: >= 0.5x the simplest query)")
    out.extend(ratios)
    out.append(" Elasticsearch's profile of one search ('red running shoe', facets, highlight):")
    out.extend(_es_profile(es, alias, "red running shoe"))
    print("\n".join(out))
