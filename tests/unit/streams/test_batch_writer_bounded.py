"""A hung transactional call, or records undelivered after a lost connection, give the
producer up, never the processor.

librdkafka can block in ``send_offsets_to_transaction`` past its own timeout when
the group coordinator's broker dies (seen in the three-broker test: the processor
silent for ever); the writer must turn that into FencedError, so the processor
builds its clients afresh.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError

from streams import batch_writer
from streams.batch_writer import AbortedError, BatchWriter, FencedError


class Polled:
    """Stands for the producer's ``poll``, which serves its error callback."""

    def __init__(self) -> None:
        self.polls = 0

    def poll(self, _timeout: float) -> int:
        self.polls += 1
        return 0


def writer(timeout_s: float = 0.1) -> BatchWriter:
    made = BatchWriter.__new__(BatchWriter)  # no producer: only the watchdog is tested
    made.timeout_s = timeout_s
    made._hung = False
    made._producer = Polled()  # type: ignore[assignment]
    made._lost_at, made._began_at = float("-inf"), 0.0
    return made


def test_a_hung_call_gives_the_producer_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_writer, "HUNG_GRACE_S", 0.1)
    never = threading.Event()
    w = writer()
    with pytest.raises(FencedError, match="send_offsets_to_transaction did not return"):
        w._bounded("send_offsets_to_transaction", never.wait)
    assert w._hung
    w.close()  # a hung producer is left alone: close touches nothing
    never.set()


def test_results_and_errors_come_through() -> None:
    w = writer()
    w._bounded("commit_transaction", lambda: None)

    def refuse() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        w._bounded("commit_transaction", refuse)
    assert not w._hung


def test_a_connection_lost_in_the_transaction_gives_a_hung_call_up_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hang's cause is known (the broker went away): no need to wait out the
    call's own timeout plus the grace, the answers would only wait longer."""
    monkeypatch.setattr(batch_writer, "LOST_GRACE_S", 0.2)
    never = threading.Event()
    w = writer(timeout_s=30)
    w._began_at = time.monotonic()
    w._on_error(KafkaError(KafkaError._TRANSPORT))
    began = time.monotonic()
    with pytest.raises(
        FencedError, match="connection was lost during the transaction or just before"
    ):
        w._bounded("send_offsets_to_transaction", never.wait)
    assert time.monotonic() - began < 5
    assert w._producer.polls > 0  # type: ignore[attr-defined]
    never.set()


def test_a_connection_lost_long_before_the_transaction_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch_writer, "LOST_GRACE_S", 0.05)
    w = writer(timeout_s=30)
    w._on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN))
    w._began_at = time.monotonic() + batch_writer.RECENT_LOSS_S + 1  # long after the loss
    w._bounded("commit_transaction", lambda: time.sleep(0.3))
    assert not w._hung


class Undelivered(Polled):
    """A producer whose records are never delivered (their leader's broker is gone)."""

    def flush(self, timeout: float) -> int:
        time.sleep(min(timeout, 0.01))
        return 1


def test_undelivered_records_after_a_lost_connection_give_the_producer_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Waiting through this producer for the new leader and coordinator is slower than a
    new producer finding them: give it up, do not wait out the transaction timeout."""
    monkeypatch.setattr(batch_writer, "LOST_GRACE_S", 0.1)
    w = writer(timeout_s=30)
    w._producer = Undelivered()  # type: ignore[assignment]
    w._began_at = time.monotonic()
    w._on_error(KafkaError(KafkaError._TRANSPORT))
    with pytest.raises(FencedError, match="records not delivered"):
        w._flush([])
    assert w._hung  # close() will not wait for its queue


def test_undelivered_records_without_a_lost_connection_abort_the_batch() -> None:
    w = writer(timeout_s=0.2)
    w._producer = Undelivered()  # type: ignore[assignment]
    w._began_at = time.monotonic()
    with pytest.raises(AbortedError, match="not delivered in time"):
        w._flush([])
    assert not w._hung
