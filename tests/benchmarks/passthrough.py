"""The ceiling for the command processor: a Faust agent that forwards each command
to another topic without decoding, deciding or touching a table.

Run as ``python -m tests.benchmarks.passthrough SOURCE TARGET``; it uses the same
Faust app settings (streams.app.make_app) and the same batching as the processor.
"""

from __future__ import annotations

import sys
from typing import Any

import faust

from ops.settings import get_settings
from streams.app import make_app


def main(source: str, target: str) -> None:
    settings = get_settings()
    app = make_app("passthrough", settings)
    source_topic = app.topic(source, key_type=bytes, value_type=bytes)
    target_topic = app.topic(target, key_type=bytes, value_type=bytes)

    async def forward(stream: Any) -> Any:
        async for batch in stream.take_events(
            settings.processor_batch_max, within=settings.processor_batch_within_s
        ):
            futures = [await target_topic.send(key=ev.message.key, value=ev.value) for ev in batch]
            for future in futures:
                await future
            yield None

    app.agent(source_topic, name="passthrough", concurrency=1)(forward)
    sys.argv = [sys.argv[0], "worker"]
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
