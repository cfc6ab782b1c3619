"""Which failures send a pricing read from the replica to the primary (no service)."""

from __future__ import annotations

import contextlib
import time

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from read_models import pricing_reads
from read_models.pricing.queries import PricingUnavailable
from read_models.pricing_reads import _replica_lost, reader_dsn
from schemas.config.settings import Settings


def _raised_from(cause: Exception) -> PricingUnavailable:
    try:
        raise PricingUnavailable("pricing database unavailable") from cause
    except PricingUnavailable as exc:
        return exc


def test_a_lost_replica_is_told_from_a_failed_query() -> None:
    assert _replica_lost(PoolTimeout("no connection in 1 s"))
    assert _replica_lost(_raised_from(psycopg.OperationalError("connection refused")))
    assert _replica_lost(errors.SerializationFailure("conflict with recovery"))
    assert _replica_lost(
        _raised_from(errors.QueryCanceled("canceling statement due to conflict with recovery"))
    )
    # a statement timeout is the query's own: the primary would time out too
    assert not _replica_lost(
        _raised_from(errors.QueryCanceled("canceling statement due to statement timeout"))
    )
    assert not _replica_lost(ValueError("not a price"))


def test_the_replica_is_read_as_the_reader_role_with_the_dsn_parameters() -> None:
    settings = Settings(
        postgres_dsn="postgresql://eventcart:pw@db.internal:5432/shop?sslmode=verify-full",
        postgres_replica="replica.internal:6432",
    )
    primary = conninfo_to_dict(reader_dsn(settings))
    replica = conninfo_to_dict(reader_dsn(settings, replica=True))
    assert (primary["host"], primary["port"]) == ("db.internal", "5432")
    assert (replica["host"], replica["port"]) == ("replica.internal", "6432")
    assert replica["user"] == "eventcart_reader" and replica["sslmode"] == "verify-full"
    assert replica["dbname"] == "shop"


def test_a_replica_address_that_is_not_host_and_port_is_refused_by_name() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="postgres_replica"):
        Settings(postgres_replica="replica.internal")
    assert Settings(postgres_replica="127.0.0.1:5433").postgres_replica == "127.0.0.1:5433"


class _Pool:
    """Stands in for a connection pool in this pure test of the routing rule: the pool
    itself is exercised against a real replica in test_pricing_replica.py."""

    def __init__(self, name: str, made: list[_Pool], fails: bool) -> None:
        self.name, self.fails, self.closed = name, fails, False
        made.append(self)

    def open(self, wait: bool = True) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def connection(self) -> contextlib.AbstractContextManager[str]:
        if self.fails:
            raise PoolTimeout("no connection in 1 s")
        return contextlib.nullcontext(self.name)


def test_after_a_loss_the_replica_is_tried_through_a_new_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool that failed to refill while the replica was away backs off its
    reconnections; a new one connects at once, so the return is noticed."""
    made: list[_Pool] = []

    def pool(conninfo: str, **kwargs: object) -> _Pool:
        name = str(kwargs["name"])
        return _Pool(name, made, fails=name == "pricing-replica" and len(made) == 1)

    monkeypatch.setattr(pricing_reads.pricing, "reader_pool", pool)
    reads = pricing_reads.PricingReads(Settings(postgres_replica="127.0.0.1:5433"))
    first_replica = reads.replica
    assert reads.read(lambda conn: conn) == "pricing-primary"  # the replica failed
    assert reads.read(lambda conn: conn) == "pricing-primary"  # paused: not tried
    reads._paused_until = 0.0  # the pause is over
    assert reads.read(lambda conn: conn) == "pricing-replica"
    assert reads.replica is not first_replica
    assert [p.name for p in made] == ["pricing-primary", "pricing-replica", "pricing-replica"]
    time.sleep(0.1)  # the old pool is closed off the request's thread
    assert isinstance(first_replica, _Pool) and first_replica.closed
