"""Running one stream role as a worker process.

The command processor is a plain confluent-kafka loop (it needs Kafka
transactions, which Faust cannot give reliably); the projections are Faust
apps. Each role is its own consumer group, so one can fail, lag or be rebuilt
while the others keep going.
"""

from __future__ import annotations

import logging
import signal

import faust
import mode.loop
from setproctitle import setproctitle

from read_models.registry import READ_MODELS, by_role
from schemas import tracing
from schemas.config.settings import Settings
from schemas.topics import PROCESSOR
from streams import metrics
from streams.app import make_app
from streams.processor import CommandProcessor
from streams.projections import add_projection

#: Every role a worker can run: the processor, and one projection per read model,
#: each its own Faust app and consumer group.
ROLES = (PROCESSOR, *(model.role for model in READ_MODELS))

#: Short names accepted by `eventcart worker --only`.
ALIASES = {"processor": PROCESSOR, **{model.name: model.role for model in READ_MODELS}}


def build(role: str, settings: Settings) -> faust.App:
    app = make_app(role, settings)
    add_projection(app, settings, by_role(role))
    return app


def run(role: str, settings: Settings) -> None:
    """Run the role until SIGTERM/SIGINT (its topics exist: the CLI creates them).

    On SIGTERM the processor finishes its batch's transaction and leaves; a
    projection's Faust worker stops its agent, flushes and commits.
    """
    metrics.serve(role, settings.metrics_port)
    tracing.setup(settings, f"eventcart-{role}")
    if role == PROCESSOR:
        _run_processor(settings)
        return
    mode.loop.use("uvloop")  # libuv's event loop: the cheapest speed-up Faust has
    app = build(role, settings)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()


def _run_processor(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
    )
    processor = CommandProcessor(settings)
    setproctitle(f"eventcart {PROCESSOR} {processor.instance}")  # as Faust titles its workers
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: processor.stop())
    processor.run()
