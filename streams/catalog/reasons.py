"""Why a command is rejected: stable machine codes, part of the results contract."""

from __future__ import annotations

__all__ = [
    "ALREADY_DISCONTINUED",
    "ALREADY_REGISTERED",
    "COUNT_IN_FUTURE",
    "COUNT_TOO_OLD",
    "DISCONTINUED",
    "INSUFFICIENT_STOCK",
    "NOT_FOUND",
    "NO_REGULAR_PRICE",
    "PRICE_NOT_POSITIVE",
    "REJECTION_REASONS",
    "SCHEDULE_ALREADY_EFFECTIVE",
    "SCHEDULE_IN_PAST",
    "SCHEDULE_NOT_FOUND",
    "SCHEDULE_OVERLAP",
    "SCHEDULE_WINDOW",
    "STOCK_LIMIT",
    "VERSION_CONFLICT",
]

ALREADY_REGISTERED = "already_registered"
NOT_FOUND = "not_found"
DISCONTINUED = "discontinued"
ALREADY_DISCONTINUED = "already_discontinued"
PRICE_NOT_POSITIVE = "price_not_positive"
INSUFFICIENT_STOCK = "insufficient_stock"
STOCK_LIMIT = "stock_limit"
VERSION_CONFLICT = "version_conflict"
# scheduled price changes (streams.catalog.schedules)
SCHEDULE_IN_PAST = "schedule_in_past"
SCHEDULE_WINDOW = "schedule_window"
SCHEDULE_OVERLAP = "schedule_overlap"
SCHEDULE_NOT_FOUND = "schedule_not_found"
SCHEDULE_ALREADY_EFFECTIVE = "schedule_already_effective"
NO_REGULAR_PRICE = "no_regular_price"
# setting stock from a count (SetStock, streams.catalog.rules)
COUNT_IN_FUTURE = "count_in_future"
COUNT_TOO_OLD = "count_too_old"

REJECTION_REASONS = frozenset(
    {
        ALREADY_REGISTERED,
        NOT_FOUND,
        DISCONTINUED,
        ALREADY_DISCONTINUED,
        PRICE_NOT_POSITIVE,
        INSUFFICIENT_STOCK,
        STOCK_LIMIT,
        VERSION_CONFLICT,
        SCHEDULE_IN_PAST,
        SCHEDULE_WINDOW,
        SCHEDULE_OVERLAP,
        SCHEDULE_NOT_FOUND,
        SCHEDULE_ALREADY_EFFECTIVE,
        NO_REGULAR_PRICE,
        COUNT_IN_FUTURE,
        COUNT_TOO_OLD,
    }
)
