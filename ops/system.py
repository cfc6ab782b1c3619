"""The whole system on one machine: the stack, topics, schema, a worker and both APIs.

`eventcart up` is the README's main job: idempotent, so a second run finds
everything running and the demo catalog loaded, and only prints the tour.
The worker and the APIs run detached like the stack's services, with pid
files and logs in EVENTCART_HOME; `eventcart down` stops them and the stack.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ops import topics
from ops.stack import process, secured
from ops.stack.errors import StackError
from read_models.pricing.migrate import migrate
from read_models.search import client as es_client
from read_models.search.index import ensure_index
from read_models.search.positions import ensure_positions_index
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings


@dataclass(frozen=True)
class AppProcess:
    """One long-running eventcart process (the worker, or an API), and the principal it
    logs in as on the secured stack (None: the administrator's; the worker hands each
    of its roles its own, ``ops.cli.worker``)."""

    name: str
    args: list[str]
    health_url: str | None
    principal: str | None = None

    def environment(self, settings: Settings) -> dict[str, str]:
        if settings.stack_secure and self.principal is not None:
            return secured.process_environment(settings, self.principal)
        return dict(os.environ)

    def pidfile(self, settings: Settings) -> Path:
        return settings.home / "run" / f"{self.name}.pid"

    def log_file(self, settings: Settings) -> Path:
        return settings.home / "logs" / f"{self.name}.log"


def app_processes(settings: Settings) -> list[AppProcess]:
    # The command API's principal may not read the read models, which comparing an
    # uploaded feed needs: on the secured stack feeds go through `eventcart import`.
    imports = "--no-imports" if settings.stack_secure else "--imports"
    return [
        AppProcess("worker", ["worker"], None),
        AppProcess(
            "command-api",
            ["api", "commands", imports],
            f"http://127.0.0.1:{settings.command_api_port}/healthz",
            principal="commands",
        ),
        AppProcess(
            "query-api",
            ["api", "queries"],
            f"http://127.0.0.1:{settings.query_api_port}/healthz",
            principal="queries",
        ),
        # Lag as time from Kafka, for Prometheus: a stopped worker cannot report its own.
        # Not awaited: each of its scrapes reads Kafka for a second.
        AppProcess("exporter", ["exporter"], None),
    ]


def prepare(settings: Settings, say: Callable[[str], None]) -> None:
    """What only an operator may do, before the roles start: the topics, the pricing
    schema's migrations, the search index and its positions. On the secured stack
    the roles' own logins may not (``ops.stack.principals``); elsewhere they could,
    and doing it once here keeps their start short."""
    topics.create(settings)
    with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
        applied = migrate(conn, settings.pricing_schema)
    say(f"pricing schema: {', '.join(applied) or 'up to date'}")
    es = es_client.connect(settings, request_timeout=30)
    try:
        say(f"search index: {ensure_index(es, alias=settings.search_index)}")
        ensure_positions_index(es, settings.search_index)
    finally:
        es.close()


def start(settings: Settings, say: Callable[[str], None]) -> None:
    """Start the processes that are not running; wait for the APIs to answer."""
    for app in app_processes(settings):
        if process.read_pid(app.pidfile(settings)) is not None:
            say(f"{app.name}: already running")
            continue
        process.spawn(
            [sys.executable, "-m", "ops.cli", *app.args],
            log_file=app.log_file(settings),
            pidfile=app.pidfile(settings),
            cwd=Path.cwd(),
            env=app.environment(settings),
        )
        say(f"{app.name}: started (log: {app.log_file(settings)})")
    for app in app_processes(settings):
        if app.health_url is None:
            continue
        healthy = app.health_url
        process.wait_until(
            app.name,
            lambda url=healthy: process.answers_http(url),  # type: ignore[misc]
            pidfile=app.pidfile(settings),
            log_file=app.log_file(settings),
            timeout_s=60,
        )


def stop(settings: Settings) -> list[str]:
    return [app.name for app in app_processes(settings) if process.stop(app.pidfile(settings))]


def wait_for_worker(settings: Settings, timeout_s: float = 120.0) -> None:
    """Block until the processor answers a command (its group has joined and recovered)."""
    from producers import commands as c
    from producers.client import CommandClient, CommandTimeoutError

    deadline = time.monotonic() + timeout_s
    with CommandClient(settings) as client:
        while True:
            try:
                client.send(
                    c.register_product("HEALTH-PROBE", "health probe", command_id="health-probe"),
                    10,
                )
                return
            except CommandTimeoutError:
                if time.monotonic() > deadline:
                    raise StackError(
                        "worker",
                        "the command processor does not answer",
                        process.tail(settings.home / "logs" / "worker.log"),
                    ) from None
