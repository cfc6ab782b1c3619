"""The query API's routes for scheduled prices: a SKU's schedules, campaigns.

A router of its own so the pricing routes of :mod:`read_models.query_api` stay
readable; it shares their parameters, read-your-writes and error shapes
(``min_position``/``X-Min-Position``, 409, 422, 503). The future side of
``GET /prices/{sku}/as-of`` lives with the other price routes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from read_models.pricing import schedule_queries
from read_models.pricing.schedule_models import Campaign, CampaignList, ProductSchedules
from read_models.query_errors import NOT_FOUND, not_found
from read_models.query_params import READ, MinPosition, MinPositionHeader, Sku, WaitMs
from read_models.query_stores import Stores
from schemas.api_errors import ErrorResponse

__all__ = ["CAMPAIGN_PATTERN", "router"]

#: The contract's campaign_id pattern (schemas/json/common/definitions.json).
CAMPAIGN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"

NO_CAMPAIGN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No schedule has this campaign_id."}
}

router = APIRouter(tags=["schedules"])


def _stores(request: Request) -> Stores:
    stores: Stores = request.app.state.stores
    return stores


@router.get(
    "/prices/{sku}/schedules",
    response_model=ProductSchedules,
    responses={**READ, **NOT_FOUND},
)
async def schedules(
    request: Request,
    sku: Sku,
    include_finished: Annotated[
        bool, Query(description="also the done, cancelled and missed schedules")
    ] = False,
    min_position: MinPosition = None,
    wait_ms: WaitMs = 2000,
    x_min_position: MinPositionHeader = "",
) -> Any:
    """The SKU's planned and running schedules, by start: the price after each step to
    come, and for a sale its EU Omnibus reference (the lowest price of the 30 days
    before its start, planned prices included) and whether it is a reduction."""
    found = await _stores(request).pricing(
        min_position or x_min_position,
        wait_ms,
        schedule_queries.schedules_of,
        sku,
        include_finished,
    )
    return found if found is not None else not_found(sku)


@router.get("/campaigns", response_model=CampaignList, responses=READ)
async def campaigns(
    request: Request,
    after: Annotated[
        str | None,
        Query(pattern=CAMPAIGN_PATTERN, description="list the campaigns after this id"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=schedule_queries.MAX_CAMPAIGNS)] = 100,
    min_position: MinPosition = None,
    wait_ms: WaitMs = 2000,
    x_min_position: MinPositionHeader = "",
) -> Any:
    """Campaigns by id, with their schedules per status, first start and last end."""
    return await _stores(request).pricing(
        min_position or x_min_position, wait_ms, schedule_queries.campaigns, after, limit
    )


# `:path`: a campaign id may hold "/" (sent as %2F, or as it is).
@router.get(
    "/campaigns/{campaign_id:path}",
    response_model=Campaign,
    responses={**READ, **NO_CAMPAIGN},
)
async def campaign(
    request: Request,
    campaign_id: Annotated[str, Path(pattern=CAMPAIGN_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=schedule_queries.MAX_CAMPAIGN_SCHEDULES)] = 1000,
    min_position: MinPosition = None,
    wait_ms: WaitMs = 2000,
    x_min_position: MinPositionHeader = "",
) -> Any:
    """A campaign's schedules across SKUs (by start), its progress per status, its
    first start and last end. 404 when no schedule has this campaign_id."""
    found = await _stores(request).pricing(
        min_position or x_min_position, wait_ms, schedule_queries.campaign, campaign_id, limit
    )
    if found is None:
        return JSONResponse(status_code=404, content={"detail": f"no campaign {campaign_id}"})
    return found
