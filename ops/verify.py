"""`eventcart verify`: do the read models hold exactly what the events topic says?

The drift check nothing else gives: every SKU's history is folded with the
same pure projection code the live workers run and compared with what each
read model's store holds (each read model says how, in its
:class:`~read_models.read_model.Check`). Partition by partition (all events of one SKU live in one
partition), so memory holds one partition's products at a time (a large
partition in slices: ``_fold_partition``); stores are
read many SKUs per request (``mget``, ``= ANY``), and every SKU they hold is
listed (a point in time, a server-side cursor) to find products the log does
not know.

It reads committed events up to the end the topic had when it started, and
never writes unless asked to repair, so it does not disturb the live
projections. A store that has already applied newer events than that end
(live traffic) is "ahead" and not a drift; one that lags is given a few
seconds to catch up before it counts as "stale".
"""

from __future__ import annotations

import math
import struct
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from read_models.projection import PositionedEvent
from read_models.read_model import Inspection, ReadModel
from read_models.registry import READ_MODELS, by_name
from schemas import codec
from schemas.config.settings import Settings
from schemas.errors import ContractError
from streams import event_log

__all__ = ["MODELS", "Drift", "Report", "verify"]

MODELS = tuple(model.name for model in READ_MODELS)
CATCH_UP_S = 10.0
CHUNK = 5000


@dataclass(frozen=True)
class Drift:
    model: str  # search | pricing
    sku: str
    kind: str  # missing | stale | different | unknown
    detail: str


@dataclass
class Report:
    models: tuple[str, ...]
    skus: int = 0
    events: int = 0
    ahead: int = 0
    drifts: list[Drift] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "drifts": [asdict(d) for d in self.drifts]}


Progress = Callable[[int, int], None]  # (partition, events read so far in it)


@dataclass
class _Partition:
    """One partition's SKUs: their events and, per read model, the expected state."""

    events: dict[str, list[PositionedEvent]]
    expected: dict[str, Mapping[str, Any]]


