"""Charts drawn on the server as SVG: no script, nothing fetched (the console works
offline and its Content-Security-Policy allows no inline style)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T = 720, 240, 56, 40, 24
COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b7791f", "#c53030")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def stacked_days(title: str, rows: Sequence[tuple[str, str, float]], empty: str) -> Markup:
    """Bars per day, stacked by source; rows are (day, source, value)."""
    days = sorted({d for d, _, _ in rows})
    sources = sorted({s for _, s, _ in rows})
    if not days:
        return _empty(title, empty)
    values: dict[tuple[str, str], float] = {}
    for d, s, v in rows:
        values[(d, s)] = values.get((d, s), 0.0) + v
    totals = {d: sum(values.get((d, s), 0.0) for s in sources) for d in days}
    top = max(totals.values()) or 1.0
    plot_w, plot_h = WIDTH - PAD_L - 10, HEIGHT - PAD_B - PAD_T
    step = plot_w / len(days)
    bar = min(max(step * 0.7, 1.0), 48.0)
    parts = [_axes(title, top, plot_h)]
    for i, day in enumerate(days):
        x = PAD_L + i * step + (step - bar) / 2
        y = float(PAD_T + plot_h)
        for source in sources:
            value = values.get((day, source), 0.0)
            h = plot_h * value / top
            y -= h
            colour = COLOURS[sources.index(source) % len(COLOURS)]
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(day)} {escape(source)}: '
                         f'{_fmt(value)}</title></rect>')
        if len(days) <= 16 or i % max(len(days) // 8, 1) == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - PAD_B + 16}" '
                         f'text-anchor="middle" font-size="11">{escape(day[5:])}</text>')
    parts += _legend(sources)
    return _svg(title, parts)


def bars(title: str, rows: Sequence[tuple[str, float]], empty: str) -> Markup:
    """Horizontal bars, one per label (quarantine by reason)."""
    if not rows:
        return _empty(title, empty)
    top = max(v for _, v in rows) or 1.0
    height = PAD_T + 26 * len(rows) + 10
    parts = [f'<text x="8" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, value) in enumerate(rows):
        y = PAD_T + 26 * i
        w = (WIDTH - 330) * value / top
        parts.append(f'<text x="8" y="{y + 15}" font-size="12">{escape(label)}</text>')
        parts.append(f'<rect x="260" y="{y + 3}" width="{w:.1f}" height="16" '
                     f'fill="{COLOURS[0]}"><title>{escape(label)}: {_fmt(value)}</title></rect>')
        parts.append(f'<text x="{264 + w:.1f}" y="{y + 15}" font-size="12">{_fmt(value)}'
                     '</text>')
    return _svg(title, parts, height)


def _axes(title: str, top: float, plot_h: float) -> str:
    base = PAD_T + plot_h
    ticks = "".join(
        f'<text x="{PAD_L - 6}" y="{base - plot_h * k / 4 + 4:.1f}" text-anchor="end" '
        f'font-size="11">{_fmt(top * k / 4)}</text>'
        f'<line x1="{PAD_L}" x2="{WIDTH - 10}" y1="{base - plot_h * k / 4:.1f}" '
        f'y2="{base - plot_h * k / 4:.1f}" stroke="#ddd"/>' for k in range(5))
    return (f'<text x="8" y="16" font-size="14" font-weight="bold">{escape(title)}</text>'
            f'{ticks}<line x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{base}" stroke="#888"/>')


def _legend(sources: Sequence[str]) -> list[str]:
    out = []
    for i, source in enumerate(sources):
        x = WIDTH - 130 * (len(sources) - i)
        out.append(f'<rect x="{x}" y="6" width="12" height="12" '
                   f'fill="{COLOURS[i % len(COLOURS)]}"/>'
                   f'<text x="{x + 16}" y="16" font-size="12">{escape(source)}</text>')
    return out


def _empty(title: str, empty: str) -> Markup:
    return _svg(title, [f'<text x="8" y="16" font-size="14" font-weight="bold">'
                        f'{escape(title)}</text><text x="8" y="48" font-size="12">'
                        f'{escape(empty)}</text>'], 64)


def _svg(title: str, parts: Sequence[str], height: int = HEIGHT) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
                  f'aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
                  f'width="{WIDTH}" height="{height}" class="chart">{"".join(parts)}</svg>')
