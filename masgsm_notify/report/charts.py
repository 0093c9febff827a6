"""The page's charts, drawn by pygal as inline SVG when the page is written.

pygal renders on the server side, so a chart is part of the page itself: it needs no script to
show, prints as vectors, and loads nothing (pygal's tooltip script, which it would fetch from
the web, is switched off with `js=[]`).
"""

from __future__ import annotations

import pygal
from pygal.style import Style

from ..pipeline.history import Poll
from .facts import PrefixLine, label

# One colour per outcome, shared with the page's CSS (see `page.py`).
COLOURS = {
    "delivered": "#2e7d32",
    "failed": "#c62828",
    "pending": "#f9a825",
    "unknown": "#6a1b9a",
    "not_sent": "#757575",
}
SET_ASIDE_COLOUR = "#90a4ae"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', sans-serif"
MOST_POINTS = 240  # a week of polls draws as well as a day's; the table below lists them all
MOST_BARS = 15
WIDTH = 820


def _style(colours: list[str]) -> Style:
    return Style(
        font_family=FONT,
        background="transparent",
        plot_background="#ffffff",
        foreground="#333333",
        foreground_strong="#111111",
        foreground_subtle="#777777",
        colors=tuple(colours),
        label_font_size=12,
        major_label_font_size=12,
        legend_font_size=13,
        value_font_size=12,
        title_font_size=15,
        opacity=".9",
        opacity_hover="1",
        transition="0ms",
    )


def _render(chart: pygal.graph.graph.Graph) -> str:
    return chart.render(is_unicode=True)


def elapsed(seconds: float) -> str:
    """A duration on an axis: `0.4 s`, `45 s`, `12 min`, `3 h 20 min`."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{round(seconds)} s"
    minutes = round(seconds) // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def sample(polls: list[Poll], most: int = MOST_POINTS) -> list[Poll]:
    """At most `most` polls, evenly spread, always with the first and the last."""
    if len(polls) <= most:
        return polls
    step = (len(polls) - 1) / (most - 1)
    return [polls[round(i * step)] for i in range(most)]


def delivery_over_time(polls: list[Poll], since: float) -> str | None:
    """Each outcome's count after every round of reports, against the time since sending
    began. None without polls."""
    if not polls:
        return None
    shown = sample(polls)
    names = [name for name in COLOURS if any(p.outcomes.get(name) for p in shown)]
    chart = pygal.XY(
        style=_style([COLOURS[name] for name in names]),
        js=[],
        disable_xml_declaration=True,
        width=WIDTH,
        height=340,
        title="Recipients by outcome after each round of delivery reports",
        x_title="time since the first batch left",
        x_value_formatter=lambda x: elapsed(x or 0),
        value_formatter=lambda y: f"{y:,.0f}",
        legend_at_bottom=True,
        show_dots=len(shown) <= 60,
        dots_size=3,
        stroke_style={"width": 2.5},
        include_x_axis=True,
        min_scale=3,
        max_scale=8,
    )
    for name in names:
        chart.add(label(name), [(p.at - since, p.outcomes.get(name, 0)) for p in shown])
    return _render(chart)


def failures_by_prefix(lines: list[PrefixLine]) -> str | None:
    """The share of final reports that failed, for the ranges with failures, worst on top
    (the table beside it lists every range). None when nothing failed."""
    failing = sorted(
        (line for line in lines if line.outcomes.get("failed")),
        key=lambda line: (line.failed_percent or 0, line.prefix),
    )[-MOST_BARS:]
    if not failing:
        return None
    chart = pygal.HorizontalBar(
        style=_style([COLOURS["failed"]]),
        js=[],
        disable_xml_declaration=True,
        width=WIDTH,
        height=110 + 26 * len(failing),
        title="Failed, as a share of final reports, by number range",
        show_legend=False,
        print_values=True,
        print_values_position="top",
        value_formatter=lambda v: f"{v:.1f} %",
        range=(0, 100),
        min_scale=4,
        max_scale=5,
    )
    chart.x_labels = [f"{line.prefix} {line.operator}".strip() for line in failing]
    chart.add("failed", [line.failed_percent for line in failing])
    return _render(chart)
