"""Comparing the search index with the fold of the log, for ``eventcart verify``.

The expected document of a SKU is the pure fold of its events
(:func:`read_models.search.document.fold`, the projection's own code); the stored
ones are fetched many at a time (``mget``); all SKUs are listed with a
point-in-time and ``search_after``, so a listing is consistent even while the
live projection writes, and costs one request per 10,000 documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from elasticsearch import Elasticsearch

from read_models.projection import PositionedEvent
from read_models.search import client as es_client
from read_models.search.document import fold
from read_models.search.sink import SearchSink
from schemas.config.settings import Settings

__all__ = ["SearchCheck", "all_skus", "documents_of"]


def documents_of(es: Elasticsearch, alias: str, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored documents of ``skus`` (absent SKUs have none)."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(skus), 1000):
        response = es.mget(index=alias, ids=list(skus[start : start + 1000]), realtime=True)
        for item in response.body.get("docs", []):
            if item.get("found"):
                found[str(item["_id"])] = dict(item["_source"])
    return found


def all_skus(es: Elasticsearch, alias: str, page: int = 10_000) -> Iterator[str]:
    """Every document id behind the alias, through a point in time."""
    pit = es.open_point_in_time(index=alias, keep_alive="2m")["id"]
    try:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": page,
                "pit": {"id": pit, "keep_alive": "2m"},
                "sort": [{"_shard_doc": "asc"}],
                "_source": False,
            }
            if after is not None:
                body["search_after"] = after
            hits = es.search(**body)["hits"]["hits"]
            if not hits:
                return
            for hit in hits:
                yield str(hit["_id"])
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)


class _Look:
    def __init__(self, es: Elasticsearch, alias: str) -> None:
        self._es, self._alias = es, alias

    def stored(self, skus: Sequence[str]) -> Mapping[str, Any]:
        return documents_of(self._es, self._alias, skus)

    def all_skus(self) -> Iterator[str]:
        return all_skus(self._es, self._alias)

    def replace(
        self, expected: Mapping[str, Any], events: Mapping[str, list[PositionedEvent]]
    ) -> int:
        return SearchSink(self._es, self._alias).replace(dict(expected))


class SearchCheck:
    """The search index against the fold of the log."""

    def expected(self, events: Sequence[PositionedEvent]) -> Mapping[str, Any]:
        by_sku: dict[str, list[PositionedEvent]] = {}
        for positioned in events:
            by_sku.setdefault(str(positioned.event["sku"]), []).append(positioned)
        return {sku: doc for sku, evs in by_sku.items() if (doc := fold(e.event for e in evs))}

    def version(self, state: Any) -> int:
        return int(state["version"])

    def differences(self, want: Any, have: Any) -> list[str]:
        fields = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        return [f"fields {', '.join(fields)}"] if fields else []

    @contextmanager
    def open(self, settings: Settings) -> Iterator[_Look]:
        es = es_client.connect(settings, request_timeout=60)
        try:
            yield _Look(es, settings.search_index)
        finally:
            es.close()
