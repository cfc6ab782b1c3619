"""What the operations page shows, sampled in the background while someone watches.

``eventcart status`` measures events/s by watching committed offsets move for a
few seconds; a page that refreshes every two seconds cannot wait that long per
request. So one thread samples (the very :func:`ops.status.collect` and
:func:`ops.read_model_status.collect` the CLI calls) back to back while the page
is open, every request takes the latest snapshot at once, and the thread stops
after a minute without a viewer, so an unwatched console costs Kafka nothing.

The open page gets the panel pushed (:func:`pushed`, ``GET /operations/events``):
the latest snapshot, rendered, every :data:`PUSH_S` while it is connected.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import anyio
import anyio.to_thread
from pydantic import SecretStr

from ops import dlq, read_model_status, status
from ops.worker_metrics import StoreHealth, store_health
from read_models.pricing_reads import reader_dsn
from read_models.registry import READ_MODELS
from schemas.config.settings import Settings

#: Roles whose store health the workers' metrics report.
PROJECTIONS = tuple(model.role for model in READ_MODELS)
#: The sampler stops after this long without a request.
IDLE_S = 60.0
#: Dead letters are split by the partition they came from up to this many per role
#: (more is an incident the role's total already shows; `eventcart dlq` reads them).
LETTERS_BY_PARTITION_MAX = 10_000
#: An open operations page gets the panel this often (the sampler takes a snapshot
#: every EVENTCART_CONSOLE_STATUS_SAMPLE_S and a little more).
PUSH_S = 2.0
#: What Server-Sent Events take for the end of a line.
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    roles: list[status.RoleStatus] = field(default_factory=list)
    #: role -> its store retries, for projections whose metrics this host serves
    health: dict[str, StoreHealth] = field(default_factory=dict)
    models: list[read_model_status.ReadModelStatus] = field(default_factory=list)
    #: what could not be read, said in a few words (the rest is still shown)
    problems: list[str] = field(default_factory=list)
    #: role -> source partition -> dead letters (absent: too many to split, or unread)
    letters: dict[str, dict[int, int]] = field(default_factory=dict)
    #: role -> its recent history, oldest first, while the page has been watched
    history: dict[str, list[Point]] = field(default_factory=dict)


@dataclass(frozen=True)
class Point:
    """One role at one snapshot: what the operations page draws over time."""

    at: float  # unix time
    behind_s: float
    lag: int
    events_per_s: float


#: How far back the operations page's charts reach (while it is watched).
HISTORY_S = 600.0


def remember(history: dict[str, deque[Point]], snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with its roles' points added to ``history`` (older than
    :data:`HISTORY_S` dropped), and that history attached."""
    now = snapshot.taken_at.timestamp()
    for role in snapshot.roles:
        points = history.setdefault(role.role, deque())
        points.append(Point(now, role.behind_s, role.lag, role.events_per_s))
        while points and now - points[0].at > HISTORY_S:
            points.popleft()
    return replace(snapshot, history={role: list(points) for role, points in history.items()})


def sparkline(values: list[float], width: int = 240, height: int = 36) -> str:
    """SVG polyline points for ``values`` (left: oldest), scaled to the largest; a flat
    line at the bottom when all are 0. No charting library: a few points a role."""
    if not values:
        return ""
    top = max(values) or 1.0
    step = width / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}" for i, v in enumerate(values)
    )


def by_partition(letters: list[dlq.Letter]) -> dict[int, int]:
    """Dead letters counted by the partition of the record they stand for."""
    counts: dict[int, int] = {}
    for letter in letters:
        partition = letter.record.get("partition")
        if isinstance(partition, int):
            counts[partition] = counts.get(partition, 0) + 1
    return counts


#: (topic prefix, role) -> (dead letters when counted, their split): the topic only grows,
#: so the split is read again only when its total changed.
_split: dict[tuple[str, str], tuple[int, dict[int, int]]] = {}


