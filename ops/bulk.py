"""Sending many commands with a progress bar and a summary (bulk files, the demo catalog)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from producers.client import CommandClient, CommandTimeoutError
from producers.results import CommandResult
from schemas.errors import ContractError


@dataclass
class BulkOutcome:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def all_accepted(self) -> bool:
        return not set(self.counts) - {"accepted", "sent"}

    def summary(self) -> str:
        return ", ".join(f"{count} {what}" for what, count in sorted(self.counts.items()))

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)


def send_all(
    client: CommandClient,
    items: Iterable[tuple[str, dict[str, Any] | None, str]],
    total: int,
    *,
    console: Console,
    description: str = "sending",
    no_wait: bool = False,
    window: int = 20_000,
    timeout_s: float = 120.0,
    each: Callable[[str, str, str], None] | None = None,
) -> BulkOutcome:
    """Send (where, command or None, problem) items; bounded in flight; count the answers.

    ``where`` names an item in problem reports (e.g. "line 12"). Progress
    advances as answers arrive (as commands are sent with ``no_wait``).
    ``each(where, outcome, message)`` hears every item's outcome: a per-item report.
    """
    outcome = BulkOutcome()

    def note(where: str, key: str, message: str = "") -> None:
        outcome.counts[key] += 1
        if message:
            outcome.problem(f"{where}: {message}")
        if each is not None:
            each(where, key, message)

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f}/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(description, total=total, rate=0.0)

        def advance() -> None:
            progress.advance(task)
            elapsed = progress.tasks[task].elapsed or 0.0
            progress.update(task, rate=progress.tasks[task].completed / max(elapsed, 1e-6))

        in_flight: list[tuple[str, Future[CommandResult]]] = []

        def settle(where: str, future: Future[CommandResult]) -> None:
            try:
                result = future.result(timeout=timeout_s)
            except (CommandTimeoutError, TimeoutError):
                note(where, "timeout", f"no answer within {timeout_s} s")
                return
            finally:
                advance()
            if result.accepted:
                note(where, "accepted")
            else:
                note(where, f"rejected: {result.reason}", f"{result.reason}: {result.message}")

        for where, command, problem in items:
            if command is None:
                note(where, "invalid", problem)
                advance()
                continue
            try:
                if no_wait:
                    client.send_nowait(command)
                    note(where, "sent")
                    advance()
                    continue
                in_flight.append((where, client.submit(command)))
            except ContractError as exc:
                note(where, "invalid", f"{exc.field}: {exc.message} (rule: {exc.rule})")
                advance()
                continue
            while len(in_flight) >= window or (in_flight and in_flight[0][1].done()):
                settle(*in_flight.pop(0))
        client.flush()
        for where, future in in_flight:
            settle(where, future)
    return outcome
