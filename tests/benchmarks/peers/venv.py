"""The virtualenv the quixstreams baseline runs in (created on first use, then reused).

quixstreams 3.28 pins confluent-kafka < 2.13 and pydantic < 2.14, older than
eventcart's pins, so it gets an environment of its own next to ``.venv``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".venv-peers"
REQUIREMENTS = ["quixstreams[elasticsearch,postgresql]==3.28.1"]


def python() -> Path:
    """The peers' interpreter, installing the pinned requirements when missing."""
    interpreter = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != "\n".join(REQUIREMENTS):
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(interpreter), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True
        )
        stamp.write_text("\n".join(REQUIREMENTS))
    return interpreter
