"""The one loop every path into a read model runs (streams/driver.py), with a step and
sources of our own: the order of take, apply and done; settling and forgetting."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from streams.batch_step import StepReport
from streams.driver import Driver
from streams.event_log import Batch


def batch(n: int) -> Batch:
    made = Batch()
    made.reached[0] = n
    return made


@dataclass
class Step:
    """Applies a batch by noting it (slowly, so the loop's pipelining shows)."""

    log: list[str]
    role: str = "test-projection"
    gate: threading.Event = field(default_factory=threading.Event)
    fail_on: int | None = None

    def apply(self, b: Batch) -> StepReport:
        n = b.reached[0]
        self.gate.wait(0.05)
        self.log.append(f"apply {n}")
        return StepReport(applied=n)


@dataclass
class Source:
    log: list[str]
    batches: list[Batch]
    finished: bool = False
    raise_after: int | None = None

    def take(self) -> Batch | None:
        if self.raise_after is not None and not self.batches:
            raise RuntimeError("the consumer went away")
        if not self.batches:
            self.finished = True
            return None
        b = self.batches.pop(0)
        self.log.append(f"take {b.reached[0]}")
        return b

    def done(self, b: Batch, report: StepReport) -> None:
        self.log.append(f"done {b.reached[0]}")


def test_a_batch_is_taken_while_the_one_before_is_applied_and_done_after_it() -> None:
    log: list[str] = []
    driver = Driver(Step(log))  # type: ignore[arg-type]
    total = driver.run(Source(log, [batch(1), batch(2), batch(3)]))  # type: ignore[arg-type]
    driver.close()
    assert total.applied == 6
    # batch 2 is taken before batch 1 is reported done; each done follows its apply
    assert log.index("take 2") < log.index("done 1")
    for n in (1, 2, 3):
        assert log.index(f"apply {n}") < log.index(f"done {n}")
    assert [e for e in log if e.startswith("done")] == ["done 1", "done 2", "done 3"]


def test_on_done_sees_each_batch_and_the_running_total() -> None:
    log: list[str] = []
    seen: list[tuple[int, int]] = []
    driver = Driver(Step(log))  # type: ignore[arg-type]
    driver.run(
        Source(log, [batch(2), batch(5)]),  # type: ignore[arg-type]
        lambda b, report, total: seen.append((report.applied, total.applied)),
    )
    driver.close()
    assert seen == [(2, 2), (5, 7)]


def test_a_source_that_fails_leaves_the_batch_in_flight_applied_but_not_done() -> None:
    log: list[str] = []
    driver = Driver(Step(log))  # type: ignore[arg-type]
    source = Source(log, [batch(1)], raise_after=1)
    with pytest.raises(RuntimeError, match="went away"):
        driver.run(source)  # type: ignore[arg-type]
    driver.close()
    assert "apply 1" in log and "done 1" not in log  # read again by the next consumer


def test_settle_and_forget_are_what_a_rebalance_calls() -> None:
    log: list[str] = []
    driver = Driver(Step(log))  # type: ignore[arg-type]
    source = Source(log, [])
    driver._in_flight = (driver._writer.submit(driver.step.apply, batch(4)), batch(4), source)  # type: ignore[arg-type]
    driver.settle()  # partitions revoked: finished and committed first
    assert log[-1] == "done 4"
    driver._in_flight = (driver._writer.submit(driver.step.apply, batch(5)), batch(5), source)  # type: ignore[arg-type]
    driver.forget()  # partitions lost: finished, not committed
    assert log[-1] == "apply 5"
    driver.close()


def test_stop_ends_a_source_that_never_finishes() -> None:
    log: list[str] = []
    driver = Driver(Step(log))  # type: ignore[arg-type]

    class Endless(Source):
        def take(self) -> Batch | None:
            driver.stop()
            return None

    driver.run(Endless(log, []))  # type: ignore[arg-type]
    driver.close()
    assert driver.stopping
