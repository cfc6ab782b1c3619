"""Every schedule of a campaign, for operations on the whole of it (move, cancel).

``schedule_queries.campaign`` answers people, a page at a time; moving or
cancelling a campaign of 8,000 SKUs needs all of its rows in a given status,
read as one snapshot with a server-side cursor so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from read_models.pricing.schedule_models import ScheduledChange
from read_models.pricing.schedule_queries import SCHEDULE_COLUMNS, scheduled_change

__all__ = ["campaign_schedules"]


def campaign_schedules(
    conn: psycopg.Connection[Any],
    schema: str,
    campaign_id: str,
    statuses: Sequence[str] = ("planned", "running"),
) -> Iterator[ScheduledChange]:
    """The campaign's schedules in ``statuses``, by SKU and schedule id."""
    query = sql.SQL(
        "SELECT sku, " + SCHEDULE_COLUMNS + " FROM {}.scheduled_price"
        " WHERE campaign_id = %s AND status = ANY(%s) ORDER BY sku, schedule_id"
    ).format(sql.Identifier(schema))
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with conn.cursor(name="campaign_schedules") as cur:
            cur.execute(query, [campaign_id, list(statuses)])
            for row in cur:
                yield scheduled_change(row[0], row[1:])
