"""Reading one sheet file, streaming and within limits (local-sources.md §C).

A CSV is decoded and split row by row; an XLSX is read with openpyxl's read-only parser,
one row at a time, so memory does not grow with the file (only the rows kept for the
mapping do, and `max_rows` bounds them). Before any row of a worksheet is read, its merged
ranges are counted from the raw XML (a byte scan): more than `max_merged_cells` cells
refuse the file whole. A part openpyxl holds in memory whole (shared strings, styles)
larger than MAX_SIDE_PART refuses it too: that is a zip bomb, not a team's sheet.

Only visible worksheets are read; hidden ones and those without a header row are named
as skipped, and so are total rows (合计, 小计). A formula whose value was never saved
reads as UNSAVED, for the mapping to say so.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import openpyxl  # type: ignore[import-untyped]
from openpyxl.utils.cell import range_boundaries  # type: ignore[import-untyped]
from openpyxl.worksheet._reader import (  # type: ignore[import-untyped]
    FORMULA_TAG,
    WorkSheetParser,
)

from adapters.base import SourceRow
from mappings import messages
from mappings.sheetcells import UNSAVED
from mappings.taiwan_sheets import Where

MB = 1 << 20
HEADER_SCAN_ROWS = 30      # a header row is looked for among the first rows (titles above)
SNIFF_BYTES = 1 << 20      # the CSV's encoding is told from its first MB
MAX_SIDE_PART = 64 * MB    # an XLSX part read whole (shared strings, styles), uncompressed
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]{1,3}[0-9]{1,7}'
                    rb'(?::[A-Z]{1,3}[0-9]{1,7})?)"')
csv.field_size_limit(1 << 30)   # an over-long cell is the mapping's to quarantine


@dataclass(frozen=True)
class Limits:
    """A file's limits: its size, its rows, the cells its merged ranges cover."""

    max_file_mb: float = 20
    max_rows: int = 100_000
    max_merged_cells: int = 1_000_000

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * MB)


@dataclass(frozen=True)
class Schema:
    """What the reader needs of a mapping: its headers, how to read its rows."""

    header_name: Callable[[object], str | None]
    min_headers: int
    is_blank: Callable[[Mapping[str, Any]], bool]
    is_total: Callable[[Mapping[str, Any]], bool]
    prepare: Callable[[Mapping[str, Any]], dict[str, Any]]
    settle: Callable[[Sequence[dict[str, Any]]], None]
    rows: Callable[[Mapping[str, Any] | None, Where, str, bytes], tuple[SourceRow, ...]]
    entities: tuple[str, ...]


class Incomplete(Exception):
    """The file is still being written: read it next cycle."""


class NoHeader(Exception):
    """No row of the file's first rows holds the schema's headers."""


class Refused(Exception):
    """The file is refused whole (a limit): `code` is a message catalogue code."""

    def __init__(self, code: str, **values: object) -> None:
        super().__init__(messages.text(code, "en", **values))
        self.code = code
        self.values = values

    def text(self, lang: messages.Lang = "zh") -> str:
        return messages.text(self.code, lang, **self.values)


@dataclass(frozen=True)
class Parsed:
    """One sheet row: its place, and its cells by header (None: it could not be decoded)."""

    where: Where
    cells: Mapping[str, Any] | None


@dataclass(frozen=True)
class Skip:
    """A worksheet (row None) or a row that was not read, and why (a catalogue code)."""

    sheet: str | None
    row: int | None
    code: str


@dataclass
class FileRead:
    """What one file gave: its rows, what was skipped, or why it was refused whole."""

    rows: list[Parsed] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    refusal: Refused | None = None
    count: int = 0          # rows read below the header rows, records or not


# --- CSV --------------------------------------------------------------------------------

def decode(data: bytes) -> str:
    """The text of CSV bytes, decoded as `encoding_of` says."""
    encoding = encoding_of(data)
    return data.decode(encoding, "surrogateescape")


