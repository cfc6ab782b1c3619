"""Catalog feeds over HTTP: ``POST /imports`` takes a feed file, the import runs in the background.

The import is :func:`producers.feeds.importer.run_import`, as in ``eventcart import``
(same counts, refusals and resumption). What HTTP adds, and why:

* **The body goes to disk, never to memory** (a feed may be gigabytes): written as it
  arrives to ``<home>/imports/<id>/feed``, capped by ``import_max_bytes`` (413).
* **202 at once, the import in a thread** with the API's command client: a large
  import outlasts what a client or a proxy holds a request open for.
* **A status that survives a restart**: ``status.json`` beside the feed, replaced
  atomically at most every :data:`STATUS_EVERY_S`. The upload, then the import's
  thread, holds a lock on the directory, which the system releases when the process
  goes: ``running`` with a free lock is ``failed``, :data:`INTERRUPTED`. Posting the
  file again is safe, every command id being derived from its change.
* **Few at once** (:data:`MAX_RUNNING` per process, 429 beyond): each holds two store
  connections and a window of commands in flight.

The catalog view is injected (``catalog_factory``): ``producers`` may not import the
read models, ``eventcart api commands`` passes ``ops.catalog_view.ReadModelCatalog``.
"""

from __future__ import annotations

import asyncio
import contextvars
import csv
import fcntl
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Protocol
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from starlette.requests import ClientDisconnect

from producers.auth import require_bearer_token
from producers.feeds.importer import ImportOptions, ImportReport, Sender, run_import
from producers.feeds.read import Format, RowError, parse_mapping
from producers.feeds.view import CatalogView
from producers.http_errors import too_large, too_many, unavailable, unprocessable
from schemas import timestamps, tracing
from schemas.api_errors import ErrorResponse, ValidationErrorResponse
from schemas.config.settings import Settings
from schemas.local_time import LocalTimeError, parse_instant, zone

log = logging.getLogger(__name__)

#: The ids this module makes; nothing else names a directory (no ``..``, no ``/``).
IMPORT_ID_PATTERN = r"^import-[0-9a-f]{32}$"
#: Imports (uploads included) one process runs at once.
MAX_RUNNING = 2
#: Seconds between two writes of a running import's status file.
STATUS_EVERY_S = 0.5
#: Bytes of an upload held in memory before they are written.
WRITE_BYTES = 1 << 20
INTERRUPTED = "interrupted: the API restarted; POST the file again, nothing is applied twice"
ZONES = sorted(available_timezones())


class ClosableCatalog(CatalogView, Protocol):  # it holds connections: closed after its import
    def close(self) -> None: ...


CatalogFactory = Callable[[], ClosableCatalog]


class ImportAccepted(BaseModel):
    """The upload is on disk and its import has begun: poll ``status_url``."""

    import_id: str
    status: Literal["running"] = "running"
    status_url: str = Field(description="GET it for progress and the report.")
    refused_url: str = Field(description="GET it for the refused rows, as CSV.")


class ImportStatus(BaseModel):
    """An import's progress (``report.bytes_read`` of ``report.bytes_total``) and report."""

    import_id: str
    status: Literal["running", "done", "failed"]
    started_at: str = Field(description="When the upload began (RFC 3339, UTC).")
    finished_at: str | None = None
    error: str | None = None
    report: ImportReport


def import_dir(root: Path, import_id: str) -> Path | None:
    """``root/import_id``; None unless shaped like the ids made here: no path escapes."""
    return root / import_id if re.fullmatch(IMPORT_ID_PATTERN, import_id) else None


def write_status(directory: Path, status: ImportStatus) -> None:
    """Replace ``status.json`` at once: a reader or a crash never sees half a file."""
    temporary = directory / "status.json.tmp"
    temporary.write_text(status.model_dump_json(), encoding="utf-8")
    os.replace(temporary, directory / "status.json")


