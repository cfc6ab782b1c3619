"""Bringing the whole local stack up and down, the same way for every service."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ops.stack import grants, secured
from ops.stack.elasticsearch import Elasticsearch
from ops.stack.errors import StackError
from ops.stack.jaeger import Jaeger
from ops.stack.kafka import Kafka
from ops.stack.monitoring import Alertmanager, Prometheus
from ops.stack.postgres import Postgres
from ops.stack.postgres_replica import PostgresReplica
from ops.stack.service import Service, Status
from schemas.config.settings import Settings


def services(settings: Settings) -> list[Service]:
    """The stack, in start order (secured with ``EVENTCART_STACK_SECURE``: each service
    gets the generated credentials, see ``ops.stack.secured``; Prometheus and
    Alertmanager with ``EVENTCART_STACK_MONITORING``; Jaeger with
    ``EVENTCART_STACK_TRACING``; a PostgreSQL replica with
    ``EVENTCART_STACK_POSTGRES_REPLICA``)."""
    settings = secured.stack_settings(settings)
    brokers = [Kafka(settings, node) for node in range(1, settings.kafka_brokers + 1)]
    # Monitoring when asked for, or when it runs (so a plain `down` stops it too).
    watching: list[Service] = [
        svc
        for svc in (Prometheus(settings), Alertmanager(settings))
        if settings.stack_monitoring or svc.pid() is not None
    ]
    tracing = Jaeger(settings)
    if settings.stack_tracing or tracing.pid() is not None:
        watching.append(tracing)
    replica = PostgresReplica(settings)
    replicas = [replica] if settings.stack_postgres_replica or replica.pid() is not None else []
    nodes = [Elasticsearch(settings, n) for n in range(1, settings.elasticsearch_nodes + 1)]
    return [*brokers, *nodes, Postgres(settings), *replicas, *watching]


def pick(settings: Settings, names: Iterable[str] | None) -> list[Service]:
    """The named services, or all; an unknown name is a StackError naming the known ones."""
    every = services(settings)
    if not names:
        return every
    by_name = {svc.name: svc for svc in every}
    chosen = []
    for name in names:
        if name in ("kafka", "elasticsearch") and name not in by_name:  # a cluster: every node
            chosen += [svc for svc in every if svc.name.startswith(f"{name}-")]
            continue
        if name not in by_name:
            raise StackError(name, f"unknown service; choose from {', '.join(by_name)}")
        chosen.append(by_name[name])
    return chosen


@dataclass
class UpReport:
    """What `up` did, so a second `up` can say it changed nothing."""

    started: list[str] = field(default_factory=list)
    already_up: list[str] = field(default_factory=list)
    seconds: float = 0.0


def up(
    settings: Settings,
    names: Iterable[str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> UpReport:
    """Install (once) and start every service that is not up, then wait for all to be healthy.

    Services start concurrently and are then awaited one by one, so the total
    time is that of the slowest (Elasticsearch), not the sum.
    """
    began = time.monotonic()
    report = UpReport()
    starting: list[Service] = []
    try:
        for svc in pick(settings, names):
            if svc.pid() is not None and svc.healthy():
                report.already_up.append(svc.name)
                continue
            if svc.pid() is not None:
                # Ours, but not answering: a half-dead process; restart it cleanly.
                say(f"{svc.name}: running but not healthy, restarting")
                svc.stop()
            if not svc.installed():
                say(f"{svc.name}: installing {svc.version} (first time only, cached afterwards)")
            svc.start()
            say(f"{svc.name}: starting on 127.0.0.1:{svc.port}")
            starting.append(svc)
        for svc in starting:
            svc.wait()
            report.started.append(svc.name)
            say(f"{svc.name}: healthy")
    except StackError:
        for svc in starting:
            if svc.name not in report.started:
                svc.stop()
        raise
    if settings.stack_secure:
        grant(settings, [*report.started, *report.already_up])
    report.seconds = time.monotonic() - began
    return report


def grant(settings: Settings, running: Iterable[str]) -> None:
    """Every role's login and rights for this deployment (its topic prefix and index)
    on the running secured stores (``ops.stack.principals``); idempotent. PostgreSQL's
    roles come with its start, their schema rights with each migration."""
    secure = secured.stack_settings(settings)
    made = secured.passwords(settings)
    names = set(running)
    if names & {"kafka", "kafka-1"}:
        grants.grant_kafka(secure, made)
    nodes = [svc for svc in services(settings) if isinstance(svc, Elasticsearch)]
    if any(node.name in names for node in nodes):
        grants.grant_elasticsearch(secure, made, nodes)


def down(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Stop the services (in reverse order); returns the names that were running."""
    return [svc.name for svc in reversed(pick(settings, names)) if svc.stop()]


def status(settings: Settings) -> list[Status]:
    return [svc.status() for svc in services(settings)]


def reset(settings: Settings, names: Iterable[str] | None = None) -> None:
    """Stop and wipe the data of the services; the download cache stays."""
    chosen = pick(settings, names)
    replica = PostgresReplica(settings)
    if names is None or any(svc.name == "postgres" for svc in chosen):
        # A copy of the primary must go with it: a new primary cannot feed an old copy.
        chosen = [*chosen, replica] if all(s.name != replica.name for s in chosen) else chosen
    for svc in reversed(chosen):
        svc.stop()
        shutil.rmtree(svc.home, ignore_errors=True)
        svc.log_file.unlink(missing_ok=True)
