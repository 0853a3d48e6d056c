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

import hashlib
import os
import stat as stat_mod
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import structlog

from adapters.base import Cursor, Page, SourceRow, Stream
from adapters.sheetread import (
    FileRead,
    Incomplete,
    Limits,
    NoHeader,
    Parsed,
    Refused,
    Schema,
    decode,
    read_csv,
    read_xlsx,
    settle,
)
from bridge.errors import ConfigError, StateError
from mappings import sheetcells, taiwan_sheets
from mappings.mask import redact
from mappings.normalize import CST

__all__ = ["FilesSource", "Limits", "Parsed", "decode", "open_files_source", "snapshot"]
log = structlog.get_logger("adapters.files")
SUFFIXES = (".csv", ".xlsx")
CACHE_FILES = 64           # parsed files kept, by content hash…
CACHE_ROWS = 200_000       # …and no more rows than this in all (the newest file always)
DIGEST_CHARS = 32
CHUNK = 1 << 20

SCHEMAS: dict[str, Schema] = {
    "taiwan_sheets": Schema(taiwan_sheets.header_name, 4, taiwan_sheets.is_blank,
                            sheetcells.is_total, sheetcells.prepare, sheetcells.settle,
                            taiwan_sheets.source_rows, taiwan_sheets.ENTITIES),
}


@dataclass(frozen=True)
class SheetFile:
    name: str
    mtime_ns: int
    digest: str
    size: int = 0

    @property
    def modified(self) -> str:
        moment = datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)
        return moment.isoformat(timespec="microseconds")


# --- looking at one file ----------------------------------------------------------------

