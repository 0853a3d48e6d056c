"""The files adapter: spreadsheets dropped into a folder (local-sources.md §C).

Each `*.csv` (UTF-8 with or without a BOM, GB18030, UTF-16 with a BOM) and `*.xlsx` file
of the folder (not its subfolders) is a batch of sheet rows; the mapping's schema turns
each row into SourceRows (for `taiwan_sheets`, a volunteer and a service record whose
local ids are keyed hashes of the person's certificate).

Cursor. A file is processed once, by the SHA-256 of its content, so a re-dropped
identical file changes nothing, whatever its name or time. Each stream's cursor holds
`modified` = the UTC modification time of the newest file processed, and `key` = (that
file's name, then the first 32 hex digits of the content hash of every file processed,
sorted). It commits with the stream's last page; the pages before it carry no cursor,
so a crash reads the same files again, which the ledger's hashes make free. A cursor
without hashes (`resync --since`) reads the files modified at or after its time;
`lookback_s` has no use here (content hashes, not times, say what was read).

Order. New files are read oldest first (modification time, then name), and within one
read the later row wins: each ref is yielded once, in its last version. A file that is
still being written (its size or time changes while it is read, an XLSX that does not
open, a CSV that ends inside a quoted cell or in a short last row without a line end) is
left for the next cycle and never marked processed; the files after it still go. A full
scan (reconcile, resync) folds every file in the folder in that order, which also puts
back the later-wins order if a late file was older.

Bad rows do not stop a file: a row that cannot be decoded yields its SourceRows marked
`undecodable`, which the mapping quarantines with the file name and row number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]  # openpyxl ships no type hints
import structlog

from adapters.base import Cursor, Page, SourceRow, Stream
from bridge.errors import ConfigError, StateError
from mappings import taiwan_sheets
from mappings.mask import redact
from mappings.normalize import CST

log = structlog.get_logger("adapters.files")
SUFFIXES = (".csv", ".xlsx")
HEADER_SCAN_ROWS = 30      # a header row is looked for among the first rows (titles above)
CACHE_FILES = 64           # parsed files kept, by content hash
DIGEST_CHARS = 32


@dataclass(frozen=True)
class Schema:
    """What the adapter needs of a mapping: its headers, its rows."""

    header_name: Callable[[object], str | None]
    min_headers: int
    is_blank: Callable[[Mapping[str, Any]], bool]
    rows: Callable[[Mapping[str, Any] | None, taiwan_sheets.Where, str, bytes],
                   tuple[SourceRow, ...]]
    entities: tuple[str, ...]


SCHEMAS: dict[str, Schema] = {
    "taiwan_sheets": Schema(taiwan_sheets.header_name, 4, taiwan_sheets.is_blank,
                            taiwan_sheets.source_rows, taiwan_sheets.ENTITIES),
}


class Incomplete(Exception):
    """The file is still being written: read it next cycle."""


class NoHeader(Exception):
    """No row of the file's first rows holds the schema's headers."""


@dataclass(frozen=True)
class Parsed:
    """One sheet row: its place, and its cells by header (None: it could not be decoded)."""

    where: taiwan_sheets.Where
    cells: Mapping[str, Any] | None


@dataclass(frozen=True)
class SheetFile:
    name: str
    mtime_ns: int
    digest: str
    data: bytes | None     # None: listed by its name, size and time, not read

    @property
    def modified(self) -> str:
        moment = datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)
        return moment.isoformat(timespec="microseconds")


# --- reading one file -------------------------------------------------------------------

def snapshot(path: Path, stat: Callable[[Path], Any] = Path.stat) -> tuple[bytes, int] | None:
    """The file's bytes and modification time, or None when it changed while it was read
    (two looks at its size and time, before and after)."""
    before = stat(path)
    data = path.read_bytes()
    after = stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) \
            or len(data) != after.st_size:
        return None
    return data, int(after.st_mtime_ns)


def decode(data: bytes) -> str:
    """The text of a CSV file: by its BOM (UTF-8, UTF-16), else UTF-8 when it reads as
    UTF-8 more than it fails to, else GB18030. Undecodable bytes stay as lone surrogates
    (`surrogateescape`), so the rows that hold them can be told apart."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "surrogateescape")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "surrogateescape")
    as_utf8 = data.decode("utf-8", "surrogateescape")
    bad = sum(1 for c in as_utf8 if "\udc80" <= c <= "\udcff")
    good = sum(1 for c in as_utf8 if ord(c) > 127 and not "\udc80" <= c <= "\udcff")
    if bad == 0 or good >= bad:
        return as_utf8
    return data.decode("gb18030", "surrogateescape")


# a cell as long as a file may hold: an over-long cell is the mapping's to quarantine,
# not the reader's to crash on (the module's default limit is 131,072 characters)
csv.field_size_limit(1 << 30)


