"""Settings and mappings of the product search index, in two variants.

* ``rich=False`` uses only what the Elasticsearch server itself provides (the
  local stack's integ-test distribution has no ``analysis-common`` or
  ``mapper-extras`` module): the standard analyzer (it lowercases), keyword
  sub-fields, ``index_prefixes`` for prefix queries, ``flattened`` attributes
  (x-pack core) and the ``completion`` suggester.
* ``rich=True`` adds what a full distribution has: an english analyzer with
  ASCII folding (``name.english``, ``description.english``), and an edge-ngram
  search-as-you-type sub-field (``name.autocomplete``, ``brand.autocomplete``).

Every field of the base variant exists in the rich one with the same type, so
queries written for the base variant work on both; :func:`cluster_has_analysis_common`
decides which one a cluster gets.

Prices are a read model for search only (sort, range filter, display): the
amount is a ``double`` (``scaled_float`` needs mapper-extras) next to the exact
decimal string in ``amount_text``; exact money lives in the pricing read model.
"""

from __future__ import annotations

import copy
from typing import Any

from elasticsearch import Elasticsearch

from read_models.search.model_version import MODEL_VERSION

__all__ = [
    "ANALYSIS_COMMON_MODULE",
    "LIVE_SETTINGS",
    "cluster_has_analysis_common",
    "index_body",
]

ANALYSIS_COMMON_MODULE = "analysis-common"

#: Index settings the projection relies on, set on new indices and on the live one
#: at start (they are dynamic): eventcart never deletes a document (a discontinued
#: product stays, marked), so a deletion's tombstone only ever stands in the way
#: of putting back a document the index lost; forget tombstones at the next refresh.
LIVE_SETTINGS: dict[str, str] = {"gc_deletes": "0s"}

_KEYWORD_MAX = 256  # longer values are kept in _source but not indexed as keywords

_PRICE_TEMPLATES: list[dict[str, Any]] = [
    {
        "price_amount": {
            "path_match": "prices.*.amount",
            "mapping": {"type": "double"},
        }
    },
    {
        "price_amount_text": {
            "path_match": "prices.*.amount_text",
            "mapping": {"type": "keyword"},
        }
    },
    {
        "price_type": {
            "path_match": "prices.*.price_type",
            "mapping": {"type": "keyword"},
        }
    },
    {
        # Anything else under a currency (a field added later): keyword, not text.
        "price_other": {
            "path_match": "prices.*.*",
            "match_mapping_type": "string",
            "mapping": {"type": "keyword", "ignore_above": _KEYWORD_MAX},
        }
    },
]

_BASE_PROPERTIES: dict[str, Any] = {
    "sku": {"type": "keyword"},
    "status": {"type": "keyword"},
    "version": {"type": "long"},
    "updated_at": {"type": "date"},
    "name": {
        "type": "text",
        "index_prefixes": {"min_chars": 1, "max_chars": 10},
        "fields": {"raw": {"type": "keyword", "ignore_above": _KEYWORD_MAX}},
    },
    "description": {"type": "text"},
    "brand": {
        "type": "text",
        "fields": {"raw": {"type": "keyword", "ignore_above": _KEYWORD_MAX}},
    },
    "category_path": {"type": "keyword", "ignore_above": _KEYWORD_MAX},
    "category_paths": {"type": "keyword"},
    "category": {"type": "keyword", "ignore_above": _KEYWORD_MAX},
    "attributes": {"type": "flattened", "ignore_above": _KEYWORD_MAX},
    "tags": {"type": "keyword", "ignore_above": _KEYWORD_MAX},
    "prices": {"type": "object", "dynamic": True},
    "stock": {"type": "long"},
    "in_stock": {"type": "boolean"},
    "availability": {"type": "keyword"},
    "suggest": {"type": "completion", "analyzer": "simple", "max_input_length": 100},
}

_RICH_ANALYSIS: dict[str, Any] = {
    "filter": {
        "english_stop": {"type": "stop", "stopwords": "_english_"},
        "english_stemmer": {"type": "stemmer", "language": "english"},
        "english_possessive_stemmer": {"type": "stemmer", "language": "possessive_english"},
        "autocomplete_edge_ngram": {"type": "edge_ngram", "min_gram": 1, "max_gram": 20},
    },
    "analyzer": {
        "english_folded": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": [
                "english_possessive_stemmer",
                "lowercase",
                "asciifolding",
                "english_stop",
                "english_stemmer",
            ],
        },
        "autocomplete": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding", "autocomplete_edge_ngram"],
        },
        "autocomplete_search": {
            "type": "custom",
            "tokenizer": "standard",
            "filter": ["lowercase", "asciifolding"],
        },
    },
}


def _rich_properties() -> dict[str, Any]:
    properties = copy.deepcopy(_BASE_PROPERTIES)
    english = {"type": "text", "analyzer": "english_folded"}
    autocomplete = {
        "type": "text",
        "analyzer": "autocomplete",
        "search_analyzer": "autocomplete_search",
    }
    properties["name"]["fields"]["english"] = english
    properties["name"]["fields"]["autocomplete"] = autocomplete
    properties["description"]["fields"] = {"english": dict(english)}
    properties["brand"]["fields"]["autocomplete"] = dict(autocomplete)
    return properties


#: Replicas of every index: none on one node, one as soon as a second node joins
#: (Elasticsearch's own rule, so one mapping serves a laptop and a cluster, and a
#: node lost loses no shard).
AUTO_REPLICAS = "0-1"


def index_body(
    rich: bool, *, shards: int = 1, replicas: int | None = None, refresh_interval: str = "1s"
) -> dict[str, Any]:
    """``settings`` and ``mappings`` for ``indices.create(**index_body(...))``.

    Returns a fresh dict each call (callers may change it). The mapping is
    ``dynamic: strict``: a field the projection does not know is a bug and is
    rejected, except under ``prices``, whose per-currency objects come from the
    dynamic templates so any currency works.
    """
    settings: dict[str, Any] = {
        "number_of_shards": shards,
        "refresh_interval": refresh_interval,
        **LIVE_SETTINGS,
    }
    if replicas is None:
        settings["auto_expand_replicas"] = AUTO_REPLICAS
    else:
        settings["number_of_replicas"] = replicas
    if rich:
        settings["analysis"] = copy.deepcopy(_RICH_ANALYSIS)
    return {
        "settings": {"index": settings},
        "mappings": {
            # The model this mapping and the projection code implement; the live
            # projection refuses an index built for an older one (read_models.search.model_version).
            "_meta": {"model_version": MODEL_VERSION},
            "dynamic": "strict",
            "dynamic_templates": copy.deepcopy(_PRICE_TEMPLATES),
            "properties": _rich_properties() if rich else copy.deepcopy(_BASE_PROPERTIES),
        },
    }


def cluster_has_analysis_common(es: Elasticsearch) -> bool:
    """True when every node of the cluster has the ``analysis-common`` module."""
    response = es.nodes.info(metric="plugins")
    nodes: dict[str, Any] = response.body.get("nodes", {})
    if not nodes:
        return False
    return all(
        any(module.get("name") == ANALYSIS_COMMON_MODULE for module in node.get("modules", []))
        for node in nodes.values()
    )
