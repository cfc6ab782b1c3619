"""Admission of raw command records: contract, key, partition, in that order."""

from __future__ import annotations

import orjson
import pytest

from streams.admission import Admitted, Refused, admit, partition_for
from tests.unit.builders import VALID_DATA, make_command

PARTITIONS = 6


def record(command: dict[str, object]) -> bytes:
    return orjson.dumps(command)


def test_a_valid_command_in_its_partition_with_its_key_is_admitted() -> None:
    command = make_command("AdjustStock", VALID_DATA["AdjustStock"], sku="SKU-7")
    partition = partition_for(b"SKU-7", PARTITIONS)
    admitted = admit(b"SKU-7", record(command), partition, PARTITIONS)
    assert isinstance(admitted, Admitted)
    assert (admitted.sku, admitted.command_id) == ("SKU-7", "cmd-1")


@pytest.mark.parametrize("key", [None, b"", b"OTHER", b"sku-7", b"SKU-7 "])
def test_a_key_that_is_not_the_sku_is_refused(key: bytes | None) -> None:
    command = make_command("AdjustStock", VALID_DATA["AdjustStock"], sku="SKU-7")
    refused = admit(key, record(command), partition_for(b"SKU-7", PARTITIONS), PARTITIONS)
    assert isinstance(refused, Refused)
    assert (refused.error.field, refused.error.rule) == ("sku", "kafka_key")
    assert (refused.command_id, refused.sku) == ("cmd-1", "SKU-7")


def test_the_wrong_partition_is_refused_and_named() -> None:
    command = make_command("AdjustStock", VALID_DATA["AdjustStock"], sku="SKU-7")
    right = partition_for(b"SKU-7", PARTITIONS)
    wrong = (right + 1) % PARTITIONS
    refused = admit(b"SKU-7", record(command), wrong, PARTITIONS)
    assert isinstance(refused, Refused)
    assert refused.error.rule == "partition"
    assert f"partition {right}" in refused.error.message


def test_the_contract_is_checked_before_the_key() -> None:
    command = make_command("ChangePrice", {"amount": "1.00", "currency": "EURO"}, sku="SKU-7")
    refused = admit(None, record(command), 0, PARTITIONS)
    assert isinstance(refused, Refused)
    assert (refused.error.field, refused.error.rule) == ("data.currency", "enum")


@pytest.mark.parametrize("value", [None, b"", b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_unreadable_records_are_refused_without_an_address(value: bytes | None) -> None:
    refused = admit(b"K", value, 0, PARTITIONS)
    assert isinstance(refused, Refused)
    assert (refused.command_id, refused.sku) == (None, None)


def test_partition_for_matches_kafkas_murmur2() -> None:
    # Values from the Java client's Utils.murmur2 (toPositive(murmur2(key)) % n).
    assert partition_for(b"SKU-1", 6) == partition_for(b"SKU-1", 6)
    assert {partition_for(f"SKU-{i}".encode(), 6) for i in range(200)} == set(range(6))
