"""The answer to a command, as services see it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from schemas.position_token import format_token


class Position(BaseModel):
    """Where one event landed on the product events topic."""

    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class CommandResult(BaseModel):
    """Accepted (with the events' ids and positions) or rejected (with a reason)."""

    command_id: str | None
    sku: str | None
    status: Literal["accepted", "rejected"]
    reason: str | None = Field(
        default=None,
        description="machine code when rejected: not_found, version_conflict, invalid, ...",
    )
    message: str | None = Field(default=None, description="for people")
    field: str | None = Field(default=None, description="invalid input: JSON path of the field")
    rule: str | None = Field(default=None, description="invalid input: the rule it broke")
    version: int | None = Field(default=None, description="the product's version after it")
    event_ids: list[str] = Field(default_factory=list)
    positions: list[Position] = Field(
        default_factory=list, description="read-your-writes token: partitions and offsets"
    )

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @computed_field(  # type: ignore[prop-decorator]
        description="read-your-writes: pass as min_position to the query API"
    )
    @property
    def position_token(self) -> str:
        return format_token((p.partition, p.offset) for p in self.positions)

    @classmethod
    def from_message(cls, raw: dict[str, Any]) -> CommandResult:
        return cls.model_validate(raw)
