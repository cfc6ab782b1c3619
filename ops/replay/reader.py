"""A rebuild's catch-up loop over the product events topic (read by ``streams.event_log``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ops.settings import Settings
from read_models.projection import Sink
from streams.event_log import Batch, end_offsets, read


def catch_up(
    settings: Settings,
    sink: Sink,
    start: Mapping[int, int],
    end: Mapping[int, int],
    progress: Callable[[Batch, int, int], None],
) -> tuple[int, int]:
    """Apply [start, end) through sink, then go round again for what arrived meanwhile,
    until a pass has little left to read; returns (applied, failed or undecodable)."""
    applied = failed = 0
    begin, stop = dict(start), dict(end)
    while True:
        # Bigger batches than the live projection's: a rebuild favours throughput.
        for batch in read(settings, begin, stop, batch_size=20_000):
            report = sink.apply(batch.events)
            applied += report.applied
            failed += len(report.failed) + len(batch.undecodable)
            progress(batch, applied, failed)
        begin = {p: max(begin.get(p, 0), stop[p]) for p in stop}
        stop = {p: high for p, (_, high) in end_offsets(settings).items()}
        if sum(stop[p] - begin.get(p, 0) for p in stop) < 1000:
            return applied, failed
