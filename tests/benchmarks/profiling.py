"""py-spy around a benchmark's busy process: the profile's top lines go beside the figures.

Shared by the benchmarks that print where the time went (the search capacity
benchmark's query API, the scheduled-price benchmark's processor), so each reads
a profile the same way: own time per frame, in percent of the samples.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["py_spy", "top_frames"]


def py_spy(
    pid: int, seconds: int, into: Path, *, children: bool = False
) -> subprocess.Popen[bytes]:
    """Start py-spy on ``pid`` for ``seconds`` (CPU time only, as raw collapsed stacks)."""
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid)]
    if children:
        command.append("--subprocesses")  # uvicorn's workers are children
    command += ["-d", str(seconds), "--gil", "-f", "raw", "-o", str(into)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(raw: str, top: int = 12) -> list[str]:
    """The frames with the most own time, as indented report lines."""
    own: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frame = stack.split(";")[-1]
        own[frame] = own.get(frame, 0) + int(count)
    ranked = sorted(own.items(), key=lambda item: -item[1])[:top]
    return [f"    {n / max(total, 1) * 100:5.1f}%  {frame[:110]}" for frame, n in ranked]
