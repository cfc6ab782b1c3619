"""The product aggregate: the write side's whole business logic, pure.

* :mod:`~streams.catalog.state`: the product's state and ``evolve`` (state +
  event -> state);
* :mod:`~streams.catalog.rules`: ``decide`` (command + state -> events);
* :mod:`~streams.catalog.schedules`: scheduled price changes, and ``fire``
  (state + now -> the events of what is due);
* :mod:`~streams.catalog.reasons`: the rejection reasons, part of the contract.

No module here does I/O or reads a clock: the processor, replays and the unit
tests run exactly this code, and the same input always gives byte-identical
events.
"""

from streams.catalog.decision import Accepted, Decision, Rejected
from streams.catalog.reasons import (
    ALREADY_DISCONTINUED,
    ALREADY_REGISTERED,
    COUNT_IN_FUTURE,
    COUNT_TOO_OLD,
    DISCONTINUED,
    INSUFFICIENT_STOCK,
    NO_REGULAR_PRICE,
    NOT_FOUND,
    PRICE_NOT_POSITIVE,
    REJECTION_REASONS,
    SCHEDULE_ALREADY_EFFECTIVE,
    SCHEDULE_IN_PAST,
    SCHEDULE_NOT_FOUND,
    SCHEDULE_OVERLAP,
    SCHEDULE_WINDOW,
    STOCK_LIMIT,
    VERSION_CONFLICT,
)
from streams.catalog.rules import COUNT_FUTURE_TOLERANCE, MAX_STOCK, decide
from streams.catalog.schedules import fire
from streams.catalog.state import (
    DETAIL_FIELDS,
    STOCK_LOG_KEPT,
    EventOutOfOrderError,
    ProductState,
    evolve,
    evolve_all,
    next_due,
)

__all__ = [
    "ALREADY_DISCONTINUED",
    "ALREADY_REGISTERED",
    "COUNT_FUTURE_TOLERANCE",
    "COUNT_IN_FUTURE",
    "COUNT_TOO_OLD",
    "DETAIL_FIELDS",
    "DISCONTINUED",
    "INSUFFICIENT_STOCK",
    "MAX_STOCK",
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
    "STOCK_LOG_KEPT",
    "VERSION_CONFLICT",
    "Accepted",
    "Decision",
    "EventOutOfOrderError",
    "ProductState",
    "Rejected",
    "decide",
    "evolve",
    "evolve_all",
    "fire",
    "next_due",
]
