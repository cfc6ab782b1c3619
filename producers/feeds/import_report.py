"""What an import is asked to do, and what it reports: shared by the reading loop
(``producers.feeds.importer``), the batches (``producers.feeds.import_run``), the
CLI and the upload route."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from producers.feeds.read import Format

__all__ = ["ImportOptions", "ImportReport"]


@dataclass(frozen=True)
class ImportOptions:
    #: when the feed's stock figures were counted: deliveries after it are added
    counted_at: datetime
    format: Format | None = None
    #: the file's column -> eventcart's (``--map title=name``)
    mapping: Mapping[str, str] | None = None
    #: the zone of times without an offset (sale windows)
    tz: str | None = None
    dry_run: bool = False
    discontinue_missing: bool = False
    #: rows looked up in the catalog at once (the ledger first, then the read models)
    batch: int = 5000
    #: commands awaiting an answer at once
    window: int = 20_000
    #: seconds to wait for one answer before it counts as ``no_answer``
    timeout_s: float = 120.0
    #: carried by every command (``correlation_id``), so the log says which import sent it
    import_id: str | None = None


@dataclass
class ImportReport:
    """Counts of an import, as the CLI prints them and the upload route returns them.

    Kinds count commands the processor accepted (a dry run: commands it would
    send); ``refused`` counts refused rows and rejected commands."""

    rows: int = 0
    registered: int = 0
    details: int = 0
    price: int = 0
    stock: int = 0
    sale: int = 0
    sale_cancelled: int = 0
    discontinued: int = 0
    unchanged: int = 0
    refused: int = 0
    #: commands sent (0 on a dry run)
    sent: int = 0
    answered: int = 0
    bytes_read: int = 0
    bytes_total: int = 0
    dry_run: bool = False
    #: set when the file itself could not be read to its end
    file_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: read-your-writes token of everything accepted (``min_position``)
    position: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
