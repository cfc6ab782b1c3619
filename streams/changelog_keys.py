"""The keys of the processor's changelog, in one place: built, recognised and read here only.

The changelog (a compacted topic) keeps each product's state and each stored
result, so a restarted or rebalanced processor recovers both. Two kinds of key,
NUL-separated (a SKU cannot hold NUL):

* ``state\\0<sku>``: the product's state after its last accepted command;
* ``result\\0<sku>\\0<command_id>``: the answer to a command, for as long as a
  repeated ``command_id`` must be answered again (idempotency is per SKU).
"""

from __future__ import annotations

__all__ = ["is_result_key", "parse", "result_key", "state_key"]

_STATE = b"state"
_RESULT = b"result"
_SEP = b"\x00"


def state_key(sku: str) -> bytes:
    """Changelog key of a product's state."""
    return _STATE + _SEP + sku.encode()


def result_key(sku: str, command_id: str) -> bytes:
    """Changelog key of a stored result: idempotency is per (sku, command_id)."""
    return _SEP.join((_RESULT, sku.encode(), command_id.encode()))


def is_result_key(key: bytes) -> bool:
    return key.startswith(_RESULT + _SEP)


def parse(key: bytes) -> tuple[str, str | None]:
    """``(sku, None)`` for a state key, ``(sku, command_id)`` for a result key."""
    kind, sku, *rest = key.split(_SEP, 2)
    if kind == _STATE:
        return sku.decode(), None
    if kind == _RESULT and rest:
        return sku.decode(), rest[0].decode()
    raise ValueError(f"not a changelog key: {key[:80]!r}")
