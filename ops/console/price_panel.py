"""The product page's price panel: current prices, history, the chart with its planned
part, and the upcoming price changes, read in one snapshot.

One snapshot because the panel puts the past and the plan side by side: read
apart, a sale that started in between would show twice (in the history, and
still planned) or not at all. The panel is also what a form's answer waits on
(read-your-writes), so every change sent from the page (a price, a schedule, a
cancel) shows up in the same place the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from psycopg import Connection

from ops.console import price_chart, schedule_view
from ops.console.web import stores_of
from read_models.pricing import queries as pricing
from read_models.pricing import schedule_queries
from read_models.pricing.models import OmnibusPrice, PriceInterval, ProductPrices
from read_models.pricing.schedule_models import ProductSchedules
from read_models.query_stores import NotYetConsistent

__all__ = ["PRICE_WAIT_MS", "panel", "read_prices", "view_of"]

#: How long the price panel waits for the pricing read model per request after a change
#: (then it says so and asks again): well inside a browser's patience.
PRICE_WAIT_MS = 5000


async def panel(request: Request, sku: str, token: str | None) -> tuple[dict[str, Any], int]:
    """The price panel's context; with a token, once pricing has applied it (or
    what it holds now, flagged to ask again)."""
    stores = stores_of(request)
    waiting = None
    try:
        view = await stores.pricing(token, PRICE_WAIT_MS, read_prices, sku)
    except NotYetConsistent:
        waiting = token
        view = await stores.pricing(None, 0, read_prices, sku)
    except pricing.PricingUnavailable:
        return {"sku": sku, "view": None, "unavailable": True}, 503
    return {"sku": sku, "view": view, "waiting_for": waiting}, 200


def read_prices(conn: Connection[Any], schema: str, sku: str) -> dict[str, Any] | None:
    """Current prices, history, Omnibus prices and schedules with the JSON API's query
    functions, in one read-only snapshot. None for a SKU the pricing model does not know."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        now = datetime.now(UTC)
        current = pricing.current_prices(conn, schema, sku)
        if current is None:
            return None
        history = pricing.price_history(conn, schema, sku, None, 1000)
        omnibus = {
            currency: pricing.lowest_price_30_days(conn, schema, sku, currency)
            for currency, price in current.prices.items()
            if price.price_type == "sale"
        }
        schedules = schedule_queries.schedules_of(conn, schema, sku, False, now)
    return view_of(now, current, history, omnibus, schedules)


def view_of(
    now: datetime,
    current: ProductPrices,
    history: Sequence[PriceInterval],
    omnibus: Mapping[str, OmnibusPrice | None],
    schedules: ProductSchedules | None,
) -> dict[str, Any]:
    """What the panel's template shows, from what the queries answered (pure)."""
    series = price_chart.price_series(history, now, price_chart.planned_points(schedules))
    return {
        "current": current,
        "rows": price_chart.price_rows(current.prices, omnibus),
        "history": history,
        "series": series,
        "series_json": price_chart.series_json(series),
        "points": sum(s["points"] for s in series),
        "planned_points": sum(s["planned"] for s in series),
        "now_ms": price_chart.ms(now),
        "schedules": schedule_view.schedule_rows(schedules),
    }
