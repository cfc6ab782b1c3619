"""The position token: where an accepted command's events landed, as one string.

An accepted command's result carries the positions of its events on the
product events topic; their compact form ``"partition:offset,partition:offset"``
is what a client passes back as ``min_position`` to read its own writes. It is
part of the contract, so any language can build or read it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: What a position token looks like, for the APIs' parameter checks.
TOKEN_PATTERN = r"^[0-9]{1,10}:[0-9]{1,19}(,[0-9]{1,10}:[0-9]{1,19})*$"  # noqa: S105 (a pattern)


def format_token(positions: Iterable[tuple[int, int]]) -> str:
    """The token of (partition, offset) pairs; one entry per partition, the highest offset."""
    highest: dict[int, int] = {}
    for partition, offset in positions:
        highest[partition] = max(highest.get(partition, -1), offset)
    return ",".join(f"{p}:{o}" for p, o in sorted(highest.items()))


def parse_token(token: str) -> dict[int, int]:
    """partition -> offset; ValueError naming the expected form on anything else."""
    wanted: dict[int, int] = {}
    if len(token) > 2000:
        raise ValueError("min_position is too long")
    for part in filter(None, (piece.strip() for piece in token.split(","))):
        partition, sep, offset = part.partition(":")
        if not sep or not partition.isdigit() or not offset.isdigit():
            raise ValueError(
                f"min_position {token!r} is not a position token "
                "('partition:offset[,partition:offset...]', as returned with an accepted command)"
            )
        wanted[int(partition)] = max(wanted.get(int(partition), -1), int(offset))
    return wanted
