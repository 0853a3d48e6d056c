"""What every command prints the same way: aligned tables, reason codes, masked text and
values, local times, terminal-safe text and spreadsheet-safe CSV cells. Written once here;
the command modules call it.

Every line a command prints goes through `clean`: `bridge/cli.py` runs the command inside
`terminal_guard()`, which hands stdout and stderr to a `CleanStream` (issue 18: a source
value or file name carrying terminal escape sequences can no longer retitle or clear the
admin's terminal)."""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO, TypeAlias

from bridge import logs
from bridge.ops.audit import codes, masked

__all__ = ["CST", "CleanStream", "Sub", "clean", "codes", "csv_cell", "local_time", "masked",
           "raw_stream", "scrub", "table", "terminal_guard"]

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CST = timezone(timedelta(hours=8))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns of terminal-safe values; the last one is not padded."""
    shown = [[clean(str(c)) for c in line] for line in (headers, *rows)]
    widths = [max(len(line[i]) for line in shown) for i in range(len(headers))]
    for line in shown:
        cells = [c.ljust(w) for c, w in zip(line[:-1], widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip())


# terminal-safe text -----------------------------------------------------------------------
# An escape sequence whole (CSI `ESC [ … final`, OSC/DCS/APC/PM/SOS up to BEL or ST, or
# ESC and one character), so that none of it is left to show; then every control character
# alone: C0, DEL, C1, the bidirectional marks, embeddings, overrides and isolates, and the
# Unicode line and paragraph separators.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|.)?",
                     re.DOTALL)
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_CONTROL = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_LAYOUT_CONTROL = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_SPACING = frozenset("\t\n\r\x0b\x0c\u2028\u2029")


def clean(text: str, *, layout: bool = False) -> str:
    """`text` fit for a terminal: escape sequences and control characters removed. A value
    (`layout` false) has its tabs and line breaks turned into spaces, so that it cannot
    start a line of its own; printed output (`layout` true) keeps its `\\n` and `\\t`."""
    found = _LAYOUT_CONTROL if layout else _CONTROL
    if "\x1b" not in text and not found.search(text):
        return text
    text = _ESCAPE.sub("", text)
    if layout:
        return found.sub("", text)
    return found.sub(lambda m: " " if m[0] in _SPACING else "", text)


class CleanStream(io.TextIOBase):
    """A text stream that writes everything through `clean(…, layout=True)` to `raw`."""

    def __init__(self, raw: TextIO) -> None:
        super().__init__()
        self.raw = raw

    def write(self, s: str) -> int:
        self.raw.write(clean(s, layout=True))
        return len(s)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.raw.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.raw, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.raw, "errors", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


@contextmanager
def terminal_guard() -> Iterator[None]:
    """stdout and stderr written through `clean` while the block runs (a command)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout = CleanStream(out)
    sys.stderr = CleanStream(err)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):   # a closed pipe (`| head`) or file
                stream.flush()
        sys.stdout, sys.stderr = out, err


def raw_stream(stream: TextIO) -> TextIO:
    """The stream under a `CleanStream`: for a progress bar that draws with escape codes of
    its own and prints no value."""
    return stream.raw if isinstance(stream, CleanStream) else stream


# spreadsheet-safe CSV ----------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text and never runs as a formula: one that starts
    with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def scrub(text: str) -> str:
    """Free text with ID numbers, phones, names and registered secrets masked."""
    return logs.scrub(text)


def local_time(at: str | None) -> str:
    """An ISO-8601 time as `YYYY-MM-DD HH:MM:SS+08:00`, the one way every command shows a
    time to people (and `--since` reads it back); `-` for none, as it is when no time."""
    if not at:
        return "-"
    try:
        return datetime.fromisoformat(at).astimezone(CST).isoformat(" ", "seconds")
    except ValueError:
        return at
