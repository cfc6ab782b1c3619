"""Prometheus metrics of the stream workers (scraped at :EVENTCART_METRICS_PORT + role)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from schemas.topics import CONSUMERS

EVENTS_APPLIED = Counter(
    "eventcart_events_applied_total", "Events applied to a read model", ["projection"]
)
EVENTS_SKIPPED = Counter(
    "eventcart_events_skipped_total",
    "Events a read model had already applied (duplicates, replays)",
    ["projection"],
)
DEAD_LETTERS = Counter(
    "eventcart_dead_letters_total", "Records sent to a dead-letter topic", ["consumer"]
)
GAPS = Counter(
    "eventcart_version_gaps_total",
    "Events a read model refused because its SKU lacked earlier versions (then filled from the log)",
    ["projection"],
)
STORE_RETRIES = Counter(
    "eventcart_store_retries_total",
    "Batches retried because a store was unavailable",
    ["projection"],
)
STORE_WAITING_SINCE = Gauge(
    "eventcart_store_waiting_since_seconds",
    "Unix time the batch in hand first failed to reach its store (0: not waiting)",
    ["projection"],
)
BATCH_SIZE = Histogram(
    "eventcart_batch_size",
    "Records per batch",
    ["consumer"],
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
BATCH_SECONDS = Histogram(
    "eventcart_batch_seconds",
    "Time to handle one batch, retries included",
    ["consumer"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COMMANDS = Counter(
    "eventcart_commands_total",
    "Commands the processor answered, by outcome (accepted, rejected, invalid, answered_again)",
    ["outcome"],
)
TRANSACTIONS = Counter(
    "eventcart_transactions_total",
    "Kafka transactions of the command processor, by outcome (committed, aborted)",
    ["outcome"],
)
RESTORE_SECONDS = Histogram(
    "eventcart_restore_seconds",
    "Time to bring a partition's local state store up to the end of its changelog",
    ["consumer"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
LAG = Gauge(
    "eventcart_consumer_lag",
    "Records behind the end of the partition, after the last batch",
    ["consumer", "partition"],
)
WRITE_FRESHNESS = Histogram(
    "eventcart_write_freshness_seconds",
    "Per batch, the age of its oldest event (since produced) when the batch's writes were "
    "committed: how stale the read model was at worst; the freshness objective's measure",
    ["projection"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
BEHIND = Gauge(
    "eventcart_behind_seconds",
    "Lag as time, after the last batch: the age of the newest event applied while more "
    "wait (an upper bound of the oldest waiting one's age); 0 when caught up",
    ["projection"],
)

SCHEDULE_STEPS = Counter(
    "eventcart_schedule_steps_total",
    "Scheduled price changes the processor fired, by event type published",
    ["event"],
)
SCHEDULE_DELAY = Histogram(
    "eventcart_schedule_delay_seconds",
    "From a schedule step's planned instant to the commit of its event",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300, 3600),
)
SCHEDULE_OVERDUE = Gauge(
    "eventcart_schedule_overdue_seconds",
    "How long past its planned instant the most overdue scheduled change of this "
    "processor's partitions still waits (0: none); read before each firing, at most every second",
)
SCHEDULE_FAILURES = Counter(
    "eventcart_schedule_failures_total",
    "Products whose due schedules could not be fired (a bug: see the processor's log)",
)

log = logging.getLogger(__name__)

#: Each role serves its metrics on its own port: base + offset.
PORT_OFFSETS = {role: offset for offset, role in enumerate(CONSUMERS)}


def serve(role: str, base_port: int) -> int | None:
    """Serve /metrics; a taken port costs the metrics, never the worker."""
    port = base_port + PORT_OFFSETS.get(role, 9)
    try:
        start_http_server(port, addr="127.0.0.1")
    except OSError as exc:
        log.warning("metrics of %s not served: port %d: %s", role, port, exc)
        return None
    return port
