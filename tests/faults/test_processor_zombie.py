"""A zombie processor is fenced: paused past its session timeout, then resumed, it
publishes nothing that becomes visible, and the log stays exact.

Two processors share the commands topic. The first is stopped with SIGSTOP
mid-load; after its session timeout the group gives its partitions to the
second, which waits for the stopped one's open transaction to be aborted by
the broker (transaction timeout) before it reads their committed offsets.
The first is then resumed with SIGCONT while it still believes it owns those
partitions: its transaction is refused (its producer epoch and its group
generation are both stale), and everything it had decided stays invisible.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, wait_until
from tests.fixtures.workers import Worker


def test_a_paused_processor_is_fenced_and_publishes_nothing_visible(
    module_settings: Settings, make_worker: Callable[[str], Worker], answers: Answers
) -> None:
    zombie = make_worker("command-processor")
    load = SteadyLoad(module_settings, total=24_000, skus=1_000, rate=600, seed=3).start()
    wait_until(lambda: len(answers.first) > 500, 60, "the first processor answering")
    other = make_worker("command-processor")
    wait_until(lambda: load.done > 6_000, 60, "load before the pause")

    zombie.pause()
    paused_ms = int(time.time() * 1000)
    # The group moves its partitions after the session timeout; the other reads
    # their committed offsets once the zombie's open transaction timed out.
    takeover_ms = (
        module_settings.session_timeout_ms
        + module_settings.processor_transaction_timeout_ms
        + 3_000
    )
    time.sleep((takeover_ms + 5_000) / 1000)
    resumed_ms = int(time.time() * 1000)
    zombie.resume()

    load.join(timeout_s=120)
    counts = check_exactly_once(module_settings, load, answers)
    events = Topics.from_settings(module_settings).events
    everything = len(read_topic(module_settings, events, committed_only=False))
    served = answers.partitions_between(paused_ms + takeover_ms, resumed_ms)
    print(
        f"\nzombie: {counts}; partitions answered by the other processor while the zombie "
        f"was paused: {sorted(served)}; records in the events topic no read-committed "
        f"consumer sees (aborted): {everything - counts['events']}"
    )
    assert served == set(range(module_settings.partitions)), "the other never took over"
    assert other.alive() and zombie.alive()
