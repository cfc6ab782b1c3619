"""Marking the words a search found through a typo, in the highlighted fragments (pure).

Elasticsearch highlights the words of the query as typed
(:func:`read_models.search.query_body.highlight_body`): highlighting with the
search's typo-tolerant query cost about 210 ms of a 225 ms search, because the
highlighter expands every fuzzy word anew for each hit. A shopper who typed
"red runing shoe" should still see "Running" marked, so this module marks, in
the fragments Elasticsearch returned, the words within the query's typo
tolerance of a typed word: the same rule as the query (``AUTO:4,12`` edits,
the first letter right; ``AUTO`` for a relaxed query), with transpositions
counted as one edit as Elasticsearch does. Twenty hits cost well under a
millisecond.

Fragments are HTML-escaped by Elasticsearch (``encoder: html``); only whole
words outside ``<em>`` markers and outside character references are touched,
so a fragment stays safe to insert as HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rapidfuzz.distance import OSA

__all__ = ["TypoMarks", "allowed_edits", "mark_typos", "query_words"]

PRE_TAG = "<em>"
POST_TAG = "</em>"

_WORD = re.compile(r"[^\W_]+")


def query_words(q: str) -> list[str]:
    """The words of the query as the standard analyzer splits them, lower-cased."""
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(q)))


def allowed_edits(word: str, *, relaxed: bool = False) -> int:
    """Edits a word may be off by: ``AUTO:4,12`` (strict) or ``AUTO`` (relaxed, 3,6)."""
    low, high = (3, 6) if relaxed else (4, 12)
    return 0 if len(word) < low else 1 if len(word) < high else 2


def _near(token: str, fuzzy: Sequence[tuple[str, int]]) -> bool:
    lowered = token.lower()
    for word, edits in fuzzy:
        if (
            lowered != word
            and lowered[:1] == word[:1]
            and abs(len(lowered) - len(word)) <= edits
            and OSA.distance(lowered, word, score_cutoff=edits) <= edits
        ):
            return True
    return False


def _candidates(fuzzy: Sequence[tuple[str, int]]) -> re.Pattern[str]:
    """Marked text, character references (&amp; &#x2F;), and the words that could be
    within a typo of a query word (its first letter, a length within its edits): only
    these reach Python code, so a fragment without candidates costs one regex scan."""
    shapes = "|".join(
        f"{re.escape(word[0])}[^\\W_]{{{max(0, len(word) - 1 - edits)},{len(word) - 1 + edits}}}"
        for word, edits in fuzzy
    )
    return re.compile(
        rf"<em>.*?</em>|&#?\w+;|(?<![^\W_])(?:{shapes})(?![^\W_])", re.IGNORECASE | re.DOTALL
    )


class TypoMarks:
    """The marking of one query, built once and applied to every hit of its answer."""

    def __init__(self, q: str, *, relaxed: bool = False) -> None:
        self._fuzzy = [(w, e) for w in query_words(q) if (e := allowed_edits(w, relaxed=relaxed))]
        self._pattern = _candidates(self._fuzzy) if self._fuzzy else None

    def _replace(self, match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith(("<em>", "&")) or not _near(token, self._fuzzy):
            return token
        return f"{PRE_TAG}{token}{POST_TAG}"

    def mark(self, highlights: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """The fragments with the typo matches marked too; fragments left without any
        mark (Elasticsearch's ``no_match_size`` text of a field where nothing matched
        as typed) are dropped, and so is a field left without fragments."""
        out: dict[str, list[str]] = {}
        for field, fragments in highlights.items():
            if self._pattern is None:
                marked = list(fragments)
            else:
                marked = [self._pattern.sub(self._replace, f) for f in fragments]
            kept = [fragment for fragment in marked if PRE_TAG in fragment]
            if kept:
                out[field] = kept
        return out


def mark_typos(
    highlights: Mapping[str, Sequence[str]], q: str, *, relaxed: bool = False
) -> dict[str, list[str]]:
    """:meth:`TypoMarks.mark` for one set of fragments."""
    return TypoMarks(q, relaxed=relaxed).mark(highlights)