def _letters(settings: Settings, roles: list[status.RoleStatus]) -> dict[str, dict[int, int]]:
    found: dict[str, dict[int, int]] = {}
    for role in roles:
        if not 0 < role.dead_letters <= LETTERS_BY_PARTITION_MAX:
            if role.dead_letters == 0:
                found[role.role] = {}
            continue
        key = (settings.topic_prefix, role.role)
        counted = _split.get(key)
        if counted is None or counted[0] != role.dead_letters:
            counted = (role.dead_letters, by_partition(dlq.read(settings, role.role)))
            _split[key] = counted
        found[role.role] = counted[1]
    return found


def take(settings: Settings) -> Snapshot:
    """One snapshot, as `eventcart status` reads it; never raises for a store that is down."""
    problems = []
    roles: list[status.RoleStatus] = []
    try:
        roles = status.collect(settings, settings.console_status_sample_s)
    except Exception as exc:
        problems.append(f"Kafka: {type(exc).__name__}: {exc}")
    letters: dict[str, dict[int, int]] = {}
    try:
        letters = _letters(settings, roles)
    except Exception as exc:
        problems.append(f"dead letters by partition: {type(exc).__name__}")
    health = {
        role: found for role in PROJECTIONS if (found := store_health(settings, role)) is not None
    }
    models: list[read_model_status.ReadModelStatus] = []
    try:
        # As the read-only role, like every other read of the console: on the secured
        # stack the query API is given no other PostgreSQL login.
        as_reader = settings.model_copy(update={"postgres_dsn": SecretStr(reader_dsn(settings))})
        models = read_model_status.collect(as_reader)
    except Exception as exc:
        problems.append(f"read model versions: {type(exc).__name__}")
    return Snapshot(datetime.now(UTC), roles, health, models, problems, letters)


class Watch:
    """Samples with ``take`` in one daemon thread while snapshots are asked for."""

    def __init__(
        self,
        settings: Settings,
        take: Callable[[Settings], Snapshot] = take,
        idle_s: float = IDLE_S,
    ) -> None:
        self._settings = settings
        self._take = take
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._fresh = threading.Condition(self._lock)
        self._latest: Snapshot | None = None
        self._asked = 0.0
        self._running = False
        self._history: dict[str, deque[Point]] = {}

    def latest(self, timeout_s: float = 30.0) -> Snapshot | None:
        """The newest snapshot; the first call waits (up to timeout_s) for one."""
        with self._lock:
            self._asked = time.monotonic()
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="console-status", daemon=True).start()
            if self._latest is None:
                self._fresh.wait_for(lambda: self._latest is not None, timeout_s)
            return self._latest

    def _run(self) -> None:
        while True:
            snapshot = remember(self._history, self._take(self._settings))
            with self._lock:
                self._latest = snapshot
                self._fresh.notify_all()
                if time.monotonic() - self._asked > self._idle_s:
                    self._running = False
                    self._latest = None  # an old snapshot is no answer for the next viewer
                    self._history.clear()  # nor a history with a hole in it
                    return


def message(event: str, text: str) -> bytes:
    """One Server-Sent Event: each line of text its own ``data:`` line (the browser
    joins them again with newlines)."""
    data = "".join(f"data: {line}\n" for line in _LINE_END.split(text))
    return f"event: {event}\n{data}\n".encode()


async def pushed(
    latest: Callable[[], Snapshot | None],
    render: Callable[[Snapshot | None], str],
    is_disconnected: Callable[[], Awaitable[bool]],
    every_s: float = PUSH_S,
) -> AsyncIterator[bytes]:
    """``event: operations`` with the rendered panel, at once and then every every_s,
    until the client is gone. latest blocks (the first snapshot is waited for): it runs
    in a thread; asking for it keeps the sampler running."""
    due = time.monotonic()
    while not await is_disconnected():
        snapshot = await anyio.to_thread.run_sync(latest)
        if await is_disconnected():
            return
        yield message("operations", render(snapshot))
        due = max(due + every_s, time.monotonic())  # a slow round delays, never bunches
        await anyio.sleep(due - time.monotonic())
