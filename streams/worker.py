"""Running one stream role as a Faust worker process."""

from __future__ import annotations

from collections.abc import Callable

import faust
import mode.loop

from ops import topics
from ops.settings import Settings
from streams import metrics, sinks
from streams.app import make_app
from streams.processor import ROLE as PROCESSOR
from streams.processor import CommandProcessor
from streams.projections import Projection


def _processor(app: faust.App, settings: Settings) -> object:
    return CommandProcessor(app, settings)


def _projection(role: str) -> Callable[[faust.App, Settings], object]:
    def build(app: faust.App, settings: Settings) -> object:
        return Projection(app, settings, role, lambda: sinks.sink_for(role, settings))

    return build


#: The roles a worker can run; each is its own Faust app and consumer group.
ROLES: dict[str, Callable[[faust.App, Settings], object]] = {
    PROCESSOR: _processor,
    "search-projection": _projection("search-projection"),
    "pricing-projection": _projection("pricing-projection"),
}

#: Short names accepted by `eventcart worker --only`.
ALIASES = {"processor": PROCESSOR, "search": "search-projection", "pricing": "pricing-projection"}


def build(role: str, settings: Settings) -> faust.App:
    app = make_app(role, settings)
    ROLES[role](app, settings)
    return app


def run(role: str, settings: Settings) -> None:
    """Create the topics if needed and run the role until SIGTERM/SIGINT.

    Faust's worker stops the agents, flushes the producer and commits the
    offsets of everything processed on a clean shutdown.
    """
    topics.create(settings)
    metrics.serve(role, settings.metrics_port)
    mode.loop.use("uvloop")  # libuv's event loop: the cheapest speed-up Faust has
    app = build(role, settings)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