def open_regular(path: Path) -> IO[bytes]:
    """The file opened for reading without following a symbolic link and without
    blocking on a pipe; OSError when it is not a regular file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return os.fdopen(fd, "rb")


def snapshot(path: Path, stat: Callable[[Path], Any] = Path.stat) -> tuple[str, int] | None:
    """The file's content hash (read in chunks) and modification time, or None when it
    changed while it was read (two looks at its size and time, before and after)."""
    before = stat(path)
    digest, size = hashlib.sha256(), 0
    with open_regular(path) as raw:
        while chunk := raw.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    after = stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) \
            or size != after.st_size:
        return None
    return digest.hexdigest()[:DIGEST_CHARS], int(after.st_mtime_ns)


def size_digest(name: str, size: int, mtime_ns: int) -> str:
    """The stand-in hash of a file too big to read: its name, size and time."""
    return "big-" + hashlib.sha256(f"{name}:{size}:{mtime_ns}".encode()).hexdigest()[
        :DIGEST_CHARS - 4]


# --- the adapter ------------------------------------------------------------------------

def open_files_source(path: Path, base_dir: Path, *, mapping: str,
                      ref_key: str | bytes | None, limits: Limits | None = None) -> FilesSource:
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
    return FilesSource(folder, schema, key, limits or Limits())


class FilesSource:
    """A `SourceAdapter` over a folder of sheets. Safe to share between threads."""

    def __init__(self, folder: Path, schema: Schema, key: bytes,
                 limits: Limits | None = None) -> None:
        self.folder = folder
        self.limits = limits or Limits()
        self._schema = schema
        self._key = key
        self._lock = threading.Lock()
        self._parsed: OrderedDict[str, FileRead | None] = OrderedDict()
        self._digests: dict[tuple[str, int, int], str] = {}
        self._warned: set[str] = set()

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
        loaded = self._loaded(files)
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

    # what the receipts read --------------------------------------------------------------
    def outcomes(self, skip: Callable[[SheetFile], bool] = lambda f: False
                 ) -> list[tuple[SheetFile, FileRead]]:
        """Every sheet file of the folder and what reading it gave (refusals included;
        files still being written, and those `skip` names, left out)."""
        out = []
        for f in self.files():
            read = None if skip(f) else self._parse(f)
            if read is not None:
                out.append((f, read))
        return out

    def row_ids(self, f: SheetFile, p: Parsed) -> list[tuple[str, str]]:
        """(entity, local id) of the records one sheet row gives."""
        return [(r.entity, r.local_id) for r in self._schema.rows(p.cells, p.where,
                                                                   f.modified, self._key)]

    # internals -------------------------------------------------------------------------
    def files(self) -> list[SheetFile]:
        """The folder's whole sheet files, oldest first (modification time, then name). A
        file whose name, size and time are those of a file already hashed is not read; a
        file over the size limit is never read (its stand-in hash is its name, size and
        time); symbolic links and what is not a regular file are skipped with a warning."""
        out: list[SheetFile] = []
        seen: dict[tuple[str, int, int], str] = {}
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith((".", "~$")) or path.suffix.lower() not in SUFFIXES:
                continue
            stat = path.lstat()
            if not stat_mod.S_ISREG(stat.st_mode):
                self._skip(path, stat)
                continue
            sign = (path.name, stat.st_size, stat.st_mtime_ns)
            digest = self._digests.get(sign)
            if digest is None and stat.st_size > self.limits.max_bytes:
                digest = size_digest(*sign)
            if digest is None:
                shot = _look(path)
                if shot is None:
                    continue
                digest, mtime_ns = shot
                sign = (path.name, stat.st_size, mtime_ns)
            seen[sign] = digest
            out.append(SheetFile(path.name, sign[2], digest, sign[1]))
        with self._lock:
            self._digests = seen
        return sorted(out, key=lambda f: (f.mtime_ns, f.name))

    def _skip(self, path: Path, stat: os.stat_result) -> None:
        if stat_mod.S_ISDIR(stat.st_mode) or path.name in self._warned:
            return
        self._warned.add(path.name)
        what = "a symbolic link" if stat_mod.S_ISLNK(stat.st_mode) else "not a regular file"
        log.warning(f"{what} in the inbox: skipped", file=redact(path.name))

    def _loaded(self, files: Iterable[SheetFile]) -> list[tuple[SheetFile, FileRead]]:
        """The files read whole (refused ones with no rows); not those still being
        written, nor those without a header row (neither is marked read)."""
        out = []
        for f in files:
            read = self._parse(f)
            if read is not None and not (read.refusal and read.refusal.code == "NO_HEADER"):
                out.append((f, read))
        return out

    def _parse(self, f: SheetFile) -> FileRead | None:
        """The file's rows (cached by content hash); None when it is to be read later."""
        with self._lock:
            if f.digest in self._parsed:
                self._parsed.move_to_end(f.digest)
                return self._parsed[f.digest]
        read = self._read(f)
        if read is None:
            return None     # not cached: said again each cycle until the file is whole
        with self._lock:
            self._parsed[f.digest] = read
            while len(self._parsed) > 1 and (
                    len(self._parsed) > CACHE_FILES
                    or sum(len(r.rows) for r in self._parsed.values() if r) > CACHE_ROWS):
                self._parsed.popitem(last=False)
        return read

    def _read(self, f: SheetFile) -> FileRead | None:
        path = self.folder / f.name
        reader = read_xlsx if f.name.lower().endswith(".xlsx") else read_csv
        try:
            if f.size > self.limits.max_bytes:
                raise Refused("FILE_TOO_BIG", limit=_mb(self.limits.max_file_mb))
            with open_regular(path) as raw:
                read = reader(raw, self._schema, f.name, self.limits)
            after = path.lstat()
            if (after.st_size, after.st_mtime_ns) != (f.size, f.mtime_ns):
                raise Incomplete("the file changed while it was read")
        except Incomplete as exc:
            log.info("file not whole yet: read next cycle", file=redact(f.name), why=str(exc))
            return None
        except OSError as exc:
            log.info("file could not be read: read next cycle", file=redact(f.name),
                     why=type(exc).__name__)
            return None
        except NoHeader as exc:
            log.warning("file has no header row of this source's sheets: not read; fix or "
                        "remove it", file=redact(f.name), why=str(exc))
            return FileRead(refusal=Refused("NO_HEADER"))
        except Refused as exc:
            log.warning("file refused whole: not read again until its content changes",
                        file=redact(f.name), code=exc.code, why=str(exc))
            return FileRead(refusal=exc)
        settle(read, self._schema)
        return read

    def _fold(self, loaded: Iterable[tuple[SheetFile, FileRead]],
              entity: str) -> list[SourceRow]:
        """The rows of `entity`, each local id once in its last version (first place)."""
        out: dict[str, SourceRow] = {}
        for f, read in loaded:
            stamp = f.modified
            for p in read.rows:
                for row in self._schema.rows(p.cells, p.where, stamp, self._key):
                    if row.entity == entity:
                        out[row.local_id] = row
        return list(out.values())

    def _everything(self, entity: str) -> list[SourceRow]:
        return self._fold(self._loaded(self.files()), entity)

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


def _look(path: Path) -> tuple[str, int] | None:
    """`snapshot`, logged: None when the file is still being written or unreadable."""
    try:
        shot = snapshot(path)
    except OSError as exc:
        log.info("file could not be read: read next cycle", file=redact(path.name),
                 why=type(exc).__name__)
        return None
    if shot is None:
        log.info("file still being written: read next cycle", file=redact(path.name))
    return shot


def _mb(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
