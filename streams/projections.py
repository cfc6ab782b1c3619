"""The projections: each read model's live projection, as a Faust app.

faust-streaming is the runtime of each projection (its worker process, start
and graceful stop on SIGTERM, logging); the events reach the read model
through :class:`streams.projection_worker.ProjectionWorker`, a batch consumer
the app runs as one of its services, on a thread of its own. Each projection
is its own app and consumer group, with its own checkpoints, dead-letter topic
and lag: one can fail, lag or be rebuilt while the other keeps going.
"""

from __future__ import annotations

import asyncio
import threading

import faust
from mode import Service

from read_models.read_model import ReadModel
from schemas.config.settings import Settings
from streams.projection_worker import ProjectionWorker

__all__ = ["add_projection"]


def add_projection(app: faust.App, settings: Settings, model: ReadModel) -> ProjectionWorker:
    """Run ``model``'s live projection as a service of ``app``; returns its worker."""
    role = model.role
    worker = ProjectionWorker(
        role, settings, lambda: model.live_sink(settings), lambda: model.repair_sink(settings)
    )

    @app.service
    class Projection(Service):
        """Starts the worker's thread with the app, stops it (batch finished) with the app."""

        _thread: threading.Thread | None = None

        async def on_start(self) -> None:
            self._thread = threading.Thread(target=worker.run, name=role, daemon=True)
            self._thread.start()

        async def on_stop(self) -> None:
            worker.stop()
            if self._thread is not None:
                await asyncio.to_thread(self._thread.join, 120)

    return worker
