"""Render accessible, CSP-safe SVG charts of published aggregates.

Each chart function returns a `Chart`: an inline SVG (``Markup``) plus the same
figures as a plain table (headers and rows of strings) for the page to render
beside it. The SVG uses presentation attributes and ``class`` only — no
``style`` attributes or elements, no scripts, no external references — so it
survives a Content-Security-Policy that forbids inline styles and scripts.

Hidden data: the publisher replaces every cell below the minimum group size
with ``None`` (DESIGN.md rule 5). A ``None`` is drawn as "not shown", and so is
an empty cell (n = 0, count 0), because a hidden cell and a group with no
answers must look exactly alike. Nothing drawn is derived from a hidden cell:
axis ranges, gaps and summaries use shown values only.

One module a chart kind — `diverging` (stacked agreement bars), `lines` (line and gap
charts over time), `bars` (grouped and stacked counts) — over the shared `svg` building
blocks and the `model` of what is drawn. Callers import from `review.charts`.
"""

from review.charts.bars import BAR_COLOURS, bar_chart
from review.charts.diverging import diverging_bars
from review.charts.lines import LINE_COLOURS, gap_chart, line_chart
from review.charts.model import NOT_SHOWN, Chart, DateMark, DivergingRow, Series, TargetLine
from review.charts.svg import SMALL_FONT_SIZE, WIDTH, _text_width, contrast_ratio

__all__ = [
    "BAR_COLOURS",
    "LINE_COLOURS",
    "NOT_SHOWN",
    "SMALL_FONT_SIZE",
    "WIDTH",
    "Chart",
    "DateMark",
    "DivergingRow",
    "Series",
    "TargetLine",
    "_text_width",
    "bar_chart",
    "contrast_ratio",
    "diverging_bars",
    "gap_chart",
    "line_chart",
]