def read_status(directory: Path) -> ImportStatus | None:
    """The status of the import in ``directory``; None when it has none (yet)."""
    try:
        return ImportStatus.model_validate_json((directory / "status.json").read_bytes())
    except (FileNotFoundError, ValidationError):
        return None


def interrupted(status: ImportStatus) -> ImportStatus:
    """``status`` once its thread is gone: a ``running`` import was interrupted."""
    now = timestamps.format_utc(datetime.now(UTC))
    update = {"status": "failed", "error": INTERRUPTED, "finished_at": now}
    return status.model_copy(update=update) if status.status == "running" else status


def lock(directory: Path) -> IO[str] | None:
    """The import's lock, held until closed or the process ends; None if held already."""
    held = (directory / "lock").open("a")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        return None
    return held


def busy(directory: Path) -> bool:
    """Whether an upload or an import thread, of any process, works in ``directory``."""
    held = lock(directory)
    if held is not None:
        held.close()
    return held is None


class ImportJobs:
    """This process's imports: a slot per upload or import, a thread per import."""

    def __init__(
        self,
        settings: Settings,
        catalog_factory: CatalogFactory | None,
        client: Callable[[], Sender | None],
    ) -> None:
        self.root = settings.home / "imports"
        self.max_bytes = settings.import_max_bytes
        self.catalog_factory, self.client = catalog_factory, client
        self.max_running, self.slots = MAX_RUNNING, 0
        self._lock = threading.Lock()

    def reserve(self, slots: int) -> bool:
        """Take (``slots`` 1) or give back (-1) the slot of an upload and its import."""
        with self._lock:
            if self.slots + slots > self.max_running:
                return False
            self.slots += slots
            return True

    def recover(self) -> None:
        """At startup: ``running`` with a free lock was interrupted; no status: an upload."""
        for directory in self.root.iterdir() if self.root.is_dir() else ():
            if import_dir(self.root, directory.name) is None or busy(directory):
                continue
            found = read_status(directory)
            if found is None:
                shutil.rmtree(directory, ignore_errors=True)
            elif found.status == "running":
                _ended(directory)
                write_status(directory, interrupted(found))

    def status(self, import_id: str) -> ImportStatus | None:
        """From ``status.json``; ``running`` there but its lock free: interrupted."""
        directory = import_dir(self.root, import_id)
        if directory is None or not directory.is_dir():
            return None
        if busy(directory):
            return read_status(directory)
        # Read after the lock was seen free: an import that ended wrote its end first.
        found = read_status(directory)
        return None if found is None else interrupted(found)

    def start(self, options: ImportOptions, started_at: str, held: IO[str]) -> None:
        """Import ``<root>/<import_id>/feed`` in a thread, which takes over the lock
        ``held`` and the slot, and gives both back."""
        assert options.import_id is not None
        report = ImportReport(dry_run=options.dry_run)
        status = ImportStatus(
            import_id=options.import_id, status="running", started_at=started_at, report=report
        )
        write_status(self.root / options.import_id, status)
        # The caller's context (its trace) goes with the thread: threads start empty.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._run, status, options, held), daemon=True
        ).start()

    def _run(self, status: ImportStatus, options: ImportOptions, held: IO[str]) -> None:
        directory = self.root / status.import_id
        try:
            with tracing.span("import feed", attributes={"eventcart.import": status.import_id}):
                status.report = self._import(status, options)
            status.status = "done"
        except Exception as exc:
            log.exception("import %s failed", status.import_id)
            status.status = "failed"
            status.error = f"{exc}; POST the file again: it resumes, nothing is applied twice"
        finally:
            status.finished_at = timestamps.format_utc(datetime.now(UTC))
            self.reserve(-1)
            with held:  # released whatever happens, or the import would look alive
                _ended(directory)
                write_status(directory, status)

    def _import(self, status: ImportStatus, options: ImportOptions) -> ImportReport:
        directory, saved = self.root / status.import_id, time.monotonic()
        with (directory / "refused.csv.part").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "column", "field", "rule", "message"])

            def on_refused(error: RowError) -> None:
                column, name = error.column or "", error.field or ""
                writer.writerow([error.line, column, name, error.rule, error.message])

            def on_progress(report: ImportReport) -> None:
                nonlocal saved
                status.report = report
                if time.monotonic() - saved >= STATUS_EVERY_S:
                    write_status(directory, status)
                    saved = time.monotonic()

            sender = None if options.dry_run else self.client()
            if sender is None and not options.dry_run:
                raise RuntimeError("the command API is shutting down")
            assert self.catalog_factory is not None  # checked by the route
            view = self.catalog_factory()
            try:
                feed = directory / "feed"
                return run_import(
                    feed, view, sender, options, on_refused=on_refused, on_progress=on_progress
                )
            finally:
                view.close()


