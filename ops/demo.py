"""The demo catalog: thousands of products with a realistic price history.

Deterministic (a seeded generator, command ids derived from content), so a
second load, or a load resumed after an interrupt, is answered by the
processor's idempotency instead of applied twice. Each product gets a regular
price in two or three currencies months ago, then over the following weeks
some of: a price rise, a sale of one to three weeks ending back at the
regular price, a new currency, stock deliveries and sales; a few products are
discontinued. Timestamps are in the past and increase per product, so the
pricing read model's history and the 30-day lowest price have something to show.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from producers import commands as c

NAMESPACE = uuid.UUID("5d2c3f47-2f4e-5b1a-9a0e-7e3c4b8d9f10")

BRANDS = [
    "Acme",
    "Nordwear",
    "Trailco",
    "Potter",
    "Lumen",
    "Kestrel",
    "Orbit",
    "Vela",
    "Brightside",
    "Fjell",
    "Sundial",
    "Marlow",
]
CATEGORIES = {
    ("Shoes", "Running"): ["running shoe", "trail runner", "racing flat"],
    ("Shoes", "Hiking"): ["hiking boot", "approach shoe"],
    ("Clothing", "Jackets"): ["rain jacket", "down jacket", "softshell"],
    ("Clothing", "Shirts"): ["merino tee", "linen shirt"],
    ("Home", "Kitchen"): ["kettle", "french press", "chef knife", "cast iron pan"],
    ("Home", "Lighting"): ["desk lamp", "lantern"],
    ("Outdoor", "Camping"): ["tent", "sleeping bag", "camp stove"],
}
COLOURS = ["red", "blue", "green", "black", "white", "orange", "grey", "yellow"]
RATES = {"EUR": Decimal("1"), "USD": Decimal("1.08"), "GBP": Decimal("0.86")}


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, ":".join(map(str, parts))))


def sku_of(index: int) -> str:
    return f"DEMO-{index:05d}"


def product_commands(index: int, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """Every command of one demo product, in order, with past and increasing timestamps."""
    sku = sku_of(index)
    (top, sub), kinds = rng.choice(list(CATEGORIES.items()))
    kind, colour, brand = rng.choice(kinds), rng.choice(COLOURS), rng.choice(BRANDS)
    at = now - timedelta(days=120) + timedelta(minutes=rng.randint(0, 60 * 24 * 10))
    step = 0

    def env(days: float) -> dict[str, Any]:
        nonlocal at, step
        at = at + timedelta(days=days, minutes=rng.randint(1, 600))
        step += 1
        return {"command_id": _id(sku, step), "occurred_at": min(at, now)}

    out = [
        c.register_product(
            sku,
            f"{brand} {colour} {kind}",
            description=f"A {colour} {kind} by {brand}, made for everyday {sub.lower()}.",
            brand=brand,
            category_path=[top, sub],
            attributes={"colour": colour, "size": rng.choice(["S", "M", "L", "XL"])},
            tags=[kind.split()[-1], colour, sub.lower()],
            **env(0),
        )
    ]
    base = Decimal(rng.randint(900, 29900)) / 100
    currencies = ["EUR", "USD"] + (["GBP"] if rng.random() < 0.5 else [])
    regular = {cur: base * RATES[cur] for cur in currencies}
    for cur in currencies:
        out.append(c.change_price(sku, _money(regular[cur]), cur, **env(0.01)))
    out.append(c.adjust_stock(sku, rng.randint(20, 200), reason="first delivery", **env(0.5)))
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        cur = rng.choice(currencies)
        if roll < 0.45:  # a sale, then back to the regular price
            sale = regular[cur] * Decimal(rng.choice(["0.7", "0.75", "0.8", "0.85", "0.9"]))
            out.append(
                c.change_price(sku, _money(sale), cur, price_type="sale", **env(rng.uniform(5, 25)))
            )
            out.append(c.change_price(sku, _money(regular[cur]), cur, **env(rng.uniform(7, 21))))
        elif roll < 0.75:  # a price rise
            regular[cur] = regular[cur] * Decimal(rng.choice(["1.05", "1.1", "1.15"]))
            out.append(c.change_price(sku, _money(regular[cur]), cur, **env(rng.uniform(5, 30))))
        else:  # sales and a delivery
            out.append(
                c.adjust_stock(sku, -rng.randint(1, 15), reason="sold", **env(rng.uniform(1, 10)))
            )
            out.append(
                c.adjust_stock(
                    sku, rng.randint(10, 50), reason="delivery", **env(rng.uniform(1, 10))
                )
            )
    if rng.random() < 0.35:  # a current sale, for the Omnibus rule to show
        cur = rng.choice(currencies)
        sale = regular[cur] * Decimal("0.8")
        out.append(
            c.change_price(sku, _money(sale), cur, price_type="sale", **env(rng.uniform(1, 5)))
        )
    if rng.random() < 0.02:
        out.append(c.discontinue_product(sku, reason="end of line", **env(rng.uniform(1, 5))))
    return out


def demo_commands(
    products: int, seed: int = 42, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The commands of the whole catalog. `now` is fixed by the caller for a stable catalog."""
    rng = random.Random(seed)  # noqa: S311 (a demo catalog, not a secret)
    moment = now or datetime.now(UTC)
    for index in range(products):
        yield from product_commands(index, moment, rng)
