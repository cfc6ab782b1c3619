"""The Elasticsearch client every part of eventcart uses.

One place for how we talk to Elasticsearch: the cluster's address,
credentials and CA from the settings (``schemas.config.connections``), JSON through
orjson (the standard library's encoder was a twentieth of the search
projection's time), and the caller's timeouts and retries.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from schemas.config.connections import elasticsearch_options
from schemas.config.settings import Settings

__all__ = ["connect"]


def connect(settings: Settings, **options: Any) -> Elasticsearch:
    """A client of the settings' cluster; ``options`` are the client's own
    (``request_timeout``, ``max_retries``, ``retry_on_timeout``, ...)."""
    return Elasticsearch(
        **elasticsearch_options(settings), serializer=OrjsonSerializer(), **options
    )
