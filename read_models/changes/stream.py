"""``GET /changes``: product changes as Server-Sent Events, resumable by id.

The stream, as a client sees it:

* ``event: ready`` first, with an ``id:`` (where the stream stands): a client
  that drops before any change can still resume from there.
* One unnamed event (``onmessage``) per change, ``data:`` the change's JSON
  (:mod:`read_models.changes.change`), ``id:`` the position after it.
* ``: keep-alive`` comments every ``EVENTCART_CHANGES_HEARTBEAT_S`` when idle.
* ``event: cut`` when the client reads too slowly: ``data:`` says why and the id
  to resume from; the server then closes the stream. EventSource reconnects by
  itself with ``Last-Event-ID``; other clients pass it, or ``?after=``.

A resume older than what this process holds in memory is read back from the
events topic first, then joins the live stream with nothing missed or repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import orjson
from elasticsearch import Elasticsearch
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from read_models.changes.change import KINDS
from read_models.changes.filters import ChangeFilter, FilterError, parse_filter
from read_models.changes.hub import Hub, Subscriber, render, to_positions
from read_models.changes.tail import Tail, TailUnavailable
from read_models.query_errors import INVALID, UNAVAILABLE
from schemas.config.settings import Settings
from schemas.position_token import parse_token

__all__ = ["ChangeStream", "router"]

BATCH = 200  # changes written to one client at once
READ_BACKS = 4  # subscribers reading back from the topic at once, per process


class ChangeStream:
    """This process's tail and hub, started by the first subscriber."""

    def __init__(self, settings: Settings, es: Elasticsearch, reader_dsn: str) -> None:
        self.settings = settings
        self.tail = Tail(settings, es, reader_dsn)
        self.read_backs = asyncio.Semaphore(READ_BACKS)
        self._heartbeat: asyncio.Task[None] | None = None

    async def hub(self) -> Hub:
        try:
            hub = await self.tail.start()
        except TimeoutError as exc:
            raise TailUnavailable("the change stream is still starting") from exc
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._beat(hub))
        return hub

    async def _beat(self, hub: Hub) -> None:
        while True:
            await asyncio.sleep(self.settings.changes_heartbeat_s)
            hub.heartbeat()

    def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self.tail.close()


