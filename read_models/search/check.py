"""Reading back what the search index holds, for ``eventcart verify``.

Documents are fetched many at a time (``mget``); all SKUs are listed with a
point-in-time and ``search_after``, so a listing is consistent even while the
live projection writes, and costs one request per 10,000 documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from elasticsearch import Elasticsearch

__all__ = ["all_skus", "documents_of"]


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
