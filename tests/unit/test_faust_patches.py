"""The pinned faust-streaming patches: the pin holds, and each patch does what it says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiokafka
import faust

from ops.settings import Settings
from streams import faust_patches
from streams.app import make_app


def test_the_pinned_versions_are_installed() -> None:
    # A version bump must re-read streams/faust_patches.py: this fails first.
    assert {"faust-streaming": faust.__version__, "aiokafka": aiokafka.__version__} == (
        faust_patches.PINNED
    )


def test_projection_consumers_read_committed_only(tmp_path: Path) -> None:
    async def isolation() -> str:
        app = make_app("search-projection", Settings(home=tmp_path, topic_prefix="patch-test"))
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        return str(consumer._isolation_level)

    assert asyncio.run(isolation()) == "read_committed"
