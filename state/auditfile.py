"""Archive and export files of the audit log: gzip'd or plain JSON lines, a header line
then one entry per line, written atomically and checked with the same chain walk as the
live log (state/audit.py)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, cast

from state.audit import GENESIS, ChainWalk, Record, Verdict, canonical


# archive and export files -----------------------------------------------------------------
def write_file(path: Path, header: Mapping[str, Any], rows: Iterable[Record]) -> str:
    """Write a header line then one line per entry (gzip when the name ends in .gz) to a
    new file, mode 0600, atomically; returns the file's SHA-256. Refuses to overwrite."""
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            if path.name.endswith(".gz"):
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                    _write_lines(packed.write, header, rows)
            else:
                _write_lines(raw.write, header, rows)
            raw.flush()
            os.fsync(raw.fileno())
        os.link(tmp, path)  # unlike rename, refuses a file that appeared meanwhile
    finally:
        tmp.unlink(missing_ok=True)
    return file_sha256(path)


def _write_lines(write: Callable[[bytes], object], header: Mapping[str, Any],
                 rows: Iterable[Record]) -> None:
    chunk = [canonical(dict(header))]
    for r in rows:
        chunk.append(canonical(r.to_json()))
        if len(chunk) >= 2000:
            write(("\n".join(chunk) + "\n").encode())
            chunk = []
    if chunk:
        write(("\n".join(chunk) + "\n").encode())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_file(path: Path) -> tuple[dict[str, Any], Iterator[Record]]:
    """The header and the entries of an archive or export file (gzip or plain JSONL).
    A line that is not a valid entry raises ValueError naming its line number."""
    lines = _lines(path)
    try:
        header = json.loads(next(lines, ""))
    except ValueError as exc:
        lines.close()
        raise ValueError(f"{path.name}: line 1 is not a JSON header") from exc
    if not isinstance(header, dict) or "format" not in header:
        lines.close()
        raise ValueError(f"{path.name}: line 1 is not an audit file header")
    return header, _entries(lines, path.name)


def _lines(path: Path) -> Generator[str, None, None]:
    with path.open("rb") as f:
        packed = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        with gzip.GzipFile(fileobj=f, mode="rb") if packed else nullcontext(f) as raw:
            yield from io.TextIOWrapper(cast(IO[bytes], raw), encoding="utf-8")


def _entries(lines: Iterator[str], name: str) -> Iterator[Record]:
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        try:
            yield Record.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{name}: line {number} is not an audit entry") from exc


def check_file(path: Path, key: bytes | None = None) -> tuple[dict[str, Any], Verdict]:
    """Verify an archive or export file on its own: every hash and link, its seals (with
    a key), a start at entry 1 that links to the genesis, and a header that agrees with
    what the file holds (a truncated file does not)."""
    walk = ChainWalk(key, None)
    try:
        header, rows = read_file(path)
        for r in rows:
            if (broken := walk.step(r)) is not None:
                return header, broken
    except (OSError, ValueError, EOFError, gzip.BadGzipFile) as exc:
        seq = (walk.verdict.last or 0) + 1
        return {}, replace(walk.verdict, ok=False, broken_at=seq,
                           problem=f"{path.name} is unreadable after entry {seq - 1}: {exc}")
    v = walk.verdict
    if v.first == 1 and v.first_prev != GENESIS:
        return header, replace(v, ok=False, broken_at=1,
                               problem="entry 1 does not link to the start of the chain")
    said = (header.get("from"), header.get("through"), header.get("entries"))
    if v.entries and said != (v.first, v.last, v.entries):
        seq = (v.last or 0) + 1
        return header, replace(v, ok=False, broken_at=seq, problem=(
            f"{path.name} holds entries {v.first}–{v.last} ({v.entries}) but its header "
            f"says {said[0]}–{said[1]} ({said[2]}): it was cut short or edited"))
    return header, v
