"""A catalog view over a dictionary for the import's unit tests: what the processor
and the read models would make of every command the fake sender accepts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from producers.feeds.view import Listed, ListedSale

__all__ = ["Catalog"]


class Catalog:
    """A CatalogView over a dictionary, updated by what the fake sender accepts."""

    #: whether a product registered through ``apply`` is listed consistent (both read
    #: models at one version), as the ledger needs it to write an entry
    registers_consistent = False

    def __init__(self, *products: Listed) -> None:
        self.products = {product.sku: product for product in products}
        self.lookups: list[list[str]] = []

    def lookup(self, skus: Sequence[str]) -> Mapping[str, Listed]:
        self.lookups.append(list(skus))
        return {sku: self.products[sku] for sku in skus if sku in self.products}

    def active_skus(self) -> Iterable[str]:
        return [sku for sku, product in self.products.items() if not product.discontinued]

    def apply(self, command: Mapping[str, Any]) -> None:
        """What the processor and the read models would make of an accepted command."""
        sku, data = command["sku"], command["data"]
        if command["type"] == "RegisterProduct":
            self.products[sku] = Listed(sku=sku, version=0, consistent=self.registers_consistent)
        old = self.products[sku]
        new = replace(old, version=old.version + 1)
        match command["type"]:
            case "RegisterProduct" | "UpdateProductDetails":
                fields: dict[str, Any] = {
                    k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
                }
                new = replace(new, **fields)
            case "ChangePrice":
                new = replace(new, regular={**old.regular, data["currency"]: data["amount"]})
            case "SetStock":
                new = replace(new, stock=data["quantity"])
            case "SchedulePriceChange":
                sale = ListedSale(data["currency"], "planned")
                new = replace(new, feed_sales={**old.feed_sales, data["schedule_id"]: sale})
            case "CancelScheduledPriceChange":
                sid = data["schedule_id"]
                cancelled = replace(old.feed_sales[sid], status="cancelled")
                new = replace(new, feed_sales={**old.feed_sales, sid: cancelled})
            case "DiscontinueProduct":
                new = replace(new, discontinued=True)
        self.products[sku] = new
