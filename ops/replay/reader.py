"""A rebuild's catch-up loop over the product events topic (read by ``streams.event_log``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from schemas.settings import Settings
from streams.batch_step import BatchStep
from streams.event_log import Batch, end_offsets, read


def catch_up(
    settings: Settings,
    step: BatchStep,
    start: Mapping[int, int],
    end: Mapping[int, int],
    progress: Callable[[Batch, int, int], None],
) -> tuple[int, int]:
    """Apply [start, end) through the step, then go round again for what arrived
    meanwhile, until a pass has little left to read; returns (applied, dead letters)."""
    applied = letters = 0
    begin, stop = dict(start), dict(end)
    while True:
        # Far bigger batches than the live projection's: each product is written about
        # once per batch, and a rebuild favours throughput over freshness.
        for batch in read(settings, begin, stop, batch_size=100_000):
            report = step.apply(batch)
            applied += report.applied
            letters += report.dead_lettered
            progress(batch, applied, letters)
        begin = {p: max(begin.get(p, 0), stop[p]) for p in stop}
        stop = {p: high for p, (_, high) in end_offsets(settings).items()}
        if sum(stop[p] - begin.get(p, 0) for p in stop) < 1000:
            return applied, letters
