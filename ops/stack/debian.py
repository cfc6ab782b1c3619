"""Installing a service's Debian package, without letting the package start it.

Debian's server packages start their own instance on install (on their
default port, all interfaces) where an init system lets them. The local stack
runs its own instance from the project's folder on loopback, so the install
forbids service starts (``policy-rc.d``, the mechanism Debian provides for
this) for its duration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ops.stack.errors import StackError

_POLICY = Path("/usr/sbin/policy-rc.d")
_DENY_STARTS = (
    "#!/bin/sh\n# eventcart: installing a package; its service must not start\nexit 101\n"
)


def apt_install(service: str, packages: Sequence[str], hint: str) -> None:
    """``apt-get install`` as root, service starts forbidden; a StackError saying how to
    install by hand (``hint``) when this is not root or not Debian."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(service, hint)
    previous = _POLICY.read_bytes() if _POLICY.exists() else None
    _POLICY.write_text(_DENY_STARTS)
    _POLICY.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env=env, capture_output=True, text=True, check=False)

    install = ("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages)
    try:
        done = run(*install)
        if done.returncode != 0:  # package lists missing or stale: refresh, then again
            refreshed = run("apt-get", "update", "-q")
            if refreshed.returncode != 0:
                raise StackError(
                    service,
                    "`apt-get update` failed",
                    (refreshed.stdout + refreshed.stderr)[-4000:],
                )
            done = run(*install)
        if done.returncode != 0:
            raise StackError(
                service, f"`{' '.join(install)}` failed", (done.stdout + done.stderr)[-4000:]
            )
    finally:
        if previous is None:
            _POLICY.unlink(missing_ok=True)
        else:
            _POLICY.write_bytes(previous)
