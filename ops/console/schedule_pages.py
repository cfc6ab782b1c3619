"""The console's routes for scheduled prices: the product page's schedule form and
cancel buttons, and the campaign pages.

The forms answer like the change-price form: a command forwarded to the command
API (:mod:`.commands`), and on acceptance the price panel again, waiting until
the pricing read model has applied the change, so the new schedule appears in the
table and in the chart's planned part without a reload. A form with a field the
console can already tell is wrong (a time a daylight-saving transition skips or
repeats, above all) comes back with the message beside that field and sends
nothing.

The campaign pages sit under ``/console/campaigns``: ``/campaigns`` is the JSON
API's (``GET /campaigns``, ``GET /campaigns/{campaign_id}``), which the console
must leave as its OpenAPI describes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from ops.console import commands, price_panel, schedule_view
from ops.console.catalog_view import CURRENCIES
from ops.console.web import Pages, form_of, stores_of, swapping
from read_models.pricing import queries as pricing
from read_models.pricing import schedule_queries
from read_models.query_params import SKU_PATTERN
from read_models.query_schedules import CAMPAIGN_PATTERN
from schemas.config.settings import Settings

__all__ = ["CAMPAIGNS_PER_PAGE", "register"]

#: A schedule's form: eight short fields (ids of up to 128 characters, URL-encoded).
_MAX_FORM_BYTES = 4096
CAMPAIGNS_PER_PAGE = 100
#: Rows of a campaign's page; the counts above them always cover all of its schedules.
CAMPAIGN_ROWS = 1000


def form_context(
    sku: str, form: schedule_view.ScheduleForm, currencies: Iterable[str] = ()
) -> dict[str, Any]:
    """What the schedule form shows: the values typed, the product's currencies and the
    console's usual ones offered (a regular price may be planned in a new currency)."""
    offered = sorted((set(currencies) | set(CURRENCIES) | {form.currency}) - {""})
    return {
        "sku": sku,
        "form": form,
        "form_errors": {},
        "schedule_currencies": offered,
        "zones": schedule_view.ZONES,
    }


def register(router: APIRouter, page: Pages, settings: Settings) -> None:
    """Add the schedule forms' and the campaign pages' routes to the console's router."""

    @router.post("/catalog/{sku}/schedule-price-change", response_class=HTMLResponse)
    async def schedule_price_change(
        request: Request, sku: Annotated[str, PathParam(pattern=SKU_PATTERN)]
    ) -> Response:
        """Check the form, send SchedulePriceChange, answer with the form again (its
        errors beside their fields), the outcome, and on acceptance the price panel."""
        fields = await form_of(request, settings, _MAX_FORM_BYTES, "scheduled price changes")
        if isinstance(fields, Response):
            return fields
        form = schedule_view.ScheduleForm.from_fields(fields)
        context = form_context(sku, form)
        plan, errors = schedule_view.check(form)
        if plan is None:
            count = len(errors)
            message = f"Nothing sent: {count} field{'' if count == 1 else 's'} to fix."
            context.update(form_errors=errors, outcome=commands.Outcome(False, message))
            return page(request, "_scheduled.html", context)
        outcome = await commands.schedule_price_change(settings, sku, plan)
        context["outcome"] = outcome
        if outcome.accepted:
            # a fresh form for the next one, in the same currency and zone
            fresh = schedule_view.ScheduleForm(currency=form.currency, tz=form.tz)
            context["form"] = fresh
            panel, _ = await price_panel.panel(request, sku, None)
            context.update(panel, waiting_for=outcome.position_token, oob=True)
        return page(request, "_scheduled.html", context)

    @router.post("/catalog/{sku}/cancel-scheduled-price-change", response_class=HTMLResponse)
    async def cancel_scheduled_price_change(
        request: Request, sku: Annotated[str, PathParam(pattern=SKU_PATTERN)]
    ) -> Response:
        """Send CancelScheduledPriceChange for one row's schedule; answer like the
        change-price form (the outcome, and on acceptance the price panel)."""
        fields = await form_of(request, settings, _MAX_FORM_BYTES, "scheduled price changes")
        if isinstance(fields, Response):
            return fields
        schedule_id = (fields.get("schedule_id") or [""])[0].strip()
        if not schedule_view.ID.match(schedule_id):
            outcome = commands.Outcome(False, "no schedule named to cancel")
        else:
            outcome = await commands.cancel_scheduled_price_change(settings, sku, schedule_id)
        context: dict[str, Any] = {"sku": sku, "outcome": outcome}
        if outcome.accepted:
            panel, _ = await price_panel.panel(request, sku, None)
            context.update(panel, waiting_for=outcome.position_token, oob=True)
        return page(request, "_changed.html", context)

    @router.get("/console/campaigns", response_class=HTMLResponse)
    async def campaigns(
        request: Request,
        after: Annotated[str | None, Query(pattern=CAMPAIGN_PATTERN)] = None,
    ) -> Response:
        """Campaigns by id, with their schedules per status, first start and last end."""
        context: dict[str, Any] = {"after": after, "found": None}
        try:
            context["found"] = await stores_of(request).pricing(
                None, 0, schedule_queries.campaigns, after, CAMPAIGNS_PER_PAGE
            )
        except pricing.PricingUnavailable:
            return page(request, "campaigns.html", context | {"unavailable": True}, 503)
        return page(request, "campaigns.html", context)

    # `:path`: a campaign id may hold "/", as in the JSON API's route.
    @router.get("/console/campaigns/{campaign_id:path}", response_class=HTMLResponse)
    async def campaign(
        request: Request, campaign_id: Annotated[str, PathParam(pattern=CAMPAIGN_PATTERN)]
    ) -> Response:
        """A campaign's progress (counts per status, first start, last end) and its
        schedules across SKUs; its progress part alone when htmx refreshes it."""
        progress_only = swapping(request, "campaign-progress")
        name = "_campaign_progress.html" if progress_only else "campaign.html"
        rows = 1 if progress_only else CAMPAIGN_ROWS
        context: dict[str, Any] = {"campaign_id": campaign_id, "found": None}
        context["as_of"] = datetime.now(UTC)
        try:
            found = await stores_of(request).pricing(
                None, 0, schedule_queries.campaign, campaign_id, rows
            )
        except pricing.PricingUnavailable:
            # 503 is swapped in too (the console's htmx config): the part says so
            return page(request, name, context | {"unavailable": True}, 503)
        if found is None:
            return page(request, "campaign.html", context, 404)
        context.update(found=found, segments=schedule_view.progress(found.counts))
        return page(request, name, context)
