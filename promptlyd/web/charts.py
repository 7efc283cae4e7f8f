"""Per-day usage and its bar charts as server-rendered SVG (pure; no script, no CDN)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from promptlyd.timeutil import parse_iso


@dataclass
class Day:
    day: date
    runs: int = 0
    failed: int = 0
    tokens: int = 0
    cents: float = 0.0


def per_day(rows: Iterable[tuple[str, str, int, float]], zone: str, today: date,
            days: int) -> list[Day]:
    """The last ``days`` local days (oldest first, ending ``today``), every one present."""
    first = today - timedelta(days=days - 1)
    out = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}
    tz = ZoneInfo(zone)
    for created, status, tokens, cents in rows:
        local = parse_iso(created).astimezone(tz).date()
        bucket = out.get(local)
        if bucket is None:
            continue
        bucket.runs += 1
        bucket.failed += status == "failed"
        bucket.tokens += tokens
        bucket.cents += cents
    return list(out.values())


def day_start(today: date, days: int, zone: str) -> datetime:
    """The instant the first of the last ``days`` local days began."""
    first = today - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=ZoneInfo(zone))


WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 180, 48, 28, 12


def _nice(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *,
              highlight: Sequence[float] | None = None, unit: str = "") -> str:
    """An accessible SVG bar chart (``role=img`` with a text alternative); ``highlight``
    draws a second series (failures) over the first, in the warning colour."""
    top = max([*values, *(highlight or ()), 0]) or 1
    n = max(len(values), 1)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / n
    bar = max(step * 0.7, 1)
    total = sum(values)
    alt = f"{title}: {_nice(total)}{unit} over {len(values)} days, at most {_nice(top)}{unit} a day"
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(alt)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(alt)}</title>',
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" '
             f'y2="{TOP + plot_h}"/>',
             f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">{_nice(top)}{unit}</text>',
             f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>']
    for series, css in ((values, "bar"), (highlight or (), "bar-bad")):
        for i, value in enumerate(series):
            if value <= 0:
                continue
            h = plot_h * value / top
            x = LEFT + i * step + (step - bar) / 2
            parts.append(f'<rect class="{css}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(labels[i])}: '
                         f'{_nice(value)}{unit}</title></rect>')
    every = max(1, n // 6)
    for i in range(0, n, every):
        x = LEFT + i * step + step / 2
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                     f"{escape(labels[i])}</text>")
    parts.append("</svg>")
    return "".join(parts)