def _ended(directory: Path) -> None:
    """An import ended (or was interrupted): its feed goes, its refused rows are served."""
    (directory / "feed").unlink(missing_ok=True)
    refused = directory / "refused.csv.part"
    if refused.exists():
        refused.replace(directory / "refused.csv")


async def _receive(request: Request, path: Path, max_bytes: int) -> JSONResponse | None:
    """Write the body to ``path`` as it arrives; None, or why it is not taken."""
    out = await asyncio.to_thread(lambda: path.open("wb"))
    size, pending = 0, bytearray()
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                return too_large(max_bytes)
            pending += chunk
            if len(pending) >= WRITE_BYTES:
                await asyncio.to_thread(out.write, pending)
                pending.clear()
        await asyncio.to_thread(out.write, pending)
    except ClientDisconnect:
        return JSONResponse(status_code=400, content={"detail": "the upload was cut short"})
    finally:
        await asyncio.to_thread(out.close)
    empty = {"field": "$", "rule": "required", "message": "the body is the feed file: it is empty"}
    return None if size else unprocessable([empty])


_BINARY = {"type": "string", "format": "binary", "minLength": 1}
_FEED = {"required": True, "content": {"application/octet-stream": {"schema": _BINARY}}}
_404: dict[str, Any] = {"model": ErrorResponse, "description": "No such import."}
ImportId = Annotated[str, PathParam(pattern=IMPORT_ID_PATTERN, description="From the upload.")]
#: ``COLUMN=FIELD``, both sides not blank (``eventcart import --map``'s rule)
MapPair = Annotated[str, StringConstraints(pattern=r"^[^=]*[^=\s][^=]*=.*\S.*$")]


