"""The web console's search round-trip in the page against the JSON API's, same queries.

In one headless Chromium tab on the catalog page: for each query, the JSON API's
``/search`` fetched by the page's own JavaScript (``fetch`` + ``json()``) and the
page's search (the query typed into the box, Enter, until htmx has swapped the
rendered results in: ``data-search-ms``, measured by the page with
``performance.now``), interleaved, so both see the same machine at the same moment.
Target: the page's median within 1.2x of the JSON API's. 10,000 products are
indexed with the real projection code (as in test_query_side.py).
Run: `pytest -m benchmark -s tests/benchmarks/test_console_latency.py`.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from elasticsearch import Elasticsearch

from read_models.pricing.migrate import migrate
from read_models.pricing.sink import PricingSink
from read_models.search.index import ensure_index
from read_models.search.sink import SearchSink
from schemas.config.settings import Settings
from tests.benchmarks.test_query_side import BRANDS, WORDS, batches
from tests.fixtures.apis import api_process
from tests.fixtures.workers import free_port_block

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

PRODUCTS = 10_000
QUERIES = 200
WARM_UP = 20
TARGET = 1.2


@pytest.fixture(scope="module")
def console(module_settings: Settings, es: Elasticsearch) -> Iterator[str]:
    settings = module_settings.model_copy(update={"query_api_port": free_port_block(1)})
    ensure_index(es, alias=settings.search_index)
    dsn = settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, settings.pricing_schema)
    search_sink = SearchSink(es, settings.search_index)
    with PricingSink(dsn, settings.pricing_schema) as pricing_sink:
        for batch in batches(PRODUCTS):
            search_sink.apply(batch)
            pricing_sink.apply(batch)
    es.indices.refresh(index=settings.search_index)
    with api_process(settings, "queries", settings.query_api_port):
        yield f"http://127.0.0.1:{settings.query_api_port}"


def queries(n: int) -> list[str]:
    """Free text as people type it: one to three words, sometimes a brand, sometimes a typo."""
    rng = random.Random(13)
    out = []
    for _ in range(n):
        words = rng.sample(WORDS, rng.randint(1, 2))
        if rng.random() < 0.3:
            words.append(rng.choice(BRANDS))
        if rng.random() < 0.3:  # drop a letter
            w = rng.randrange(len(words))
            cut = rng.randrange(1, len(words[w]))
            words[w] = words[w][:cut] + words[w][cut + 1 :]
        out.append(" ".join(words))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def test_search_in_the_page_vs_the_json_api(console: str, chromium: Any) -> None:
    context = chromium.new_context(base_url=console)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto("/")
    box = page.get_by_role("combobox", name="Search products")
    json_ms: list[float] = []
    page_ms: list[float] = []
    for i, text in enumerate(queries(WARM_UP + QUERIES)):
        url = "/search?" + urlencode({"q": text, "size": 20})
        took = page.evaluate(
            "async url => { const t = performance.now(); const r = await fetch(url);"
            " await r.json(); return performance.now() - t; }",
            url,
        )
        box.fill(text)
        box.press("Enter")
        page.wait_for_function("n => Number(document.body.dataset.searches) === n", arg=i + 1)
        rendered = float(page.evaluate("() => document.body.dataset.searchMs"))
        if i >= WARM_UP:
            json_ms.append(float(took))
            page_ms.append(rendered)
    context.close()
    ratio = statistics.median(page_ms) / statistics.median(json_ms)
    print(
        f"\n{QUERIES} searches over {PRODUCTS:,} products, one at a time, in headless Chromium\n"
        f"  JSON API /search (fetch + json):       p50 {statistics.median(json_ms):6.1f} ms"
        f"  p90 {pct(json_ms, 0.9):6.1f} ms\n"
        f"  console page (request, render, swap):  p50 {statistics.median(page_ms):6.1f} ms"
        f"  p90 {pct(page_ms, 0.9):6.1f} ms\n"
        f"  ratio of medians {ratio:.2f}x (target <= {TARGET}x)"
    )
