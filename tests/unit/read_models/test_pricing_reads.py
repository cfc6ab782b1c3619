"""Which failures send a pricing read from the replica to the primary (no service)."""

from __future__ import annotations

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

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
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="postgres_replica"):
        Settings(postgres_replica="replica.internal")
    assert Settings(postgres_replica="127.0.0.1:5433").postgres_replica == "127.0.0.1:5433"
