"""What `eventcart watch` reads and prints, as pure functions: the Server-Sent
Events parser, one line per change, the server's refusals, and the backoff
between reconnections (the stream itself is kept going in :mod:`ops.cli.watch`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from schemas.config.settings import Settings

__all__ = [
    "BACKOFF_CAP_S",
    "FIRST_RETRY_S",
    "OPTION_OF",
    "SseEvent",
    "SseParser",
    "backoff_s",
    "change_line",
    "default_url",
    "refusal",
    "retry_after_s",
]

BACKOFF_CAP_S = 30.0
#: The server's ``retry:`` field overrides it (EventSource's reconnection time).
FIRST_RETRY_S = 1.0
#: Which option of this command each field of a 422 is about.
OPTION_OF = {
    "query.sku": "--sku",
    "query.kind": "--kind",
    "query.brand": "--brand",
    "query.category": "--category",
    "query.currency": "--currency",
    "query.after": "--after",
    "header.last-event-id": "--after",
}


# --- Server-Sent Events -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its type ("message" when unnamed), data and the last id."""

    event: str
    data: str
    id: str | None


@dataclass
class SseParser:
    """Server-Sent Events line by line, as the HTML standard's EventSource reads them:
    ``field: value`` lines (one leading space dropped), ``:`` comments, ``data`` lines
    joined by newlines, an event dispatched at a blank line (never one cut short by
    the end of the stream), ``id`` kept until another replaces it."""

    last_id: str | None = None
    retry_ms: int | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its line break); the event it completes, if any."""
        if not line:
            self.last_id = self._id
            event, data, self._event, self._data = self._event, self._data, "", []
            if not data:
                return None
            return SseEvent(event or "message", "\n".join(data), self.last_id)
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def events(self, lines: Iterable[str]) -> Iterator[SseEvent]:
        for line in lines:
            event = self.feed(line)
            if event is not None:
                yield event


# --- what is printed ----------------------------------------------------------


def _clock(occurred_at: Any) -> str:
    try:
        return datetime.fromisoformat(str(occurred_at)).strftime("%H:%M:%S")
    except ValueError:
        return "--:--:--"


def _gist(kind: str, type_: str, change: Mapping[str, Any]) -> str:
    if kind == "price":
        amount = change.get("amount", change.get("price"))  # PriceChanged v1 said "price"
        return f"{change.get('currency')} {amount} ({change.get('price_type', 'regular')})"
    if kind == "stock":
        return f"{change['delta']:+d} -> {change['quantity']} ({change.get('reason', '')})"
    if kind == "details":
        return ", ".join(sorted(change)) or "(nothing)"
    if type_ == "ProductRegistered":
        return "registered"
    if type_ == "ProductDiscontinued":
        reason = change.get("reason")
        return f"discontinued ({reason})" if reason else "discontinued"
    if type_ == "PriceChangeScheduled":
        until = f" until {change['ends_at']}" if change.get("ends_at") else ""
        return (
            f"scheduled {change['currency']} {change['amount']} ({change['price_type']}) "
            f"from {change['starts_at']}{until}"
        )
    if type_ == "PriceChangeScheduleCancelled":
        return f"cancelled {change['currency']} {change['schedule_id']} ({change['reason']})"
    return type_


def change_line(message: Mapping[str, Any]) -> str:
    """The line shown for one change: time of day (UTC), SKU, kind and what changed,
    e.g. ``14:36:18  DEMO-00001  price      EUR 12.35 (regular)``."""
    kind = str(message.get("kind", "?"))
    type_ = str(message.get("type", "?"))
    change = message.get("change")
    try:
        gist = _gist(kind, type_, change if isinstance(change, Mapping) else {})
    except (KeyError, TypeError, ValueError):
        gist = type_  # a message of a newer shape than this client knows
    return f"{_clock(message.get('occurred_at'))}  {message.get('sku')}  {kind:<9}  {gist}"


def refusal(status: int, body: bytes) -> str:
    """The server's reason for refusing a request, on one line, the fields named as
    this command's options (``--sku: 'a b' is not a SKU (...)``)."""
    try:
        detail = orjson.loads(body).get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        detail = None
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if not isinstance(item, Mapping):
                parts.append(str(item))
                continue
            where = item.get("field") or ".".join(map(str, item.get("loc", ())))
            message = item.get("message") or item.get("msg") or item.get("rule")
            parts.append(f"{OPTION_OF.get(where, where)}: {message}")
        return "; ".join(parts)
    if isinstance(detail, str) and detail:
        return detail
    text = body.decode("utf-8", "replace").strip()[:300]
    return f"HTTP {status}" + (f": {text}" if text else "")


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After header's seconds (a date, or nothing usable: None)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None


def backoff_s(
    failures: int, first_s: float = FIRST_RETRY_S, cap_s: float = BACKOFF_CAP_S, jitter: float = 0
) -> float:
    """Seconds before the next try after ``failures`` in a row (1, 2, ...): doubling from
    ``first_s`` up to ``cap_s``; ``jitter`` (0 to 1) takes up to a quarter off, so clients
    dropped together do not all come back at once."""
    delay: float = min(cap_s, first_s * 2 ** max(0, failures - 1))
    return delay * (1 - jitter / 4)


def default_url(settings: Settings) -> str:
    """The local query API: the host it binds to (loopback when it binds to all)."""
    host = settings.api_host.strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.query_api_port}"