def verify(
    settings: Settings,
    models: Iterable[str] = MODELS,
    *,
    repair: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Compare the chosen read models with the fold of the events topic; repair drifted
    SKUs (through the read models' sinks) and compare them again when ``repair`` is set."""
    wanted = set(models)
    chosen = [model for model in READ_MODELS if model.name in wanted]
    for name in wanted - {model.name for model in chosen}:
        by_name(name)  # says which names there are
    report = Report(tuple(model.name for model in chosen))
    began = time.monotonic()
    with ExitStack() as stack:
        looks = {model.name: stack.enter_context(model.check.open(settings)) for model in chosen}
        seen: set[str] = set()
        for partition, (low, high) in sorted(event_log.end_offsets(settings).items()):
            slices = max(1, math.ceil((high - low) / settings.verify_events_in_memory))
            for part in _fold_partition(settings, chosen, partition, (low, high), slices, progress):
                _check(chosen, looks, part, report, seen, repair=repair)
                del part  # before the next slice is read: one slice in memory at a time
        report.skus = len(seen)
        for model in chosen:
            report.drifts += [
                Drift(model.name, sku, "unknown", "no event names this product")
                for sku in looks[model.name].all_skus()
                if sku not in seen
            ]
    report.seconds = time.monotonic() - began
    return report


def _check(
    chosen: list[ReadModel],
    looks: Mapping[str, Inspection],
    part: _Partition,
    report: Report,
    seen: set[str],
    *,
    repair: bool,
) -> None:
    """Compare (and repair) one slice of a partition's SKUs in every chosen model."""
    report.events += sum(len(evs) for evs in part.events.values())
    seen.update(part.events)
    for model in chosen:
        look = looks[model.name]
        drifts = _compare(model, look, part, report)
        if repair and drifts:
            skus = sorted({d.sku for d in drifts})
            expected = {
                sku: part.expected[model.name][sku]
                for sku in skus
                if sku in part.expected[model.name]
            }
            written = look.replace(expected, {sku: part.events[sku] for sku in expected})
            report.repaired[model.name] = report.repaired.get(model.name, 0) + written
            drifts = _compare(model, look, part, report, only=skus)
        report.drifts += drifts


def _fold_partition(
    settings: Settings,
    models: list[ReadModel],
    partition: int,
    span: tuple[int, int],
    slices: int,
    progress: Progress | None,
) -> Iterator[_Partition]:
    """The partition's SKUs folded, all at once or in ``slices`` groups. For slices, the
    partition is read once and each record written, undecoded, to its slice's
    temporary file (chosen by a hash of its key, the SKU); then each file is decoded
    and folded in turn: memory holds one slice, the log is read once."""
    low, high = span
    if slices == 1:
        events: dict[str, list[PositionedEvent]] = defaultdict(list)
        for batch in event_log.read(settings, {partition: low}, {partition: high}, 20_000):
            for positioned in batch.events:
                events[str(positioned.event["sku"])].append(positioned)
            if progress is not None and partition in batch.reached:
                progress(partition, batch.reached[partition] + 1 - low)
        yield _folded(models, events)
        return
    with tempfile.TemporaryDirectory(prefix="eventcart-verify-") as folder:
        paths = [Path(folder) / f"slice-{index}" for index in range(slices)]
        files = [path.open("wb") for path in paths]
        try:
            for records in event_log.read_raw(
                settings, {partition: low}, {partition: high}, 20_000
            ):
                for _, offset, key, value in records:
                    index = zlib.crc32(key) % slices if key is not None else 0
                    _spill(files[index], offset, key, value)
                if progress is not None:  # reading is the first half of the work
                    progress(partition, (records[-1][1] + 1 - low) // 2)
        finally:
            for file in files:
                file.close()
        for index, path in enumerate(paths):
            events = defaultdict(list)
            for positioned in _unspill(path, partition):
                events[str(positioned.event["sku"])].append(positioned)
            path.unlink()
            if progress is not None:
                progress(partition, (high - low) // 2 + (index + 1) * (high - low) // (2 * slices))
            yield _folded(models, events)


def _folded(models: list[ReadModel], events: dict[str, list[PositionedEvent]]) -> _Partition:
    everything = [e for evs in events.values() for e in evs]
    return _Partition(
        dict(events), {model.name: dict(model.check.expected(everything)) for model in models}
    )


_HEAD = struct.Struct("<qii")  # offset, key length, value length (-1: none)


def _spill(file: BinaryIO, offset: int, key: bytes | None, value: bytes | None) -> None:
    file.write(
        _HEAD.pack(offset, -1 if key is None else len(key), -1 if value is None else len(value))
    )
    file.write(key or b"")
    file.write(value or b"")


def _unspill(path: Path, partition: int) -> Iterator[PositionedEvent]:
    """The decodable events of a slice file, in the order written (the log's)."""
    with path.open("rb") as file:
        while head := file.read(_HEAD.size):
            offset, key_length, value_length = _HEAD.unpack(head)
            file.read(max(key_length, 0))
            value = file.read(max(value_length, 0))
            try:
                yield PositionedEvent(codec.decode_event(value), partition, offset)
            except ContractError:
                continue  # undecodable: the live projection dead-lettered it


def _compare(
    model: ReadModel,
    look: Inspection,
    part: _Partition,
    report: Report,
    only: list[str] | None = None,
) -> list[Drift]:
    """The drifts of this partition's SKUs; SKUs whose store lags get a few seconds."""
    skus = only if only is not None else sorted(part.expected[model.name])
    drifts, ahead = _compare_skus(model, look, part, skus)
    if only is None:
        report.ahead += ahead
    deadline = time.monotonic() + CATCH_UP_S
    while (stale := {d.sku for d in drifts if d.kind == "stale"}) and time.monotonic() < deadline:
        time.sleep(1.0)
        again, _ = _compare_skus(model, look, part, sorted(stale))
        drifts = [d for d in drifts if d.sku not in stale] + again
    return drifts


def _compare_skus(
    model: ReadModel, look: Inspection, part: _Partition, skus: list[str]
) -> tuple[list[Drift], int]:
    drifts: list[Drift] = []
    ahead = 0
    check, expected = model.check, part.expected[model.name]
    for start in range(0, len(skus), CHUNK):
        chunk = skus[start : start + CHUNK]
        stored = look.stored(chunk)
        for sku in chunk:
            want, have = expected.get(sku), stored.get(sku)
            if want is None:
                continue  # the events leave nothing in this read model (none applied)
            drift, is_ahead = _judge(
                model.name, sku, check.version(want), None if have is None else check.version(have)
            )
            if drift is None and not is_ahead and have is not None:
                differences = check.differences(want, have)
                if differences:
                    drift = Drift(model.name, sku, "different", "; ".join(differences))
            drifts += [drift] if drift else []
            ahead += is_ahead
    return drifts, ahead


def _judge(model: str, sku: str, want: int, have: int | None) -> tuple[Drift | None, bool]:
    """missing / stale drifts, or "ahead" (the live projection applied newer events)."""
    if have is None:
        return Drift(model, sku, "missing", f"expected version {want}, the store has none"), False
    if have < want:
        return Drift(model, sku, "stale", f"expected version {want}, the store has {have}"), False
    return None, have > want
