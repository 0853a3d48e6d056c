"""Receipts for the teams that send sheets (local-sources.md §C, "Receipts").

After a cycle, every sheet file of a `files` source with `receipts` set (default
`receipts`; `""` turns them off) gets `<path>/<receipts>/<file name>.receipt.xlsx`: one
line per row of the file (its worksheet and row number, 姓名 and 证件号码 masked, its
status in Chinese, the reasons in Chinese from the message catalogue), then the sheets
and rows that were skipped, or the one reason the whole file was refused. A row's status
is the state's (the one `zybridge status` counts): the worse of its volunteer's and its
service record's, so a row waiting for its push reads 等待中 and later 已同步.

A receipt is written only when its lines change (their hash is kept in the workbook's
keywords), through a 0600 temporary file renamed over the old one. Every cell is a text
cell: nothing a spreadsheet would run as a formula. A file refused whole is not looked
at again while its receipt says so for the same content (the keywords hold the file's
content hash too), so a refusal is logged once, not once per process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import structlog
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]

from adapters.base import SourceAdapter
from adapters.files import FilesSource, SheetFile
from adapters.sheetread import FileRead, Parsed
from bridge.config import Config
from mappings import messages
from mappings.mask import mask_id, mask_name, redact
from mappings.normalize import text
from mappings.taiwan_sheets import FIELD_HEADERS
from state.sheetrows import RowOutcome, row_outcomes, source_fingerprint
from state.store import StateStore

log = structlog.get_logger("bridge.receipts")
SUFFIX = ".receipt.xlsx"
WORST_FIRST = ("quarantined", "dead_lettered", "blocked", "pending", "skipped", "revoked",
               "synced")
COLUMNS = {"zh": ("工作表", "行号", "姓名", "证件号码", "状态", "原因"),
           "en": ("worksheet", "row", "name", "ID number", "status", "reasons")}
_PLACE = re.compile(r"^.*? row [0-9?]+: ")
_LATIN = re.compile(r"[A-Za-z]")
Line = tuple[str, str, str, str, str, str]


def write_receipts(cfg: Config, store: StateStore, adapters: Mapping[str, SourceAdapter],
                   lang: messages.Lang = "zh") -> list[Path]:
    """Write the receipts that changed; the paths written. A receipt that cannot be
    written is logged, never a failed cycle."""
    written: list[Path] = []
    for src in cfg.sources:
        adapter = adapters.get(src.name)
        if src.kind != "files" or not src.receipts or not isinstance(adapter, FilesSource):
            continue
        folder = adapter.folder / src.receipts
        try:
            written += _source_receipts(store, src.name, adapter, folder, lang)
        except OSError as exc:
            log.error("receipts could not be written", source=src.name,
                      folder=redact(str(folder)), error=type(exc).__name__)
    return written


def _source_receipts(store: StateStore, source: str, adapter: FilesSource, folder: Path,
                     lang: messages.Lang) -> list[Path]:
    """The source's receipts. A file is not read again for its receipt when the receipt
    was written for the same content and either refused it whole or was written when
    the state held what it holds now for the source (its fingerprint)."""
    state = source_fingerprint(store.conn, source)
    written = []
    for f, read in adapter.outcomes(lambda f: _settled(folder / (f.name + SUFFIX), f, state,
                                                       lang)):
        lines = receipt_lines(store, source, adapter, f, read, lang)
        mark = f"{f.digest} {state} {lang}" + (" refused" if read.refusal is not None else "")
        if write_receipt(folder / (f.name + SUFFIX), lines, lang, mark):
            written.append(folder / (f.name + SUFFIX))
    return written


def receipt_lines(store: StateStore, source: str, adapter: FilesSource, f: SheetFile,
                  read: FileRead, lang: messages.Lang = "zh") -> list[Line]:
    """The receipt's lines for one file, in the file's order, skips after the rows."""
    if read.refusal is not None:
        return [("", "", "", "", messages.status_text("refused", lang), read.refusal.text(lang))]
    ids = [adapter.row_ids(f, p) for p in read.rows]
    known = row_outcomes(store.conn, source, [k for keys in ids for k in keys])
    lines = [_row_line(p, [known.get(k) for k in keys], lang) for p, keys in zip(read.rows, ids,
                                                                                    strict=True)]
    for skip in read.skips:
        lines.append((skip.sheet or "", str(skip.row or ""), "", "",
                      messages.status_text("skipped", lang), messages.text(skip.code, lang)))
    return lines


def _row_line(p: Parsed, outcomes: Sequence[RowOutcome | None], lang: messages.Lang) -> Line:
    cells = p.cells or {}
    found = [o for o in outcomes if o is not None]
    # a row read but not yet staged is waiting
    status = "pending" if len(found) < len(outcomes) else min((o.status for o in found),
                                                               key=_rank)
    reasons: list[str] = []
    for o in found:
        for r in o.reasons:
            said = reason_text(r, lang)
            if said not in reasons:
                reasons.append(said)
    if p.cells is None:
        reasons = reasons or [messages.text("INVALID_FORMAT", lang)]
    name, number = text(cells.get("姓名")), text(cells.get("证件号码"))
    return (p.where.sheet or "", str(p.where.row), mask_name(name) if name else "",
            mask_id(number) if number else "", messages.status_text(status, lang),
            "；".join(reasons) if lang == "zh" else "; ".join(reasons))


def _rank(status: str) -> int:
    return WORST_FIRST.index(status) if status in WORST_FIRST else 0


def reason_text(reason: Mapping[str, str], lang: messages.Lang = "zh") -> str:
    """One reason for people: the column, then the catalogue's sentence for its code (or
    the reason's own words when they come from the catalogue already)."""
    field, code = reason.get("field", ""), reason.get("code", "")
    column = FIELD_HEADERS.get(field, field)
    detail = _PLACE.sub("", reason.get("message", ""))
    if lang == "en":
        said = f"{messages.text(code, 'en')} ({redact(detail)})" if messages.knows(code) \
            else redact(detail)
    elif detail and not _LATIN.search(detail):
        said = detail
    else:
        said = messages.text(code, "zh") if messages.knows(code) else code
    return said if not column or said.startswith(column) else f"{column}：{said}"


