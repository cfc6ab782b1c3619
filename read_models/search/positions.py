"""How far the search read model has applied the events topic, per partition.

Elasticsearch has no transaction to put a checkpoint in, so after each batch
is fully written the sink records, per partition, the highest offset it has
handled, in a small index beside the alias. The record carries the offset as
its external version, so a late writer can never move it backwards. The query
API reads it to answer read-your-writes queries only once their position has
been applied.
"""

from __future__ import annotations

from collections.abc import Mapping

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from read_models.projection import TransientStoreError
from read_models.search.mapping import AUTO_REPLICAS


def positions_index(alias: str) -> str:
    return f"{alias}-positions"


def ensure_positions_index(es: Elasticsearch, alias: str) -> None:
    es.options(ignore_status=400).indices.create(
        index=positions_index(alias),
        settings={"number_of_shards": 1, "auto_expand_replicas": AUTO_REPLICAS},
        mappings={
            "dynamic": "strict",
            "properties": {"partition": {"type": "integer"}, "offset": {"type": "long"}},
        },
    )


def record(es: Elasticsearch, alias: str, offsets: Mapping[int, int]) -> None:
    """Store the highest handled offset per partition (never moving backwards)."""
    operations: list[dict[str, object]] = []
    for partition, offset in offsets.items():
        operations.append(
            {
                "index": {
                    "_index": positions_index(alias),
                    "_id": str(partition),
                    "version": offset,
                    "version_type": "external",
                }
            }
        )
        operations.append({"partition": partition, "offset": offset})
    try:
        es.bulk(operations=operations)  # 409s (an older offset) are fine: skip them
    except (ApiError, TransportError) as exc:
        raise TransientStoreError(f"search: recording positions failed: {exc}") from exc


def applied(es: Elasticsearch, alias: str, *, fresh: bool = False) -> dict[int, int]:
    """partition -> highest handled offset.

    A search sees positions as of the index's last refresh (up to a second old):
    lower than the truth, which only makes a read-your-writes wait a little
    longer. A replay's switch must not miss a single live batch, so it asks
    ``fresh``: the positions index is refreshed first."""
    if fresh:
        es.options(ignore_status=404).indices.refresh(index=positions_index(alias))
    response = es.options(ignore_status=404).search(
        index=positions_index(alias), size=1000, query={"match_all": {}}
    )
    if response.meta.status == 404:
        return {}
    return {
        int(hit["_source"]["partition"]): int(hit["_source"]["offset"])
        for hit in response["hits"]["hits"]
    }


def applied_now(es: Elasticsearch, alias: str, partitions: int) -> dict[int, int]:
    """partition -> highest handled offset, as of now: a realtime multi-get, which
    needs no refresh (for the change stream, which must not wait a refresh
    interval to learn that a batch is written)."""
    # No ``es.options(...)`` here: each call builds a new client, and this runs every
    # few milliseconds while changes wait.
    try:
        response = es.mget(index=positions_index(alias), ids=[str(p) for p in range(partitions)])
    except NotFoundError:
        return {}
    return {
        int(doc["_source"]["partition"]): int(doc["_source"]["offset"])
        for doc in response["docs"]
        if doc.get("found")
    }
