"""Marking the words found through a typo in Elasticsearch's highlighted fragments (pure)."""

from __future__ import annotations

import pytest

from read_models.search.typo_marks import allowed_edits, mark_typos, query_words


def test_the_words_of_a_query_as_the_standard_analyzer_splits_them() -> None:
    assert query_words("Red runing-shoe, RED") == ["red", "runing", "shoe"]
    assert query_words("hearth & co") == ["hearth", "co"]


@pytest.mark.parametrize(
    ("word", "strict", "relaxed"),
    [("red", 0, 1), ("shoe", 1, 1), ("runing", 1, 2), ("rechargeable", 2, 2)],
)
def test_edits_follow_the_query_fuzziness(word: str, strict: int, relaxed: int) -> None:
    assert allowed_edits(word) == strict
    assert allowed_edits(word, relaxed=True) == relaxed


def test_a_word_within_one_typo_is_marked_beside_the_exact_marks() -> None:
    marked = mark_typos({"name": ["Acme <em>Red</em> Running <em>Shoe</em>"]}, "red runing shoe")
    assert marked == {"name": ["Acme <em>Red</em> <em>Running</em> <em>Shoe</em>"]}


def test_a_transposition_is_one_edit_and_the_first_letter_must_be_right() -> None:
    assert mark_typos({"d": ["for rocky paths"]}, "rokcy") == {"d": ["for <em>rocky</em> paths"]}
    # "docky" is one edit from "rocky" but starts with another letter, as the query refuses
    assert mark_typos({"d": ["for rocky paths"]}, "docky") == {}


def test_short_words_must_be_exact_in_the_strict_query_not_in_the_relaxed_one() -> None:
    assert mark_typos({"name": ["Red Kettle"]}, "rod") == {}
    assert mark_typos({"name": ["Red Kettle"]}, "rod", relaxed=True) == {
        "name": ["<em>Red</em> Kettle"]
    }


def test_fragments_without_any_mark_are_dropped_and_so_is_an_empty_field() -> None:
    highlights = {
        "name": ["Trail Runner"],  # no_match_size text: nothing matched
        "description": ["Light <em>trail</em> shoe", "for rocky paths"],
    }
    assert mark_typos(highlights, "trail") == {"description": ["Light <em>trail</em> shoe"]}


def test_escaped_text_stays_escaped_and_references_are_never_marked() -> None:
    fragment = "Classic trainer, &lt;b&gt;bold&lt;&#x2F;b&gt; &amp; comfy"
    assert mark_typos({"d": [fragment]}, "comfi") == {
        "d": ["Classic trainer, &lt;b&gt;bold&lt;&#x2F;b&gt; &amp; <em>comfy</em>"]
    }
    # "amp" is inside a reference, not a word of the product
    assert mark_typos({"d": ["&amp; more"]}, "ampp") == {}
