"""Both variants of the search index body: valid JSON with the expected fields.

The rich variant cannot be created on the local node (no analysis-common), so it
is checked structurally: every analyzer and filter it names is defined or built in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from read_models.search.mapping import index_body

BUILTIN_ANALYZERS = {"standard", "simple", "whitespace", "keyword"}
BUILTIN_FILTERS = {"lowercase", "asciifolding"}  # provided by analysis-common in rich clusters


def properties(rich: bool) -> dict[str, Any]:
    props: dict[str, Any] = index_body(rich)["mappings"]["properties"]
    return props


@pytest.mark.parametrize("rich", [False, True])
def test_body_is_json_with_the_expected_fields(rich: bool) -> None:
    body = index_body(rich)
    assert json.loads(json.dumps(body)) == body
    assert body["settings"]["index"]["number_of_shards"] == 1
    assert body["settings"]["index"]["refresh_interval"] == "1s"
    assert body["mappings"]["dynamic"] == "strict"

    props = properties(rich)
    expected = {
        "sku": "keyword",
        "name": "text",
        "description": "text",
        "brand": "text",
        "category_path": "keyword",
        "category_paths": "keyword",
        "category": "keyword",
        "attributes": "flattened",
        "tags": "keyword",
        "prices": "object",
        "stock": "long",
        "in_stock": "boolean",
        "availability": "keyword",
        "status": "keyword",
        "updated_at": "date",
        "version": "long",
        "suggest": "completion",
    }
    assert {name: spec["type"] for name, spec in props.items()} == expected
    assert props["name"]["fields"]["raw"]["type"] == "keyword"
    assert "index_prefixes" in props["name"]
    assert props["brand"]["fields"]["raw"]["type"] == "keyword"


@pytest.mark.parametrize("rich", [False, True])
def test_prices_get_typed_per_currency_by_dynamic_templates(rich: bool) -> None:
    templates = {
        spec["path_match"]: spec["mapping"]["type"]
        for entry in index_body(rich)["mappings"]["dynamic_templates"]
        for spec in entry.values()
    }
    assert templates["prices.*.amount"] == "double"
    assert templates["prices.*.amount_text"] == "keyword"
    assert templates["prices.*.price_type"] == "keyword"
    assert properties(rich)["prices"]["dynamic"] is True


def test_the_base_variant_uses_nothing_from_analysis_common_or_mapper_extras() -> None:
    body = index_body(False)
    assert "analysis" not in body["settings"]["index"]
    text = json.dumps(body)
    for absent in ("scaled_float", "search_as_you_type", "edge_ngram", "normalizer", "english"):
        assert absent not in text
    for spec in properties(False).values():
        assert spec.get("analyzer", "simple") in BUILTIN_ANALYZERS


def test_the_rich_variant_adds_english_and_autocomplete_sub_fields() -> None:
    props = properties(True)
    assert props["name"]["fields"]["english"]["analyzer"] == "english_folded"
    assert props["description"]["fields"]["english"]["analyzer"] == "english_folded"
    assert props["name"]["fields"]["autocomplete"]["analyzer"] == "autocomplete"
    assert props["name"]["fields"]["autocomplete"]["search_analyzer"] == "autocomplete_search"
    # every base field keeps its type: queries for the base variant work on both
    base = properties(False)
    for name, spec in base.items():
        assert props[name]["type"] == spec["type"]
        for sub, sub_spec in spec.get("fields", {}).items():
            assert props[name]["fields"][sub] == sub_spec


def test_the_rich_analysis_refers_only_to_defined_or_builtin_parts() -> None:
    analysis = index_body(True)["settings"]["index"]["analysis"]
    defined_filters = set(analysis["filter"])
    defined_analyzers = set(analysis["analyzer"])
    for analyzer in analysis["analyzer"].values():
        assert analyzer["tokenizer"] == "standard"
        for name in analyzer["filter"]:
            assert name in defined_filters | BUILTIN_FILTERS
    used: set[str] = set()
    for spec in properties(True).values():
        for candidate in [spec, *spec.get("fields", {}).values()]:
            used |= {candidate[k] for k in ("analyzer", "search_analyzer") if k in candidate}
    assert used <= defined_analyzers | BUILTIN_ANALYZERS
    assert analysis["filter"]["autocomplete_edge_ngram"]["type"] == "edge_ngram"


def test_each_call_returns_a_fresh_body() -> None:
    first = index_body(False)
    first["mappings"]["properties"]["name"]["fields"]["raw"]["type"] = "text"
    assert index_body(False)["mappings"]["properties"]["name"]["fields"]["raw"]["type"] == "keyword"


def test_replicas_and_shards_are_parameters() -> None:
    settings = index_body(False, shards=3, replicas=2, refresh_interval="30s")["settings"]["index"]
    assert (settings["number_of_shards"], settings["number_of_replicas"]) == (3, 2)
    assert settings["refresh_interval"] == "30s"
