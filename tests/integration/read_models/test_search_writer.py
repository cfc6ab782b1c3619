"""The search read model against the real Elasticsearch node: index, sink, queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from read_models.projection import ApplyReport, PositionedEvent, TransientStoreError
from read_models.search.index import bulk_mode, ensure_index
from read_models.search.sink import SearchSink
from tests.fixtures.events import event, price, registered, stock


@pytest.fixture
def alias(es: Elasticsearch, unique: str) -> Iterator[str]:
    """A unique alias name; every ``{alias}_v*`` index (and so the alias) is deleted afterwards."""
    name = f"test-products-{unique}"
    yield name
    # Wildcard deletes are refused (destructive_requires_name): resolve names first.
    made = es.indices.get(index=f"{name}*", allow_no_indices=True, expand_wildcards="all").body
    for index in made:
        es.options(ignore_status=404).indices.delete(index=index)


@pytest.fixture
def sink(es: Elasticsearch, alias: str) -> SearchSink:
    ensure_index(es, alias)
    return SearchSink(es, alias)


CATALOG: list[PositionedEvent] = [
    registered("SHOE-1", "Trail runner", "Acme"),
    registered("SHOE-2", "Road racer", "Zoom"),
    registered("SHOE-3", "Marathon trainer", "Acme", category_path=["Shoes", "Road"]),
    price("SHOE-1", 2, "89.90"),
    price("SHOE-2", 2, "129.00"),
    price("SHOE-3", 2, "59.50"),
    price("SHOE-1", 3, "99.00", "USD"),
    stock("SHOE-1", 4, 5),
    stock("SHOE-2", 3, 0),
]


def search(es: Elasticsearch, alias: str, query: dict[str, Any], **kwargs: Any) -> list[str]:
    es.indices.refresh(index=alias)
    response = es.search(index=alias, query=query, **kwargs)
    return [hit["_id"] for hit in response["hits"]["hits"]]


def active(*clauses: dict[str, Any], must: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"bool": {"must": list(must), "filter": [{"term": {"status": "active"}}, *clauses]}}


def test_ensure_index_is_idempotent_and_points_the_alias_at_v1(
    es: Elasticsearch, alias: str
) -> None:
    assert ensure_index(es, alias) == f"{alias}_v1"
    assert ensure_index(es, alias) == f"{alias}_v1"
    assert list(es.indices.get_alias(name=alias).body) == [f"{alias}_v1"]
    mapping = es.indices.get_mapping(index=alias).body[f"{alias}_v1"]["mappings"]
    assert mapping["properties"]["attributes"]["type"] == "flattened"
    assert mapping["properties"]["suggest"]["type"] == "completion"
    # this node has no analysis-common: the base variant was chosen
    assert "english" not in mapping["properties"]["name"]["fields"]
    settings = es.indices.get_settings(index=alias).body[f"{alias}_v1"]["settings"]["index"]
    assert (settings["number_of_shards"], settings["refresh_interval"]) == ("1", "1s")


def test_ensure_index_leaves_a_moved_alias_alone(es: Elasticsearch, alias: str) -> None:
    es.indices.create(index=f"{alias}_v2", settings={"number_of_replicas": 0})
    es.indices.put_alias(index=f"{alias}_v2", name=alias)
    assert ensure_index(es, alias, version=1) == f"{alias}_v2"
    assert not es.indices.exists(index=f"{alias}_v1")


def test_bulk_mode_switches_refresh_and_replicas(es: Elasticsearch, alias: str) -> None:
    index = ensure_index(es, alias)
    bulk_mode(es, index, True)
    settings = es.indices.get_settings(index=index).body[index]["settings"]["index"]
    assert (settings["refresh_interval"], settings["number_of_replicas"]) == ("-1", "0")
    bulk_mode(es, index, False)
    settings = es.indices.get_settings(index=index).body[index]["settings"]["index"]
    assert (settings["refresh_interval"], settings["number_of_replicas"]) == ("1s", "0")


def test_a_catalog_is_searchable(es: Elasticsearch, alias: str, sink: SearchSink) -> None:
    report = sink.apply(CATALOG)
    assert report == ApplyReport(applied=len(CATALOG), skipped=0, failed=[])

    doc = es.get(index=alias, id="SHOE-1")
    assert doc["_version"] == 4
    assert doc["_source"]["version"] == 4
    assert doc["_source"]["prices"]["EUR"] == {
        "amount": 89.9,
        "amount_text": "89.90",
        "price_type": "regular",
    }
    assert doc["_source"]["stock"] == 5

    # full text, and typo tolerance
    assert search(es, alias, active(must=[{"match": {"name": "runner"}}])) == ["SHOE-1"]
    fuzzy = {"match": {"name": {"query": "marathn", "fuzziness": "AUTO"}}}
    assert search(es, alias, active(must=[fuzzy])) == ["SHOE-3"]
    # prefix queries use the index_prefixes sub-field
    assert search(es, alias, active(must=[{"prefix": {"name": "mara"}}])) == ["SHOE-3"]
    # filters: brand, category subtree, attributes, availability
    by_brand = search(es, alias, active({"term": {"brand.raw": "Acme"}}), sort=["sku"])
    assert by_brand == ["SHOE-1", "SHOE-3"]
    running = search(es, alias, active({"term": {"category_paths": "Shoes/Running"}}), sort=["sku"])
    assert running == ["SHOE-1", "SHOE-2"]
    assert len(search(es, alias, active({"term": {"attributes.colour": "red"}}))) == 3
    assert search(es, alias, active({"term": {"in_stock": True}})) == ["SHOE-1"]
    # price range and price sort in EUR; USD lives alongside
    in_range = {"range": {"prices.EUR.amount": {"gte": 50, "lte": 100}}}
    assert search(es, alias, active(in_range), sort=["sku"]) == ["SHOE-1", "SHOE-3"]
    by_price = search(es, alias, active(), sort=[{"prices.EUR.amount": "asc"}])
    assert by_price == ["SHOE-3", "SHOE-1", "SHOE-2"]
    usd = {"term": {"prices.USD.amount_text": "99.00"}}
    assert search(es, alias, active(usd)) == ["SHOE-1"]

    # facets and autocomplete
    facets = es.search(index=alias, size=0, aggs={"brands": {"terms": {"field": "brand.raw"}}})[
        "aggregations"
    ]["brands"]["buckets"]
    assert {b["key"]: b["doc_count"] for b in facets} == {"Acme": 2, "Zoom": 1}
    suggest = es.search(
        index=alias, suggest={"s": {"prefix": "tra", "completion": {"field": "suggest"}}}
    )["suggest"]["s"][0]["options"]
    assert [option["_id"] for option in suggest] == ["SHOE-1"]


def test_applying_the_same_events_again_changes_nothing(
    es: Elasticsearch, alias: str, sink: SearchSink
) -> None:
    sink.apply(CATALOG)
    before = es.get(index=alias, id="SHOE-1")
    report = sink.apply(CATALOG)
    assert report == ApplyReport(applied=0, skipped=len(CATALOG), failed=[])
    after = es.get(index=alias, id="SHOE-1")
    assert (after["_version"], after["_source"]) == (before["_version"], before["_source"])


def test_an_older_event_after_a_newer_one_is_skipped(
    es: Elasticsearch, alias: str, sink: SearchSink
) -> None:
    sink.apply(
        [registered("SKU-A", "Kettle", "Acme"), price("SKU-A", 2, "30"), price("SKU-A", 3, "25")]
    )
    report = sink.apply([price("SKU-A", 2, "30")])
    assert report == ApplyReport(applied=0, skipped=1, failed=[])
    assert es.get(index=alias, id="SKU-A")["_source"]["prices"]["EUR"]["amount_text"] == "25"


class _RacingClient:
    """The real client, except that right after the sink's ``mget`` another writer
    applies newer events: the sink then writes a stale version and ES answers 409."""

    def __init__(self, es: Elasticsearch, other: SearchSink, newer: list[PositionedEvent]) -> None:
        self._es, self._other, self._newer = es, other, newer

    def mget(self, **kwargs: Any) -> Any:
        response = self._es.mget(**kwargs)
        if self._newer:
            assert self._other.apply(self._newer).applied == len(self._newer)
            self._newer = []
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._es, name)


def test_a_version_conflict_is_counted_as_skipped_not_as_an_error(
    es: Elasticsearch, alias: str, sink: SearchSink
) -> None:
    sink.apply([registered("SKU-A", "Kettle", "Acme"), registered("SKU-B", "Toaster", "Acme")])
    racing = SearchSink(
        _RacingClient(es, sink, [price("SKU-A", 2, "30"), price("SKU-A", 3, "25")]), alias
    )  # type: ignore[arg-type]
    # The stale writer saw SKU-A at version 1 and writes version 2; SKU-B goes through.
    report = racing.apply([price("SKU-A", 2, "30"), price("SKU-B", 2, "15")])
    assert report == ApplyReport(applied=1, skipped=1, failed=[])
    a = es.get(index=alias, id="SKU-A")["_source"]
    assert (a["version"], a["prices"]["EUR"]["amount_text"]) == (3, "25")
    assert es.get(index=alias, id="SKU-B")["_source"]["version"] == 2


def test_a_discontinued_product_leaves_the_results(
    es: Elasticsearch, alias: str, sink: SearchSink
) -> None:
    sink.apply(CATALOG)
    report = sink.apply([event("SHOE-1", "ProductDiscontinued", 5, {"reason": "end of line"})])
    assert report.applied == 1
    assert search(es, alias, active(must=[{"match": {"name": "runner"}}])) == []
    assert search(es, alias, {"term": {"status": "discontinued"}}) == ["SHOE-1"]
    suggest = es.search(
        index=alias, suggest={"s": {"prefix": "tra", "completion": {"field": "suggest"}}}
    )["suggest"]["s"][0]["options"]
    assert suggest == []


def test_a_rejected_document_fails_alone(es: Elasticsearch, alias: str, sink: SearchSink) -> None:
    # The contract bounds stock at 2^53 - 1; an event beyond a 64-bit long (written by
    # something else) is what the mapping refuses.
    bad = [registered("SKU-BAD", "Crate", "Acme"), stock("SKU-BAD", 2, 2**64)]
    good = [registered("SKU-OK", "Box", "Acme"), stock("SKU-OK", 2, 3)]
    report = sink.apply([bad[0], good[0], bad[1], good[1]])
    assert report.applied == 2
    assert report.skipped == 0
    assert [failed.event["sku"] for failed, _ in report.failed] == ["SKU-BAD", "SKU-BAD"]
    assert [failed.offset for failed, _ in report.failed] == [bad[0].offset, bad[1].offset]
    assert all("document_parsing_exception" in reason for _, reason in report.failed)
    assert es.get(index=alias, id="SKU-OK")["_source"]["stock"] == 3
    assert not es.exists(index=alias, id="SKU-BAD")


def test_an_event_that_cannot_be_projected_fails_alone(sink: SearchSink) -> None:
    broken = event("SKU-X", "PriceChanged", 2, {"currency": "EUR"})  # no amount
    report = sink.apply([registered("SKU-X", "Mug", "Acme"), broken, stock("SKU-X", 3, 1)])
    assert report.applied == 2
    assert [(f.offset, "KeyError" in reason) for f, reason in report.failed] == [
        (broken.offset, True)
    ]


def test_an_unreachable_cluster_is_transient(alias: str) -> None:
    down = Elasticsearch("http://127.0.0.1:1", max_retries=0, request_timeout=2)
    with pytest.raises(TransientStoreError):
        SearchSink(down, alias).apply(CATALOG[:1])
    down.close()


def test_a_missing_alias_is_transient_and_creates_no_index(es: Elasticsearch, alias: str) -> None:
    with pytest.raises(TransientStoreError):
        SearchSink(es, alias).apply(CATALOG[:1])
    assert not es.indices.exists(index=alias)


def test_a_version_gap_is_reported_not_applied(
    sink: SearchSink, es: Elasticsearch, alias: str
) -> None:
    first = sink.apply([registered("GAP-1", "Gap shoe", "Acme")])
    assert first.applied == 1
    report = sink.apply([stock("GAP-1", 3, 5), stock("GAP-1", 4, 6)])
    assert report.applied == 0
    assert [(g.event.event["version"], g.applied) for g in report.gaps] == [(3, 1), (4, 1)]
    assert es.get(index=alias, id="GAP-1")["_source"]["version"] == 1
    filled = sink.apply([stock("GAP-1", 2, 4), stock("GAP-1", 3, 5), stock("GAP-1", 4, 6)])
    assert (filled.applied, filled.gaps) == (3, [])


def test_a_pause_whose_replay_died_ends_with_its_lease(
    es: Elasticsearch, alias: str, sink: SearchSink
) -> None:
    """A replay killed between pausing and resuming must not stop the live search
    projection for ever: a pause not renewed within its lease is over."""
    from datetime import UTC, datetime, timedelta

    from read_models.search import switch

    live = SearchSink(es, alias, live=True)
    switch.pause(es, alias)  # ... and the replay dies here
    with pytest.raises(TransientStoreError, match="paused"):
        live.apply([registered("SKU-P", "Paused", "Acme")])
    past = datetime.now(UTC) - timedelta(seconds=1)
    es.index(
        index=switch.control_index(alias),
        id="switch",
        document={"state": "paused", "at": past.isoformat(), "until": past.isoformat()},
    )
    report = live.apply([registered("SKU-P", "Paused", "Acme")])
    assert report.applied == 1