def _problem(status: int, detail: Any, **headers: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


def _invalid(field: str, rule: str, message: str) -> JSONResponse:
    return _problem(422, [{"field": field, "rule": rule, "message": message}])


def _event(name: str, token: str, data: Mapping[str, Any]) -> bytes:
    return b"event: %s\nid: %s\ndata: %s\n\n" % (name.encode(), token.encode(), orjson.dumps(data))


async def _read_back(
    stream: ChangeStream, hub: Hub, flt: ChangeFilter, positions: dict[int, int]
) -> AsyncIterator[bytes]:
    """What the buffer no longer holds, from the topic, until the buffer covers the rest."""
    while behind := hub.behind(positions):
        async with stream.read_backs:
            changes, reached = await asyncio.to_thread(stream.tail.read_back, behind)
        parts = []
        for change in changes:
            positions[change.partition] = change.offset + 1
            if flt.matches(change):
                parts.append(b"id: %s\ndata: %s\n\n" % (render(positions).encode(), change.data))
        moved = any(reached[p] > positions.get(p, 0) for p in reached) or changes
        for partition, position in reached.items():
            positions[partition] = max(positions.get(partition, 0), position)
        if parts:
            yield b"".join(parts)
        if not moved:
            await asyncio.sleep(0.2)  # the read models have not applied what comes next yet


async def _live(sub: Subscriber) -> AsyncIterator[bytes]:
    while True:
        if sub.cut:
            yield _event(
                "cut",
                sub.token,
                {
                    "error": "too_slow",
                    "detail": "this client fell too far behind the changes and was cut off; "
                    "reconnect with Last-Event-ID (or ?after=) set to resume_after: nothing "
                    "is lost",
                    "resume_after": sub.token,
                },
            )
            return
        batch = sub.take(BATCH)
        if batch:
            parts = []
            for released in batch:
                sub.token = sub.id_of(released)
                parts.append(b"id: %s\ndata: %s\n\n" % (sub.token.encode(), released.change.data))
            yield b"".join(parts)
            continue
        if sub.beat:
            sub.beat = False
            yield b": keep-alive\n\n"
            continue
        await sub.wake.wait()


async def _events(
    stream: ChangeStream, hub: Hub, flt: ChangeFilter, positions: dict[int, int] | None
) -> AsyncIterator[bytes]:
    if positions is not None:
        async for chunk in _read_back(stream, hub, flt, positions):
            yield chunk
    sub = hub.join(flt, positions)  # no await since the last check: nothing falls between
    try:
        yield b"retry: 1000\n" + _event(
            "ready", sub.token, {"after": sub.token, "subscribers": hub.subscribers}
        )
        async for chunk in _live(sub):
            yield chunk
    finally:
        hub.leave(sub)


def _check_resume(
    positions: Mapping[int, int], marks: list[tuple[int, int]], field: str
) -> JSONResponse | None:
    for partition, position in sorted(positions.items()):
        if partition >= len(marks):
            return _invalid(field, "partition", f"the events topic has no partition {partition}")
        low, high = marks[partition]
        if position > high:
            return _invalid(
                field,
                "future",
                f"position {partition}:{position - 1} is beyond the end of the events topic "
                f"({f'{partition}:{high - 1}' if high else f'partition {partition} is empty'}); "
                "ids come from this stream, never made up",
            )
    for partition, (low, _) in enumerate(marks):
        if positions.get(partition, 0) < low:
            return _problem(
                410,
                f"partition {partition} no longer holds offset {positions.get(partition, 0)} "
                f"(it starts at {low}): the changes in between are past the topic's retention. "
                "Fetch the products you cache again and subscribe without after.",
            )
    return None


router = APIRouter(tags=["changes"])

_FILTERS = (
    "Filters narrow (a change must match all given; any value of a repeated one): "
    f"`sku` (repeated or comma-separated), `category` (a prefix: Shoes/Running), `brand`, "
    f"`kind` ({', '.join(KINDS)}), `currency` (price and schedule changes in others "
    "are left out). Resume with `Last-Event-ID` or `after`."
)


@router.get(
    "/changes",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the stream"},
        410: {"description": "the resume position is past the topic's retention"},
        **INVALID,
        **UNAVAILABLE,
    },
    description=__doc__ + "\n\n" + _FILTERS,
)
async def changes(
    request: Request,
    sku: Annotated[list[str] | None, Query()] = None,
    category: Annotated[str | None, Query()] = None,
    brand: Annotated[list[str] | None, Query()] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    currency: Annotated[str | None, Query()] = None,
    after: Annotated[str | None, Query(description="resume after this id")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """Live product changes, each sent once both read models have applied it."""
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    try:
        flt = parse_filter(params)
    except FilterError as exc:
        return _invalid(exc.field, exc.rule, str(exc))
    field, token = ("query.after", after) if after else ("header.last-event-id", last_event_id)
    positions: dict[int, int] | None = None
    if token:
        try:
            positions = to_positions(parse_token(token))
        except ValueError as exc:
            return _invalid(field, "pattern", str(exc).replace("min_position", "the id"))
    stream: ChangeStream = request.app.state.changes
    try:
        hub = await stream.hub()
        if positions is not None:
            refused = _check_resume(
                positions, await asyncio.to_thread(stream.tail.watermarks), field
            )
            if refused is not None:
                return refused
    except TailUnavailable as exc:
        return _problem(503, f"the change stream cannot start: {exc}", **{"Retry-After": "2"})
    if hub.subscribers >= stream.settings.changes_max_subscribers:
        return _problem(
            503, "this API process holds all the subscribers it may", **{"Retry-After": "5"}
        )
    return StreamingResponse(
        _events(stream, hub, flt, positions),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
