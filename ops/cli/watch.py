"""`eventcart watch`: product changes as they happen, from the query API's ``GET /changes``.

The stream is Server-Sent Events (:mod:`read_models.changes.stream`); this module
reads it with httpx, one line per change, and keeps it going: a dropped stream,
a server that closes it (a restart, or ``event: cut`` for a reader too slow) or
a busy server (503) is tried again with a capped exponential backoff, resuming
with ``Last-Event-ID`` set to the last id seen, so no change is missed or
printed twice. The parsing and the formatting are small pure functions.

Exit codes, so scripts can branch: 0 after ``--count`` changes or Ctrl-C (the id to
resume from is printed on stderr), 2 the request refused (a filter or ``--after``
that breaks a rule, or a position past the topic's retention: the server's
message is printed), 3 the query API failed, 4 the query API unreachable.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import httpx
import orjson
import typer
from rich.console import Console
from rich.markup import escape
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from ops.cli.watch_format import (
    FIRST_RETRY_S,
    SseEvent,
    SseParser,
    backoff_s,
    change_line,
    default_url,
    refusal,
    retry_after_s,
)
from read_models.changes.change import KINDS
from schemas.config.settings import get_settings

__all__ = [
    "SseEvent",
    "SseParser",
    "Watch",
    "backoff_s",
    "change_line",
    "default_url",
    "refusal",
    "retry_after_s",
    "watch",
]

err = Console(stderr=True, soft_wrap=True, highlight=False)

CONNECT_TIMEOUT_S = 5.0


# --- the stream, kept going -----------------------------------------------------


class RefusedError(Exception):
    """The server refused the request (or is not the query API): retrying cannot help."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class UnreachableError(Exception):
    """No answer from the query API before any stream was open."""