def _csv_rows(text: str) -> list[list[str]]:
    first = text[:4096].split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise Incomplete("the file ends inside a quoted cell") from None
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def read_csv(data: bytes, schema: Schema, file: str) -> list[Parsed]:
    text = decode(data)
    rows = _csv_rows(text)
    parsed = _records(((n, row, _undecodable(row)) for n, row in enumerate(rows, start=1)),
                      schema, file, None)
    if rows and not text.endswith(("\n", "\r")) and parsed.header_width > len(rows[-1]) \
            and any(c.strip() for c in rows[-1]):
        raise Incomplete("the last row is short and has no line end")
    return parsed.rows


def _undecodable(row: Sequence[str]) -> bool:
    return any(any("\udc80" <= c <= "\udcff" for c in cell) for cell in row)


def read_xlsx(data: bytes, schema: Schema, file: str) -> list[Parsed]:
    """Every worksheet that holds a header row; cached formula values; a merged range's
    value in each of its cells (as the sheet shows it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:  # any failure to open: a file not yet whole
        raise Incomplete(f"the workbook does not open ({type(exc).__name__})") from None
    out: list[Parsed] = []
    found = False
    for sheet in book.worksheets:
        merged: dict[tuple[int, int], Any] = {}
        for rng in sheet.merged_cells.ranges:
            value = sheet.cell(rng.min_row, rng.min_col).value
            for r in range(rng.min_row, rng.max_row + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    merged[(r, c)] = value
        rows = ((n, [merged.get((n, c), v) for c, v in enumerate(row, start=1)], False)
                for n, row in enumerate(sheet.iter_rows(values_only=True), start=1))
        try:
            out += _records(rows, schema, file, sheet.title).rows
            found = True
        except NoHeader:
            continue
    if not found:
        raise NoHeader("no worksheet has a header row")
    return out


@dataclass(frozen=True)
class _Records:
    rows: list[Parsed]
    header_width: int


def _records(rows: Iterable[tuple[int, list[Any], bool]], schema: Schema, file: str,
             sheet: str | None) -> _Records:
    """The rows below the header row, as cells by header; blank rows and repeated header
    rows left out."""
    columns: dict[int, str] | None = None
    width = 0
    out: list[Parsed] = []
    for number, row, undecodable in rows:
        if columns is None:
            if number > HEADER_SCAN_ROWS:
                break
            names = [schema.header_name(c) for c in row]
            if len({n for n in names if n}) >= schema.min_headers:
                columns = {}
                for i, name in enumerate(names):
                    if name and name not in columns.values():
                        columns[i] = name
                width = max(columns) + 1
            continue
        where = taiwan_sheets.Where(file, number, sheet)
        if undecodable:
            out.append(Parsed(where, None))
            continue
        cells = {name: row[i] for i, name in columns.items() if i < len(row)}
        if schema.is_blank(cells) or all(schema.header_name(v) == k for k, v in cells.items()
                                         if v is not None):
            continue
        out.append(Parsed(where, cells))
    if columns is None:
        raise NoHeader("no header row")
    return _Records(out, width)


# --- the adapter ------------------------------------------------------------------------

def open_files_source(path: Path, base_dir: Path, *, mapping: str,
                      ref_key: str | bytes | None) -> FilesSource:
    """A FilesSource over the folder `path` (relative to `base_dir`)."""
    schema = SCHEMAS.get(mapping)
    if schema is None:
        raise ConfigError(f"the files adapter knows no sheet schema for mapping {mapping!r} "
                          f"(known: {', '.join(sorted(SCHEMAS))})")
    if not ref_key:
        raise ConfigError("a files source needs ref_key (the secret its refs are keyed with)")
    folder = Path(path) if Path(path).is_absolute() else Path(base_dir) / path
    if not folder.is_dir():
        raise ConfigError(f"the inbox folder {folder} does not exist or is not a folder")
    key = ref_key.encode("utf-8") if isinstance(ref_key, str) else ref_key
    return FilesSource(folder, schema, key)


class FilesSource:
    """A `SourceAdapter` over a folder of sheets. Safe to share between threads."""

    def __init__(self, folder: Path, schema: Schema, key: bytes) -> None:
        self.folder = folder
        self._schema = schema
        self._key = key
        self._lock = threading.Lock()
        self._parsed: OrderedDict[str, list[Parsed] | None] = OrderedDict()
        self._digests: dict[tuple[str, int, int], str] = {}

    def streams(self) -> Sequence[Stream]:
        return [Stream(e, e) for e in self._schema.entities]

    def read_changes(self, stream: str, since: Cursor | None, lookback_s: int,
                     page_size: int) -> Iterator[Page]:
        entity = self._entity(stream)
        _check_page_size(page_size)
        done = set(since.key[1:]) if since is not None else set()
        floor = _floor(since) if since is not None and not done else None
        files = [f for f in self.files() if f.digest not in done
                 and (floor is None or f.mtime_ns >= floor)]
        loaded = [(f, rows) for f in files if (rows := self._parse(f)) is not None]
        if not loaded:
            return
        newest = max((f for f, _ in loaded), key=lambda f: (f.mtime_ns, f.name))
        stamp, name = newest.modified, newest.name
        if since is not None and done and since.modified > stamp:
            stamp, name = since.modified, str(since.key[0])
        cursor = Cursor(stamp, (name, *sorted(done | {f.digest for f, _ in loaded})))
        yield from _pages(self._fold(loaded, entity), page_size, cursor)

    def read_by_ids(self, entity: str, local_ids: Sequence[str]) -> list[SourceRow]:
        wanted = set(local_ids)
        return [r for r in self._everything(self._entity(entity)) if r.local_id in wanted]

    def scan(self, entity: str, page_size: int) -> Iterator[Page]:
        _check_page_size(page_size)
        if entity not in self._schema.entities:
            return
        yield from _pages(self._everything(entity), page_size, None)

    def close(self) -> None:
        with self._lock:
            self._parsed.clear()

    # internals -------------------------------------------------------------------------
    def files(self) -> list[SheetFile]:
        """The folder's whole sheet files, oldest first (modification time, then name). A
        file whose name, size and time are those of a file already hashed is not read."""
        out: list[SheetFile] = []
        seen: dict[tuple[str, int, int], str] = {}
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith((".", "~$")) or path.suffix.lower() not in SUFFIXES \
                    or not path.is_file():
                continue
            stat = path.stat()
            sign = (path.name, stat.st_size, stat.st_mtime_ns)
            digest, data = self._digests.get(sign), None
            if digest is None:
                shot = snapshot(path)
                if shot is None:
                    log.info("file still being written: read next cycle",
                             file=redact(path.name))
                    continue
                data, mtime_ns = shot
                digest = hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]
                sign = (path.name, len(data), mtime_ns)
            seen[sign] = digest
            out.append(SheetFile(path.name, sign[2], digest, data))
        with self._lock:
            self._digests = seen
        return sorted(out, key=lambda f: (f.mtime_ns, f.name))

    def _parse(self, f: SheetFile) -> list[Parsed] | None:
        """The file's rows (cached by content hash); None when it is to be read later."""
        with self._lock:
            if f.digest in self._parsed:
                self._parsed.move_to_end(f.digest)
                return self._parsed[f.digest]
        data = f.data if f.data is not None else self._reread(f)
        if data is None:
            return None
        reader = read_xlsx if f.name.lower().endswith(".xlsx") else read_csv
        rows: list[Parsed] | None
        try:
            rows = reader(data, self._schema, f.name)
        except Incomplete as exc:
            log.info("file not whole yet: read next cycle", file=redact(f.name), why=str(exc))
            return None     # not cached: said again each cycle until the file is whole
        except NoHeader as exc:
            log.warning("file has no header row of this source's sheets: not read; fix or "
                        "remove it", file=redact(f.name), why=str(exc))
            rows = None
        with self._lock:
            self._parsed[f.digest] = rows
            while len(self._parsed) > CACHE_FILES:
                self._parsed.popitem(last=False)
        return rows

    def _reread(self, f: SheetFile) -> bytes | None:
        """The bytes of a file listed without reading them, if they are still the same."""
        shot = snapshot(self.folder / f.name)
        if shot is None or hashlib.sha256(shot[0]).hexdigest()[:DIGEST_CHARS] != f.digest:
            return None
        return shot[0]

    def _fold(self, loaded: Iterable[tuple[SheetFile, list[Parsed]]],
              entity: str) -> list[SourceRow]:
        """The rows of `entity`, each local id once in its last version (first place)."""
        out: dict[str, SourceRow] = {}
        for f, rows in loaded:
            stamp = f.modified
            for p in rows:
                for row in self._schema.rows(p.cells, p.where, stamp, self._key):
                    if row.entity == entity:
                        out[row.local_id] = row
        return list(out.values())

    def _everything(self, entity: str) -> list[SourceRow]:
        loaded = [(f, rows) for f in self.files() if (rows := self._parse(f)) is not None]
        return self._fold(loaded, entity)

    def _entity(self, name: str) -> str:
        if name not in self._schema.entities:
            raise ValueError(f"unknown stream or entity {name!r} "
                             f"(known: {', '.join(self._schema.entities)})")
        return name


def _pages(rows: list[SourceRow], page_size: int, cursor: Cursor | None) -> Iterator[Page]:
    """Pages of rows; only the last carries the cursor (an empty page when no rows)."""
    if not rows and cursor is None:
        return
    for lo in range(0, max(len(rows), 1), page_size):
        last = lo + page_size >= len(rows)
        yield Page(rows[lo:lo + page_size], cursor if last else None)


def _floor(since: Cursor) -> int | None:
    """A plain time cursor (no hashes) as nanoseconds since the epoch; naive is +08:00."""
    if not since.modified:
        return None
    try:
        moment = datetime.fromisoformat(since.modified)
    except ValueError:
        raise StateError(f"cursor {since.modified!r} is not an ISO date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    return int(moment.timestamp() * 1_000_000) * 1000


def _check_page_size(page_size: int) -> None:
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
