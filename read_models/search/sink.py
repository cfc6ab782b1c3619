"""The search read model's sink: events in, full documents out, two requests a batch.

``apply`` groups a batch by SKU (keeping log order), reads the current documents
with ONE ``mget`` on the alias, folds each SKU's events onto its document with the
pure :func:`read_models.search.document.project` (stopping at an event that is
not the document's next version: a gap, reported), and writes every changed
document with ONE ``bulk`` request: ``_id`` = SKU, ``version`` = the product's
event version, ``version_type=external_gte``. Elasticsearch keeps a write only if
its version is at least the stored one, so redeliveries, replays and concurrent
stale writers never move a document backwards.

Each bulk item's outcome is classified, none is ignored:

* 200/201: the events folded into it are ``applied``;
* 409 ``version_conflict_engine_exception``: checked, never assumed. When the
  document is stored (a concurrent writer got there first with a newer
  version) its events are ``skipped``; when it is not (it was deleted, and the
  tombstone of the deletion refused the write) it is written again once the
  tombstone is gone, and counted as applied. Events at or below the stored
  version are skipped before any write, from the ``mget``;
* 429, 5xx, a missing alias/index: :class:`TransientStoreError` (the runner
  retries the whole batch; idempotent thanks to the external versions);
* any other 4xx (a mapping rejection such as ``document_parsing_exception``):
  every event folded into that document is ``failed`` with the reason, and the
  other documents of the batch still count as applied.

The sink neither refreshes nor sleeps: visibility follows the index's refresh
interval, and backing off is the runner's job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, cast

import orjson
from elasticsearch import ApiError, Elasticsearch, TransportError

from read_models.projection import ApplyReport, Gap, PositionedEvent, TransientStoreError
from read_models.search import positions, switch
from read_models.search.document import passed, project

__all__ = ["SearchSink"]

_MISSING_INDEX_ERRORS = frozenset({"index_not_found_exception"})

#: Pauses before writing again a document refused by the tombstone of its deletion
#: (the index forgets tombstones at its next refresh after ``gc_deletes``, 0 s).
TOMBSTONE_PAUSES = (0.3, 0.6, 1.2, 2.4)


def _is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


#: Refusals that say the index cannot take writes *now* (a write block, the disk
#: flood stage's read-only block), not that the document is wrong: waited out.
_BLOCKED_ERRORS = {"cluster_block_exception"}


def _reason(error: Any) -> str:
    if isinstance(error, dict):
        kind = error.get("type", "error")
        reason = error.get("reason", "")
        cause = error.get("caused_by")
        text = f"{kind}: {reason}"
        if isinstance(cause, dict):
            text += f" (caused by {cause.get('type', 'error')}: {cause.get('reason', '')})"
        return text
    return str(error)


def _raise_transient_if_retryable(action: str, exc: ApiError) -> None:
    """A request-level error is transient unless it is our own bug (other 4xx)."""
    status = exc.meta.status
    if _is_transient_status(status) or status == 404 or exc.error in _BLOCKED_ERRORS:
        # 404: the alias is missing (not created yet, or removed by an operator):
        # wait for it rather than dead-lettering every event.
        raise TransientStoreError(f"search: {action} failed: {status} {exc}") from exc


class SearchSink:
    """Writes product search documents through ``alias`` (which must exist)."""

    name = "search"

    def __init__(
        self,
        es: Elasticsearch,
        alias: str,
        *,
        live: bool = False,
        rebuild: bool = False,
        owns_client: bool = False,
    ) -> None:
        """live: this sink is the live projection's, which a replay's switch may pause.
        rebuild: it fills a fresh index nobody else writes (a replay's build): a product
        it has not written yet has no document, so none is read back.
        owns_client: :meth:`close` closes ``es``."""
        self._es = es
        self._alias = alias
        self._owns_client = owns_client
        self._fence = switch.LiveFence(es, alias) if live else None
        self._written: set[str] | None = set() if rebuild else None

    def close(self) -> None:
        if self._owns_client:
            self._es.close()

    def apply(self, events: Sequence[PositionedEvent]) -> ApplyReport:
        if not events:
            return ApplyReport()
        if self._fence is None:
            return self._apply(events)
        self._fence.enter()
        try:
            return self._apply(events)
        finally:
            self._fence.exit()

    def _apply(self, events: Sequence[PositionedEvent]) -> ApplyReport:
        report = ApplyReport()

        by_sku: dict[str, list[PositionedEvent]] = {}
        for positioned in events:
            by_sku.setdefault(str(positioned.event["sku"]), []).append(positioned)

        if self._written is None:
            current = self._read(list(by_sku))
        else:
            current = self._read([sku for sku in by_sku if sku in self._written])
            self._written.update(by_sku)

        # Fold each SKU's events; remember which events went into the new document.
        writes: list[tuple[str, dict[str, Any], list[PositionedEvent]]] = []
        for sku, sku_events in by_sku.items():
            doc = current.get(sku)
            folded: list[PositionedEvent] = []
            changed = False
            for index, positioned in enumerate(sku_events):
                held = int(doc["version"]) if doc is not None else 0
                if int(positioned.event["version"]) > held + 1:
                    report.gaps.extend(Gap(later, held) for later in sku_events[index:])
                    break
                try:
                    new = project(doc, positioned.event)
                except (KeyError, ValueError, TypeError) as exc:
                    # A malformed event (it passed the schema, yet cannot be
                    # projected): dead-letter it alone; the document's version
                    # moves past it so the SKU's later events still apply.
                    reason = f"search: cannot project event: {type(exc).__name__}: {exc}"
                    report.failed.append((positioned, reason))
                    doc, changed = passed(doc, positioned.event), True
                    continue
                if new is doc:
                    report.skipped += 1
                else:
                    folded.append(positioned)
                    doc, changed = new, True
            if changed and doc is not None:
                writes.append((sku, doc, folded))

        if writes:
            self._write(writes, report)
        # Only after every document of the batch is written (or dead-lettered):
        # read-your-writes queries trust this position.
        offsets: dict[int, int] = {}
        for positioned in events:
            offsets[positioned.partition] = max(
                offsets.get(positioned.partition, -1), positioned.offset
            )
        positions.record(self._es, self._alias, offsets)
        return report

    def replace(self, docs: dict[str, dict[str, Any]]) -> int:
        """Write whole documents over what the index holds (``eventcart verify --repair``).

        Each is written at its own version, or at the stored one when that is higher
        (a document changed by hand, whose ``_version`` moved without its content's
        ``version``), so the write always lands; documents the live projection moved
        past in the meantime are compared again by the caller.
        Returns how many were written."""
        if not docs:
            return 0
        stored = self._es.mget(index=self._alias, ids=list(docs), source=False, realtime=True)
        versions = {str(d["_id"]): int(d["_version"]) for d in stored["docs"] if d.get("found")}
        operations: list[dict[str, Any]] = []
        for sku, doc in docs.items():
            version = max(int(doc["version"]), versions.get(sku, 0))
            meta = {"_index": self._alias, "_id": sku, "version": version}
            operations += [{"index": {**meta, "version_type": "external_gte"}}, doc]
        try:
            response = self._es.bulk(operations=operations, require_alias=True, refresh=True)
        except ApiError as exc:
            _raise_transient_if_retryable("bulk", exc)
            raise
        except TransportError as exc:
            raise TransientStoreError(f"search: bulk failed: {exc}") from exc
        statuses = [next(iter(item.values())).get("status", 0) for item in response["items"]]
        return sum(1 for status in statuses if 200 <= status < 300)

    # ------------------------------------------------------------------ I/O

    def _read(self, skus: list[str]) -> dict[str, dict[str, Any]]:
        """Current documents by SKU (absent SKUs have none yet)."""
        if not skus:
            return {}
        try:
            response = self._es.mget(index=self._alias, ids=skus, realtime=True)
        except ApiError as exc:
            _raise_transient_if_retryable("mget", exc)
            raise
        except TransportError as exc:
            raise TransientStoreError(f"search: mget failed: {exc}") from exc

        found: dict[str, dict[str, Any]] = {}
        for item in response.body.get("docs", []):
            if "error" in item:
                error = item["error"]
                raise TransientStoreError(
                    f"search: mget of {item.get('_id')!r} failed: {_reason(error)}"
                )
            if item.get("found"):
                found[str(item["_id"])] = dict(item["_source"])
        return found

    def _write(
        self,
        writes: list[tuple[str, dict[str, Any], list[PositionedEvent]]],
        report: ApplyReport,
    ) -> None:
        items = self._bulk(writes, report)
        conflicts = [w for w, item in zip(writes, items, strict=True) if _conflict(item)]
        if conflicts:
            written, present = self._settle(conflicts)
            report.applied += written
            report.skipped += present

    def _bulk(
        self,
        writes: list[tuple[str, dict[str, Any], list[PositionedEvent]]],
        report: ApplyReport,
    ) -> list[dict[str, Any]]:
        """One bulk request; written and refused documents go into ``report``, a
        version conflict is left to the caller (the answer's items are returned)."""
        # Lines encoded here with orjson: the client's NDJSON encoder is the standard
        # library's, a twentieth of the projection's time.
        operations: list[bytes] = []
        for sku, doc, _ in writes:
            action = {
                "index": {
                    "_index": self._alias,
                    "_id": sku,
                    "version": int(doc["version"]),
                    # _gte: a document at this version is rewritten with the same
                    # content (the fold is deterministic), and one whose stored
                    # version was bumped by hand (a partial update) still
                    # accepts the product's next event.
                    "version_type": "external_gte",
                }
            }
            operations += [orjson.dumps(action), _encode(doc)]
        try:
            # require_alias: a missing alias must never auto-create a dynamically
            # mapped index under the alias's name.
            response = self._es.bulk(
                # (encoded lines pass through the client's NDJSON serializer as they are)
                operations=cast(Any, operations),
                require_alias=True,
                include_source_on_error=False,
            )
        except ApiError as exc:
            _raise_transient_if_retryable("bulk", exc)
            raise
        except TransportError as exc:
            raise TransientStoreError(f"search: bulk failed: {exc}") from exc

        items: list[dict[str, Any]] = response.body.get("items", [])
        if len(items) != len(writes):
            raise TransientStoreError(
                f"search: bulk answered {len(items)} items for {len(writes)} documents"
            )
        transient: list[str] = []
        for (sku, _, folded), item in zip(writes, items, strict=True):
            result = next(iter(item.values()))
            status = int(result.get("status", 0))
            error = result.get("error")
            kind = error.get("type") if isinstance(error, dict) else None
            if 200 <= status < 300 and error is None:
                report.applied += len(folded)
            elif _conflict(item):
                continue
            elif (
                _is_transient_status(status)
                or kind in _MISSING_INDEX_ERRORS
                or kind in _BLOCKED_ERRORS
                or status == 404
            ):
                transient.append(f"{sku}: {status} {_reason(error)}")
            else:
                reason = f"search: {status} {_reason(error)}"
                report.failed.extend((positioned, reason) for positioned in folded)
        if transient:
            shown = "; ".join(transient[:3])
            raise TransientStoreError(
                f"search: bulk rejected {len(transient)} document(s) for now: {shown}"
            )
        return items

    def _settle(
        self, conflicts: list[tuple[str, dict[str, Any], list[PositionedEvent]]]
    ) -> tuple[int, int]:
        """Events of documents the index refused with a version conflict: (written
        after all, truly present).

        A conflict means "a newer or equal version is here" only when the document
        is here: a document deleted from the index (a store that lost it, an
        operator) leaves a tombstone with its version, which refuses the same
        write although nothing is stored. Those are written again once the
        tombstone is gone (the index keeps tombstones for ``gc_deletes``, 0 s in
        eventcart's mapping: until the next refresh); one still refused after
        that makes the batch retry later, never counted as applied or present.
        """
        written = present = 0
        pending = conflicts
        for pause in TOMBSTONE_PAUSES:
            stored = self._versions([sku for sku, _, _ in pending])
            tombstoned = []
            for sku, doc, folded in pending:
                if sku in stored:
                    present += len(folded)  # a newer (or equal) document is stored
                else:
                    tombstoned.append((sku, doc, folded))
            if not tombstoned:
                return written, present
            time.sleep(pause)
            self._es.indices.refresh(index=self._alias)
            retry = ApplyReport()
            again = self._bulk(tombstoned, retry)
            written += retry.applied
            pending = [w for w, item in zip(tombstoned, again, strict=True) if _conflict(item)]
            if not pending:
                return written, present
        raise TransientStoreError(
            f"search: {len(pending)} deleted document(s) still refused by their tombstones "
            f"(e.g. {pending[0][0]}); the batch is retried"
        )

    def _versions(self, skus: list[str]) -> dict[str, int]:
        """The stored ``_version`` of the SKUs that have a document (realtime)."""
        try:
            response = self._es.mget(index=self._alias, ids=skus, source=False, realtime=True)
        except ApiError as exc:
            _raise_transient_if_retryable("mget", exc)
            raise
        except TransportError as exc:
            raise TransientStoreError(f"search: mget failed: {exc}") from exc
        return {str(d["_id"]): int(d["_version"]) for d in response.body["docs"] if d.get("found")}


def _conflict(item: dict[str, Any]) -> bool:
    result = next(iter(item.values()))
    error = result.get("error")
    return (
        int(result.get("status", 0)) == 409
        and isinstance(error, dict)
        and error.get("type") == "version_conflict_engine_exception"
    )


def _encode(doc: dict[str, Any]) -> bytes:
    """One document line; a number beyond 64 bits (orjson refuses it) goes through the
    standard library so Elasticsearch refuses that document alone, with its reason."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        return json.dumps(doc, separators=(",", ":")).encode()
