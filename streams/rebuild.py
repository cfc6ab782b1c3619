"""Driving events into a read model beside the live one (a rebuild) or into the live one
(a repair): the read model's store work (:class:`read_models.read_model.Rebuild`)
around the one driver (:mod:`streams.driver`).

* :func:`build`: the new version from the start of the topic (or where an
  interrupted build stopped) to its end, going round again for what arrived;
* :func:`switch`: the store catches the new version up with the live one, under
  its own fence, through :func:`feed`, and swaps it in;
* :func:`repair`: a range of the topic into the live version, through the sink
  that decides by what the store holds.

Every refusal goes to the read model's own dead-letter topic, whichever path
met it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from read_models.projection import Sink
from read_models.read_model import Feed, ReadModel, RebuildPlan
from schemas.config.settings import Settings
from streams import event_log
from streams.batch_step import BatchStep, StepReport
from streams.driver import drive
from streams.event_log import Batch
from streams.sources import CatchUp, LogRange

__all__ = ["Progress", "build", "plan", "repair", "switch"]

#: (batch, applied so far, dead-lettered so far)
Progress = Callable[[Batch, int, int], None]


def _shown(progress: Progress) -> Callable[[Batch, StepReport, StepReport], None]:
    return lambda batch, _report, total: progress(batch, total.applied, total.dead_lettered)


def plan(settings: Settings, model: ReadModel) -> RebuildPlan:
    return model.rebuild.plan(settings, event_log.end_offsets(settings))


def build(
    settings: Settings, model: ReadModel, the_plan: RebuildPlan, progress: Progress
) -> StepReport:
    """Fill the new version up to the end of the topic."""
    sink = model.rebuild.open_build(settings, the_plan)
    try:
        step = BatchStep.for_role(model.role, sink, settings)
        total = drive(CatchUp(settings, the_plan.start, the_plan.end), step, _shown(progress))
    except BaseException:
        sink.close()
        raise
    model.rebuild.close_build(settings, the_plan, sink)
    return total


def feed(settings: Settings, model: ReadModel, progress: Progress) -> Feed:
    """What a switch catches the new version up with: a range through the driver."""

    def run(
        sink: Sink, start: Mapping[int, int], stop: Mapping[int, int], each: Callable[[], None]
    ) -> None:
        def done(batch: Batch, _report: StepReport, _total: StepReport) -> None:
            each()
            progress(batch, 0, 0)

        drive(LogRange(settings, start, stop), BatchStep.for_role(model.role, sink, settings), done)

    return run


def switch(settings: Settings, model: ReadModel, the_plan: RebuildPlan, progress: Progress) -> str:
    """Swap the new version in; returns the name the old one keeps."""
    return model.rebuild.switch(settings, the_plan, feed(settings, model, progress))


def repair(
    settings: Settings, model: ReadModel, start: Mapping[int, int], progress: Progress
) -> StepReport:
    """Replay [start, end of topic) into the live version; what was written and what the
    store already held."""
    end = {p: high for p, (_, high) in event_log.end_offsets(settings).items()}
    sink = model.repair_sink(settings)
    try:
        step = BatchStep.for_role(model.role, sink, settings)
        return drive(LogRange(settings, start, end), step, _shown(progress))
    finally:
        sink.close()
