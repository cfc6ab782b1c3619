"""Running code "as" one Faust event, for work done on a batch from ``take_events``.

Faust tables find the partition of a write (and, with RocksDB, of a read) from
the *current event* of the stream. When a batch is processed after
``take_events`` returns, the current event is the last one taken, which may sit
in another partition than the key being written. Pointing the current event at
the message a key came from keeps every table write in its SKU's partition, so
the changelog and the local store stay co-partitioned with the commands topic.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from faust.streams import _current_event


@contextlib.contextmanager
def as_current(event: Any) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
