"""The one error the stack raises, so the CLI can print it without a traceback."""

from __future__ import annotations


class StackError(Exception):
    """A service could not be installed, started or stopped.

    Carries the service's name and the tail of its log because "Kafka failed"
    alone sends the operator digging; the last lines of the log usually say why.
    """

    def __init__(self, service: str, message: str, log_tail: str = "") -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
        self.log_tail = log_tail
