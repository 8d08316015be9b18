"""Trend charts as inline SVG, drawn in Python: they need no script and no external file.

Each chart plots one number per run (duration or bytes), oldest on the left. A run that did not
succeed is drawn as a cross instead of a dot, so the outcome is told by shape and not by colour
alone; each point has a tooltip, and the chart has a title and a text summary for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from backupplan.site.masking import mask_value as mask
from backupplan.site.text import display, format_time
from backupplan.site.views import GOOD, badge

WIDTH = 640
HEIGHT = 180
LEFT = 64
RIGHT = 12
TOP = 14
BOTTOM = 30


@dataclass(frozen=True)
class Point:
    """One run on a chart: its value, outcome and the words for its tooltip."""

    value: float
    good: bool
    label: str


def points_from_history(history: Sequence[dict[str, object]], field: str, limit: int = 100) -> list[Point]:
    """Given a job's history (newest first), return chart points (oldest first) for runs that
    finished and recorded `field` as a number."""
    points: list[Point] = []
    for run in history:
        value = run.get(field)
        if run.get("status") == "running" or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        status = badge(run.get("status")).words
        label = f"{display(mask(format_time(run.get('started_at'))), 64)}: {{value}}, {status}"
        points.append(Point(float(value), run.get("status") in GOOD, label))
        if len(points) == limit:
            break
    points.reverse()
    return points


def line_chart(
    chart_id: str, title: str, points: Sequence[Point], formatter: Callable[[float], str]
) -> Markup:
    """Given points and a value formatter, return an accessible SVG line chart; a short note when
    there are no runs to plot."""
    if not points:
        return Markup('<p class="muted">No finished runs to chart yet.</p>')
    values = [point.value for point in points]
    top_value = max(values) or 1.0
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(points) - 1, 1)

    def x(index: int) -> float:
        return LEFT + (index * step if len(points) > 1 else plot_width / 2)

    def y(value: float) -> float:
        return TOP + plot_height * (1 - value / top_value)

    bottom = TOP + plot_height
    top_label = escape(formatter(top_value))
    failed = sum(1 for point in points if not point.good)
    summary = (
        f"{len(points)} runs; lowest {formatter(min(values))}, highest {formatter(max(values))}, "
        f"last {formatter(values[-1])}; {failed} run{'s' if failed != 1 else ''} did not succeed "
        "(drawn as crosses)."
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(summary)}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
        f'<text class="label" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{top_label}</text>',
        f'<text class="label" x="{LEFT - 6}" y="{TOP + plot_height + 4}" text-anchor="end">0</text>',
        f'<text class="label" x="{LEFT}" y="{HEIGHT - 8}">oldest</text>',
        f'<text class="label" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">newest</text>',
    ]
    coordinates = " ".join(f"{x(index):.1f},{y(point.value):.1f}" for index, point in enumerate(points))
    parts.append(f'<polyline class="trend" points="{coordinates}"/>')
    for index, point in enumerate(points):
        cx, cy = x(index), y(point.value)
        tooltip = escape(point.label.replace("{value}", formatter(point.value)))
        if point.good:
            parts.append(
                f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="3.5"><title>{tooltip}</title></circle>'
            )
        else:
            parts.append(
                f'<path class="point failed" d="M{cx - 4:.1f} {cy - 4:.1f}l8 8m0 -8l-8 8">'
                f"<title>{tooltip}</title></path>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text in it went through escape()
