"""The opaque cursor of deep pagination: where the next page of a search starts.

A cursor is urlsafe base64 of JSON with the last hit's sort values, a
fingerprint of the query, and whether the hits came from the relaxed text query
(:func:`read_models.search.query_body.text_query`), so the next page continues
the same list. A cursor of another query (other text, filters, currency or sort)
is refused. It is not a secret or a signature: forging one only moves the
caller's own starting point.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NoReturn

from read_models.search.models import SearchRequest

__all__ = ["cursor_relaxed", "decode_cursor", "encode_cursor", "query_fingerprint"]

_CURSOR_VERSION = 1
_FINGERPRINT_CHARS = 16


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def query_fingerprint(req: SearchRequest) -> str:
    """What decides the hits and their order; a cursor is valid only for the same.

    Page, size, facets and highlighting do not change the order, so a client may
    change them while following cursors.
    """
    canonical = {
        "q": req.q,
        "brand": sorted(req.brand),
        "category": req.category,
        "currency": req.currency,
        "min_price": _decimal(req.min_price),
        "max_price": _decimal(req.max_price),
        "in_stock": req.in_stock,
        "attributes": sorted(req.attributes.items()),
        "sort": req.sort,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT_CHARS]


def encode_cursor(req: SearchRequest, sort_values: Sequence[Any], *, relaxed: bool = False) -> str:
    """The opaque cursor continuing ``req`` after a hit with ``sort_values``."""
    payload: dict[str, Any] = {
        "v": _CURSOR_VERSION,
        "h": query_fingerprint(req),
        "s": list(sort_values),
    }
    if relaxed:
        payload["r"] = True
    raw = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _invalid_cursor(detail: str) -> NoReturn:
    raise ValueError(f"invalid cursor: {detail}; use the next_cursor of a search result")


def _reject_constant(name: str) -> NoReturn:
    _invalid_cursor(f"non-finite number {name}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _payload(req: SearchRequest, cursor: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _invalid_cursor(f"cannot decode it ({type(exc).__name__})")
    if not isinstance(payload, dict) or not (
        set(payload) == {"v", "h", "s"} or set(payload) == {"v", "h", "s", "r"}
    ):
        _invalid_cursor("unexpected content")
    if payload["v"] != _CURSOR_VERSION:
        _invalid_cursor(f"unknown cursor version {payload['v']!r}")
    if payload.get("r", True) is not True:
        _invalid_cursor("unexpected content")
    if payload["h"] != query_fingerprint(req):
        raise ValueError(
            "cursor does not belong to this query: a cursor only continues the search "
            "(text, filters, currency, sort) it came from"
        )
    return payload


def decode_cursor(req: SearchRequest, cursor: str) -> list[Any]:
    """The ``search_after`` values in ``cursor``, checked against ``req``.

    Raises:
        ValueError: the cursor is not one this module made ("invalid cursor"), or
            it was made for another query ("cursor does not belong to this query").
    """
    values = _payload(req, cursor)["s"]
    # every sort is (one value, sku): read_models.search.query_body.build_sort
    if not isinstance(values, list) or len(values) != 2:
        _invalid_cursor("wrong number of sort values")
    first, sku = values
    if not isinstance(sku, str):
        _invalid_cursor("the SKU sort value is not a string")
    if req.sort in ("price_asc", "price_desc"):
        # a product without a price sorts as +/-Infinity, which ES writes as a string
        ok = _is_number(first) or first in ("Infinity", "-Infinity")
    elif req.sort == "newest":
        ok = isinstance(first, int) and not isinstance(first, bool)
    else:
        ok = _is_number(first)
    if not ok:
        _invalid_cursor(f"sort value {first!r} does not fit sort {req.sort!r}")
    return [first, sku]


def cursor_relaxed(req: SearchRequest, cursor: str) -> bool:
    """Whether ``cursor`` continues the relaxed text query (checked as by
    :func:`decode_cursor`)."""
    return bool(_payload(req, cursor).get("r", False))
