"""The console's writes: a price change, a scheduled price change and its cancel,
forwarded to the command API.

The query API process holds no Kafka producer and must stay read-only, so the
console sends each command exactly as any other client does: over HTTP to the
command API, with the token it was given (``EVENTCART_CONSOLE_COMMAND_TOKEN``).
Without a token the console offers no form at all. The answer's position token
is what the product page then waits on to show the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ops.console.schedule_view import ScheduleRequest
from producers import commands as build
from schemas.config.settings import Settings

TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    #: what to tell the person who sent it
    message: str
    #: read-your-writes: the position of the command's events, when accepted
    position_token: str | None = None


def _detail(body: Any) -> str:
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        return "; ".join(str(d.get("message", d)) for d in detail if isinstance(d, dict))
    return str(detail or body)


async def send(
    settings: Settings,
    name: str,
    body: dict[str, Any],
    accepted: str,
    unchanged: str | None = None,
) -> Outcome:
    """Send the command to ``/commands/{name}`` and wait for the processor's answer (the
    command API's default). ``accepted`` is what to say when it is; ``unchanged``,
    when it is accepted with no event (the same schedule sent again)."""
    token = settings.console_command_token
    if token is None:
        return Outcome(False, "this console has no command API token: it is read-only")
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            answer = await client.post(
                f"{settings.console_command_url}/commands/{name}",
                json=body,
                headers={"Authorization": f"Bearer {token.get_secret_value()}"},
            )
    except httpx.HTTPError as exc:
        return Outcome(False, f"the command API could not be reached ({type(exc).__name__})")
    try:
        result = answer.json()
    except ValueError:
        result = {"detail": answer.text[:200]}
    if answer.status_code == 200 and result.get("status") == "accepted":
        if unchanged is not None and not result.get("event_ids"):
            return Outcome(True, unchanged)
        return Outcome(True, accepted, str(result.get("position_token") or ""))
    if answer.status_code == 200:
        reason = result.get("message") or result.get("reason") or "rejected"
        return Outcome(False, f"rejected: {reason}")
    if answer.status_code == 202:
        return Outcome(False, "sent, but the processor has not answered yet; reload to see it")
    if answer.status_code in (401, 403):
        return Outcome(False, "the command API refused the console's token")
    return Outcome(False, f"the command API answered {answer.status_code}: {_detail(result)}")


async def change_price(
    settings: Settings, sku: str, amount: str, currency: str, price_type: str
) -> Outcome:
    """ChangePrice: the price customers pay, now."""
    body = {"sku": sku, "data": {"amount": amount, "currency": currency, "price_type": price_type}}
    return await send(settings, "change-price", body, "price change accepted")


async def schedule_price_change(settings: Settings, sku: str, plan: ScheduleRequest) -> Outcome:
    """SchedulePriceChange, its data built as ``eventcart schedule add`` builds it (the
    instants sent in UTC)."""
    command = build.schedule_price_change(
        sku,
        plan.schedule_id,
        plan.amount,
        plan.currency,
        plan.starts_at,
        ends_at=plan.ends_at,
        campaign_id=plan.campaign_id,
    )
    kind = "sale" if plan.ends_at is not None else "price change"
    return await send(
        settings,
        "schedule-price-change",
        {"sku": sku, "data": command["data"]},
        f"{kind} {plan.schedule_id} scheduled",
        f"{kind} {plan.schedule_id} was already planned exactly so: nothing changed",
    )


async def cancel_scheduled_price_change(settings: Settings, sku: str, schedule_id: str) -> Outcome:
    """CancelScheduledPriceChange: a pending schedule is dropped, a running sale ends now."""
    body = {"sku": sku, "data": {"schedule_id": schedule_id}}
    return await send(
        settings, "cancel-scheduled-price-change", body, f"schedule {schedule_id} cancelled"
    )
