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
    (``request_timeout``, ``max_retries``, ``retry_on_timeout``, ...).

    Given several nodes, a caller that asked for no retries still gets one per
    other node for a connection that fails (and only for that: no retry of a
    status or a timeout, which the caller handles): a node killed must cost a
    request a second try on the next node, not an error."""
    connection = elasticsearch_options(settings)
    hosts = connection["hosts"]
    if isinstance(hosts, list) and len(hosts) > 1 and options.get("max_retries", 3) == 0:
        options = {
            **options,
            "max_retries": len(hosts) - 1,
            "retry_on_status": (),
            "retry_on_timeout": False,
        }
    return Elasticsearch(**connection, serializer=OrjsonSerializer(), **options)
