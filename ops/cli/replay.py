"""`eventcart replay`: rebuild a read model from the topic beside the live one, then switch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import psycopg
import typer
from elasticsearch import ApiError, TransportError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ops.replay_lock import ReplayLock, ReplayLockLostError, ReplayRunningError, replay_lock
from read_models.read_model import ReadModel
from read_models.registry import READ_MODELS, by_name, names
from schemas.config import preflight
from schemas.config.settings import Settings, get_settings
from schemas.position_token import parse_token
from streams import event_log, rebuild

console = Console(soft_wrap=True)


def _progress_bars(the_plan: Any) -> tuple[Progress, Any]:
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f} events/s"),
        TimeRemainingColumn(),
        console=console,
    )
    tasks = {
        p: bars.add_task(
            f"partition {p}", total=max(0, the_plan.end[p] - the_plan.start.get(p, 0)), rate=0.0
        )
        for p in sorted(the_plan.end)
    }
    done: dict[int, int] = {}

    def progress(batch: event_log.Batch, _applied: int, _failed: int) -> None:
        for partition, offset in batch.reached.items():
            task = tasks.get(partition)
            if task is None:
                continue
            start = the_plan.start.get(partition, 0)
            new = offset + 1 - start
            bars.advance(task, new - done.get(partition, 0))
            done[partition] = new
            elapsed = bars.tasks[task].elapsed or 0.0
            bars.update(task, rate=bars.tasks[task].completed / max(elapsed, 1e-6))

    return bars, progress


def replay(
    projection: Annotated[str, typer.Argument(help="search, pricing or all")] = "all",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be built")] = False,
    drop_old: Annotated[
        bool, typer.Option("--drop-old", help="only drop the versions a replay left behind")
    ] = False,
    from_offset: Annotated[
        str | None,
        typer.Option(
            "--from-offset",
            help="repair: replay into the LIVE version from this offset (N for every partition, "
            "or a position token p:o,p:o)",
        ),
    ] = None,
    from_timestamp: Annotated[
        datetime | None,
        typer.Option(
            "--from-timestamp",
            help="repair: replay into the LIVE version from this instant "
            "(2026-12-01T09:30:00+01:00; without an offset, local time)",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
        ),
    ] = None,
) -> None:
    """Rebuild a read model from the product events topic, with no downtime.

    Builds version N+1 beside the live one (Elasticsearch: a new index behind a
    build alias, in bulk mode; PostgreSQL: a new schema migrated to the current
    DDL), with its own consumer from the start of the topic and the same
    projection code as the live workers, until it has caught up with the end of
    the topic; then switches atomically (the alias moves in one request; the
    schemas swap names in one transaction) and the live projection continues on
    the new version from the right position. Interrupted (Ctrl-C, kill -9)? Run
    it again: it resumes. The old version stays until `--drop-old`.
    """
    settings = get_settings()
    preflight.check(settings, kafka=True, elasticsearch=True, postgres=True)
    try:
        chosen = list(READ_MODELS) if projection == "all" else [by_name(projection)]
    except ValueError:
        console.print(
            f"[red]error[/] unknown read model {projection!r}: {', '.join(names())} or all"
        )
        raise typer.Exit(2) from None
    if from_offset is not None or from_timestamp is not None:
        for model in chosen:
            try:
                with replay_lock(settings, model.name):
                    _repair(settings, model, from_offset, from_timestamp)
            except ReplayRunningError as exc:
                console.print(f"[red]refused[/] {exc}")
                raise typer.Exit(1) from None
            except ValueError as exc:
                console.print(f"[red]error[/] {exc}")
                raise typer.Exit(2) from None
        return
    if drop_old:
        for model in chosen:
            dropped = model.rebuild.drop_old(settings)
            console.print(f"{model.name}: dropped {', '.join(dropped) if dropped else 'nothing'}")
        return
    for model in chosen:
        name = model.name
        try:
            with replay_lock(settings, model.name) as lock:
                rebuild_one(settings, model, lock, dry_run)
        except ReplayRunningError as exc:
            console.print(f"[red]refused[/] {exc}")
            raise typer.Exit(1) from None
        except ReplayLockLostError as exc:
            console.print(f"[red]stopped[/] {exc}")
            raise typer.Exit(1) from None
        except (ApiError, TransportError, psycopg.Error) as exc:
            # A store lost mid-build or mid-switch: the build keeps what it wrote and
            # a switch is all or nothing, so running it again resumes.
            console.print(
                f"[red]stopped[/] {name}: a store went away ({type(exc).__name__}: "
                f"{str(exc)[:200]}); run `eventcart replay {name}` again to resume"
            )
            raise typer.Exit(1) from None


def _repair(
    settings: Settings, model: ReadModel, offset: str | None, when: datetime | None
) -> None:
    ends = event_log.end_offsets(settings)
    if when is not None:
        moment = when if when.tzinfo else when.astimezone()
        start = event_log.offsets_for_time(settings, int(moment.timestamp() * 1000))
    elif offset is not None and offset.isdigit():
        start = {p: int(offset) for p in ends}
    else:
        start = {p: o for p, o in parse_token(offset or "").items()}
    plan = _RepairPlan(start, {p: high for p, (_, high) in ends.items()})
    name = model.name
    console.print(
        f"{name}: repairing the live version from {start}: {plan.events:,} events to read"
    )
    bars, progress = _progress_bars(plan)
    with bars:
        report = rebuild.repair(settings, model, start, progress)
    console.print(
        f"{name}: {report.applied:,} written (the store lacked them), "
        f"{report.skipped:,} already held by the store, {report.dead_lettered} dead-lettered"
    )


class _RepairPlan:
    def __init__(self, start: dict[int, int], end: dict[int, int]) -> None:
        self.start, self.end = start, end

    @property
    def events(self) -> int:
        return sum(max(0, self.end[p] - self.start.get(p, 0)) for p in self.end)


def rebuild_one(
    settings: Settings, model: ReadModel, lock: ReplayLock, dry_run: bool = False
) -> None:
    """Build ``model`` anew beside the live version and switch, under ``lock`` (confirmed
    still held right before the switch)."""
    name = model.name
    plan = rebuild.plan(settings, model)
    console.print(
        f"{name}: {model.describe_live(settings)} (live); build {plan.new}"
        f"{' (resuming)' if plan.resumed else ''}: {plan.events:,} events to read"
    )
    if dry_run:
        return
    bars, progress = _progress_bars(plan)
    with bars:
        built = rebuild.build(settings, model, plan, progress)
    console.print(
        f"{name}: built ({built.applied:,} applied, {built.dead_lettered} dead letters); switching"
    )
    lock.confirm()
    old = rebuild.switch(settings, model, plan, lambda *_: None)
    console.print(
        f"{name}: {model.describe_live(settings)}; the previous version is {old}, kept until "
        "--drop-old"
    )
