"""Creating the product search index behind its alias, and bulk (rebuild) mode.

Readers and the writer only ever use the alias (``f"{settings.topic_prefix}-products"``);
the concrete index is ``f"{alias}_v{version}"``, so a rebuild can fill
``_v2`` and then move the alias atomically.
"""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch

from read_models.search.mapping import (
    AUTO_REPLICAS,
    LIVE_SETTINGS,
    cluster_has_analysis_common,
    index_body,
)

log = logging.getLogger(__name__)

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
    rebuild moved it): its current index is returned, with
    :data:`~read_models.search.mapping.LIVE_SETTINGS` applied where an older
    eventcart created it. Safe to call concurrently.
    """
    current = alias_target(es, alias)
    if current is not None:
        _apply_live_settings(es, current)
        return current
    index = concrete_name(alias, version)
    create_index(es, index, rich=rich)
    es.indices.put_alias(index=index, name=alias, is_write_index=True)
    return alias_target(es, alias) or index


def _apply_live_settings(es: Elasticsearch, index: str) -> None:
    """Bring an index made by an older eventcart up to the live settings. Best effort:
    an index that refuses settings now (a read-only block) keeps working, a deleted
    document is then put back once its tombstone expires (60 s)."""
    names = [f"index.{name}" for name in LIVE_SETTINGS]
    current = es.indices.get_settings(index=index, name=names, flat_settings=True)
    held = current.body.get(index, {}).get("settings", {})
    if all(held.get(f"index.{k}") == v for k, v in LIVE_SETTINGS.items()):
        return
    try:
        es.indices.put_settings(index=index, settings=LIVE_SETTINGS)
    except ApiError as exc:
        log.warning("index %s keeps its settings for now: %s", index, exc)


def bulk_mode(es: Elasticsearch, index: str, on: bool) -> None:
    """Switch ``index`` into (or out of) bulk loading for a rebuild.

    On: no refresh, no replicas. Off: ``refresh_interval`` 1s and the replicas of
    every index (none on one node, one on a cluster), then one refresh so
    everything loaded is searchable before the alias moves.
    """
    settings: dict[str, Any] = (
        {"refresh_interval": "-1", "auto_expand_replicas": "false", "number_of_replicas": 0}
        if on
        else {"refresh_interval": "1s", "auto_expand_replicas": AUTO_REPLICAS}
    )
    es.indices.put_settings(index=index, settings={"index": settings})
    if not on:
        es.indices.refresh(index=index)
