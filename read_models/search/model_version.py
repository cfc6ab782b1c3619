"""The search read model's version: which model an index was built for.

``MODEL_VERSION`` is what this code's mapping and projection implement; it is
stored in the index mapping's ``_meta``. Raise it when a change needs every
document rebuilt from the topic (a new field, a new analyzer): the live
projection then refuses to write into an older index and says to replay.
"""

from __future__ import annotations

from elasticsearch import Elasticsearch

MODEL_VERSION = 2


class OutdatedReadModelError(RuntimeError):
    """The index was built for an older model than this code writes."""


def model_version_of(es: Elasticsearch, index_or_alias: str) -> int:
    mappings = es.indices.get_mapping(index=index_or_alias)
    for body in mappings.values():
        meta = body.get("mappings", {}).get("_meta", {})
        return int(meta.get("model_version", 1))
    return 1


def check_writable(es: Elasticsearch, alias: str, expected: int = MODEL_VERSION) -> int:
    found = model_version_of(es, alias)
    if found < expected:
        raise OutdatedReadModelError(
            f"the search index behind {alias!r} is model version {found}, this code writes "
            f"version {expected}: rebuild it with `eventcart replay search`"
        )
    return found
