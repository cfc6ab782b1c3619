"""PostgreSQL from Debian's packages, with a project-local data directory.

Debian's server binaries are used directly (initdb, postgres) rather than
through pg_ctlcluster, so the cluster lives in the project's folder on the
configured port and never touches the system's own clusters. It refuses to run
as root, so under root it runs as the service account.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from ops.stack import debian, process, tls
from ops.stack.errors import StackError
from ops.stack.service import Service
from schemas.config.connections import postgres_conninfo

_CREATECLUSTER_CONF = Path("/etc/postgresql-common/createcluster.conf")


class Postgres(Service):
    name = "postgres"
    runs_as_service_account = True

    @property
    def port(self) -> int:
        return self.settings.postgres_port

    @property
    def version(self) -> str:
        return self.settings.postgres_version

    @property
    def bindir(self) -> Path:
        return Path(f"/usr/lib/postgresql/{self.version}/bin")

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    def installed(self) -> bool:
        return (self.bindir / "postgres").exists() and (self.bindir / "initdb").exists()

    def install(self) -> None:
        package = f"postgresql-{self.version}"
        # Debian's package would create and start a "main" cluster on 5432,
        # which is the port we want for ours: ask it not to.
        if os.geteuid() == 0:
            _CREATECLUSTER_CONF.parent.mkdir(parents=True, exist_ok=True)
            conf = _CREATECLUSTER_CONF.read_text() if _CREATECLUSTER_CONF.exists() else ""
            if "create_main_cluster = false" not in conf:
                _CREATECLUSTER_CONF.write_text(conf + "\ncreate_main_cluster = false\n")
        debian.apt_install(
            self.name,
            [package],
            f"PostgreSQL {self.version} server binaries not found in {self.bindir}; "
            f"install Debian's `{package}` package (as root: apt-get install {package})",
        )

    @property
    def _secure_hba(self) -> Path:
        return self.home / "pg_hba_secure.conf"

    def prepare(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.stack_secure:
            # Copied into our folder: PostgreSQL wants its key owned by its own account.
            tls.Certificates(self.settings.home / "tls").copy_to(self.home / "tls")
            self._secure_hba.write_text(
                "# The secured local stack: TLS and scram-sha-256, nothing else over TCP.\n"
                "local     all all                trust\n"
                "hostssl   all all 127.0.0.1/32   scram-sha-256\n"
                "hostssl   replication all 127.0.0.1/32 scram-sha-256\n"
                "hostnossl all all 127.0.0.1/32   reject\n"
            )
        if not (self.data_dir / "PG_VERSION").exists():
            self.create_data()

    def create_data(self) -> None:
        """The data folder of a new server: initdb, with the administrator's password."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        account = self.account
        with tempfile.NamedTemporaryFile("w", dir=self.home, delete=False) as pwfile:
            pwfile.write(self.settings.postgres_admin_password.get_secret_value() + "\n")
        try:
            process.give_to(account, self.home)
            self.make_data(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                f"--pwfile={pwfile.name}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            Path(pwfile.name).unlink(missing_ok=True)

    def make_data(self, tool: str, *args: str) -> None:
        """Run PostgreSQL's ``tool`` as the service account to fill the data folder; on
        failure the folder is removed (a next start begins again) and the error named."""
        account = self.account
        proc = subprocess.run(
            [str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
            cwd=self.home,
            env={**os.environ, "PGAPPNAME": self.name},
        )
        if proc.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise StackError(self.name, f"{tool} failed", (proc.stdout + proc.stderr)[-4000:])

    def command(self) -> list[str]:
        return [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=512MB",
            "-c",
            "logging_collector=off",
            *self._tls(),
        ]

    def _tls(self) -> list[str]:
        """The secured stack's server options: TLS with the stack's certificate, and its
        own pg_hba that admits TLS connections with scram passwords only (the data
        folder's file, made by initdb, stays as it is)."""
        if not self.settings.stack_secure:
            return []
        certs, hba = tls.Certificates(self.home / "tls"), self._secure_hba
        return [
            *("-c", "ssl=on"),
            *("-c", f"ssl_cert_file={certs.certificate}"),
            *("-c", f"ssl_key_file={certs.key}"),
            *("-c", f"hba_file={hba}"),
            *("-c", "password_encryption=scram-sha-256"),
        ]

    def _admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        # From the application's DSN, so its TLS parameters (sslmode, sslrootcert) apply.
        conninfo = postgres_conninfo(
            self.settings,
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=self.settings.postgres_admin_password.get_secret_value(),
            dbname=dbname,
            connect_timeout=3,
        )
        return psycopg.connect(conninfo, autocommit=True)

    def healthy(self) -> bool:
        try:
            with self._admin() as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def running_version(self) -> str:
        with self._admin() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else self.version

    def after_start(self) -> None:
        """Create the application role, the pricing writer's and the read-only role, and
        the database, once (passwords set again on every start)."""
        s = self.settings
        owner, database = s.postgres_user, s.postgres_database
        roles = {
            owner: s.postgres_password,
            f"{owner}_reader": s.postgres_reader_password.get_secret_value(),
            f"{owner}_pricing": s.postgres_pricing_password.get_secret_value(),
        }
        with self._admin() as conn:
            for role, password in roles.items():
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", [role]
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(
                    sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                        sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
                    )
                )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [database]
            ).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(owner)
                    )
                )
            for role in (f"{owner}_reader", f"{owner}_pricing"):
                conn.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                        sql.Identifier(database), sql.Identifier(role)
                    )
                )

    def _stop_process(self) -> bool:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
        return process.stop(self.pidfile, signal.SIGINT)
