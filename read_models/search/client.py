"""The Elasticsearch client every part of eventcart uses.

One place for how we talk to Elasticsearch: JSON through orjson (the standard
library's encoder was a twentieth of the search projection's time), and the
caller's timeouts and retries.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

__all__ = ["connect"]


def connect(url: str, **options: Any) -> Elasticsearch:
    """A client of the cluster at ``url``; ``options`` are the client's own
    (``request_timeout``, ``max_retries``, ``retry_on_timeout``, ...)."""
    return Elasticsearch(url, serializer=OrjsonSerializer(), **options)
