"""`eventcart replay`: rebuild a read model from the topic beside the live one, then switch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import psycopg
import typer
from elasticsearch import ApiError, TransportError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ops.replay import pricing, repair, search
from ops.replay.lock import ReplayLock, ReplayLockLostError, ReplayRunningError, replay_lock
from schemas import preflight
from schemas.position_token import parse_token
from schemas.settings import Settings, get_settings
from streams import event_log

console = Console(soft_wrap=True)
PROJECTIONS = ("search", "pricing")


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
            "--from-timestamp", help="repair: replay into the LIVE version from this instant"
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
    chosen = list(PROJECTIONS) if projection == "all" else [projection]
    if any(p not in PROJECTIONS for p in chosen):
        console.print(f"[red]error[/] unknown read model {projection!r}: search, pricing or all")
        raise typer.Exit(2)
    if from_offset is not None or from_timestamp is not None:
        for name in chosen:
            try:
                with replay_lock(settings, name):
                    _repair(settings, name, from_offset, from_timestamp)
            except ReplayRunningError as exc:
                console.print(f"[red]refused[/] {exc}")
                raise typer.Exit(1) from None
            except ValueError as exc:
                console.print(f"[red]error[/] {exc}")
                raise typer.Exit(2) from None
        return
    if drop_old:
        for name in chosen:
            module = search if name == "search" else pricing
            dropped = module.drop_old(settings)
            console.print(f"{name}: dropped {', '.join(dropped) if dropped else 'nothing'}")
        return
    for name in chosen:
        try:
            with replay_lock(settings, name) as lock:
                rebuild(settings, name, lock, dry_run)
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


def _repair(settings: Settings, name: str, offset: str | None, when: datetime | None) -> None:
    ends = event_log.end_offsets(settings)
    if when is not None:
        moment = when if when.tzinfo else when.astimezone()
        start = event_log.offsets_for_time(settings, int(moment.timestamp() * 1000))
    elif offset is not None and offset.isdigit():
        start = {p: int(offset) for p in ends}
    else:
        start = {p: o for p, o in parse_token(offset or "").items()}
    plan = _RepairPlan(start, {p: high for p, (_, high) in ends.items()})
    console.print(
        f"{name}: repairing the live version from {start}: {plan.events:,} events to read"
    )
    bars, progress = _progress_bars(plan)
    with bars:
        report = repair.repair(settings, name, start, progress)
    console.print(
        f"{name}: {report.applied:,} applied, {report.skipped:,} already there, "
        f"{report.dead_lettered} dead-lettered"
    )


class _RepairPlan:
    def __init__(self, start: dict[int, int], end: dict[int, int]) -> None:
        self.start, self.end = start, end

    @property
    def events(self) -> int:
        return sum(max(0, self.end[p] - self.start.get(p, 0)) for p in self.end)


def rebuild(settings: Settings, name: str, lock: ReplayLock, dry_run: bool = False) -> None:
    """Build read model ``name`` (search or pricing) anew beside the live one and switch,
    under ``lock`` (confirmed still held right before the switch)."""
    if name == "search":
        s_plan = search.plan(settings)
        console.print(
            f"search: alias {s_plan.alias} -> {s_plan.live_index} (live); build {s_plan.new_index}"
            f"{' (resuming)' if s_plan.resumed else ''}: {s_plan.events:,} events to read"
        )
        if dry_run:
            return
        bars, progress = _progress_bars(s_plan)
        with bars:
            applied, failed = search.build(settings, s_plan, progress)
        console.print(f"search: built ({applied:,} applied, {failed} dead letters); switching")
        lock.confirm()
        old = search.switch_over(settings, s_plan, lambda *_: None)
        console.print(
            f"search: alias {s_plan.alias} -> {s_plan.new_index}; {old} kept until --drop-old"
        )
        return
    p_plan = pricing.plan(settings)
    console.print(
        f"pricing: schema {p_plan.live_schema} (version {p_plan.live_version}, live); build "
        f"{p_plan.new_schema}{' (resuming)' if p_plan.resumed else ''}: {p_plan.events:,} events to read"
    )
    if dry_run:
        return
    bars, progress = _progress_bars(p_plan)
    with bars:
        applied, failed = pricing.build(settings, p_plan, progress)
    console.print(f"pricing: built ({applied:,} applied, {failed} dead letters); switching")
    lock.confirm()
    old = pricing.switch(settings, p_plan, lambda *_: None)
    console.print(
        f"pricing: schema {p_plan.live_schema} is now version {p_plan.live_version + 1}; "
        f"the previous one is {old}, kept until --drop-old"
    )
