"""Money as exact decimals.

Amounts travel as decimal strings (``"19.99"``) and are computed with
:class:`decimal.Decimal`. Floats are refused everywhere: ``0.1 + 0.2 != 0.3`` in
binary floating point, and a price that is off by a fraction of a cent is a bug
customers and auditors notice.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "AMOUNT_PATTERN",
    "MAX_FRACTION_DIGITS",
    "amounts_equal",
    "format_amount",
    "is_positive",
    "parse_amount",
]

#: Same pattern as ``definitions.json#/definitions/amount``.
AMOUNT_PATTERN = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?\Z")
MAX_FRACTION_DIGITS = 4


def parse_amount(amount: str) -> Decimal:
    """Parse a contract amount string; raise ``ValueError`` for anything else.

    Only ``str`` is accepted: a float has already lost precision before it gets here,
    so accepting it would hide the bug instead of reporting it.
    """
    if not isinstance(amount, str):
        raise TypeError(f"amount must be a decimal string, got {type(amount).__name__}")
    if not AMOUNT_PATTERN.match(amount):
        raise ValueError(f"not a valid amount: {amount!r}")
    return Decimal(amount)


def format_amount(value: Decimal) -> str:
    """Canonical text of an amount: plain notation, no exponent, no trailing zeros
    beyond what is needed (``Decimal("12.50")`` -> ``"12.5"``, ``Decimal("1E+2")`` -> ``"100"``).
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"amount must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise ValueError(f"amount must be finite and >= 0, got {value}")
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if not AMOUNT_PATTERN.match(text):
        raise ValueError(f"amount out of contract range: {value}")
    return text


def is_positive(amount: str) -> bool:
    """True when the amount string denotes a value greater than zero."""
    return parse_amount(amount) > 0


def amounts_equal(a: str, b: str) -> bool:
    """Compare by value, so ``"12.5"`` equals ``"12.50"``."""
    return parse_amount(a) == parse_amount(b)
