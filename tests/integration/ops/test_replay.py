"""`eventcart replay` against the real services, with live traffic and queries running."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from elasticsearch import Elasticsearch
from psycopg import sql

from ops.replay_lock import ReplayLockLostError, replay_lock, replay_running
from producers import commands as c
from producers.client import CommandClient
from read_models.pricing import model_version as pricing_model
from read_models.search.index import alias_target
from schemas.config.settings import Settings
from tests.fixtures.load import wait_until
from tests.fixtures.oracle import assert_read_models_equal_oracle, traffic
from tests.fixtures.workers import settings_env

SKUS = [f"R-{i}" for i in range(40)]


@pytest.fixture(scope="module")
def client(module_settings: Settings, system_client: CommandClient) -> Iterator[CommandClient]:
    client = system_client
    client.send_batch([c.register_product(s, f"Replay product {s}", brand="Acme") for s in SKUS])
    client.send_batch(traffic(SKUS, 3000, seed=21))
    assert_read_models_equal_oracle(module_settings, SKUS)
    yield client


def eventcart(settings: Settings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *args],
        env=settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(settings: Settings, *args: str) -> str:
    proc = eventcart(settings, *args)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


class Readers:
    """Queries against both read models in a loop, counting failures and partial answers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self.done = 0
        self.problems: list[str] = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        es = Elasticsearch(self.settings.elasticsearch_url, request_timeout=30)
        query = sql.SQL("SELECT count(*) FROM {}.product WHERE sku LIKE 'R-%%'").format(
            sql.Identifier(self.settings.pricing_schema)
        )
        with psycopg.connect(
            self.settings.postgres_dsn.get_secret_value(), autocommit=True, prepare_threshold=None
        ) as conn:
            while not self.stop.is_set():
                try:
                    hits = es.count(
                        index=self.settings.search_index, query={"prefix": {"sku": "R-"}}
                    )["count"]
                    row = conn.execute(query).fetchone()
                    rows = row[0] if row else 0
                    if hits < len(SKUS) or rows < len(SKUS):
                        self.problems.append(f"partial read model: search {hits}, pricing {rows}")
                except Exception as exc:  # any failed query is a finding
                    self.problems.append(f"{type(exc).__name__}: {exc}")
                self.done += 1
                time.sleep(0.02)
        es.close()

    def __enter__(self) -> Readers:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)


def pricing_fingerprint(settings: Settings) -> str:
    digest = hashlib.sha256()
    with psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        for table in ("product", "current_price", "price_history", "stock", "scheduled_price"):
            rows = conn.execute(
                sql.SQL("SELECT * FROM {}.{} ORDER BY 1, 2").format(
                    sql.Identifier(settings.pricing_schema), sql.Identifier(table)
                )
                if table in ("current_price", "price_history", "scheduled_price")
                else sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(
                    sql.Identifier(settings.pricing_schema), sql.Identifier(table)
                )
            ).fetchall()
            digest.update(repr(rows).encode())
    return digest.hexdigest()


def search_fingerprint(settings: Settings, es: Elasticsearch) -> str:
    docs = es.search(index=settings.search_index, size=1000, sort=["sku"], query={"match_all": {}})
    return hashlib.sha256(repr([h["_source"] for h in docs["hits"]["hits"]]).encode()).hexdigest()


