"""Reading a merchant's feed file one record at a time, in constant memory.

Feeds are exported by tools we do not control (Merchant Center, spreadsheets,
shop systems) and can be large, so the file is streamed: one physical line is
held at a time, and a record may not exceed :data:`MAX_RECORD_BYTES`, nor a
field csv's own limit (128 KiB, left as it is: it is process-wide). A runaway
quoted field or a line without newlines is refused as one row (rules
``record_too_large``, ``field_too_large``), and reading resumes at the next
line. Each record comes out as a :class:`FeedRow` or a
:class:`RowError`; a bad row never stops the others, because a merchant fixing a
feed wants every problem of a run at once, not one per run.

Some problems concern the file rather than a row, and end the iteration after
one :class:`RowError` (their rules are :data:`FILE_RULES`): an empty file, a
first line that is no header, a header separated by ``;`` or ``|``, duplicate
or missing required columns, and bytes that are not UTF-8. Another encoding is
refused, never guessed: a guess that is wrong turns every accent into a
different, still valid, letter. Rows before the first bad byte were valid
UTF-8, and are correct.

Formats: ``tsv`` and ``csv`` (Merchant Center's and plain, read by the stdlib
``csv`` module, so quoted fields may hold delimiters and newlines) and
``jsonl`` (one flat JSON object per line; numbers keep their exact text, so
``29.90`` stays ``"29.90"`` and is never a float). Unless forced, the format is
detected: a first line starting with ``{`` is JSON Lines, else the delimiter
the header holds more of, tab or comma. Lines are numbered as a text editor
shows them; a record spanning lines reports the line it starts on.

Column names are compared as Merchant Center compares attribute names: case
and spaces do not matter (``Sale Price`` is ``sale_price``). Cells come without
the blanks around them, which spreadsheets add and no catalog value needs. A
column that neither the consumer reads (``columns``) nor the caller mapped is
dropped, with one :class:`FeedWarning` for the file, not one per row.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import IO, Literal, NamedTuple

from producers.feeds.lines import (
    MAX_RECORD_BYTES,
    Lines,
    NotUtf8Error,
    RowError,
    SkipRecordError,
    encoding_error,
    fail,
    pull,
    record_error,
)

__all__ = [
    "FILE_RULES",
    "MAX_RECORD_BYTES",
    "Cells",
    "Digests",
    "FeedItem",
    "FeedRow",
    "FeedWarning",
    "Format",
    "RowError",
    "column_name",
    "parse_mapping",
    "read_feed",
]

Format = Literal["tsv", "csv", "jsonl"]

#: Rules of a :class:`RowError` after which the iteration ends.
FILE_RULES = frozenset(
    {"empty_file", "missing_header", "delimiter", "duplicate_column", "missing_column", "encoding"}
)


class FeedRow(NamedTuple):
    """One record: the line it starts on, its cells by (mapped) column name, and,
    its digest when made from :class:`Cells` (else 0).

    A named tuple, not a dataclass: one is made per row, and it is the cheapest."""

    line: int
    fields: dict[str, str]
    digest: int = 0


class Cells(NamedTuple):
    """A delimited record as the reader yields it when given ``digests``: its
    stripped cells and their digest, not yet a dict. An import vouches for most
    rows by their digest alone, and makes :meth:`row` only of the others."""

    line: int
    #: the column names, one list shared by every row of the file
    keys: list[str]
    values: list[str]
    digest: int

    def row(self) -> FeedRow:
        return FeedRow(self.line, dict(zip(self.keys, self.values, strict=True)), self.digest)


#: Given a header's column names, the function that digests a row's cells (in
#: that order). Digesting the list the reader has at hand costs a row a third of
#: what digesting its dict afterwards does (``producers.feeds.ledger``).
Digests = Callable[[Sequence[str]], Callable[[Sequence[str]], int]]


@dataclass(frozen=True, slots=True)
class FeedWarning:
    """Something a person should know that refuses no row (columns not imported)."""

    line: int
    columns: tuple[str, ...]
    rule: str
    message: str


FeedItem = FeedRow | Cells | RowError | FeedWarning


def column_name(text: str) -> str:
    """The name a header cell or a mapping side is compared by."""
    return text.strip().lower().replace(" ", "_")


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["title=name", ...]`` -> ``{"title": "name"}`` (``--map``, the upload's
    ``map``); ValueError naming the pair that is not ``COLUMN=FIELD``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"{pair!r} is not COLUMN=FIELD (e.g. --map title=name)")
        mapping[source.strip()] = target.strip()
    return mapping


def read_feed(
    source: IO[bytes] | str | os.PathLike[str],
    *,
    format: Format | None = None,
    mapping: Mapping[str, str] | None = None,
    columns: Collection[str] | None = None,
    required: Sequence[Sequence[str]] = (),
    digests: Digests | None = None,
) -> Iterator[FeedItem]:
    """The records of a feed, in file order.

    ``mapping`` renames columns (``{"title": "name"}``) and keeps a renamed one even
    if ``columns`` (the names the consumer reads; None keeps all) does not list it.
    ``required`` lists groups of alternative names a CSV header must hold one of.
    """
    renames = {column_name(k): column_name(v) for k, v in (mapping or {}).items()}
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            yield from _read(stream, format, renames, columns, required, digests)
    else:
        yield from _read(source, format, renames, columns, required, digests)


def _read(
    stream: IO[bytes],
    format: Format | None,
    renames: dict[str, str],
    columns: Collection[str] | None,
    required: Sequence[Sequence[str]],
    digests: Digests | None = None,
) -> Iterator[FeedItem]:
    """The items of an open feed (a function returning the iterator that makes them, not a
    generator delegating to it: every generator in between costs each row its time)."""
    lines = Lines(stream)
    try:
        first = next((text for text in lines if text.strip()), None)
    except NotUtf8Error as exc:
        return iter([encoding_error(exc)])
    except SkipRecordError as exc:
        return iter([fail(lines.line, "missing_header", f"no header: {exc.message}")])
    if first is None:
        return iter([fail(1, "empty_file", "the file is empty: no header, no rows")])
    lines.push_back(first)
    if format is None:
        head = first.lstrip()
        format = "jsonl" if head.startswith("{") else "tsv" if _tsv(head) else "csv"
    if format == "jsonl":
        return _json_lines(lines, renames, columns)
    delimiter = "\t" if format == "tsv" else ","
    return _delimited(lines, delimiter, renames, columns, required, digests)


def _tsv(header: str) -> bool:
    tabs = header.count("\t")
    return tabs > 0 and tabs >= header.count(",")


def _header_problem(
    cells: list[str], names: list[str], columns: Collection[str] | None, delimiter: str
) -> tuple[str, str] | None:
    """(rule, message) when the header cannot describe the rows below it."""
    found = next((d for d in ";|\t," if d != delimiter and d in cells[0]), None)
    if len(cells) == 1 and found is not None:
        shown = {"\t": "tab", ";": "';'", "|": "'|'", ",": "','"}[found]
        wanted = "tab" if delimiter == "\t" else "comma"
        fix = (
            f"force format {'tsv' if found == chr(9) else 'csv'}, or let it be detected"
            if found in "\t,"
            else "eventcart reads tab-separated (Merchant Center TSV) and comma-separated "
            "files only: export the feed again with one of those"
        )
        return "delimiter", f"the header is separated by {shown}, not by {wanted}: {fix}"
    if columns is not None and not any(n in columns for n in names):
        return "missing_header", (
            f"the first line ({', '.join(repr(c) for c in cells[:3])}, ...) names no column "
            "eventcart reads: the file needs a header row, e.g. id, title, price"
        )
    duplicate = next((n for i, n in enumerate(names) if n and n in names[:i]), None)
    if duplicate is not None:
        return "duplicate_column", f"two columns are called {duplicate!r} (after --map)"
    return None


def _delimited(
    lines: Lines,
    delimiter: str,
    renames: dict[str, str],
    columns: Collection[str] | None,
    required: Sequence[Sequence[str]],
    digests: Digests | None = None,
) -> Iterator[FeedItem]:
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(pull(lines, reader.__next__))
    if isinstance(header, RowError):
        unreadable = fail(header.line, "missing_header", f"unreadable header: {header.message}")
        return iter([header if header.rule == "encoding" else unreadable])
    line, cells = header
    plain = [column_name(c) for c in cells]
    names = [renames.get(n, n) for n in plain]
    problem = _header_problem(cells, names, columns, delimiter)
    for group in () if problem else required:
        if not any(n in names for n in group):
            problem = "missing_column", f"the header has no {' or '.join(group)} column"
            break
    if problem is not None:
        return iter([fail(line, *problem)])
    keep = [
        i
        for i, n in enumerate(names)
        if n and (columns is None or n in columns or plain[i] in renames)
    ]
    warnings: list[FeedItem] = []
    dropped = tuple(c.strip() or f"(column {i + 1})" for i, c in enumerate(cells) if i not in keep)
    if dropped:
        text = f"columns not imported: {', '.join(dropped)} (keep one with --map COLUMN=NAME)"
        warnings.append(FeedWarning(line, dropped, "unknown_column", text))
    unused = tuple(sorted(k for k in renames if k not in plain))
    if unused:
        text = f"--map names columns the header does not have: {', '.join(unused)}"
        warnings.append(FeedWarning(line, unused, "unused_mapping", text))
    return chain(warnings, _rows(lines, reader, names, keep, digests))


def _rows(
    lines: Lines,
    reader: Iterator[list[str]],
    names: list[str],
    keep: list[int],
    digests: Digests | None,
) -> Iterator[FeedItem]:
    """lines.pull's loop again, written out: a generator less between every row and its reader."""
    width = len(names)
    keys = [names[i] for i in keep]
    digest = digests(keys) if digests is not None else None
    every = keep == list(range(width))
    pick = itemgetter(*keep) if len(keep) > 1 else _picker(keep)  # a tuple, in C
    while True:
        start = lines.line + 1
        lines.record_bytes = 0
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (SkipRecordError, NotUtf8Error, csv.Error) as exc:
            yield record_error(start, exc)
            if isinstance(exc, NotUtf8Error):
                return
            continue
        if len(cells) == width:
            if not any(cells):
                continue  # only delimiters, as spreadsheets export unused rows
            if digest is None:
                values = map(str.strip, cells if every else pick(cells))
                yield FeedRow(start, dict(zip(keys, values, strict=True)))
            else:
                stripped = list(map(str.strip, cells if every else pick(cells)))
                yield Cells(start, keys, stripped, digest(stripped))
        elif any(c.strip() for c in cells):  # else a blank line
            yield fail(
                start,
                "cell_count",
                f"line {start} has {len(cells)} cells, the header has {width} "
                "(a delimiter inside an unquoted value, or a missing one?)",
            )


