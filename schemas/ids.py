"""Identifiers: deterministic for events, random for commands.

Event ids are a pure function of the command id and the event's index within the
decision. A command that is decided twice (redelivery after a crash, a client retry
with the same ``command_id``) therefore produces events with the same ids, and every
read model can drop the duplicate. Only command ids are random, and only when the
client does not choose its own.
"""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["EVENT_NAMESPACE", "event_id", "new_command_id"]

#: Fixed forever: changing it would give re-decided commands new event ids and break
#: deduplication of everything already in the event log.
#: (= uuid5(NAMESPACE_URL, "https://eventcart.example/events"))
EVENT_NAMESPACE = uuid.UUID("315fa557-dc8e-54a7-8b1a-498050df629d")


_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes


def event_id(command_id: str, index: int, sku: str | None = None) -> str:
    """Id of the ``index``-th (0-based) event produced by command ``command_id`` of ``sku``.

    ``str(uuid.uuid5(EVENT_NAMESPACE, f"{sku}/{command_id}:{index}"))`` (RFC 4122
    name-based, SHA-1), computed without building UUID objects (the processor
    names every event it publishes, and uuid5 itself was a sixth of its time).
    Idempotency is per (sku, command_id), so the SKU is part of the name: two
    products may receive commands with the same id, and their events must still
    have distinct ids across the whole topic. Events written before the SKU was
    part of the name have ``uuid5(EVENT_NAMESPACE, f"{command_id}:{index}")``
    (``sku=None`` computes those); the log keeps them as they are.
    """
    if index < 0:
        raise ValueError(f"event index must be >= 0, got {index}")
    name = f"{command_id}:{index}" if sku is None else f"{sku}/{command_id}:{index}"
    digest = bytearray(
        hashlib.sha1(  # noqa: S324 (RFC 4122 version 5 is SHA-1 by definition)
            _NAMESPACE_BYTES + name.encode()
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_command_id() -> str:
    """A fresh random command id, for clients that do not bring their own key."""
    return str(uuid.uuid4())
