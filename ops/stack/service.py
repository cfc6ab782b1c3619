"""What every service of the local stack has in common.

A service knows how to install itself (once, into the download cache), how to
prepare its data folder, the command that runs it, and how to tell that it is
healthy. The manager drives them all the same way; the per-service modules hold
only what is specific to Kafka, Elasticsearch or PostgreSQL.
"""

from __future__ import annotations

import os
import pwd
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ops.stack import process
from schemas.config.settings import Settings


@dataclass(frozen=True)
class Status:
    """One line of `eventcart stack status`."""

    name: str
    up: bool
    version: str
    port: int
    data_dir: Path
    pid: int | None


class Service(ABC):
    """One server process of the stack, run from the project-local folder."""

    name: str
    runs_as_service_account = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- where things live -------------------------------------------------
    @property
    def home(self) -> Path:
        return self.settings.home / self.name

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.settings.home / "logs" / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return self.settings.home / "run" / f"{self.name}.pid"

    @property
    def account(self) -> pwd.struct_passwd | None:
        if not self.runs_as_service_account:
            return None
        return process.service_account(self.settings.service_user)

    # --- what each service defines ----------------------------------------
    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def installed(self) -> bool: ...

    @abstractmethod
    def install(self) -> None: ...

    @abstractmethod
    def prepare(self) -> None:
        """Create config and data on first start; rewrite config on every start."""

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    def healthy(self) -> bool: ...

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def after_start(self) -> None:  # noqa: B027 (optional hook, no-op by default)
        """Idempotent set-up that needs the server running (databases, roles)."""

    def running_version(self) -> str:
        return self.version

    # --- the life cycle, the same for all ----------------------------------
    def pid(self) -> int | None:
        return process.read_pid(self.pidfile)

    def start(self) -> None:
        process.ensure_port_free(self.name, self.port)
        if not self.installed():
            self.install()
        self.prepare()
        process.give_to(self.account, self.home)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        process.spawn(
            self.command(),
            log_file=self.log_file,
            pidfile=self.pidfile,
            cwd=self.home,
            env=self.environment(),
            account=self.account,
        )

    def wait(self) -> None:
        process.wait_until(
            self.name,
            self.healthy,
            pidfile=self.pidfile,
            log_file=self.log_file,
            timeout_s=self.settings.start_timeout_s,
        )
        self.after_start()

    def stop(self) -> bool:
        stopped = self._stop_process()
        # A launcher can exit before the server it started (Elasticsearch's CLI
        # does): stopped means the port is free again.
        process.wait_port_closed(self.port)
        return stopped

    def _stop_process(self) -> bool:
        return process.stop(self.pidfile)

    def status(self) -> Status:
        pid = self.pid()
        up = pid is not None and self.healthy()
        return Status(
            name=self.name,
            up=up,
            version=self.running_version() if up else self.version,
            port=self.port,
            data_dir=self.home,
            pid=pid,
        )
