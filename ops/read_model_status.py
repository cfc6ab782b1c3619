"""Which version of each read model is live, what a replay left behind, and a running
replay with its progress: what `eventcart status` prints under its table and the web
console's operations page shows, read in one place so the two never disagree."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ops.replay_lock import replay_running
from read_models.read_model import ReadModel
from read_models.registry import READ_MODELS
from schemas.config.settings import Settings
from streams import event_log


@dataclass(frozen=True)
class ReplayProgress:
    """How far a running rebuild has read the events topic."""

    done: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0


@dataclass(frozen=True)
class ReadModelStatus:
    name: str
    #: what readers see now, e.g. "alias products -> products_v2" or "schema pricing version 2"
    live: str
    #: older versions a replay kept (until `eventcart replay --drop-old`)
    kept: list[str]
    #: who runs a replay of it now (any host), or None
    replay: str | None
    #: the running replay's build progress, when one is under way
    progress: ReplayProgress | None = None


def progress_of(built: dict[int, int], ends: dict[int, tuple[int, int]]) -> ReplayProgress:
    """Events a build has applied out of the topic's events now (per partition, from its
    first offset). Pure, so the arithmetic is tested without a replay."""
    done = total = 0
    for partition, (low, high) in ends.items():
        total += max(0, high - low)
        if partition in built:
            done += max(0, min(high, built[partition] + 1) - low)
    return ReplayProgress(done, total)


def _progress(settings: Settings, model: ReadModel) -> ReplayProgress | None:
    built = model.rebuild.built_so_far(settings)
    return progress_of(built, event_log.end_offsets(settings)) if built else None


def collect(settings: Settings) -> list[ReadModelStatus]:
    """Every read model's versions and replays. Raises when a store cannot be read (the
    caller says so in its own words); every statement is bounded, so it never hangs."""
    found = []
    for model in READ_MODELS:
        live, old = model.describe_live(settings), model.rebuild.old_versions(settings)
        try:
            running = replay_running(settings, model.name)
        except psycopg.Error as exc:
            running = f"unknown: {type(exc).__name__}"
        progress = _progress(settings, model) if running else None
        found.append(ReadModelStatus(model.name, live, old, running, progress))
    return found
