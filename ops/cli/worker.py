"""`eventcart worker`: the stream processing roles (the processor and the projections)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from ops import supervise, topics
from ops.stack import principals, secured
from schemas.config import preflight
from schemas.config.settings import get_settings

app = typer.Typer()


def _role_environment(role: str) -> dict[str, str] | None:
    """On the secured stack each role logs in as its own principal, with only its own
    credentials (``ops.stack.principals``); elsewhere it inherits this environment."""
    settings = get_settings()
    if not (settings.stack_secure and secured.credentials_file(settings).exists()):
        return None
    return secured.process_environment(settings, principals.principal_of_role(role).name)


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
            help="unique per running worker (default 0): names the processor's transactional "
            "id, its static group membership and its local state folder",
        ),
    ] = None,
) -> None:
    """Run the stream roles until SIGTERM or Ctrl-C.

    Each role is its own process and consumer group: several workers (on this
    machine with distinct --worker-id, or on others) share the partitions of a
    role. A role that crashes is started again (backoff up to 30 s). On
    SIGTERM the batch in flight is finished and committed. The worker id must
    be unique among running workers: it names the processor's transactional
    id and static group membership, so a second worker with the same id
    fences the first.
    """
    from read_models.registry import READ_MODELS
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
    # Before any child starts: a refused login is fatal, never retried as an outage.
    stores = {model.store for model in READ_MODELS if model.role in roles}
    preflight.check(
        get_settings(),
        kafka=True,
        elasticsearch="Elasticsearch" in stores,
        postgres="PostgreSQL" in stores,
    )
    if len(roles) == 1:
        sys.argv = [sys.argv[0], "worker"]  # Faust's worker reads argv; give it nothing of ours
        topics.create(get_settings())  # idempotent; a worker never waits for an operator
        stream_worker.run(roles[0], get_settings())
        return
    # Several roles: one child process each, restarted if it dies.
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(levelname)s] %(message)s")
    children = [
        supervise.Child(
            role,
            [sys.executable, "-m", "ops.cli", "worker", "--only", role],
            env=_role_environment(role),
        )
        for role in roles
    ]
    raise typer.Exit(supervise.supervise(children))
