"""The web console: the catalog as shoppers see it, prices as a chart, and the read
models' health, served by the query API's process at ``/`` (see :mod:`.app`)."""

from ops.console.app import mount

__all__ = ["mount"]