# --- the workbook ---------------------------------------------------------------------------

def lines_digest(lines: Sequence[Line]) -> str:
    return hashlib.sha256(json.dumps(lines, ensure_ascii=False).encode()).hexdigest()[:32]


def written_keywords(path: Path) -> list[str]:
    """The keywords an existing receipt was written with: its lines' hash, then its mark
    (the file's content hash, the state's fingerprint, the language, `refused`); []
    when there is none or it is unreadable."""
    try:
        with zipfile.ZipFile(path) as book:
            core = book.read("docProps/core.xml").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return []
    found = re.search(r"<cp:keywords>([0-9a-z \-]{1,200})</cp:keywords>", core)
    return found[1].split() if found else []


def _settled(path: Path, f: SheetFile, state: str, lang: messages.Lang) -> bool:
    """Whether the receipt already tells what it would tell now: this very content was
    refused whole, or nothing the receipt shows has changed in the state since."""
    words = written_keywords(path)
    if words[1:2] != [f.digest]:
        return False
    return words[4:] == ["refused"] or words[2:4] == [state, lang]


def write_receipt(path: Path, lines: Sequence[Line], lang: messages.Lang = "zh",
                  mark: str = "") -> bool:
    """Write the receipt unless it already holds these lines; whether it was written."""
    keywords = f"{lines_digest(lines)} {mark}".strip()
    if " ".join(written_keywords(path)) == keywords:
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    book = openpyxl.Workbook(write_only=True)
    book.properties.keywords = keywords
    sheet = book.create_sheet("回执" if lang == "zh" else "receipt")
    sheet.append([_text_cell(sheet, v) for v in COLUMNS[lang]])
    for line in lines:
        sheet.append([_text_cell(sheet, v) for v in line])
    fd, tmp = tempfile.mkstemp(prefix=".receipt-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            book.save(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def _text_cell(sheet: Any, value: str) -> Any:
    """A text cell, whatever it starts with (`=`, `+`, `-`, `@` are not formulas here)."""
    cell = WriteOnlyCell(sheet, value=None)
    cell.value = value
    cell.data_type = "s"
    return cell