def _picker(keep: list[int]) -> Callable[[list[str]], list[str]]:
    def pick(cells: list[str]) -> list[str]:
        return [cells[i] for i in keep]

    return pick


def _json_lines(
    lines: Lines, renames: dict[str, str], columns: Collection[str] | None
) -> Iterator[FeedItem]:
    warned: set[str] = set()
    for record in pull(lines, lines.__next__):
        if isinstance(record, RowError):
            yield record
            continue
        line, text = record
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_float=str, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            yield fail(line, "json", f"line {line}, character {exc.colno}: not JSON ({exc.msg})")
            continue
        except ValueError as exc:  # NaN, Infinity, an integer of thousands of digits
            yield fail(line, "json", f"line {line}: {exc}")
            continue
        if not isinstance(value, dict):
            yield fail(line, "json", f"line {line}: not a JSON object")
            continue
        fields: dict[str, str] = {}
        for key, cell in value.items():
            plain = column_name(key)
            name = renames.get(plain, plain)
            if columns is not None and name not in columns and plain not in renames:
                if name not in warned:
                    warned.add(name)
                    note = f"key not imported: {key} (first seen here)"
                    yield FeedWarning(line, (key,), "unknown_column", note)
            elif cell is None:
                continue
            elif isinstance(cell, bool) or not isinstance(cell, str | int) or name in fields:
                got = f"a second {name!r}" if name in fields else type(cell).__name__
                why = f"line {line}: {key} must be text or a number, once (got {got})"
                yield RowError(line, key, name, "type", why)
                break
            else:
                fields[name] = (cell if isinstance(cell, str) else str(cell)).strip()
        else:
            yield FeedRow(line, fields)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a feed can hold")
