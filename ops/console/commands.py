"""The console's one write: a price change, forwarded to the command API.

The query API process holds no Kafka producer and must stay read-only, so the
console sends the command exactly as any other client does: over HTTP to the
command API, with the token it was given (``EVENTCART_CONSOLE_COMMAND_TOKEN``).
Without a token the console offers no form at all. The answer's position token
is what the product page then waits on to show the new price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

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


async def change_price(
    settings: Settings, sku: str, amount: str, currency: str, price_type: str
) -> Outcome:
    """Send ChangePrice and wait for the processor's answer (the command API's default)."""
    token = settings.console_command_token
    if token is None:
        return Outcome(False, "this console has no command API token: it is read-only")
    body = {"sku": sku, "data": {"amount": amount, "currency": currency, "price_type": price_type}}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            answer = await client.post(
                f"{settings.console_command_url}/commands/change-price",
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
        return Outcome(True, "price change accepted", str(result.get("position_token") or ""))
    if answer.status_code == 200:
        reason = result.get("message") or result.get("reason") or "rejected"
        return Outcome(False, f"rejected: {reason}")
    if answer.status_code == 202:
        return Outcome(False, "sent, but the processor has not answered yet; reload to see it")
    if answer.status_code in (401, 403):
        return Outcome(False, "the command API refused the console's token")
    return Outcome(False, f"the command API answered {answer.status_code}: {_detail(result)}")
