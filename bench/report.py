"""Markdown for docs/performance.md: one table shape for every scenario."""

from __future__ import annotations

from collections.abc import Iterable

from bench.bridgerun import Sample

COLUMNS = ("run", "N", "items", "requests", "time s", "items/s", "req/s", "peak RSS MB",
           "CPU s", "sandbox CPU s", "note")


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def row(s: Sample) -> str:
    cells = (s.name, _num(s.volunteers), _num(s.items), _num(s.requests), _num(s.seconds, 1),
             _num(s.items_per_s), _num(s.requests_per_s, 1), _num(s.peak_rss_mb),
             _num(s.cpu_s, 1), _num(s.sandbox_cpu_s, 1), s.note)
    return "| " + " | ".join(cells) + " |"


def table(samples: Iterable[Sample]) -> str:
    head = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" if c in ("run", "note") else "---:" for c in COLUMNS) + "|"
    return "\n".join([head, rule, *(row(s) for s in samples)])


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "n/a"


def percent(a: float, b: float) -> str:
    return f"{a / b:.0%}" if b > 0 else "n/a"
