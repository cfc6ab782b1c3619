"""A store killed under a running replay: during the build, and at the switch.

Elasticsearch is killed with -9 while a search rebuild builds; PostgreSQL is
killed with -9 the moment a pricing rebuild says it is switching (its schemas
swap in one transaction). Either the replay waits the store out and finishes,
or it stops with an error and, run again, resumes; the switch is all or
nothing (the live schema is the complete old version or the complete new one);
the live projections continue by themselves; at the end both read models equal
the fold of the log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psycopg
import pytest

from ops.stack import manager
from producers import commands as c
from producers.client import CommandClient
from read_models.pricing import model_version as pricing_model
from schemas.config.settings import Settings
from tests.fixtures.oracle import assert_read_models_equal_oracle, traffic
from tests.fixtures.workers import SKIP_IN_CONTAINERS, cli, settings_env

SKUS = [f"RF-{i}" for i in range(40)]


@pytest.fixture(scope="module")
def client(
    module_settings: Settings, settings: Settings, system_client: CommandClient
) -> Iterator[CommandClient]:
    if settings.testcontainers:
        pytest.skip(SKIP_IN_CONTAINERS)
    system_client.send_batch([c.register_product(s, f"Product {s}") for s in SKUS])
    system_client.send_batch(traffic(SKUS, 3000, seed=51))
    assert_read_models_equal_oracle(module_settings, SKUS)
    yield system_client


def kill9(settings: Settings, name: str) -> None:
    """kill -9 of a service and every process under it."""
    (service,) = manager.pick(settings, [name])
    pid = service.pid()
    assert pid is not None
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    for member in [pid, *(int(p) for p in children.split())]:
        os.kill(member, signal.SIGKILL)


def replay(settings: Settings, projection: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "replay", projection],
        env=settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def until_line(proc: subprocess.Popen[str], text: str) -> list[str]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"the replay ended without printing {text!r}: {''.join(seen)}")


def finish(settings: Settings, proc: subprocess.Popen[str], projection: str) -> str:
    """Let the replay end; if the fault stopped it, run it again (it resumes)."""
    out, _ = proc.communicate(timeout=600)
    if proc.returncode == 0:
        return "finished by itself"
    assert "run `eventcart replay" in out and "Traceback" not in out, out
    again = cli(settings, "replay", projection)
    assert again.returncode == 0, again.stdout + again.stderr
    # It resumes from what the build had written, or (a store killed before it
    # persisted the build, e.g. an index loading with an async translog) starts over.
    how = "resumed" if "(resuming)" in again.stdout else "started the build over"
    return f"stopped ({out.strip().splitlines()[-1][:160]}); run again, it {how}"


@pytest.mark.long  # minutes: `make test-long`
def test_elasticsearch_killed_while_a_search_rebuild_builds(
    client: CommandClient, module_settings: Settings, settings: Settings
) -> None:
    proc = replay(module_settings, "search")
    until_line(proc, "events to read")
    kill9(settings, "elasticsearch")
    client.send_batch(traffic(SKUS, 200, seed=52))  # the write side does not need it
    time.sleep(2)
    manager.up(settings, ["elasticsearch"])
    how = finish(module_settings, proc, "search")
    client.send_batch(traffic(SKUS, 200, seed=53))
    assert_read_models_equal_oracle(module_settings, SKUS)
    print(f"\nElasticsearch killed during a search rebuild: the replay {how}")


def test_postgres_killed_at_the_pricing_switch(
    client: CommandClient, module_settings: Settings, settings: Settings
) -> None:
    dsn = module_settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn) as conn:
        before = pricing_model.build_of(conn, module_settings.pricing_schema).version
    proc = replay(module_settings, "pricing")
    until_line(proc, "switching")
    kill9(settings, "postgres")
    manager.up(settings, ["postgres"])
    with psycopg.connect(dsn) as conn:
        during = pricing_model.build_of(conn, module_settings.pricing_schema).version
    assert during in (before, before + 1)  # all or nothing
    how = finish(module_settings, proc, "pricing")
    with psycopg.connect(dsn) as conn:
        after = pricing_model.build_of(conn, module_settings.pricing_schema).version
    assert after == before + 1
    client.send_batch(traffic(SKUS, 200, seed=54))
    assert_read_models_equal_oracle(module_settings, SKUS)
    print(
        f"\nPostgreSQL killed at the pricing switch: live version {during} right after "
        f"(was {before}); the replay {how}"
    )
