"""The search read model, declared for every path and tool (:mod:`read_models.read_model`)."""

from __future__ import annotations

from elasticsearch import Elasticsearch

from read_models.read_model import ReadModel
from read_models.search import client as es_client
from read_models.search import model_version as model
from read_models.search import positions
from read_models.search.check import SearchCheck
from read_models.search.index import alias_target, ensure_index
from read_models.search.rebuild import SearchRebuild
from read_models.search.sink import SearchSink
from schemas.config.settings import Settings
from schemas.topics import SEARCH_PROJECTION

__all__ = ["SEARCH"]


def _writer_client(settings: Settings) -> Elasticsearch:
    # No client-side retries: the batch step retries whole batches.
    return es_client.connect(settings, request_timeout=settings.store_timeout_s, max_retries=0)


def live_sink(settings: Settings) -> SearchSink:
    """The live projection's sink, once the index, its positions and its model are right
    (the store may not be up yet: the worker retries this)."""
    es = _writer_client(settings)
    ensure_index(es, alias=settings.search_index)
    positions.ensure_positions_index(es, settings.search_index)
    model.check_writable(es, settings.search_index)
    return SearchSink(es, settings.search_index, live=True, owns_client=True)


def applied(settings: Settings) -> dict[int, int]:
    es = es_client.connect(settings, request_timeout=5, max_retries=0)
    try:
        return positions.applied(es, settings.search_index)
    finally:
        es.close()


def describe_live(settings: Settings) -> str:
    es = es_client.connect(settings, request_timeout=5, max_retries=0)
    try:
        return (
            f"alias {settings.search_index} -> {alias_target(es, settings.search_index) or 'none'}"
        )
    finally:
        es.close()


def outdated(settings: Settings) -> str | None:
    es = es_client.connect(settings, request_timeout=30, max_retries=0)
    try:
        model.check_writable(es, settings.search_index)
    except model.OutdatedReadModelError as exc:
        return str(exc)
    finally:
        es.close()
    return None


SEARCH = ReadModel(
    name="search",
    role=SEARCH_PROJECTION,
    store="Elasticsearch",
    live_sink=live_sink,
    # The index has no checkpoint to skip by: the live sink decides by each SKU's
    # stored version already, and puts back deleted documents.
    repair_sink=live_sink,
    applied=applied,
    describe_live=describe_live,
    lock_name=lambda settings: settings.search_index,
    outdated=outdated,
    rebuild=SearchRebuild(),
    check=SearchCheck(),
)
