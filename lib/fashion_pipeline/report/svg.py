"""Inline SVG charts for the dashboard: plain functions from values to markup, no scripts, no
fonts or styles from outside, so the file renders offline. Every drawn datum is an element of
class `mark` with a <title> (the browser's tooltip), which is also what the tests count."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44
PALETTE = ("#2f66c4", "#e8590c", "#2b8a3e", "#7b2cbf", "#c8102e", "#0b7285", "#a61e4d", "#5c940d")
STATUS_COLOURS = {"pass": "#2b8a3e", "warn": "#e0a100", "fail": "#c8102e"}


def number(value: float) -> str:
    """Short axis and tooltip numbers: 1234567 -> 1.23M, 0.01234 -> 0.0123."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (high > low)."""
    step = (high - low) / count
    power = 10 ** math.floor(math.log10(step))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= step)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - 1e-12:
        ticks.append(ticks[-1] + step)
    return ticks


def _svg(body: list[str], height: int = HEIGHT, label: str = "") -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
            f'role="img" aria-label="{escape(label)}" font-family="system-ui, sans-serif" font-size="11">'
            + "".join(body) + "</svg>")


def _y_axis(ticks: list[float], y_of, width: int = WIDTH) -> list[str]:
    out = []
    for tick in ticks:
        y = y_of(tick)
        out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e7"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#6b6b70">{number(tick)}</text>')
    return out


def _x_labels(labels: Sequence[str], x_of, bottom: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / 12))  # at most about 12 labels fit the width
    return [f'<text x="{x_of(i):.1f}" y="{bottom + 16:.1f}" text-anchor="middle" fill="#6b6b70">{escape(str(label))}</text>'
            for i, label in enumerate(labels) if i % every == 0 or i == len(labels) - 1]


def _legend(names: Sequence[str], colours: Sequence[str]) -> list[str]:
    out, x = [], LEFT
    for name, colour in zip(names, colours):
        out.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="{HEIGHT - 5}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out


def line_chart(x_labels: Sequence[str], series: Mapping[str, Sequence[float | None]], label: str = "",
               columns: Mapping[str, Sequence[float | None]] | None = None) -> str:
    """Lines (and optional columns behind them) over the same x positions; None leaves a gap."""
    columns = columns or {}
    values = [v for s in (*series.values(), *columns.values()) for v in s if v is not None]
    if not values or not x_labels:
        raise ValueError("a chart needs at least one value")
    low, high = min(0.0, min(values)), max(values)
    high = high if high > low else low + 1
    ticks = nice_ticks(low, high)
    low, high = ticks[0], ticks[-1]
    bottom = HEIGHT - BOTTOM
    plot_width = WIDTH - LEFT - RIGHT
    slot = plot_width / len(x_labels)

    def x_of(i):
        return LEFT + slot * (i + 0.5)

    def y_of(v):
        return bottom - (v - low) / (high - low) * (bottom - TOP)

    body = _y_axis(ticks, y_of)
    names, colours = [], []
    for n, (name, data) in enumerate(columns.items()):
        colour = "#c5d3ea"
        names.append(name)
        colours.append(colour)
        for i, v in enumerate(data):
            if v is None:
                continue
            body.append(f'<rect class="mark" x="{x_of(i) - slot * 0.35:.1f}" y="{min(y_of(v), y_of(0)):.1f}" '
                        f'width="{slot * 0.7:.1f}" height="{abs(y_of(0) - y_of(v)):.1f}" fill="{colour}">'
                        f'<title>{escape(str(x_labels[i]))} {escape(name)}: {number(v)}</title></rect>')
    for n, (name, data) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        names.append(name)
        colours.append(colour)
        segment: list[str] = []
        for i, v in enumerate([*data, None]):
            if v is not None:
                segment.append(f"{x_of(i):.1f},{y_of(v):.1f}")
                body.append(f'<circle class="mark" cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="3" fill="{colour}">'
                            f'<title>{escape(str(x_labels[i]))} {escape(name)}: {number(v)}</title></circle>')
            elif segment:
                if len(segment) > 1:
                    body.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" stroke-width="2"/>')
                segment = []
    body += _x_labels(x_labels, x_of, bottom)
    body += _legend(names, colours)
    return _svg(body, label=label)


