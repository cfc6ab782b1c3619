"""Pausing the live search projection for the moment a rebuilt index is switched in.

Elasticsearch has no transaction to fence the live projection with, so the
fence is a handshake on two kinds of documents in ``<alias>-control``:

* ``switch``: ``{"state": "running" | "paused"}``, set by the replay;
* ``busy-<worker>``: ``{"busy": bool, "at": ...}``, set by each live sink.

A live batch first marks its worker busy, *then* reads ``switch``; if paused, it
unmarks and waits (the runner retries it, losing nothing). The replay first sets
``paused``, *then* waits until no worker is busy. Whatever the interleaving,
once the replay sees every worker idle, no live batch is writing or will write
until ``running`` is set again. Single-document operations are realtime, so no
refresh is needed anywhere but in the final search for busy workers.

A pause is a lease (``until``): a replay that dies between pausing and resuming
(kill -9, its host gone, Elasticsearch gone at the wrong moment) must not stop
the live projection for ever, so a pause not renewed within ``PAUSE_LEASE`` is
over. The replay renews it while it catches up and pauses again (waiting for
in-flight batches) right before it moves the alias, so a lease that ran out
under a slow replay is taken again before anything is switched.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime, timedelta

from elasticsearch import ApiError, Elasticsearch, TransportError

from read_models.projection import TransientStoreError

STALE_AFTER = timedelta(minutes=2)  # a busy mark older than this is a crashed worker's
PAUSE_LEASE = timedelta(minutes=2)  # a pause not renewed within this is a crashed replay's


def control_index(alias: str) -> str:
    return f"{alias}-control"


def _worker() -> str:
    return f"busy-{socket.gethostname()}-{os.getpid()}"


def _put(es: Elasticsearch, alias: str, doc_id: str, body: dict[str, object]) -> None:
    es.index(index=control_index(alias), id=doc_id, document=body)


class LiveFence:
    """What the live search sink does around each batch."""

    def __init__(self, es: Elasticsearch, alias: str) -> None:
        self.es, self.alias, self.me = es, alias, _worker()

    def enter(self) -> None:
        try:
            _put(self.es, self.alias, self.me, {"busy": True, "at": datetime.now(UTC).isoformat()})
            switch = self.es.options(ignore_status=404).get(
                index=control_index(self.alias), id="switch"
            )
        except (ApiError, TransportError) as exc:
            raise TransientStoreError(f"search: control index: {exc}") from exc
        if switch.get("found") and paused(switch["_source"]):
            self.exit()
            raise TransientStoreError("search: paused while a rebuilt index is switched in")

    def exit(self) -> None:
        try:
            _put(self.es, self.alias, self.me, {"busy": False, "at": datetime.now(UTC).isoformat()})
        except (ApiError, TransportError) as exc:
            raise TransientStoreError(f"search: control index: {exc}") from exc


def paused(doc: dict[str, object]) -> bool:
    """Whether a ``switch`` document pauses live writes now (its lease not run out)."""
    if doc.get("state") != "paused":
        return False
    until = doc.get("until")
    if not isinstance(until, str):  # written before leases: its time + the lease
        at = doc.get("at")
        if not isinstance(at, str):
            return True
        return datetime.now(UTC) < datetime.fromisoformat(at) + PAUSE_LEASE
    return datetime.now(UTC) < datetime.fromisoformat(until)


def renew(es: Elasticsearch, alias: str) -> None:
    """Extend the pause's lease (the replay does so while it catches up)."""
    now = datetime.now(UTC)
    _put(
        es,
        alias,
        "switch",
        {"state": "paused", "at": now.isoformat(), "until": (now + PAUSE_LEASE).isoformat()},
    )


def pause(es: Elasticsearch, alias: str, timeout_s: float = 120.0) -> None:
    """Stop live writes; return once no live batch is in flight."""
    renew(es, alias)
    deadline = time.monotonic() + timeout_s
    while True:
        es.indices.refresh(index=control_index(alias))
        hits = es.search(index=control_index(alias), size=1000, query={"term": {"busy": True}})[
            "hits"
        ]["hits"]
        now = datetime.now(UTC)
        live = [h for h in hits if now - datetime.fromisoformat(h["_source"]["at"]) < STALE_AFTER]
        if not live:
            return
        if time.monotonic() > deadline:
            resume(es, alias)
            raise TimeoutError(f"live search batches still in flight after {timeout_s} s")
        time.sleep(0.1)


def resume(es: Elasticsearch, alias: str) -> None:
    _put(es, alias, "switch", {"state": "running", "at": datetime.now(UTC).isoformat()})
