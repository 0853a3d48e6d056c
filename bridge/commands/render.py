"""What every command prints the same way: aligned tables, reason codes, masked text and
values, local times. Written once here; the command modules call it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TypeAlias

from bridge import logs
from bridge.ops.audit import codes, masked

__all__ = ["CST", "Sub", "codes", "local_time", "masked", "scrub", "table"]

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CST = timezone(timedelta(hours=8))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns; the last one is not padded."""
    widths = [max([len(h), *(len(str(r[i])) for r in rows)]) for i, h in enumerate(headers)]
    for line in (headers, *rows):
        cells = [str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=False)]
        print("  ".join([*cells, str(line[-1])]).rstrip())


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
