"""Admission: from one raw record of the commands topic to a command, or a refusal.

The processor decides only commands that passed every check here, in this
order (the first failing check is the answer):

1. the contract (``schemas.codec.decode_command``: size, JSON, type, version,
   schema; the error names the field and the rule);
2. the Kafka key: it must be the command's SKU, byte for byte. A record with
   no key, or another key, would be partitioned by something else than its
   SKU, which is a second writer for one product;
3. the partition: the record must sit in the partition Kafka's default
   murmur2 partitioner gives its SKU, for the same reason.

Pure: no I/O, no clock. A refusal carries what the processor needs to answer
(the command id and SKU as far as they can be read) and to dead-letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from schemas import codec
from schemas.errors import ContractError

__all__ = ["Admitted", "Refused", "admit", "partition_for"]


@dataclass(frozen=True)
class Admitted:
    """A command valid against its contract, keyed and partitioned by its SKU."""

    command: dict[str, Any]
    sku: str
    command_id: str


@dataclass(frozen=True)
class Refused:
    """A record the processor will not decide: answered ``invalid`` when it names a
    command id, and dead-lettered with ``error`` in every case."""

    error: ContractError
    command_id: str | None
    sku: str | None


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


_KEY_RULE = ContractError(
    "sku",
    "kafka_key",
    "sku: the Kafka key of a command must be its SKU, UTF-8 encoded (one writer per product)",
)


def admit(
    key: bytes | None, value: bytes | None, partition: int, partitions: int
) -> Admitted | Refused:
    """Check one record of the commands topic (``partitions``: the topic's count)."""
    raw = value if value is not None else b""
    try:
        command = codec.decode_command(raw)
    except ContractError as err:
        command_id, sku = codec.best_effort_address(raw)
        return Refused(err, command_id, sku)
    sku, command_id = str(command["sku"]), str(command["command_id"])
    encoded = sku.encode()
    if key != encoded:
        return Refused(_KEY_RULE, command_id, sku)
    expected = partition_for(encoded, partitions)
    if partition != expected:
        return Refused(
            ContractError(
                "sku",
                "partition",
                f"sku: the command arrived in partition {partition}, but its SKU belongs to "
                f"partition {expected}: produce with the murmur2 partitioner (Kafka's Java "
                "default; librdkafka and kcat: partitioner=murmur2_random)",
            ),
            command_id,
            sku,
        )
    return Admitted(command, sku, command_id)
