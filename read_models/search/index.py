"""Creating the product search index behind its alias, and bulk (rebuild) mode.

Readers and the writer only ever use the alias (``f"{settings.topic_prefix}-products"``);
the concrete index is ``f"{alias}_v{version}"``, so a rebuild can fill
``_v2`` and then move the alias atomically.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from read_models.search.mapping import cluster_has_analysis_common, index_body

__all__ = ["alias_target", "bulk_mode", "concrete_name", "create_index", "ensure_index"]


def concrete_name(alias: str, version: int) -> str:
    """The concrete index behind ``alias`` at mapping ``version``: ``products_v1``."""
    return f"{alias}_v{version}"


def alias_target(es: Elasticsearch, alias: str) -> str | None:
    """The index ``alias`` points to, or None when there is no such alias."""
    response = es.options(ignore_status=404).indices.get_alias(name=alias)
    if response.meta.status == 404:
        return None
    indices: list[str] = sorted(response.body)
    if len(indices) != 1:
        raise RuntimeError(
            f"alias {alias!r} points to {indices}; the search alias needs exactly one index"
        )
    return indices[0]


def create_index(es: Elasticsearch, index: str, *, rich: bool | None = None) -> bool:
    """Create ``index`` with the search mapping; False when it exists already.

    ``rich=None`` picks the variant the cluster supports.
    """
    if rich is None:
        rich = cluster_has_analysis_common(es)
    body: dict[str, Any] = index_body(rich)
    try:
        es.indices.create(index=index, settings=body["settings"], mappings=body["mappings"])
    except BadRequestError as exc:
        if exc.error == "resource_already_exists_exception":
            return False
        raise
    return True


def ensure_index(
    es: Elasticsearch, alias: str = "products", version: int = 1, *, rich: bool | None = None
) -> str:
    """Make sure ``alias`` exists; return the concrete index it points to.

    When the alias is missing, ``{alias}_v{version}`` is created (if missing) with
    the mapping variant the cluster supports and the alias is pointed at it. When
    the alias exists it is left alone, even if it points to another version (a
    rebuild moved it): its current index is returned. Safe to call concurrently.
    """
    current = alias_target(es, alias)
    if current is not None:
        return current
    index = concrete_name(alias, version)
    create_index(es, index, rich=rich)
    es.indices.put_alias(index=index, name=alias, is_write_index=True)
    return alias_target(es, alias) or index


def bulk_mode(es: Elasticsearch, index: str, on: bool, *, replicas: int = 0) -> None:
    """Switch ``index`` into (or out of) bulk loading for a rebuild.

    On: no refresh, no replicas. Off: ``refresh_interval`` 1s and ``replicas``
    replicas (0 on the single local node), then one refresh so everything loaded
    is searchable before the alias moves.
    """
    settings = (
        {"refresh_interval": "-1", "number_of_replicas": 0}
        if on
        else {"refresh_interval": "1s", "number_of_replicas": replicas}
    )
    es.indices.put_settings(index=index, settings={"index": settings})
    if not on:
        es.indices.refresh(index=index)
