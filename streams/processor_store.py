"""The processor's local copy of one partition of its changelog, on disk.

The changelog topic (compacted, written only inside the processor's Kafka
transactions) is the truth about product states and stored results; this
store is a cache of it that bounds memory (SQLite pages on disk, not a dict
of every product) and makes a restart cheap (only the changelog records
after the store's checkpoint are read again).

It is never ahead of the changelog: the processor writes here only after the
transaction holding the same records has committed, together with the
changelog offset they reach, in one SQLite transaction. A crash between the
Kafka commit and this write leaves the store behind, and the next start reads
the missing records from the changelog. A store that claims more than the
changelog holds (the topic was recreated) is wiped and rebuilt.

SQLite in WAL mode with ``synchronous=NORMAL``: a process crash loses nothing
SQLite acknowledged, an OS crash can lose the last writes but never leaves the
file inconsistent, and either way the checkpoint moves with the data.

It also indexes what is due: a state that holds schedules carries its next due
instant (``due`` in the stored JSON, see ``streams.catalog.state``), kept in a
column with a partial index, so finding the products whose scheduled price
changes are due is one index range scan, whether a million schedules wait or
none. Being derived from the state on every write (and every restore), the
index can never disagree with the changelog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from streams.changelog_keys import is_result_key

__all__ = ["PartitionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS record (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL,
    -- when a stored result was written (ms since the epoch); NULL for states
    stamp INTEGER,
    -- a state's next due schedule instant (canonical UTC text, sorts as time); else NULL
    due   TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_stamp ON record (stamp) WHERE stamp IS NOT NULL;
CREATE TABLE IF NOT EXISTS checkpoint (
    id     INTEGER PRIMARY KEY CHECK (id = 0),
    offset INTEGER NOT NULL
);
"""

#: SQLite's default limit of bound parameters is 32,766; stay well below.
_CHUNK = 900

_DUE_INDEX = "CREATE INDEX IF NOT EXISTS record_due ON record (due) WHERE due IS NOT NULL"
#: Only a state holding schedules has this in its JSON (an instant starts with a digit).
_HAS_DUE = b'"due":"'


def _due(key: bytes, value: bytes) -> str | None:
    """The next due instant a stored state names, if any."""
    if _HAS_DUE not in value or is_result_key(key):
        return None
    due = orjson.loads(value).get("due")
    return due if isinstance(due, str) else None


class PartitionStore:
    """States and stored results of one partition, with the changelog offset they reach."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(record)")}
        if "due" not in columns:  # a store written before schedules existed
            self._db.execute("ALTER TABLE record ADD COLUMN due TEXT")
        self._db.execute(_DUE_INDEX)

    @property
    def checkpoint(self) -> int:
        """The next changelog offset to read: everything before it is in the store."""
        row = self._db.execute("SELECT offset FROM checkpoint WHERE id = 0").fetchone()
        return int(row[0]) if row else 0

    def load(self, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(
                f"SELECT key, value FROM record WHERE key IN ({marks})", chunk
            ):
                found[bytes(key)] = bytes(value)
        return found

    def write(self, records: Iterable[tuple[bytes, bytes | None, int]], checkpoint: int) -> None:
        """Apply changelog records ``(key, value or None to delete, timestamp ms)`` and move
        the checkpoint, all or nothing."""
        upserts: list[tuple[bytes, bytes, int | None, str | None]] = []
        deletes: list[tuple[bytes]] = []
        for key, value, stamp in records:
            if value is None:
                deletes.append((key,))
            else:
                result = is_result_key(key)
                upserts.append((key, value, stamp if result else None, _due(key, value)))
        db = self._db
        db.execute("BEGIN")
        try:
            if upserts:
                db.executemany(
                    "INSERT INTO record (key, value, stamp, due) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                    " stamp = excluded.stamp, due = excluded.due",
                    upserts,
                )
            if deletes:
                db.executemany("DELETE FROM record WHERE key = ?", deletes)
            db.execute(
                "INSERT INTO checkpoint (id, offset) VALUES (0, ?)"
                " ON CONFLICT (id) DO UPDATE SET offset = excluded.offset",
                (checkpoint,),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def expired_results(self, before_ms: int, limit: int) -> list[bytes]:
        """Keys of stored results written before ``before_ms``, oldest first."""
        rows = self._db.execute(
            "SELECT key FROM record WHERE stamp IS NOT NULL AND stamp < ? ORDER BY stamp LIMIT ?",
            (before_ms, limit),
        )
        return [bytes(key) for (key,) in rows]

    def due(self, now: str, limit: int) -> list[bytes]:
        """State keys of the products with a schedule due at ``now`` (canonical), most
        overdue first."""
        rows = self._db.execute(
            "SELECT key FROM record WHERE due IS NOT NULL AND due <= ? ORDER BY due LIMIT ?",
            (now, limit),
        )
        return [bytes(key) for (key,) in rows]

    def next_due(self) -> str | None:
        """The earliest due instant in the store (for status and tests)."""
        row = self._db.execute("SELECT min(due) FROM record WHERE due IS NOT NULL").fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM record").fetchone()[0])

    def reset(self) -> None:
        """Forget everything: the changelog will be read again from its start."""
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM record")
        self._db.execute("DELETE FROM checkpoint")
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
