"""The command API's request and response models: they are its OpenAPI documentation.

Apart from the routes so a reader of the contract sees every shape in one place,
and the routes read as what they do.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

RESEND_SAFE = (
    "The command was sent; its result is not known yet. Resending the same command "
    "(same command_id) is safe: a known command_id is answered with its original result."
)


class CommandName(StrEnum):
    """Command types as URL path segments (kebab-case, the usual style of URLs)."""

    REGISTER_PRODUCT = "register-product"
    UPDATE_PRODUCT_DETAILS = "update-product-details"
    CHANGE_PRICE = "change-price"
    ADJUST_STOCK = "adjust-stock"
    DISCONTINUE_PRODUCT = "discontinue-product"
    SCHEDULE_PRICE_CHANGE = "schedule-price-change"
    CANCEL_SCHEDULED_PRICE_CHANGE = "cancel-scheduled-price-change"
    SET_STOCK = "set-stock"


#: Path name -> the command ``type`` of the contract (``schemas/json/commands``).
COMMAND_TYPE_BY_NAME: Mapping[CommandName, str] = {
    CommandName.REGISTER_PRODUCT: "RegisterProduct",
    CommandName.UPDATE_PRODUCT_DETAILS: "UpdateProductDetails",
    CommandName.CHANGE_PRICE: "ChangePrice",
    CommandName.ADJUST_STOCK: "AdjustStock",
    CommandName.DISCONTINUE_PRODUCT: "DiscontinueProduct",
    CommandName.SCHEDULE_PRICE_CHANGE: "SchedulePriceChange",
    CommandName.CANCEL_SCHEDULED_PRICE_CHANGE: "CancelScheduledPriceChange",
    CommandName.SET_STOCK: "SetStock",
}


# --- request and response models (they are the OpenAPI documentation) -----------
class CommandRequest(BaseModel):
    """What the caller wants; the envelope (type, schema_version, occurred_at) is added here.

    Only the shape is checked by this model. The rules for ``sku`` and ``data``
    (patterns, enums, limits) are the JSON Schemas', checked by the client, so the
    HTTP API and every other producer cannot drift apart.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator(
        "command_id", "expected_version", "correlation_id", "causation_id", mode="before"
    )
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:
        """Optional means "leave it out": the contract has no null for these fields, and
        JSON's true and false are no numbers."""
        if value is None:
            raise PydanticCustomError("null", "may be left out, but not null")
        if isinstance(value, bool):
            raise PydanticCustomError("int_type", "must be an integer or a string, not a boolean")
        return value

    @field_validator("data", mode="after")
    @classmethod
    def _integral_numbers_are_integers(cls, value: dict[str, Any]) -> dict[str, Any]:
        """``"delta": 5.0`` is the integer 5 in JSON Schema, so in this API's document too;
        the raw contract on Kafka, stricter, refuses a number written with a fraction."""
        return {
            key: int(item)
            if type(item) is float and item.is_integer() and abs(item) <= 2**53
            else item
            for key, item in value.items()
        }

    sku: str = Field(
        description=(
            "Stock keeping unit, `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`. Also the Kafka key: "
            "all commands for one SKU are processed in order."
        ),
        examples=["SKU-1"],
    )
    data: dict[str, Any] = Field(
        description=(
            "The command's payload; its shape depends on the command type (see the "
            "examples and `schemas/json/commands/<Type>.v1.json`). Money is a decimal "
            'string ("19.99"), never a JSON number.'
        ),
        examples=[{"amount": "19.99", "currency": "EUR"}],
    )
    command_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description=(
            "Idempotency key (1-128 characters). Choose it yourself if you may retry: a "
            "resent command_id gets the original result and creates no new events. "
            "Generated (a UUID) when absent."
        ),
        examples=["8c1e4c0e-4f5e-4a8e-9a43-2f1b6c7d9e10"],
    )
    expected_version: int | None = Field(
        default=None,
        ge=0,
        le=2**53 - 1,
        description=(
            "Optimistic concurrency: the product version you last saw; 0 means the "
            "product must not exist yet. A mismatch is rejected with `version_conflict`."
        ),
        examples=[3],
    )
    correlation_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Ties together everything caused by one user action (1-128 characters).",
    )
    causation_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Id of the message that caused this command, if any (1-128 characters).",
    )


class PendingResponse(BaseModel):
    """The command is on its way; its result was not awaited or not in time."""

    command_id: str = Field(description="Resend with this command_id to get the result.")
    status: str = Field(default="pending", examples=["pending"])
    message: str = Field(default=RESEND_SAFE)
