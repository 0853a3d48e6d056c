"""The progress of a long cycle on a terminal (operator-interface.md "A long cycle shows
its progress"): one rich bar per source and entity for the rows read, one per entity for
the items the platform acknowledged, each with its count, rate and ETA. The engine only
calls a Progress observer (bridge/progress.py); nothing is drawn unless stderr is a
terminal, so scripts and logs see the same output as before."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import rich.progress as rp
from rich.console import Console

from bridge.commands.render import raw_stream
from bridge.progress import Progress, Silent


class Bars:
    """A Progress observer drawing rich bars."""

    def __init__(self, bar: rp.Progress) -> None:
        self.bar = bar
        self.reading: dict[str, rp.TaskID] = {}
        self.sending: dict[str, rp.TaskID] = {}
        self.read_total: dict[str, int] = {}

    def expect(self, source: str, entity: str, rows: int) -> None:
        task = self._reading(source, entity)
        self.bar.update(task, total=rows or None)

    def read(self, source: str, entity: str, rows: int) -> None:
        task = self._reading(source, entity)
        self.bar.advance(task, rows)
        self.read_total[entity] = self.read_total.get(entity, 0) + rows
        known = self.bar.tasks[task]
        if known.total is not None and known.completed > known.total:
            self.bar.update(task, total=known.completed)   # more than last time
        self.bar.update(self._sending(entity), total=self.read_total[entity])

    def sent(self, entity: str, items: int) -> None:
        task = self._sending(entity)
        self.bar.advance(task, items)
        done = self.bar.tasks[task]
        if done.total is None or done.completed > done.total:
            self.bar.update(task, total=done.completed)

    def _reading(self, source: str, entity: str) -> rp.TaskID:
        key = f"{source} {entity}"
        if key not in self.reading:
            self.reading[key] = self.bar.add_task(f"read {key}", total=None, unit="rows",
                                                     rate="")
        return self.reading[key]

    def _sending(self, entity: str) -> rp.TaskID:
        if entity not in self.sending:
            self.sending[entity] = self.bar.add_task(f"sent {entity}", total=None,
                                                     unit="items", rate="")
        return self.sending[entity]


@contextmanager
def bars(file: IO[str] | None = None) -> Iterator[Progress]:
    """A Progress observer: rich bars on stderr (or `file`) when it is a terminal, else
    one that does nothing."""
    # the raw stream under render's guard: the bars' own escape codes, and names of sources
    # and entities ([a-z0-9_]+), no values
    console = Console(file=file if file is not None else raw_stream(sys.stderr))
    if not console.is_terminal:
        yield Silent()
        return
    bar = rp.Progress(rp.TextColumn("{task.description:<28}"), rp.BarColumn(),
                      rp.MofNCompleteColumn(), rp.TextColumn("{task.fields[unit]}"),
                      rp.TaskProgressColumn(), rp.TextColumn("ETA"),
                      rp.TimeRemainingColumn(), console=console, transient=False)
    with bar:
        yield Bars(bar)
