"""A PostgreSQL streaming replica of the local server (`eventcart stack up --replica`).

Why a replica at all: the query API's reads (prices, history, the lowest price
of 30 days) then leave the primary to the pricing projection's writes, as a
catalog's read traffic would on a managed database. Its data folder is a base
backup of the running primary (``pg_basebackup -R``: WAL streamed during the
copy, ``standby.signal`` and ``primary_conninfo`` written), so it starts as a hot
standby that replays the primary's WAL as it comes. Everything else (the binary,
TLS, the service account) is the primary's: it is the same server, read-only.

Read-your-writes holds on it without help: a position token is checked against
the checkpoint rows *on the replica*, which replay in the same WAL order as the
rows they cover, so a token that is applied there has its writes there too.
"""

from __future__ import annotations

import time
from pathlib import Path

from ops.stack import process
from ops.stack.errors import StackError
from ops.stack.postgres import Postgres
from schemas.config.connections import postgres_conninfo

__all__ = ["PostgresReplica"]


class PostgresReplica(Postgres):
    name = "postgres-replica"

    @property
    def port(self) -> int:
        return self.settings.postgres_replica_port

    @property
    def primary(self) -> Postgres:
        return Postgres(self.settings)

    def create_data(self) -> None:
        """A base backup of the primary, once it answers (`stack up` starts both at once)."""
        primary = self.primary
        deadline = time.monotonic() + self.settings.start_timeout_s
        while not primary.healthy():
            if time.monotonic() > deadline:
                raise StackError(self.name, "the primary PostgreSQL did not answer: no base backup")
            time.sleep(0.5)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        account = self.account
        process.give_to(account, self.home)
        source = postgres_conninfo(
            self.settings,
            host="127.0.0.1",
            port=primary.port,
            user="postgres",
            password=self.settings.postgres_admin_password.get_secret_value(),
        )
        self.make_data(
            "pg_basebackup",
            f"--dbname={source}",
            f"--pgdata={self.data_dir}",
            "--write-recovery-conf",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-password",
        )
        # The primary's own settings came with the copy; ours are on the command line.
        Path(self.data_dir / "postmaster.opts").unlink(missing_ok=True)
        self.data_dir.chmod(0o700)  # PostgreSQL refuses a data folder others can read

    def after_start(self) -> None:
        """Nothing: roles and the database come from the primary, by replication."""

    def lag_bytes(self) -> int:
        """WAL the replica has received but not replayed yet (0: caught up)."""
        with self._admin() as conn:
            row = conn.execute(
                "SELECT COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), "
                "pg_last_wal_replay_lsn()), 0)::bigint"
            ).fetchone()
        return int(str(row[0])) if row else 0
