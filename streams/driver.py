"""The one loop every path into a read model runs: take a batch, apply it, tell the source.

Live projection, rebuild, a rebuild's catch-up and switch, a repair from an
offset or an instant, a gap filled from the log, a dead-letter re-drive: they
differ in where their batches come from (a :class:`Source`) and which sink the
:class:`~streams.batch_step.BatchStep` writes to, never in how a batch is
applied. This loop is that "how", written once (as quixstreams' one
``Checkpoint.commit`` is for its sinks):

* **Pipelined.** While the step applies batch N on a writer thread, the loop
  takes (reads and decodes) batch N+1. At most one batch is in flight, so the
  order per partition is kept.
* **Done after applied.** The source hears about batch N (a live source
  commits its offsets, a rebuild shows progress) only once the step has
  applied it, dead letters included.
* **A store that stalls is said, not hidden.** A step that has not returned
  within ``EVENTCART_STORE_TIMEOUT_S`` is logged and shown by ``eventcart
  status`` while the partition waits; it is never abandoned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from streams import metrics
from streams.batch_step import BatchStep, StepReport
from streams.event_log import Batch

__all__ = ["Driver", "Source", "drive"]

log = logging.getLogger(__name__)


class Source(Protocol):
    """Where a path's batches come from."""

    def take(self) -> Batch | None:
        """The next batch; None when there is none now (check :attr:`finished`)."""
        ...

    @property
    def finished(self) -> bool:
        """True once a bounded source has handed out its last batch (a live one never)."""
        ...

    def done(self, batch: Batch, report: StepReport) -> None:
        """``batch`` is applied (commit its offsets, show progress, ...)."""
        ...


class Driver:
    """Runs batches of one source through one step until the source is finished or
    :meth:`stop` is called. A source that must settle the batch in flight at a moment
    of its own (a consumer group taking partitions away) calls :meth:`settle` or
    :meth:`forget`."""

    def __init__(self, step: BatchStep, *, store_timeout_s: float = 30.0) -> None:
        self.step = step
        self.store_timeout_s = store_timeout_s
        self.total = StepReport()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{step.role}-writer")
        self._in_flight: tuple[Future[StepReport], Batch, Source] | None = None
        self._stopping = threading.Event()
        self._on_done: Callable[[Batch, StepReport, StepReport], None] | None = None

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(
        self,
        source: Source,
        on_done: Callable[[Batch, StepReport, StepReport], None] | None = None,
    ) -> StepReport:
        """Drive ``source`` to its end (or :meth:`stop`); ``on_done(batch, report, total)``
        after each batch. Returns what was applied, skipped and dead-lettered in all."""
        self._on_done = on_done
        try:
            while not self._stopping.is_set():
                batch = source.take()
                self.settle()
                if batch is None:
                    if source.finished:
                        break
                    continue
                self._in_flight = (self._writer.submit(self.step.apply, batch), batch, source)
            self.settle()
        except BaseException:
            # The source failed (a consumer the broker ended): the batch in flight is
            # finished but not reported to it; its records are read again.
            self.forget()
            raise
        finally:
            self._on_done = None
        return self.total

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    def settle(self) -> None:
        """Wait for the batch in flight and tell its source it is done."""
        if self._in_flight is None:
            return
        future, batch, source = self._in_flight
        self._in_flight = None
        report = self._wait_for(future)
        source.done(batch, report)
        self.total.add(report)
        if self._on_done is not None:
            self._on_done(batch, report, self.total)

    def forget(self) -> None:
        """Wait for the batch in flight without telling its source (its partitions are
        gone: their next owner reads the batch again, and the sinks are idempotent)."""
        if self._in_flight is not None:
            self._wait_for(self._in_flight[0])
            self._in_flight = None

    def _wait_for(self, future: Future[StepReport]) -> StepReport:
        """The batch's report. A store that is down makes the step retry; one that
        accepted the request and stalls (a stopped process answers nothing) makes
        this wait: said in the log and in ``eventcart status`` while it lasts."""
        began = time.time()
        waiting = metrics.STORE_WAITING_SINCE.labels(self.step.role)
        while True:
            try:
                return future.result(timeout=self.store_timeout_s)
            except TimeoutError:
                waiting.set(began)
                log.warning(
                    "%s: its store has not answered for %.0f s; the partition waits",
                    self.step.role,
                    time.time() - began,
                )
            finally:
                if future.done():
                    waiting.set(0)


def drive(
    source: Source,
    step: BatchStep,
    on_done: Callable[[Batch, StepReport, StepReport], None] | None = None,
) -> StepReport:
    """Drive a bounded ``source`` through ``step`` to its end; what was applied in all."""
    driver = Driver(step, store_timeout_s=step.settings.store_timeout_s)
    try:
        return driver.run(source, on_done)
    finally:
        driver.close()
