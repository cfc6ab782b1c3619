"""Every Kafka topic of eventcart: its name, partitions and configuration, in one place.

The product events topic is the source of truth, so it is retained forever and
never compacted (compaction would keep only the last event per SKU and lose
the price history). Commands and results are transient conversation and expire.
Dead-letter topics keep what failed until an operator has looked at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.config.settings import Settings

WEEK_MS = str(7 * 24 * 3600 * 1000)
FOREVER = "-1"

#: The roles of the stream workers: each is a consumer group with a dead-letter topic
#: of its own. Named here, at the bottom, so every layer says them the same way.
PROCESSOR = "command-processor"
SEARCH_PROJECTION = "search-projection"
PRICING_PROJECTION = "pricing-projection"
CONSUMERS = (PROCESSOR, SEARCH_PROJECTION, PRICING_PROJECTION)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


@dataclass(frozen=True)
class Topics:
    """The topic names for one deployment (the prefix separates deployments)."""

    prefix: str = "eventcart"

    @property
    def commands(self) -> str:
        return f"{self.prefix}.catalog.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.product.events"

    @property
    def results(self) -> str:
        return f"{self.prefix}.catalog.command-results"

    @property
    def processor_state(self) -> str:
        """The command processor's changelog: product states and stored results.

        Named as Faust named it when the processor kept its states in a Faust
        table, so the states and results of an existing deployment carry over.
        """
        return f"{self.prefix}-command-processor-catalog-changelog"

    def dead_letters(self, consumer: str) -> str:
        if consumer not in CONSUMERS:
            raise ValueError(f"unknown consumer {consumer!r}; known: {', '.join(CONSUMERS)}")
        return f"{self.prefix}.dlq.{consumer}"

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(settings.topic_prefix)


def replication(settings: Settings, brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``brokers``.

    The one place that decides it, for the topics and for the broker's own
    internal topics (offsets, transactions). Three copies with two in sync is
    the standard for a cluster: one broker may die (or restart) at any time with
    no acknowledged write lost and producing going on. Explicit settings win.
    """
    rf = settings.replication_factor or (3 if brokers >= 3 else 1)
    isr = settings.min_insync_replicas or (2 if rf >= 3 else 1)
    return rf, isr


def specs(settings: Settings, brokers: int = 1) -> list[TopicSpec]:
    """The topics `eventcart topics create` makes, with their settings."""
    t = Topics.from_settings(settings)
    isr = {"min.insync.replicas": str(replication(settings, brokers)[1])}
    n = settings.partitions
    return [
        TopicSpec(
            t.commands,
            n,
            {**isr, "cleanup.policy": "delete", "retention.ms": WEEK_MS},
            "commands sent by services, keyed by SKU",
        ),
        TopicSpec(
            t.events,
            n,
            {**isr, "cleanup.policy": "delete", "retention.ms": FOREVER, "retention.bytes": "-1"},
            "product events: the source of truth, kept forever",
        ),
        TopicSpec(
            t.results,
            n,
            {**isr, "cleanup.policy": "delete", "retention.ms": WEEK_MS},
            "accepted/rejected answer to every command, keyed by SKU",
        ),
        TopicSpec(
            t.processor_state,
            n,
            # Compacted: the last state per SKU and the last result per command id
            # are what a restore needs; expired results are deleted by tombstones.
            {**isr, "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
            "the command processor's product states and stored results (its changelog)",
        ),
        *(
            TopicSpec(
                t.dead_letters(consumer),
                1,
                {**isr, "cleanup.policy": "delete", "retention.ms": FOREVER},
                f"records the {consumer} could not handle, with the reason",
            )
            for consumer in CONSUMERS
        ),
    ]
