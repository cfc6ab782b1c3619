"""The query API's shared parameters: the types every route of the pricing and search
reads declares, so that the OpenAPI says the same thing of each.

Apart from :mod:`.query_api` so the route modules (:mod:`.query_schedules`) and
the console can take them without importing the app that includes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Header, Path, Query
from pydantic import BeforeValidator

from read_models import consistency
from read_models.query_errors import INVALID, NOT_YET, UNAVAILABLE
from schemas import timestamps
from schemas.position_token import TOKEN_PATTERN

__all__ = [
    "READ",
    "SKU_PATTERN",
    "Currency",
    "Instant",
    "MinPosition",
    "MinPositionHeader",
    "Sku",
    "WaitMs",
]

#: The contract's SKU pattern (schemas/json/common/definitions.json).
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Sku = Annotated[str, Path(pattern=SKU_PATTERN)]
Currency = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
MinPosition = Annotated[
    str | None,
    Query(
        max_length=2000,
        pattern=TOKEN_PATTERN,
        description="position token of an accepted command (`position_token`, "
        "`partition:offset[,partition:offset...]`): answer only once this read model has "
        "applied it. Also accepted as the X-Min-Position header.",
    ),
]
WaitMs = Annotated[
    int,
    Query(ge=0, le=consistency.MAX_WAIT_MS, description="longest wait for min_position (ms)"),
]
#: The same as a header (empty: none; a header has no null).
MinPositionHeader = Annotated[
    str,
    Header(
        alias="X-Min-Position",
        max_length=2000,
        pattern=f"^$|{TOKEN_PATTERN}",
        description="the position token, as min_position (empty: none)",
    ),
]


def _instant(value: object) -> object:
    """An instant as the contract writes one: RFC 3339 with an offset, nothing else (not a
    number of seconds, not a local time), as the parameter's schema says."""
    if isinstance(value, str):
        return timestamps.parse(value)
    raise ValueError("an instant is an RFC 3339 date-time with an offset")


Instant = Annotated[datetime, BeforeValidator(_instant)]

#: What every read of a read model may answer besides 200.
READ = {**INVALID, **NOT_YET, **UNAVAILABLE}