def encoding_of(sample: bytes) -> str:
    """By the BOM (UTF-8, UTF-16), else UTF-8 when the sample reads as UTF-8 more than it
    fails to, else GB18030. Undecodable bytes later stay as lone surrogates."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    as_utf8 = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(sample)
    bad = sum(1 for c in as_utf8 if "\udc80" <= c <= "\udcff")
    good = sum(1 for c in as_utf8 if ord(c) > 127 and not "\udc80" <= c <= "\udcff")
    return "utf-8" if bad == 0 or good >= bad else "gb18030"


def read_csv(raw: IO[bytes], schema: Schema, file: str, limits: Limits) -> FileRead:
    """Row by row; a file cut inside a quoted cell or in a short last row is Incomplete."""
    sample = raw.read(SNIFF_BYTES)
    ends_whole = True
    if sample:
        raw.seek(-1, io.SEEK_END)
        ends_whole = raw.read(1) in (b"\n", b"\r")
    try:
        return _csv_pass(raw, sample, schema, file, limits, strict=True, whole=ends_whole)
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise Incomplete("the file ends inside a quoted cell") from None
    return _csv_pass(raw, sample, schema, file, limits, strict=False, whole=ends_whole)


def _csv_pass(raw: IO[bytes], sample: bytes, schema: Schema, file: str, limits: Limits,
              *, strict: bool, whole: bool) -> FileRead:
    raw.seek(0)
    text = io.TextIOWrapper(raw, encoding=encoding_of(sample), errors="surrogateescape",
                            newline="")
    try:
        first = text.readline()
        line = first.split("\n", 1)[0]
        delimiter = "\t" if line.count("\t") > line.count(",") else ","
        reader = csv.reader(itertools.chain([first], text), delimiter=delimiter, strict=strict)
        last: list[str] = []

        def rows() -> Iterator[tuple[int, list[Any]]]:
            nonlocal last
            for number, row in enumerate(reader, start=1):
                last = row
                yield number, row
        out = FileRead()
        width = _records(rows(), schema, file, None, limits, out)
    finally:
        text.detach()
    if not whole and width > len(last) and any(c.strip() for c in last):
        raise Incomplete("the last row is short and has no line end")
    return out


def _undecodable(row: Sequence[Any]) -> bool:
    return any(isinstance(cell, str) and any("\udc80" <= c <= "\udcff" for c in cell)
               for cell in row)


# --- XLSX -------------------------------------------------------------------------------

class _Cells(WorkSheetParser):  # type: ignore[misc]
    """openpyxl's streaming cell parser; a formula without a saved value reads UNSAVED."""

    def parse_cell(self, element: Any) -> dict[str, Any]:
        cell: dict[str, Any] = super().parse_cell(element)
        if cell["value"] is None and element.find(FORMULA_TAG) is not None:
            cell["value"] = UNSAVED
        return cell


def read_xlsx(raw: IO[bytes], schema: Schema, file: str, limits: Limits) -> FileRead:
    """Every visible worksheet that holds a header row; cached formula values; a merged
    range's value in each of its cells (as the sheet shows it)."""
    try:
        archive = zipfile.ZipFile(raw)
        parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Incomplete("the workbook does not open") from None
    if any(p.file_size > MAX_SIDE_PART and not p.filename.startswith("xl/worksheets/")
           for p in parts):
        raise Refused("FILE_TOO_BIG", limit=round(limits.max_file_mb))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(raw, read_only=True, data_only=True)
    except Exception as exc:  # any failure to open: a file not yet whole
        raise Incomplete(f"the workbook does not open ({type(exc).__name__})") from None
    out, found, budget = FileRead(), False, [limits.max_merged_cells]
    try:
        for sheet in book.worksheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                out.skips.append(Skip(sheet.title, None, "SHEET_HIDDEN"))
                continue
            merged = _merged(book, sheet, budget, limits)
            try:
                _records(_sheet_rows(book, sheet, merged), schema, file, sheet.title, limits,
                         out)
                found = True
            except NoHeader:
                out.skips.append(Skip(sheet.title, None, "SHEET_NO_HEADER"))
    finally:
        book.close()
    if not found:
        raise NoHeader("no visible worksheet has a header row")
    return out


Range = tuple[int, int, int, int]   # min_col, min_row, max_col, max_row