def test_dry_run_builds_nothing(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    out = run(module_settings, "replay", "all", "--dry-run")
    assert "events to read" in out
    assert alias_target(es, module_settings.search_index) == f"{module_settings.search_index}_v1"
    assert not es.indices.exists(index=f"{module_settings.search_index}_v2")


def test_search_rebuild_under_traffic_and_queries(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    with Readers(module_settings) as readers:
        writer = threading.Thread(target=lambda: client.send_batch(traffic(SKUS, 1500, seed=22)))
        writer.start()
        run(module_settings, "replay", "search")
        writer.join()
    assert readers.done > 10 and readers.problems == []
    assert alias_target(es, module_settings.search_index) == f"{module_settings.search_index}_v2"
    assert_read_models_equal_oracle(module_settings, SKUS)


def test_a_search_replay_leaves_pricing_untouched(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    before = pricing_fingerprint(module_settings)
    run(module_settings, "replay", "search")
    assert pricing_fingerprint(module_settings) == before
    assert alias_target(es, module_settings.search_index) == f"{module_settings.search_index}_v3"


def test_pricing_rebuild_under_traffic_and_queries(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    with Readers(module_settings) as readers:
        writer = threading.Thread(target=lambda: client.send_batch(traffic(SKUS, 1500, seed=23)))
        writer.start()
        run(module_settings, "replay", "pricing")
        writer.join()
    assert readers.done > 10 and readers.problems == []
    with psycopg.connect(module_settings.postgres_dsn.get_secret_value()) as conn:
        assert pricing_model.build_of(conn, module_settings.pricing_schema).version == 2
    assert_read_models_equal_oracle(module_settings, SKUS)


def test_a_pricing_replay_leaves_search_untouched(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    es.indices.refresh(index=module_settings.search_index)
    before = search_fingerprint(module_settings, es)
    run(module_settings, "replay", "pricing")
    es.indices.refresh(index=module_settings.search_index)
    assert search_fingerprint(module_settings, es) == before


def test_an_interrupted_replay_resumes(client: CommandClient, module_settings: Settings) -> None:
    client.send_batch(traffic(SKUS, 4000, seed=24))
    proc = eventcart(module_settings, "replay", "pricing")
    new_schema = f"{module_settings.pricing_schema}_v4"
    deadline = time.monotonic() + 120
    with psycopg.connect(module_settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            found = conn.execute("SELECT to_regclass(%s)", [f"{new_schema}.checkpoint"]).fetchone()
            if found and found[0]:
                done = conn.execute(
                    sql.SQL('SELECT coalesce(sum("offset"), 0) FROM {}.checkpoint').format(
                        sql.Identifier(new_schema)
                    )
                ).fetchone()
                if done and done[0] > 0:
                    break
            time.sleep(0.05)
    proc.kill()  # kill -9 in the middle of the build
    proc.wait()
    out = run(module_settings, "replay", "pricing")
    assert "(resuming)" in out
    assert_read_models_equal_oracle(module_settings, SKUS)


def test_a_second_replay_is_refused_from_another_home_until_the_first_dies(
    client: CommandClient, module_settings: Settings, tmp_path: Path
) -> None:
    """The lock lives in PostgreSQL, not in a file: a replay with another
    EVENTCART_HOME (as on another host) is refused and told who holds it; kill -9 of
    the holder frees it at once."""
    holder_home, other_home = tmp_path / "host-a", tmp_path / "host-b"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from ops.replay_lock import replay_lock\n"
            "from schemas.config.settings import get_settings\n"
            "with replay_lock(get_settings(), 'search'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n",
        ],
        env={**settings_env(module_settings), "EVENTCART_HOME": str(holder_home)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        other = {**settings_env(module_settings), "EVENTCART_HOME": str(other_home)}
        refused = subprocess.run(
            [sys.executable, "-m", "ops.cli", "replay", "search"],
            env=other,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 1
        assert "already running" in refused.stdout
        assert f"pid {holder.pid}" in refused.stdout
        assert f"pid {holder.pid}" in (replay_running(module_settings, "search") or "")
        # The other read model's lock is another lock.
        assert replay_running(module_settings, "pricing") is None
    finally:
        holder.kill()
        holder.wait()
    wait_until(
        lambda: replay_running(module_settings, "search") is None, 30, "lock freed after kill -9"
    )
    dry = subprocess.run(
        [sys.executable, "-m", "ops.cli", "replay", "search", "--dry-run"],
        env=other,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr


def test_a_replay_whose_lock_session_ended_does_not_switch(module_settings: Settings) -> None:
    with replay_lock(module_settings, "pricing") as lock:
        lock.confirm()
        with psycopg.connect(
            module_settings.postgres_dsn.get_secret_value(), autocommit=True
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'eventcart replay pricing%%' AND pid <> pg_backend_pid()"
            )
        with pytest.raises(ReplayLockLostError, match="run the replay again"):
            lock.confirm()
    assert replay_running(module_settings, "pricing") is None


def test_drop_old_and_status(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    status = eventcart(module_settings, "status", "--sample", "0.5")
    out, _ = status.communicate(timeout=120)
    assert f"alias {module_settings.search_index} -> {module_settings.search_index}_v3" in out
    assert "older versions kept" in out
    dropped = run(module_settings, "replay", "all", "--drop-old")
    assert f"{module_settings.search_index}_v1" in dropped
    assert not es.indices.exists(index=f"{module_settings.search_index}_v1")
    assert alias_target(es, module_settings.search_index) == f"{module_settings.search_index}_v3"
