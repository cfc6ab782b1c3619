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
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from streams.changelog_keys import is_result_key

__all__ = ["PartitionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS record (
    key   BLOB PRIMARY KEY,
    value BLOB NOT NULL,
    -- when a stored result was written (ms since the epoch); NULL for states
    stamp INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_stamp ON record (stamp) WHERE stamp IS NOT NULL;
CREATE TABLE IF NOT EXISTS checkpoint (
    id     INTEGER PRIMARY KEY CHECK (id = 0),
    offset INTEGER NOT NULL
);
"""

#: SQLite's default limit of bound parameters is 32,766; stay well below.
_CHUNK = 900


class PartitionStore:
    """States and stored results of one partition, with the changelog offset they reach."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

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
        upserts: list[tuple[bytes, bytes, int | None]] = []
        deletes: list[tuple[bytes]] = []
        for key, value, stamp in records:
            if value is None:
                deletes.append((key,))
            else:
                upserts.append((key, value, stamp if is_result_key(key) else None))
        db = self._db
        db.execute("BEGIN")
        try:
            if upserts:
                db.executemany(
                    "INSERT INTO record (key, value, stamp) VALUES (?, ?, ?) ON CONFLICT (key)"
                    " DO UPDATE SET value = excluded.value, stamp = excluded.stamp",
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