class DroppedError(Exception):
    """The stream ended or could not be opened for now: try again."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass
class Watch:
    """One subscription to ``GET /changes``, resumed across drops until ``count``
    changes are out (never, without a count)."""

    client: httpx.Client
    url: str  # the query API's base URL
    params: Sequence[tuple[str, str]]  # the filters
    emit: Callable[[str], None]  # one line to stdout
    note: Callable[[str], None]  # one message to stderr
    as_json: bool = False
    count: int | None = None
    last_id: str | None = None  # where to resume: --after, then the last id seen
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    printed: int = 0
    failures: int = 0  # tries in a row that gave no stream
    connected: bool = False  # a stream was open once: what fails next is retried
    watching: bool = False
    retry_s: float = FIRST_RETRY_S

    def run(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(DroppedError),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._say_retrying,
            reraise=True,
        )
        retrying(self._once)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, DroppedError) and exc.retry_after is not None:
            return exc.retry_after
        return backoff_s(self.failures, self.retry_s, jitter=self.jitter())

    def _say_retrying(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0
        self.note(f"[yellow]{escape(str(exc))}[/]; reconnecting in {delay:.1f} s")

    def _once(self) -> None:
        params = httpx.QueryParams(list(self.params))
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_id and self.connected:
            headers["Last-Event-ID"] = self.last_id  # after= would win over it
        elif self.last_id:
            params = params.add("after", self.last_id)
        try:
            with self.client.stream(
                "GET", f"{self.url}/changes", params=params, headers=headers
            ) as response:
                self._check(response)
                if self.connected:
                    self.note(f"reconnected, resuming after {escape(self.last_id or '')}")
                self.connected, self.failures = True, 0
                self._read(response)
        except httpx.TransportError as exc:
            if not self.connected:
                raise UnreachableError(
                    f"cannot reach the query API at {self.url}: {exc or type(exc).__name__} "
                    "(is it running? `eventcart api queries` or `eventcart up`; or pass --url)"
                ) from None
            self.failures += 1
            raise DroppedError(f"connection lost ({exc or type(exc).__name__})") from None

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise RefusedError(f"{response.url} is no event stream: is --url the query API?")
            return
        body = response.read()
        if status == 503 or (status >= 500 and self.connected):
            self.failures += 1
            raise DroppedError(
                f"the query API is unavailable: {refusal(status, body)}",
                retry_after_s(response.headers.get("retry-after")),
            )
        if status == 404:
            raise RefusedError(f"{response.url} not found: is --url the query API?")
        if status >= 500:
            raise RefusedError(f"the query API failed: {refusal(status, body)}", 3)
        raise RefusedError(refusal(status, body))

    def _read(self, response: httpx.Response) -> None:
        parser = SseParser()
        for event in parser.events(response.iter_lines()):
            if parser.retry_ms is not None:
                self.retry_s = parser.retry_ms / 1000
            if event.event == "message":
                self.emit(event.data if self.as_json else self._line(event.data))
                self.printed += 1
            self.last_id = event.id or self.last_id  # after the print: never a change missed
            if event.event == "ready" and not self.watching:
                self.watching = True
                self.note(f"watching {self.url}/changes (Ctrl-C to stop)")
            if event.event == "cut":
                self.failures += 1
                raise DroppedError(f"the server cut the stream off ({_why(event.data)})")
            if self.count is not None and self.printed >= self.count:
                return
        self.failures += 1
        raise DroppedError("the server closed the stream")

    def _line(self, data: str) -> str:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        return change_line(message) if isinstance(message, Mapping) else data


def _why(data: str) -> str:
    try:
        return str(orjson.loads(data).get("error", "no reason given"))
    except (orjson.JSONDecodeError, AttributeError):
        return "no reason given"


def make_client(read_timeout_s: float) -> httpx.Client:
    """The HTTP client of a watch (a function, so tests can hand in their own)."""
    return httpx.Client(
        timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=read_timeout_s), follow_redirects=True
    )


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # a pipe gets each change as it happens


def watch(
    sku: Annotated[
        list[str] | None,
        typer.Option("--sku", help="only this SKU (repeat, or comma-separate, for several)"),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help=f"only this kind of change: {', '.join(KINDS)} (repeat)"),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(help="only products in this category or below, e.g. Shoes/Running"),
    ] = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", help="only this brand (repeat for several)")
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            help="price and schedule changes in this currency only (the other kinds still show)"
        ),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option(help="resume after this id (watch prints it on stderr when it stops)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="each change's JSON on its own line (JSON Lines)")
    ] = False,
    count: Annotated[int | None, typer.Option(min=1, help="exit after this many changes")] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="the query API's URL (default: the local one, on EVENTCART_QUERY_API_PORT)"
        ),
    ] = None,
) -> None:
    """Print product changes as they happen: prices, stock, details, lifecycle.

    One line per change: time of day (UTC), SKU, kind and what changed; with
    --json, each change's JSON on its own line, for scripts. Filters narrow:
    all given must match, any value of a repeated one.

    After a drop, a restart of the API or a cut-off (a reader too slow), the
    stream is resumed by itself from the last change printed: none is missed
    or printed twice.

    Exit code: 0 after --count changes or Ctrl-C (the id to resume from is
    printed on stderr), 2 request refused (the server's reason is printed),
    3 the query API failed, 4 the query API unreachable.
    """
    settings = get_settings()
    base = (url or default_url(settings)).rstrip("/")
    try:
        parsed = httpx.URL(base)
    except httpx.InvalidURL as exc:
        err.print(f"[red]error[/] --url {escape(base)}: {escape(str(exc))}")
        raise typer.Exit(2) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        err.print(f"[red]error[/] --url {escape(base)} is no http(s) URL")
        raise typer.Exit(2)
    params = [("sku", s) for s in sku or []] + [("kind", k) for k in kind or []]
    params += [("brand", b) for b in brand or []]
    if category is not None:
        params.append(("category", category))
    if currency is not None:
        params.append(("currency", currency.upper()))
    # Silence this long (missed keep-alives) means a dead connection: reconnect.
    read_timeout_s = max(30.0, 3 * settings.changes_heartbeat_s)
    with make_client(read_timeout_s) as client:
        session = Watch(
            client,
            base,
            params,
            emit=_print,
            note=err.print,
            as_json=as_json,
            count=count,
            last_id=after,
        )
        try:
            session.run()
        except RefusedError as exc:
            err.print(f"[red]refused[/] {escape(str(exc))}")
            raise typer.Exit(exc.code) from None
        except UnreachableError as exc:
            err.print(f"[red]error[/] {escape(str(exc))}")
            raise typer.Exit(4) from None
        except KeyboardInterrupt:
            _say_resume(session, "stopped")
            raise typer.Exit(0) from None
        except BrokenPipeError:  # `eventcart watch | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
    _say_resume(session, f"{session.printed} change{'' if session.printed == 1 else 's'}")


def _say_resume(session: Watch, what: str) -> None:
    if session.last_id:
        err.print(f"{what}; resume with --after {escape(session.last_id)}")
