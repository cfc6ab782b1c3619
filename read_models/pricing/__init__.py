"""The pricing read model in PostgreSQL: migrations, the pure row planner, the writer.

* :mod:`read_models.pricing.migrate`: ``migrate(conn, schema="pricing")``
* :mod:`read_models.pricing.rows`: ``plan(events, applied_versions)``, ``price_as_of``
  (the operations it plans: :mod:`~read_models.pricing.ops`; schedules:
  :mod:`~read_models.pricing.schedule_rows`)
* :mod:`read_models.pricing.sink`: ``PricingSink``, the projection's :class:`Sink`
* :mod:`read_models.pricing.queries`, :mod:`~read_models.pricing.schedule_queries`:
  the reads (what schedules will do: the pure :mod:`~read_models.pricing.planned`)
"""

from __future__ import annotations

from read_models.pricing.migrate import MigrationError, migrate
from read_models.pricing.rows import Plan, plan, price_as_of
from read_models.pricing.sink import PricingSink

__all__ = ["MigrationError", "Plan", "PricingSink", "migrate", "plan", "price_as_of"]
