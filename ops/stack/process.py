"""Starting, watching and stopping the stack's server processes without Docker.

Each service runs detached in its own session (so a Ctrl-C in the shell that
ran ``eventcart stack up`` does not take it down) and records its pid in a
file; "is it ours and alive" is answered from that file, never from a
process-name guess that could match a stranger's server.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ops.stack.errors import StackError


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def answers_http(url: str) -> bool:
    """True when ``url`` (ours, on loopback) answers 200 within two seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our loopback URL)
            return bool(response.status == 200)
    except OSError:
        return False


def ensure_port_free(service: str, port: int) -> None:
    """Refuse to start on a port somebody else holds, naming the way out."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do: connections lingering in TIME_WAIT after
        # a restart do not hold the port, only a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise StackError(
                service,
                f"port 127.0.0.1:{port} is already in use by another process; "
                f"stop it (see `ss -ltnp 'sport = :{port}'`) or point eventcart at another "
                "port with its EVENTCART_* setting (see the README's configuration table)",
            ) from None


def _start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot, /proc/PID/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; it ends at the last ")".
    return stat.rpartition(")")[2].split()[19]


def read_pid(pidfile: Path) -> int | None:
    """The pid recorded in pidfile when that very process is still alive, else None.

    The file also holds the process's start time, so a pid the system has given
    to another process since (after a crash or a reboot) is not taken for ours.
    """
    try:
        fields = pidfile.read_text().split()
        pid = int(fields[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if len(fields) > 1 and _start_time(pid) not in (None, fields[1]):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie child of ours still answers kill(0): reap it if we can.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return None
    return pid


def service_account(name: str) -> pwd.struct_passwd | None:
    """The unprivileged account to run servers as when we are root, created on demand.

    Elasticsearch and PostgreSQL refuse to run as root, and CI runs as root.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def give_to(account: pwd.struct_passwd | None, *paths: Path) -> None:
    """Hand paths (recursively) to the service account and let it reach them."""
    if account is None:
        return
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
        for root, dirs, files in os.walk(path):
            os.chown(root, account.pw_uid, account.pw_gid)
            for name in dirs + files:
                with contextlib.suppress(FileNotFoundError):
                    os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid)
        make_traversable(path.parent)


def make_traversable(path: Path) -> None:
    """Give "others" the search bit on path and its ancestors where it is missing.

    Only the execute (traverse) bit, never read: the service account must be
    able to walk down to the project's data folder, wherever the clone lives.
    """
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & 0o001:
            directory.chmod(mode | 0o001)


def spawn(
    command: Sequence[str],
    *,
    log_file: Path,
    pidfile: Path,
    cwd: Path,
    env: Mapping[str, str],
    account: pwd.struct_passwd | None = None,
) -> int:
    """Start command detached, its output appended to log_file, and record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{proc.pid} {_start_time(proc.pid) or ''}\n")
    return proc.pid


def wait_until(
    service: str,
    healthy: Callable[[], bool],
    *,
    pidfile: Path,
    log_file: Path,
    timeout_s: float,
) -> None:
    """Poll healthy() until it holds; fail fast, with the log, if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy():
            return
        if read_pid(pidfile) is None:
            raise StackError(service, "the process exited during start", tail(log_file))
        time.sleep(0.5)
    raise StackError(
        service, f"not healthy after {timeout_s:.0f} s (EVENTCART_START_TIMEOUT_S)", tail(log_file)
    )


def stop(pidfile: Path, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 60.0) -> bool:
    """Stop the recorded process group gracefully, then by force; True if one was running."""
    pid = read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and read_pid(pidfile) is not None:
        time.sleep(0.2)
    if read_pid(pidfile) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
    pidfile.unlink(missing_ok=True)
    return True


def wait_port_closed(port: int, timeout_s: float = 60.0) -> None:
    """Return once nothing listens on 127.0.0.1:port (or after timeout_s)."""
    deadline = time.monotonic() + timeout_s
    while port_is_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)


def tail(log_file: Path, lines: int = 30) -> str:
    """The last lines of a log, or a note that there is none."""
    try:
        with log_file.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {log_file})"
    return "\n".join(text.splitlines()[-lines:])