def bar_chart(labels: Sequence[str], values: Sequence[float], label: str = "",
              colours: Sequence[str] | None = None, notes: Sequence[str] | None = None) -> str:
    """Horizontal bars, one per label, largest scale from zero; negative values extend left
    of a centre line (week-over-week growth)."""
    if not labels:
        raise ValueError("a chart needs at least one value")
    bar, gap, label_width = 18, 6, 200
    height = TOP + len(labels) * (bar + gap) + 24
    negative = any(v < 0 for v in values)
    extent = max(abs(v) for v in values) or 1.0
    # Room on the right for the value text, which can be a short phrase ("4,372 units (23.2%)").
    plot_left, plot_right = LEFT + label_width - 60, WIDTH - RIGHT - 150
    zero = (plot_left + plot_right) / 2 if negative else plot_left
    scale = (plot_right - zero) / extent
    body = [f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{TOP - 4}" y2="{height - 20}" stroke="#9a9a9a"/>']
    for i, (name, v) in enumerate(zip(labels, values)):
        y = TOP + i * (bar + gap)
        colour = (colours[i] if colours else ("#2b8a3e" if v >= 0 else "#c8102e") if negative else PALETTE[0])
        x, w = (zero, v * scale) if v >= 0 else (zero + v * scale, -v * scale)
        text = notes[i] if notes else number(v)
        body.append(f'<text x="{plot_left - 8 if not negative else LEFT - 50}" y="{y + 13}" '
                    f'text-anchor="{"end" if not negative else "start"}">{escape(str(name))[:34]}</text>')
        body.append(f'<rect class="mark" x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar}" fill="{colour}" '
                    f'stroke="#9a9a9a" stroke-width="0.5"><title>{escape(str(name))}: {escape(text)}</title></rect>')
        value_x = x + w + 4 if v >= 0 else x - 4
        body.append(f'<text x="{value_x:.1f}" y="{y + 13}" text-anchor="{"start" if v >= 0 else "end"}" '
                    f'fill="#6b6b70">{escape(text)}</text>')
    return _svg(body, height=height, label=label)


def status_grid(rows: Sequence[str], columns: Sequence[str], status: Mapping[tuple[str, str], str],
                label: str = "") -> str:
    """A cell per (row, column) coloured by status (pass / warn / fail); blank where not run."""
    if not rows or not columns:
        raise ValueError("a chart needs at least one value")
    label_width, cell_h = 190, 18
    cell_w = min(40.0, (WIDTH - RIGHT - label_width) / len(columns))
    height = TOP + len(rows) * cell_h + 56
    body = []
    for r, row in enumerate(rows):
        y = TOP + r * cell_h
        body.append(f'<text x="{label_width - 8}" y="{y + 13}" text-anchor="end">{escape(row)}</text>')
        for c, column in enumerate(columns):
            value = status.get((row, column))
            if value is None:
                continue
            body.append(f'<rect class="mark" x="{label_width + c * cell_w:.1f}" y="{y}" width="{cell_w - 2:.1f}" '
                        f'height="{cell_h - 2}" fill="{STATUS_COLOURS.get(value, "#9a9a9a")}">'
                        f'<title>{escape(row)} {escape(column)}: {escape(value)}</title></rect>')
    bottom = TOP + len(rows) * cell_h
    every = max(1, math.ceil(len(columns) / 10))
    for c, column in enumerate(columns):
        if c % every == 0 or c == len(columns) - 1:
            body.append(f'<text x="{label_width + c * cell_w + cell_w / 2:.1f}" y="{bottom + 14}" '
                        f'text-anchor="middle" fill="#6b6b70">{escape(column[5:])}</text>')
    x = label_width
    for name, colour in STATUS_COLOURS.items():
        body.append(f'<rect x="{x}" y="{bottom + 28}" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{x + 14}" y="{bottom + 37}">{name}</text>')
        x += 60
    return _svg(body, height=height, label=label)
