"""`eventcart worker`: the stream processing roles (the Faust apps)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Annotated

import typer

from ops.settings import get_settings

app = typer.Typer()


def worker(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="run only this role (repeatable): command-processor, search-projection, "
            "pricing-projection (or processor, search, pricing)",
        ),
    ] = None,
    worker_id: Annotated[
        str | None,
        typer.Option(
            "--worker-id",
            help="distinguishes workers on one machine (their table folders); default 0",
        ),
    ] = None,
) -> None:
    """Run the stream roles until SIGTERM or Ctrl-C.

    Each role is its own Faust app with its own consumer group: several workers
    (on this machine with distinct --worker-id, or on others) share the
    partitions of a role. On SIGTERM the batch in flight is finished, the
    producer flushed and the offsets committed.
    """
    from streams import worker as stream_worker

    if worker_id is not None:
        os.environ["EVENTCART_WORKER_ID"] = worker_id
        get_settings.cache_clear()
    roles = [stream_worker.ALIASES.get(role, role) for role in only or stream_worker.ROLES]
    unknown = [role for role in roles if role not in stream_worker.ROLES]
    if unknown:
        typer.echo(
            f"unknown role {', '.join(unknown)}; choose from {', '.join(stream_worker.ROLES)}"
        )
        raise typer.Exit(2)
    if len(roles) == 1:
        sys.argv = [sys.argv[0], "worker"]  # Faust's worker reads argv; give it nothing of ours
        stream_worker.run(roles[0], get_settings())
        return
    # Several roles: one process each, so each Faust app has its own event loop.
    children = [
        subprocess.Popen([sys.executable, "-m", "ops.cli", "worker", "--only", role])
        for role in roles
    ]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    raise typer.Exit(max(codes))
