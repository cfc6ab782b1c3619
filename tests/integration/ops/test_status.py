"""`eventcart status` on a running system: every role caught up, none stalled, although
the events topic is transactional (it ends with commit markers, which are no records)."""

from __future__ import annotations

from ops import status
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.load import wait_until
from tests.fixtures.read_models import wait_for_versions
from tests.fixtures.workers import run_cli


def test_a_caught_up_system_shows_no_lag_and_nothing_stalled(
    system_client: CommandClient, module_settings: Settings
) -> None:
    results = system_client.send_batch(
        [c.register_product(f"ST-{i}", "p") for i in range(20)]
        + [c.adjust_stock(f"ST-{i}", 3) for i in range(20)]
    )
    wait_for_versions(module_settings, {f"ST-{i}": 2 for i in range(20)})
    assert all(r.accepted for r in results)

    # The projections commit their offsets every second or so.
    def caught_up() -> bool:
        return all(r.lag == 0 for r in status.collect(module_settings, sample_s=0.5))

    wait_until(caught_up, 30, "every role at the end of its topic")
    assert not any(r.stalled for r in status.collect(module_settings, sample_s=1.0))
    run_cli(module_settings, "status", "--sample", "1")  # exit 0: nothing stalled
