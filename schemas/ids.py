"""Identifiers: deterministic for events, random for commands.

Event ids are a pure function of the command id and the event's index within the
decision. A command that is decided twice (redelivery after a crash, a client retry
with the same ``command_id``) therefore produces events with the same ids, and every
read model can drop the duplicate. Only command ids are random, and only when the
client does not choose its own.
"""

from __future__ import annotations

import uuid

__all__ = ["EVENT_NAMESPACE", "event_id", "new_command_id"]

#: Fixed forever: changing it would give re-decided commands new event ids and break
#: deduplication of everything already in the event log.
#: (= uuid5(NAMESPACE_URL, "https://eventcart.example/events"))
EVENT_NAMESPACE = uuid.UUID("315fa557-dc8e-54a7-8b1a-498050df629d")


def event_id(command_id: str, index: int) -> str:
    """Id of the ``index``-th (0-based) event produced by command ``command_id``."""
    if index < 0:
        raise ValueError(f"event index must be >= 0, got {index}")
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{command_id}:{index}"))


def new_command_id() -> str:
    """A fresh random command id, for clients that do not bring their own key."""
    return str(uuid.uuid4())
