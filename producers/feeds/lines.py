"""The physical lines of a feed file, and the errors of reading them.

Apart from :mod:`producers.feeds.read` because this is where memory and bytes
are dealt with, below any format: one physical line is held at a time and a
record is bounded (:data:`MAX_RECORD_BYTES`), so a runaway quoted field or a file
without newlines costs one refused row, not the process's memory; and bytes that
are not UTF-8 are located by line and byte, so the merchant can fix them there.
:class:`RowError` lives here because this is the lowest layer that makes one;
:mod:`producers.feeds.read` exports it with the rest of a feed's items.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TypeVar

__all__ = [
    "MAX_RECORD_BYTES",
    "Lines",
    "NotUtf8Error",
    "RowError",
    "SkipRecordError",
    "encoding_error",
    "fail",
    "pull",
    "record_error",
]

_T = TypeVar("_T")

#: The largest record (all its physical lines, in bytes) read; a larger one is refused.
MAX_RECORD_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK = 1 << 16
_TOO_LARGE = (
    f"the record is larger than {MAX_RECORD_BYTES >> 20} MiB and was skipped "
    "(an unclosed quote, or a line without its newlines?)"
)


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a record (or, for :data:`~producers.feeds.read.FILE_RULES`, the file) was refused.

    ``column`` is the column as the feed names it, ``field`` the product field it
    feeds; either is None when the problem is not one cell's. ``sku`` is the
    row's SKU when it could be read: an import that discontinues what a feed
    leaves out must not discontinue a product whose row it refused.
    """

    line: int
    column: str | None
    field: str | None
    rule: str
    message: str
    sku: str | None = None


def fail(line: int, rule: str, message: str) -> RowError:
    """A problem of a record or of the file, not of one cell."""
    return RowError(line, None, None, rule, message)


class SkipRecordError(Exception):
    """The current record cannot be read (the rest of its line is skipped); the next can."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


class NotUtf8Error(Exception):
    def __init__(self, line: int, byte: int, utf16: bool) -> None:
        super().__init__(line, byte)
        self.line, self.byte, self.utf16 = line, byte, utf16


class Lines:
    """The decoded physical lines csv.reader pulls from, counted, and bounded per record.

    A class rather than a generator: an exception raised in ``__next__`` leaves it
    usable, so one oversized record does not end the file."""

    __slots__ = ("_pushed", "_stream", "line", "record_bytes")

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._pushed: str | None = None
        self.line = 0
        self.record_bytes = 0

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        self.line += 1
        if self._pushed is not None:
            text, self._pushed = self._pushed, None
            return text
        raw = self._stream.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            self.line -= 1
            raise StopIteration
        offset = 0
        if self.line == 1 and raw.startswith(_BOM):
            raw, offset = raw[3:], 3
        self.record_bytes += len(raw)
        if self.record_bytes > MAX_RECORD_BYTES:
            while raw and not raw.endswith(b"\n"):
                raw = self._stream.readline(_SKIP_CHUNK)
            raise SkipRecordError("record_too_large", _TOO_LARGE)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            utf16 = self.line == 1 and raw[:2] in (b"\xff\xfe", b"\xfe\xff")
            raise NotUtf8Error(self.line, exc.start + 1 + offset, utf16) from None
        if "\0" in text:
            raise SkipRecordError("nul", f"line {self.line} holds a NUL byte (binary? UTF-16?)")
        return text

    def push_back(self, text: str) -> None:
        """Read ``text`` (the line just read) again next, as the same line."""
        self._pushed = text
        self.line -= 1


def pull(lines: Lines, fetch: Callable[[], _T]) -> Iterator[tuple[int, _T] | RowError]:
    """Each record ``fetch`` parses, with the line it starts on; an oversized or
    unparsable one as a RowError, and nothing after bytes that are not UTF-8."""
    while True:
        start = lines.line + 1
        lines.record_bytes = 0
        try:
            record = fetch()
        except StopIteration:
            return
        except (SkipRecordError, NotUtf8Error, csv.Error) as exc:
            yield record_error(start, exc)
            if isinstance(exc, NotUtf8Error):
                return
            continue
        yield start, record


def record_error(start: int, exc: Exception) -> RowError:
    if isinstance(exc, NotUtf8Error):
        return encoding_error(exc)
    if isinstance(exc, SkipRecordError):
        return fail(start, exc.rule, f"line {start}: {exc.message}")
    # csv.Error: in Python 3.11 only a field over csv.field_size_limit()
    rule = "field_too_large" if "field limit" in str(exc) else "csv"
    return fail(start, rule, f"line {start}: {exc} (an unclosed quote?)")


def encoding_error(exc: NotUtf8Error) -> RowError:
    if exc.utf16:
        fix = "the file is UTF-16: convert it with `iconv -f utf-16 -t utf-8 FILE > FILE.utf8`"
    else:
        fix = (
            "feeds must be UTF-8; if the file is Latin-1, convert it with "
            "`iconv -f latin1 -t utf-8 FILE > FILE.utf8`, otherwise fix the bytes there"
        )
    where = f"line {exc.line}, byte {exc.byte}"
    return fail(exc.line, "encoding", f"{where}: not UTF-8 ({fix}); rows after it were not read")