def _merged(book: Any, sheet: Any, budget: list[int], limits: Limits) -> list[Range]:
    """The sheet's merged ranges by a byte scan of its XML, chunk by chunk (a chunk is
    scanned up to its last `>`, so no element is cut); Refused when all the file's ranges
    cover more cells than the limit."""
    found: list[Range] = []
    tail = b""
    with book._archive.open(sheet._worksheet_path) as src:
        while True:
            chunk = src.read(1 << 16)
            data = tail + chunk
            cut = data.rfind(b">") + 1 if chunk else len(data)
            for match in _MERGE.finditer(data, 0, cut):
                rng = _bounds(match[1].decode("ascii"))
                budget[0] -= (rng[2] - rng[0] + 1) * (rng[3] - rng[1] + 1)
                if budget[0] < 0:
                    raise Refused("MERGED_TOO_BIG", limit=limits.max_merged_cells)
                found.append(rng)
            tail = data[cut:][-MB:]
            if not chunk:
                break
    return sorted(found, key=lambda r: (r[1], r[0]))


def _bounds(ref: str) -> Range:
    min_col, min_row, max_col, max_row = range_boundaries(ref if ":" in ref else f"{ref}:{ref}")
    return int(min_col), int(min_row), int(max_col), int(max_row)


def _sheet_rows(book: Any, sheet: Any, merged: list[Range]) -> Iterator[tuple[int, list[Any]]]:
    """(row number, values from column A) of the rows the sheet stores, merged ranges
    filled with their first cell's value."""
    waiting = list(reversed(merged))
    active: list[tuple[Range, Any]] = []
    with book._archive.open(sheet._worksheet_path) as src:
        parser = _Cells(src, sheet._shared_strings, data_only=True, epoch=book.epoch,
                        date_formats=book._date_formats,
                        timedelta_formats=book._timedelta_formats)
        for number, cells in parser.parse():
            values = {int(c["column"]): c["value"] for c in cells}
            while waiting and waiting[-1][1] <= number:
                rng = waiting.pop()
                first = values.get(rng[0]) if rng[1] == number else None
                active.append((rng, first))
            active = [(r, v) for r, v in active if r[3] >= number]
            for (c1, _, c2, _), value in active:
                for column in range(c1, c2 + 1):
                    values[column] = value
            width = max(values, default=0)
            yield number, [values.get(c) for c in range(1, width + 1)]


# --- rows below the header ----------------------------------------------------------------

def _records(rows: Iterable[tuple[int, list[Any]]], schema: Schema, file: str,
             sheet: str | None, limits: Limits, out: FileRead) -> int:
    """The rows below the header row into `out` (blank rows and repeated header rows left
    out, total rows named as skipped); the header's width. Refused past `max_rows`."""
    columns: dict[int, str] | None = None
    width = 0
    shared: dict[object, object] = {}   # one object per repeated cell value of the file
    for number, row in rows:
        if columns is None:
            if number > HEADER_SCAN_ROWS:
                break
            columns = _header(row, schema)
            width = max(columns) + 1 if columns else 0
            columns = columns or None
            continue
        out.count += 1
        if out.count > limits.max_rows:
            raise Refused("TOO_MANY_ROWS", limit=limits.max_rows)
        where = Where(file, number, sheet)
        if _undecodable(row):
            out.rows.append(Parsed(where, None))
            continue
        cells = {name: _share(shared, row[i]) for i, name in columns.items() if i < len(row)}
        if schema.is_blank(cells) or all(schema.header_name(v) == k for k, v in cells.items()
                                         if v is not None):
            continue
        if schema.is_total(cells):
            out.skips.append(Skip(sheet, number, "ROW_TOTAL"))
            continue
        out.rows.append(Parsed(where, schema.prepare(cells)))
    if columns is None:
        raise NoHeader("no header row")
    return width


def _share(shared: dict[object, object], value: Any) -> Any:
    """The file's one copy of a short text (性别, 证件类型, 活动编号, dates repeat)."""
    if isinstance(value, str) and len(value) <= 64 and len(shared) < 1 << 16:
        return shared.setdefault(value, value)
    return value


def _header(row: Sequence[Any], schema: Schema) -> dict[int, str]:
    names = [schema.header_name(c) for c in row]
    if len({n for n in names if n}) < schema.min_headers:
        return {}
    columns: dict[int, str] = {}
    for i, name in enumerate(names):
        if name and name not in columns.values():
            columns[i] = name
    return columns


def settle(read: FileRead, schema: Schema) -> None:
    """The file-level marks (precision lost across the file) on its rows."""
    schema.settle([p.cells for p in read.rows if isinstance(p.cells, dict)])
