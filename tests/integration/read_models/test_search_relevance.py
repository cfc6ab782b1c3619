"""Relevance of product search on the judged query set, against the real Elasticsearch node.

A catalog of 20,000 products written like a shop's (tests/fixtures/relevance/corpus.py)
is indexed with the projection's own code, and every judged query
(tests/fixtures/relevance/judged.py: typos, brands, category words, colour + type,
SKUs, phrases, attribute values, several facts, words the catalog lacks) runs through
:func:`read_models.search.queries.search`, the API's own path. Precision@10 and
NDCG@10 are printed per class and must not fall below what the query reached when
it was rebuilt for capacity (BENCHMARKS.md, "Search capacity"): capacity may not be
bought with worse results. Run with ``-s`` to see the scores.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from read_models.search.index import create_index
from read_models.search.models import SearchRequest
from read_models.search.queries import search
from tests.fixtures.relevance.corpus import Product, products
from tests.fixtures.relevance.evaluate import (
    Evaluation,
    evaluate,
    index_corpus,
    previous_top_ten,
    report,
    top_ten,
)

pytestmark = pytest.mark.timeout(600)

PRODUCTS = 20_000
#: The scores the query reached on this corpus when it was last changed, rounded down.
FLOOR_PRECISION = 0.94
FLOOR_NDCG = 0.99


@pytest.fixture(scope="module")
def catalog() -> list[Product]:
    return list(products(PRODUCTS))


@pytest.fixture(scope="module")
def alias(es: Elasticsearch, catalog: list[Product]) -> Iterator[str]:
    name = f"test-relevance-{uuid.uuid4().hex[:8]}"
    index = f"{name}_v1"
    create_index(es, index)
    es.indices.put_settings(index=index, settings={"refresh_interval": "-1"})
    assert index_corpus(es, index, catalog) == PRODUCTS
    es.indices.put_settings(index=index, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=index)
    es.indices.put_alias(index=index, name=name)
    yield name
    es.options(ignore_status=404).indices.delete(index=index)


@pytest.fixture(scope="module")
def evaluation(es: Elasticsearch, alias: str, catalog: list[Product]) -> Evaluation:
    before = evaluate(previous_top_ten(es, alias), catalog)
    found = evaluate(top_ten(es, alias), catalog)
    print("\n" + report(before, f"judged set, {PRODUCTS:,} products, the previous query"))
    print(report(found, f"judged set, {PRODUCTS:,} products, this query"))
    return found


def test_relevance_is_not_lower_than_when_the_query_was_last_changed(
    evaluation: Evaluation,
) -> None:
    assert evaluation.overall.precision >= FLOOR_PRECISION, report(evaluation, "precision")
    assert evaluation.overall.ndcg >= FLOOR_NDCG, report(evaluation, "ndcg")


def test_every_class_of_query_finds_what_it_asks_for(evaluation: Evaluation) -> None:
    weak = {kind: s for kind, s in evaluation.per_class.items() if s.ndcg < 0.9}
    assert not weak, report(evaluation, "classes below NDCG@10 0.9")
    weakest = sorted(evaluation.per_query.items(), key=lambda item: item[1].ndcg)[:3]
    assert all(s.ndcg >= 0.6 for _, s in weakest), weakest


def test_typos_and_words_the_catalog_lacks_still_find_the_products(
    es: Elasticsearch, alias: str
) -> None:
    typo = search(es, alias, SearchRequest(q="red runing shoe", size=5))
    assert typo.total > 0 and not typo.relaxed
    assert all("Running Shoe" in hit.name for hit in typo.hits)
    assert all("<em>Running</em>" in hit.highlights["name"][0] for hit in typo.hits)
    extra = search(es, alias, SearchRequest(q="red running shoe size 42", size=5))
    assert extra.relaxed and extra.total > 0
    assert all("Running Shoe" in hit.name for hit in extra.hits)
    # the next page of relaxed hits continues them, relaxed
    following = search(
        es,
        alias,
        SearchRequest(q="red running shoe size 42", size=5, cursor=extra.next_cursor),
    )
    assert following.relaxed
    assert not {h.sku for h in following.hits} & {h.sku for h in extra.hits}