def imports_router(jobs: ImportJobs, settings: Settings) -> APIRouter:
    """``POST /imports``, ``GET /imports/{id}``, ``GET /imports/{id}/refused``."""
    router = APIRouter(
        prefix="/imports",
        tags=["imports"],
        dependencies=[Depends(require_bearer_token(settings.api_token))],
        responses={
            401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
            422: {"model": ValidationErrorResponse, "description": "A parameter or an empty body."},
        },
    )

    @router.post(
        "",
        status_code=202,
        response_model=ImportAccepted,
        openapi_extra={"requestBody": _FEED},
        responses={
            413: {"model": ValidationErrorResponse, "description": "Over import_max_bytes."},
            429: {"model": ErrorResponse, "description": "Imports running; retry later."},
            503: {
                "model": ErrorResponse,
                "description": "Imports off here (`eventcart api commands --no-imports`).",
            },
        },
    )
    async def upload(
        request: Request,
        feed_format: Annotated[Format | None, Query(alias="format")] = None,
        maps: Annotated[
            list[MapPair] | None, Query(alias="map", description="COLUMN=FIELD")
        ] = None,
        tz: Annotated[str, Query(json_schema_extra={"enum": ZONES})] = "UTC",
        counted_at: Annotated[str | None, Query(json_schema_extra={"format": "date-time"})] = None,
        dry_run: Annotated[bool, Query(description="Count; send nothing.")] = False,
        discontinue_missing: bool = False,
    ) -> ImportAccepted | JSONResponse:
        """The body is the feed file as it is (`curl --data-binary @feed.tsv`): TSV/CSV,
        Merchant Center or plain, or JSON Lines (`format` if not detected). The import
        runs like `eventcart import`, with its options: `map` renames a column
        (`title=name`, repeatable), `tz` is the zone of times without an offset,
        `counted_at` when the stock was counted (default: when the upload began),
        `discontinue_missing` discontinues the active products the file does not list.
        Poll `status_url`: `report.bytes_read` of `report.bytes_total` is the progress."""
        started = datetime.now(UTC)
        try:
            zone(tz)
        except LocalTimeError as exc:
            return unprocessable([{"field": "query.tz", "rule": "enum", "message": str(exc)}])
        try:
            counted = started if counted_at is None else parse_instant(counted_at, tz)
        except LocalTimeError as exc:
            error = {"field": "query.counted_at", "rule": "format", "message": str(exc)}
            return unprocessable([error])
        if jobs.catalog_factory is None:
            return unavailable(
                "imports are off here (`eventcart api commands --no-imports`, as on the "
                "secured stack, whose command API may not read the read models): "
                "send the feed with `eventcart import`"
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > jobs.max_bytes:
            return too_large(jobs.max_bytes)
        if not jobs.reserve(1):
            return too_many(f"{jobs.max_running} imports are running; retry later")
        import_id = f"import-{uuid.uuid4().hex}"
        directory = jobs.root / import_id
        await asyncio.to_thread(directory.mkdir, parents=True)
        held = lock(directory)
        assert held is not None  # a new directory
        taken = False
        try:
            refused = await _receive(request, directory / "feed", jobs.max_bytes)
            if refused is not None:
                return refused
            mapping = parse_mapping(maps or [])  # each pair checked by MapPair already
            options = ImportOptions(
                counted_at=counted,
                format=feed_format,
                mapping=mapping,
                tz=tz,
                dry_run=dry_run,
                discontinue_missing=discontinue_missing,
                import_id=import_id,
            )
            # The import's span continues the uploader's trace, if it sent one; every
            # command the import sends is a child of it.
            with tracing.server_span(
                "POST /imports", request.headers, {"eventcart.import": import_id}
            ):
                await asyncio.to_thread(jobs.start, options, timestamps.format_utc(started), held)
            taken = True
        finally:
            if not taken:  # the lock, the slot and the directory go back
                held.close()
                jobs.reserve(-1)
                await asyncio.to_thread(shutil.rmtree, directory, ignore_errors=True)
        url = f"/imports/{import_id}"
        return ImportAccepted(import_id=import_id, status_url=url, refused_url=f"{url}/refused")

    @router.get("/{import_id}", response_model=ImportStatus, responses={404: _404})
    async def status(import_id: ImportId) -> ImportStatus | JSONResponse:
        """Kept in `status.json` (over restarts too), rewritten at most every 0.5 s."""
        found = await asyncio.to_thread(jobs.status, import_id)
        return found or JSONResponse(status_code=404, content={"detail": "no such import"})

    @router.get(
        "/{import_id}/refused",
        response_class=FileResponse,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            409: {"model": ErrorResponse, "description": "The import is running."},
            404: _404,
        },
    )
    async def refused(import_id: ImportId) -> Any:
        """`line,column,field,rule,message`, as `eventcart import` writes them. Served
        once the import ended: a file being written has no length to announce yet."""
        directory = import_dir(jobs.root, import_id)
        if directory is None or not await asyncio.to_thread((directory / "status.json").is_file):
            return JSONResponse(status_code=404, content={"detail": "no such import"})
        if not await asyncio.to_thread((directory / "refused.csv").is_file):
            detail = "the import is running: its refused rows come when it ends"
            return JSONResponse(status_code=409, content={"detail": detail})
        name = f"{import_id}.refused.csv"
        return FileResponse(directory / "refused.csv", media_type="text/csv", filename=name)

    return router
