"""eventcart's read models, in one list: every tool loops over it.

Adding a read model is writing its ``read_model.py`` (sinks, positions, rebuild,
check) and listing it here; the worker runs its projection, and replay, repair,
re-drive, status, verify and the console know it.
"""

from __future__ import annotations

from read_models.pricing.read_model import PRICING
from read_models.read_model import ReadModel
from read_models.search.read_model import SEARCH

__all__ = ["READ_MODELS", "by_name", "by_role", "names"]

READ_MODELS: tuple[ReadModel, ...] = (SEARCH, PRICING)


def names() -> tuple[str, ...]:
    return tuple(model.name for model in READ_MODELS)


def by_name(name: str) -> ReadModel:
    """The read model called ``name`` (``search``) or running as role ``name``
    (``search-projection``)."""
    for model in READ_MODELS:
        if name in (model.name, model.role):
            return model
    raise ValueError(f"unknown read model {name!r}; choose from {', '.join(names())}")


def by_role(role: str) -> ReadModel:
    for model in READ_MODELS:
        if model.role == role:
            return model
    raise ValueError(f"no read model runs as {role!r}")
