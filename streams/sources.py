"""The bounded sources of batches a :mod:`streams.driver` runs: ranges of the log, and
batches in hand.

* :class:`LogRange`: the events in [start, stop) of each partition (a repair, a
  switch's catch-up, the events a gap lacks);
* :class:`CatchUp`: from ``start`` to the end of the topic, going round again
  for what arrived meanwhile until a pass has little left (a rebuild);
* :class:`Batches`: batches already read (dead letters to re-drive).

The live projection's source, a consumer group's share of the topic, is
:class:`streams.projection_worker.GroupTail`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.config.settings import Settings
from streams.batch_step import StepReport
from streams.event_log import Batch, end_offsets, read

__all__ = ["Batches", "CatchUp", "LogRange"]


class Batches:
    """Batches already in hand, each driven as it is."""

    def __init__(self, batches: Iterable[Batch]) -> None:
        self._batches = iter(batches)
        self._finished = False

    def take(self) -> Batch | None:
        batch = next(self._batches, None)
        self._finished = batch is None
        return batch

    @property
    def finished(self) -> bool:
        return self._finished

    def done(self, batch: Batch, report: StepReport) -> None:
        return None


class LogRange(Batches):
    """The events in [start[p], stop[p]) of each partition p, in batches."""

    def __init__(
        self,
        settings: Settings,
        start: Mapping[int, int],
        stop: Mapping[int, int],
        batch_size: int = 5000,
    ) -> None:
        super().__init__(read(settings, start, stop, batch_size))


class CatchUp:
    """From ``start`` to the end of the topic, and round again for what arrived meanwhile,
    until a pass leaves fewer than ``close_enough`` events (the caller's switch takes the
    rest under its pause). Far bigger batches than the live projection's: each product
    is written about once per batch, and a rebuild favours throughput over freshness."""

    def __init__(
        self,
        settings: Settings,
        start: Mapping[int, int],
        stop: Mapping[int, int],
        *,
        batch_size: int = 100_000,
        close_enough: int = 1000,
    ) -> None:
        self._settings, self._batch_size, self._close_enough = settings, batch_size, close_enough
        self._begin, self._stop = dict(start), dict(stop)
        self._pass = LogRange(settings, self._begin, self._stop, batch_size)
        self._finished = False

    def take(self) -> Batch | None:
        while True:
            batch = self._pass.take()
            if batch is not None:
                return batch
            begin = {p: max(self._begin.get(p, 0), self._stop[p]) for p in self._stop}
            stop = {p: high for p, (_, high) in end_offsets(self._settings).items()}
            if sum(stop[p] - begin.get(p, 0) for p in stop) < self._close_enough:
                self._finished = True
                return None
            self._begin, self._stop = begin, stop
            self._pass = LogRange(self._settings, begin, stop, self._batch_size)

    @property
    def finished(self) -> bool:
        return self._finished

    def done(self, batch: Batch, report: StepReport) -> None:
        return None
