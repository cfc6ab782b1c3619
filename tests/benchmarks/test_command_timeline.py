"""Where a command's time goes, hop by hop, at 10, 300 and 1,000 commands/s.

The system as `eventcart up` runs it (processor, both projections), for this
benchmark's own topics. ChangePrice commands are produced raw to the commands
topic at a steady rate for 10 s per rate, round-robin over 500 products, and
each is followed from outside through every hop that can be seen without
instrumenting eventcart (:mod:`tests.benchmarks.timeline`): acked by the broker,
decided (the event record's timestamp), answered and its event visible to
read-committed consumers, applied by pricing, written by search, searchable.
Printed: per hop, the time since the command was produced (p50, p99), and the
share of each step at p50. The ceiling of the first hop is the broker's own ack.

Beside each round: the CPU each component used while sending (``tests.benchmarks.cpu``:
on two cores, latency under load is mostly waiting for one) and, with
``TIMELINE_PROFILE=1000`` (rates, comma-separated), py-spy's top frames of each role.
``TIMELINE_RATES=300,1000`` runs those rates only.

Run: `pytest -m benchmark -s tests/benchmarks/test_command_timeline.py`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.benchmarks.batches import BatchMeter
from tests.benchmarks.cpu import CpuMeter, components
from tests.benchmarks.profiling import py_spy, top_frames
from tests.benchmarks.timeline import HOPS, Stamps, Timeline
from tests.fixtures.workers import ALL_ROLES

pytestmark = [pytest.mark.benchmark, pytest.mark.services, pytest.mark.timeout(1800)]

RATES = (10, 300, 1000)
SECONDS = 10
SKUS = [f"TL-{n:04d}" for n in range(500)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(rate: int, stamps: list[Stamps]) -> list[str]:
    lines = [f"{rate}/s: {len(stamps)} commands"]
    lines.append(f"  {'hop':<16} {'p50 ms':>8} {'p99 ms':>8} {'step p50':>9}  seen")
    before = 0.0
    for hop in HOPS:
        times = [(s.at[hop] - s.sent) * 1000 for s in stamps if hop in s.at]
        p50 = pct(times, 0.5)
        lines.append(
            f"  {hop:<16} {p50:8.1f} {pct(times, 0.99):8.1f} {p50 - before:9.1f}  {len(times)}"
        )
        before = p50
    return lines


def test_timeline_of_a_command(
    settings: Settings, module_settings: Settings, system_client: CommandClient
) -> None:
    system_client.send_batch([c.register_product(sku, f"Timeline {sku}") for sku in SKUS])
    system_client.send(c.change_price(SKUS[-1], "1.00", "EUR"), timeout_s=120)
    lines = [
        "timeline: time since the command was produced, per hop (decided: the event "
        "record's timestamp, ms resolution; stores polled every 10 ms)"
    ]
    rates = [int(r) for r in os.environ.get("TIMELINE_RATES", "").split(",") if r] or RATES
    meter = CpuMeter(settings, ALL_ROLES)  # the stack's services are the shared ones
    batches = BatchMeter(module_settings, list(ALL_ROLES))
    with Timeline(module_settings) as timeline:
        for round_, rate in enumerate(rates, start=1):
            profiles = _profile(module_settings, rate)
            meter.start()
            batches.start()
            stamps = timeline.run(SKUS, rate, SECONDS, round_)
            lines += report(rate, stamps)
            lines += ["  CPU while sending:", *meter.report(SECONDS)]
            lines += ["  batches (the roles' own metrics):", *batches.report(SECONDS)]
            for role, (spy, raw) in profiles.items():
                spy.wait(60)
                lines += [f"  profile of {role} (own time):", *top_frames(raw.read_text(), 8)]
    print("\n" + "\n".join(lines))


def _profile(settings: Settings, rate: int) -> dict[str, tuple[subprocess.Popen[bytes], Path]]:
    """py-spy on each role for the round, when ``TIMELINE_PROFILE`` names its rate."""
    if str(rate) not in os.environ.get("TIMELINE_PROFILE", "").split(","):
        return {}
    spies = {}
    for role in ALL_ROLES:
        pid = components(settings, [role])[role][0]
        raw = settings.home / f"timeline-{role}-{rate}.txt"
        spies[role] = (py_spy(pid, SECONDS, raw), raw)
    return spies
