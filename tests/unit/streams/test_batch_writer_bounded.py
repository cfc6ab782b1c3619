"""A transactional call that never returns gives the producer up, never the processor.

librdkafka can block in ``send_offsets_to_transaction`` past its own timeout when
the group coordinator's broker dies (seen in the three-broker test: the processor
silent for ever); the writer must turn that into FencedError, so the processor
builds its clients afresh.
"""

from __future__ import annotations

import threading

import pytest

from streams import batch_writer
from streams.batch_writer import BatchWriter, FencedError


def writer() -> BatchWriter:
    made = BatchWriter.__new__(BatchWriter)  # no producer: only the watchdog is tested
    made.timeout_s = 0.1
    made._hung = False
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
