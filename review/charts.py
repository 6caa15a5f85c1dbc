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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = [
    "NOT_SHOWN",
    "Chart",
    "DateMark",
    "DivergingRow",
    "Series",
    "TargetLine",
    "bar_chart",
    "diverging_bars",
    "gap_chart",
    "line_chart",
]

NOT_SHOWN = "not shown"

WIDTH = 640
FONT_SIZE = 13
SMALL_FONT_SIZE = 12
FONT_FAMILY = "system-ui, sans-serif"
TEXT = "#1a1a1a"  # 17.4:1 on white
MUTED_TEXT = "#595959"  # 7:1 on white
WHITE = "#ffffff"
GRID = "#d0d0d0"
OUTLINE = "#767676"
MIN_TEXT_CONTRAST = 4.5

# ColorBrewer BrBG, per side of the scale, ordered from the centre outwards.
# Luminance falls step by step away from the centre on both sides, so the
# categories stay apart in greyscale; the side is told by position.
_DISAGREE_RAMPS = {
    1: ("#a6611a",),
    2: ("#dfc27d", "#a6611a"),
    3: ("#f6e8c3", "#d8b365", "#8c510a"),
    4: ("#f6e8c3", "#dfc27d", "#bf812d", "#8c510a"),
}
_AGREE_RAMPS = {
    1: ("#018571",),
    2: ("#80cdc1", "#018571"),
    3: ("#c7eae5", "#5ab4ac", "#01665e"),
    4: ("#c7eae5", "#80cdc1", "#35978f", "#01665e"),
}
_NEUTRAL = "#f5f5f5"

# Okabe & Ito (2008), ordered so the first colours reach 3:1 against white;
# every series also gets its own dash pattern and marker shape.
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00")
LINE_DASHES = (None, "9 4", "2 3", "10 3 2 3", "5 5", "14 3 2 3 2 3")
MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "cross")

# Bars carry no dash or marker, so lightness alone must tell them apart in
# greyscale: Okabe & Ito blue, orange, yellow and black plus Paul Tol's indigo,
# CIE L* 46, 71, 22, 89, 0 — at least 18 apart, neighbours in a stack at least 25.
BAR_COLOURS = ("#0072B2", "#E69F00", "#332288", "#F0E442", "#000000")


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart and the same data as a plain table."""

    id: str
    svg: Markup
    title: str
    description: str
    table_headers: tuple[str, ...]
    table_rows: tuple[tuple[str, ...], ...]
    # Text equivalents of target lines and date marks, one sentence each, for the page.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DivergingRow:
    """One bar of a diverging chart: a published distribution, or None when hidden."""

    label: str
    n: int | None
    shares: Sequence[float | None] | None
    # A question worded negatively: its answers are drawn the other way round, so that
    # more favourable is to the right on every row (its data table keeps answer order).
    reversed: bool = False


@dataclass(frozen=True)
class Series:
    """One named series; None marks a hidden (or empty) point."""

    label: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class TargetLine:
    """A goal's target drawn across a line chart, in the chart's own units."""

    value: float
    label: str  # e.g. "Goal: at least 75%"


@dataclass(frozen=True)
class DateMark:
    """A dated mark on a line chart: an action taken, or a goal's due date."""

    day: dt.date
    label: str
    kind: str = "action"  # "action" or "due"


# --------------------------------------------------------------------------
# SVG building blocks


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attrs(attrs: dict[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        text = _num(value) if isinstance(value, float) else str(value)
        parts.append(f' {name}="{escape(text)}"')
    return "".join(parts)


def _tag(name: str, children: str = "", **attrs: object) -> str:
    """Return one element; ``children`` must already be escaped markup."""
    if children:
        return f"<{name}{_attrs(attrs)}>{children}</{name}>"
    return f"<{name}{_attrs(attrs)}/>"


def _text(x: float, y: float, content: str, **attrs: object) -> str:
    return _tag("text", str(escape(content)), x=float(x), y=float(y), **attrs)


def _tooltip(content: str) -> str:
    return _tag("title", str(escape(content)))


def _text_lines(x: float, y: float, lines: Sequence[str], step: float, **attrs: object) -> str:
    spans = "".join(
        _tag("tspan", str(escape(line)), x=float(x), dy=None if i == 0 else float(step))
        for i, line in enumerate(lines)
    )
    return _tag("text", spans, x=float(x), y=float(y), **attrs)


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    # An estimate for layout only; system-ui averages a little over half an em.
    return len(text) * size * 0.56


def _svg(chart_id: str, kind: str, height: float, title: str, desc: str, body: str) -> Markup:
    head = _tag("title", str(escape(title)), id=f"{chart_id}-title") + _tag(
        "desc", str(escape(desc)), id=f"{chart_id}-desc"
    )
    attrs = _attrs(
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "id": chart_id,
            "class": f"chart chart-{kind}",
            "viewBox": f"0 0 {WIDTH} {_num(math.ceil(height))}",
            "width": "100%",
            "role": "img",
            "aria-labelledby": f"{chart_id}-title {chart_id}-desc",
            "font-family": FONT_FAMILY,
            "font-size": FONT_SIZE,
            "fill": TEXT,
        }
    )
    # Every piece of text in head and body went through escape() on the way in.
    return Markup(f"<svg{attrs}>{head}{body}</svg>")  # noqa: S704


_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")


def _chart_id(kind: str, title: str, payload: object, id_prefix: str | None) -> str:
    """Return an id unique per chart content, so several charts share a page."""
    if id_prefix is not None:
        if not _ID_RE.match(id_prefix):
            raise ValueError(f"id_prefix must match {_ID_RE.pattern!r}: {id_prefix!r}")
        return id_prefix
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:32].strip("-") or "chart"
    digest = hashlib.sha256(repr((kind, title, payload)).encode()).hexdigest()[:10]
    return f"chart-{slug}-{digest}"


# --------------------------------------------------------------------------
# Colour and scales


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_ratio(a: str, b: str) -> float:
    """Return the WCAG 2 contrast ratio of two #rrggbb colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _label_colour(fill: str) -> str | None:
    """Return the text colour readable on ``fill`` (≥ 4.5:1), or None if neither is."""
    best = max((TEXT, WHITE), key=lambda c: contrast_ratio(c, fill))
    return best if contrast_ratio(best, fill) >= MIN_TEXT_CONTRAST else None


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5):
        if raw <= m * magnitude * (1 + 1e-9):
            return m * magnitude
    return 10 * magnitude


def _ticks(low: float, high: float, target: int = 5) -> list[float]:
    step = _nice_step(high - low, target)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _nice_ceiling(value: float) -> float:
    step = _nice_step(value)
    return math.ceil(value / step - 1e-9) * step


def _percent(share: float) -> str:
    # Half up, as people round, not Python's round-half-even.
    return f"{math.floor(share * 100 + 0.5)}%"


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------
# Legends and axes shared by the charts


def _legend(entries: Sequence[tuple[str, str]], top: float, swatch_w: float) -> tuple[str, float]:
    """Lay out (swatch drawn at 0,0, label) entries in rows; return markup and height."""
    out, x, y = [], 16.0, top
    for swatch, label in entries:
        width = swatch_w + 6 + _text_width(label) + 18
        if x > 16 and x + width > WIDTH - 16:
            x, y = 16.0, y + 22
        out.append(
            _tag(
                "g",
                swatch + _text(swatch_w + 6, 11.5, label),
                class_="legend-entry",
                transform=f"translate({_num(x)} {_num(y)})",
            )
        )
        x += width
    return _tag("g", "".join(out), class_="legend"), y + 22 - top


def _not_shown_marker(cx: float, base: float) -> str:
    """A small open triangle standing on ``base``: where a hidden count would be."""
    return _tag("path", d=f"M{_num(cx - 5)} {_num(base)}L{_num(cx)} {_num(base - 9)}"
                f"L{_num(cx + 5)} {_num(base)}Z", fill=WHITE, stroke=TEXT, stroke_width=1.25,
                class_="not-shown-marker")  # fmt: skip


def _box_swatch(fill: str) -> str:
    return _tag("rect", x=0, y=0, width=14, height=14, fill=fill, stroke=OUTLINE, stroke_width=1)


def _x_labels(
    labels: Sequence[str], xs: Sequence[float], slot: float, y: float
) -> tuple[str, float]:
    """Return x-axis labels and the height they need, turned when they would collide."""
    widest = max((_text_width(label) for label in labels), default=0)
    if widest <= slot - 6:
        out = [
            _text(x, y + 16, label, text_anchor="middle")
            for label, x in zip(labels, xs, strict=True)
        ]
        return _tag("g", "".join(out), class_="x-labels"), 26
    out = [
        _text(
            x, y + 14, label, text_anchor="end", transform=f"rotate(-35 {_num(x)} {_num(y + 14)})"
        )
        for label, x in zip(labels, xs, strict=True)
    ]
    return _tag("g", "".join(out), class_="x-labels"), 20 + widest * math.sin(math.radians(35))


def _turned_label_overhang(labels: Sequence[str], first_x: float, slot: float) -> float:
    """Return how far the first x label, once turned, would reach left of the chart's edge.

    A turned label ends at its point and runs down to the left; on a chart with long
    round names the first one was cut off at the edge (the SVG clips what lies outside).
    """
    if not labels or max(_text_width(label) for label in labels) <= slot - 6:
        return 0.0
    reach = _text_width(labels[0]) * math.cos(math.radians(35)) + 4
    return max(0.0, reach - first_x)


def _y_axis(
    ticks: Sequence[float],
    ypos: Callable[[float], float],
    x0: float,
    x1: float,
    value_format: str,
    y_label: str,
    y_mid: float,
) -> str:
    out = []
    for t in ticks:
        y = ypos(t)
        out.append(_tag("line", x1=x0, y1=y, x2=x1, y2=y, stroke=GRID, stroke_width=1))
        out.append(_text(x0 - 6, y + 4.5, _tick_label(t, value_format), text_anchor="end"))
    out.append(
        _text(18, y_mid, y_label, text_anchor="middle", transform=f"rotate(-90 18 {_num(y_mid)})")
    )
    return _tag("g", "".join(out), class_="y-axis")


def _left_margin(ticks: Sequence[float], value_format: str) -> float:
    return 32 + max(_text_width(_tick_label(t, value_format)) for t in ticks) + 8


def _tick_label(value: float, value_format: str) -> str:
    text = value_format.format(value)
    # Zero has no sign, even when the format asks for one ("{:+.0f}").
    return text.replace("+", "", 1) if value == 0 else text


# --------------------------------------------------------------------------
# Diverging stacked bars


def _scale_sides(count: int, neutral_index: int | None) -> tuple[list[int], list[int]]:
    if count < 2:
        raise ValueError("a diverging chart needs at least two categories")
    if neutral_index is None:
        if count % 2:
            raise ValueError("an odd number of categories needs a neutral_index")
        return list(range(count // 2)), list(range(count // 2, count))
    if not 0 < neutral_index < count - 1:
        raise ValueError("neutral_index must have categories on both sides")
    return list(range(neutral_index)), list(range(neutral_index + 1, count))


def _diverging_palette(left: int, neutral: bool, right: int) -> list[str]:
    if left not in _DISAGREE_RAMPS or right not in _AGREE_RAMPS:
        raise ValueError("at most four categories on each side of the scale")
    colours = list(reversed(_DISAGREE_RAMPS[left]))
    if neutral:
        colours.append(_NEUTRAL)
    return colours + list(_AGREE_RAMPS[right])


def _shown_shares(row: DivergingRow, count: int) -> tuple[float, ...] | None:
    """Return the row's shares, or None when any part is hidden or the row is empty."""
    if row.n is not None and (isinstance(row.n, bool) or not isinstance(row.n, int) or row.n < 0):
        raise ValueError(f"n must be a non-negative int or None: {row.n!r}")
    # A hidden n hides its shares too, and an empty row looks like a hidden one.
    if not row.n or row.shares is None or any(s is None for s in row.shares):
        return None
    if len(row.shares) != count:
        raise ValueError(f"row {row.label!r} has {len(row.shares)} shares for {count} categories")
    shares = tuple(_finite(s, "a share") for s in row.shares)
    if any(s < 0 for s in shares) or abs(sum(shares) - 1) > 0.05:
        raise ValueError(f"shares of row {row.label!r} must be non-negative and sum to 1")
    return shares


def diverging_bars(
    title: str,
    rows: Sequence[DivergingRow],
    category_labels: Sequence[str],
    neutral_index: int | None,
    *,
    label_header: str = "Group",
    id_prefix: str | None = None,
    axis_ends: tuple[str, str] | None = None,
) -> Chart:
    """Draw a diverging stacked bar chart of Likert (or yes/no) distributions.

    Categories before ``neutral_index`` extend left of the centre line, those
    after it right; the neutral category straddles the centre. Without a
    neutral category the first half of the categories goes left. A reversed row
    is drawn mirrored (its last category leftmost); ``axis_ends`` names the two
    ends of the axis under the bars ("less favourable", "more favourable").
    """
    categories = [str(c) for c in category_labels]
    left, right = _scale_sides(len(categories), neutral_index)
    colours = _diverging_palette(len(left), neutral_index is not None, len(right))
    shown = [_shown_shares(row, len(categories)) for row in rows]
    # The id is a hash, so it is built from shown values only: a digest of a
    # hidden cell could be reversed by trying the few values it can take.
    published = [(r.label, r.n if s else None, s, r.reversed)
                 for r, s in zip(rows, shown, strict=True)]  # fmt: skip
    chart_id = _chart_id(
        "diverging", title, (published, categories, neutral_index, label_header, axis_ends),
        id_prefix,
    )
    last = len(categories) - 1
    # Position on the axis -> category, per row: mirrored for reversed rows.
    orders = [list(range(last, -1, -1)) if r.reversed else list(range(last + 1)) for r in rows]
    drawn = [None if s is None else tuple(s[c] for c in order)
             for s, order in zip(shown, orders, strict=True)]  # fmt: skip

    def extents(shares: Sequence[float]) -> tuple[float, float, float]:
        total = sum(shares)  # normalised, so rounding never pushes a bar past the axis
        half = shares[neutral_index] / total / 2 if neutral_index is not None else 0.0
        return sum(shares[i] for i in left) / total, half, sum(shares[i] for i in right) / total

    reach = max(
        (max(lo + half, hi + half) for lo, half, hi in (extents(s) for s in drawn if s)),
        default=0.5,
    )
    if reach <= 0.5:
        extent, step = max(math.ceil(reach * 10 - 1e-9) / 10, 0.1), 0.1
    else:
        extent, step = math.ceil(reach * 4 - 1e-9) / 4, 0.25

    label_w, n_w = 180.0, 78.0
    bar_x0, bar_x1 = 16 + label_w + 12, WIDTH - 16 - n_w
    centre = (bar_x0 + bar_x1) / 2
    scale = (bar_x1 - bar_x0) / 2 / extent

    legend, legend_h = _legend(
        [(_box_swatch(c), label) for c, label in zip(colours, categories, strict=True)], 12, 14
    )
    top = 12 + legend_h + 10
    body_rows, y = [], top
    for row, shares, order in zip(rows, drawn, orders, strict=True):
        lines = textwrap.wrap(row.label, width=int(label_w / (FONT_SIZE * 0.56))) or [""]
        row_h = max(32.0, 16.0 * len(lines) + 12)
        mid = y + row_h / 2
        label = _text_lines(16, mid - 8 * (len(lines) - 1) + 4.5, lines, 16, class_="row-label")
        if shares is None:
            n_text = _text(bar_x1 + 10, mid + 4.5, NOT_SHOWN, fill=MUTED_TEXT, class_="n")
            body_rows.append(_tag("g", label + n_text, class_="row row-not-shown"))
        else:
            total = sum(shares)
            lo, half, _ = extents(shares)
            x = centre - (lo + half) * scale
            parts, segments = [label], []
            for i, share in enumerate(shares):
                width = share / total * scale
                segments.append(
                    _tag(
                        "rect",
                        _tooltip(f"{categories[order[i]]}: {_percent(share)}"),
                        class_=f"segment cat-{i}",
                        x=x,
                        y=mid - 10,
                        width=width,
                        height=20.0,
                        fill=colours[i],
                    )
                )
                text, ink = _percent(share), _label_colour(colours[i])
                if ink and width >= _text_width(text, SMALL_FONT_SIZE) + 6:
                    segments.append(
                        _text(
                            x + width / 2,
                            mid + 4,
                            text,
                            fill=ink,
                            stroke="none",
                            font_size=SMALL_FONT_SIZE,
                            text_anchor="middle",
                            class_="segment-label",
                        )
                    )
                x += width
            # One outline for a row's segments, not one per segment: a breakdown page
            # draws hundreds of them (their labels set stroke="none").
            parts.insert(1, _tag("g", "".join(segments), stroke=OUTLINE, stroke_width=0.5))
            parts.append(_text(bar_x1 + 10, mid + 4.5, f"n = {row.n}", class_="n"))
            body_rows.append(_tag("g", "".join(parts),
                                  class_="row row-reversed" if row.reversed else "row"))
        y += row_h
    bottom = y

    grid = []
    for i in range(-round(extent / step), round(extent / step) + 1):
        x = centre + i * step * scale
        grid.append(_tag("line", x1=x, y1=top, x2=x, y2=bottom, stroke=GRID, stroke_width=1))
        grid.append(_text(x, bottom + 18, _percent(abs(i * step)), text_anchor="middle"))
    # Drawn under the bars, so it shows between rows without crossing labels.
    axis = _tag(
        "line",
        class_="centre-line",
        x1=centre,
        y1=top - 6,
        x2=centre,
        y2=bottom + 4,
        stroke=TEXT,
        stroke_width=1.5,
    )
    caption = _text(centre, bottom + 38, "Share of answers", text_anchor="middle", fill=MUTED_TEXT)
    height = bottom + 50
    if axis_ends is not None:
        caption += _text(bar_x0, bottom + 58, f"← {axis_ends[0]}", fill=TEXT, class_="axis-end")
        caption += _text(bar_x1, bottom + 58, f"{axis_ends[1]} →", fill=TEXT,
                         text_anchor="end", class_="axis-end")
        height += 20
    body = (
        legend
        + _tag("g", "".join(grid) + axis + caption, class_="axis")
        + _tag("g", "".join(body_rows), class_="rows")
    )

    description = _diverging_description(rows, shown, categories, left, neutral_index, right)
    if axis_ends is not None:
        description += (f" Left of the centre is {axis_ends[0]}, right is {axis_ends[1]}"
                        + (": questions worded negatively are drawn the other way round."
                           if any(r.reversed for r in rows) else "."))
    headers = (label_header, "n", *categories)
    table = tuple(
        (row.label, NOT_SHOWN, *([NOT_SHOWN] * len(categories)))
        if shares is None
        else (row.label, str(row.n), *(_percent(s) for s in shares))
        for row, shares in zip(rows, shown, strict=True)
    )
    svg = _svg(chart_id, "diverging", height, title, description, body)
    return Chart(chart_id, svg, title, description, headers, table)


def _diverging_description(
    rows: Sequence[DivergingRow],
    shown: Sequence[tuple[float, ...] | None],
    categories: Sequence[str],
    left: Sequence[int],
    neutral_index: int | None,
    right: Sequence[int],
) -> str:
    def names(indices: Sequence[int]) -> str:
        return " or ".join(categories[i] for i in indices)

    scale = f"{len(categories)}-point scale" if neutral_index is not None else "scale"
    parts = [
        f"Diverging bar chart of answers on a {scale} from {categories[0]} to {categories[-1]}, "
        f"for {len(rows)} {'row' if len(rows) == 1 else 'rows'}: "
        f"{names(left)} to the left of the centre line, {names(right)} to the right"
        + (f", {categories[neutral_index]} split across it." if neutral_index is not None else ".")
    ]
    for row, shares in zip(rows, shown, strict=True):
        if shares is None:
            parts.append(f"{row.label}: {NOT_SHOWN}.")
            continue
        groups = [f"{_percent(sum(shares[i] for i in left))} {names(left)}"]
        if neutral_index is not None:
            groups.append(f"{_percent(shares[neutral_index])} {categories[neutral_index]}")
        groups.append(f"{_percent(sum(shares[i] for i in right))} {names(right)}")
        parts.append(f"{row.label} (n = {row.n}): {', '.join(groups)}.")
    return " ".join(parts)


# --------------------------------------------------------------------------
# Line charts


def _marker(shape: str, x: float, y: float, colour: str, tooltip: str = "") -> str:
    children = _tooltip(tooltip) if tooltip else ""
    common = {
        "class_": f"marker marker-{shape}",
        "fill": colour,
        "stroke": WHITE,
        "stroke_width": 1,
    }
    if shape == "circle":
        return _tag("circle", children, cx=x, cy=y, r=4.5, **common)
    if shape == "square":
        return _tag("rect", children, x=x - 4, y=y - 4, width=8.0, height=8.0, **common)
    r = 5.5
    points = {
        "triangle": [(0, -r), (r, r * 0.8), (-r, r * 0.8)],
        "triangle-down": [(0, r), (r, -r * 0.8), (-r, -r * 0.8)],
        "diamond": [(0, -r), (r, 0), (0, r), (-r, 0)],
        "cross": [
            (-1.8, -r), (1.8, -r), (1.8, -1.8), (r, -1.8), (r, 1.8), (1.8, 1.8),
            (1.8, r), (-1.8, r), (-1.8, 1.8), (-r, 1.8), (-r, -1.8), (-1.8, -1.8),
        ],
    }[shape]  # fmt: skip
    text = " ".join(f"{_num(x + dx)},{_num(y + dy)}" for dx, dy in points)
    return _tag("polygon", children, points=text, **common)


def _check_series(x_labels: Sequence[str], series: Sequence[Series], limit: int) -> None:
    if not x_labels:
        raise ValueError("a chart needs at least one x label")
    if not series:
        raise ValueError("a chart needs at least one series")
    if len(series) > limit:
        raise ValueError(f"at most {limit} series stay readable; split the chart")
    for s in series:
        if len(s.values) != len(x_labels):
            raise ValueError(
                f"series {s.label!r} has {len(s.values)} values for {len(x_labels)} labels"
            )
        for v in s.values:
            if v is not None:
                _finite(v, f"a value of {s.label!r}")


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """Return the indices of each unbroken stretch of shown values."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(i)
    if current:
        runs.append(current)
    return runs


def _line_svg(
    chart_id: str,
    kind: str,
    title: str,
    description: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    y_min: float,
    y_max: float,
    y_label: str,
    value_format: str,
    reference: float | None,
    legend_labels: Sequence[str],
    targets: Sequence[TargetLine] = (),
    marks: Sequence[tuple[str, DateMark]] = (),
    x_dates: Sequence[dt.date] | None = None,
) -> Markup:
    entries = []
    for i in range(len(series)):
        swatch = _tag(
            "line",
            x1=0,
            y1=7,
            x2=36,
            y2=7,
            stroke=LINE_COLOURS[i],
            stroke_width=2.5,
            stroke_dasharray=LINE_DASHES[i],
        ) + _marker(MARKERS[i], 18, 7, LINE_COLOURS[i])
        entries.append((swatch, legend_labels[i]))
    # A goal's target is named in the legend, never written over the plot, where its
    # label covered data points (issue 21, finding 6).
    for target in targets:
        entries.append((_tag("line", x1=0, y1=7, x2=36, y2=7, stroke=TARGET_COLOUR,
                             stroke_width=2, stroke_dasharray="8 4"), target.label))
    legend, legend_h = _legend(entries, 12, 36)

    ticks = _ticks(y_min, y_max)
    x0, x1 = _left_margin(ticks, value_format), WIDTH - 24.0
    mark_rows = min(len(marks), MARK_ROWS)
    marks_top = 12 + legend_h + 14
    y0 = marks_top + mark_rows * MARK_ROW_HEIGHT
    y1 = y0 + 220

    def ypos(v: float) -> float:
        return y1 - (v - y_min) / (y_max - y_min) * (y1 - y0)

    count = len(x_labels)

    def place(x0: float) -> tuple[list[float], float]:
        if count == 1:
            return [(x0 + x1) / 2], x1 - x0 - 64
        step = (x1 - x0 - 64) / (count - 1)
        return [x0 + 32 + i * step for i in range(count)], step

    xs, slot = place(x0)
    if overhang := _turned_label_overhang(x_labels, xs[0], slot):
        x0 += overhang
        xs, slot = place(x0)
    x_axis, x_axis_h = _x_labels(x_labels, xs, slot, y1)

    parts = [legend, _y_axis(ticks, ypos, x0, x1, value_format, y_label, (y0 + y1) / 2), x_axis]
    parts.append(_tag("line", x1=x0, y1=y1, x2=x1, y2=y1, stroke=TEXT, stroke_width=1))
    if reference is not None:
        y_ref = ypos(reference)
        parts.append(
            _tag(
                "line",
                class_="reference-line",
                x1=x0,
                y1=y_ref,
                x2=x1,
                y2=y_ref,
                stroke=TEXT,
                stroke_width=1.5,
            )
        )
    for target in targets:
        parts.append(_target_line(target, ypos(target.value), x0, x1))
    if marks and x_dates is not None:
        for i, (key, mark) in enumerate(marks):
            x = _date_x(mark.day, x_dates, xs, x0, x1)
            top = marks_top + (i % MARK_ROWS) * MARK_ROW_HEIGHT
            parts.append(_date_mark(key, mark, x, top, y1))
    for i, s in enumerate(series):
        colour, shapes = LINE_COLOURS[i], []
        for run in _runs(s.values):
            if len(run) > 1:
                points = " ".join(f"{_num(xs[j])},{_num(ypos(s.values[j]))}" for j in run)
                shapes.append(
                    _tag(
                        "polyline",
                        class_="series-line",
                        points=points,
                        fill="none",
                        stroke=colour,
                        stroke_width=2.5,
                        stroke_dasharray=LINE_DASHES[i],
                        stroke_linejoin="round",
                    )
                )
        for j, v in enumerate(s.values):
            if v is not None:
                tip = f"{s.label}, {x_labels[j]}: {value_format.format(v)}"
                shapes.append(_marker(MARKERS[i], xs[j], ypos(v), colour, tip))
        parts.append(_tag("g", "".join(shapes), class_=f"series series-{i}"))
    height = y1 + x_axis_h + 12
    return _svg(chart_id, kind, height, title, description, "".join(parts))


MARK_ROWS = 3  # labels of date marks are staggered over this many rows so they do not collide
MARK_ROW_HEIGHT = 16
TARGET_COLOUR = "#000000"


def _target_line(target: TargetLine, y: float, x0: float, x1: float) -> str:
    line = _tag("line", class_="target-line", x1=x0, y1=y, x2=x1, y2=y, stroke=TARGET_COLOUR,
                stroke_width=2, stroke_dasharray="8 4")
    return _tag("g", _tooltip(target.label) + line, class_="target")


def _date_x(day: dt.date, dates: Sequence[dt.date], xs: Sequence[float], x0: float,
            x1: float) -> float:
    """Place a date between the rounds around it; before or after all of them, at an edge."""
    if day < dates[0]:
        return x0 + 8
    if day > dates[-1]:
        return x1 - 8
    for i in range(len(dates) - 1):
        start, end = dates[i], dates[i + 1]
        if start <= day <= end:
            span = (end - start).days or 1
            return xs[i] + (xs[i + 1] - xs[i]) * (day - start).days / span
    return xs[-1]


def _date_mark(key: str, mark: DateMark, x: float, top: float, bottom: float) -> str:
    text = f"{key} {mark.label}"
    anchor_end = x > WIDTH * 0.6
    # As much of the label as fits between its line and the chart's edge; the whole
    # label is in the tooltip and in the sentence under the chart.
    room = (x - 8 if anchor_end else WIDTH - x - 8)
    if _text_width(text, SMALL_FONT_SIZE) > room:
        while text and _text_width(text + "…", SMALL_FONT_SIZE) > room:
            text = text[:-1]
        text = text.rstrip() + "…"
    label = _text(x - 3 if anchor_end else x + 3, top + 11, text, font_size=SMALL_FONT_SIZE,
                  text_anchor="end" if anchor_end else None, fill=MUTED_TEXT,
                  class_="mark-label")
    line = _tag("line", x1=x, y1=top + 2, x2=x, y2=bottom, stroke=MUTED_TEXT, stroke_width=1.5,
                stroke_dasharray="6 3" if mark.kind == "due" else "2 3")
    tip = _tooltip(f"{key}: {mark.label}, {mark.day.isoformat()}")
    return _tag("g", tip + line + label, class_=f"date-mark date-mark-{mark.kind}")


def _marks_and_notes(
    targets: Sequence[TargetLine], marks: Sequence[DateMark], x_dates: Sequence[dt.date] | None,
    x_labels: Sequence[str], value_format: str,
) -> tuple[list[tuple[str, DateMark]], tuple[str, ...]]:
    """Number the marks (actions 1, 2, …; due dates "Due") and say each in a sentence."""
    if marks and (x_dates is None or len(x_dates) != len(x_labels)):
        raise ValueError("date marks need one date per x label")
    keyed: list[tuple[str, DateMark]] = []
    number = 0
    for mark in sorted(marks, key=lambda m: m.day):
        if mark.kind == "due":
            keyed.append(("Due", mark))
        else:
            number += 1
            keyed.append((str(number), mark))
    notes = [f"Dashed horizontal line: {t.label} ({value_format.format(t.value)})."
             for t in targets]
    for key, mark in keyed:
        day = f"{mark.day.day} {mark.day:%B} {mark.day.year}"
        where = ""
        if x_dates and mark.day > x_dates[-1]:
            where = f", after the last round shown ({x_labels[-1]}): marked at the right edge"
        elif x_dates and mark.day < x_dates[0]:
            where = f", before the first round shown ({x_labels[0]}): marked at the left edge"
        what = "due date" if mark.kind == "due" else f"action {key}"
        notes.append(f"Vertical line, {what}, {day}: {mark.label}{where}.")
    return keyed, tuple(notes)


def _series_summary(s: Series, x_labels: Sequence[str], value_format: str) -> str:
    shown = [(x, v) for x, v in zip(x_labels, s.values, strict=True) if v is not None]
    hidden = [x for x, v in zip(x_labels, s.values, strict=True) if v is None]
    if not shown:
        return f"{s.label}: {NOT_SHOWN} at any point."
    (first_x, first), (last_x, last) = shown[0], shown[-1]
    text = f"{s.label}: {value_format.format(first)} at {first_x}"
    if len(shown) > 1:
        low_x, low = min(shown, key=lambda p: p[1])
        high_x, high = max(shown, key=lambda p: p[1])
        text += (
            f", {value_format.format(last)} at {last_x}"
            f" (lowest {value_format.format(low)} at {low_x},"
            f" highest {value_format.format(high)} at {high_x})"
        )
    if hidden:
        text += f"; {NOT_SHOWN} at {', '.join(hidden)}"
    return text + "."


def _value_table(
    x_labels: Sequence[str], series: Sequence[Series], value_format: str
) -> tuple[tuple[str, ...], ...]:
    return tuple(
        (
            x,
            *(
                NOT_SHOWN if s.values[j] is None else value_format.format(s.values[j])
                for s in series
            ),
        )
        for j, x in enumerate(x_labels)
    )


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    y_min: float,
    y_max: float,
    y_label: str,
    value_format: str = "{:.0f}%",
    *,
    x_header: str = "Round",
    id_prefix: str | None = None,
    targets: Sequence[TargetLine] = (),
    marks: Sequence[DateMark] = (),
    x_dates: Sequence[dt.date] | None = None,
) -> Chart:
    """Draw series over rounds; a hidden point breaks the line, never bridged.

    ``targets`` draw goals' targets across the chart; ``marks`` draw dated vertical
    lines (actions, due dates) placed by ``x_dates``, one date per x label.
    """
    _check_series(x_labels, series, len(LINE_COLOURS))
    y_min, y_max = _finite(y_min, "y_min"), _finite(y_max, "y_max")
    if y_min >= y_max:
        raise ValueError("y_min must be below y_max")
    for s in series:
        if any(v is not None and not y_min <= v <= y_max for v in s.values):
            raise ValueError(f"series {s.label!r} has values outside {y_min}–{y_max}")
    for t in targets:
        if not y_min <= _finite(t.value, "a target") <= y_max:
            raise ValueError(f"target {t.label!r} lies outside {y_min}–{y_max}")
    keyed, notes = _marks_and_notes(targets, marks, x_dates, x_labels, value_format)
    chart_id = _chart_id(
        "line",
        title,
        (list(x_labels), list(series), y_min, y_max, y_label, value_format)
        + ((tuple(targets), tuple(keyed)) if targets or keyed else ()),
        id_prefix,
    )
    description = " ".join(
        [
            f"Line chart of {y_label} at {len(x_labels)} points from {x_labels[0]} to "
            f"{x_labels[-1]}, on a scale from {value_format.format(y_min)} to "
            f"{value_format.format(y_max)}."
        ]
        + [_series_summary(s, x_labels, value_format) for s in series]
        + list(notes)
    )
    svg = _line_svg(
        chart_id, "line", title, description, x_labels, series, y_min, y_max, y_label,
        value_format, None, [s.label for s in series], targets, keyed, x_dates,
    )  # fmt: skip
    headers = (x_header, *(s.label for s in series))
    return Chart(
        chart_id, svg, title, description, headers, _value_table(x_labels, series, value_format),
        notes,
    )


def gap_chart(
    title: str,
    x_labels: Sequence[str],
    first: Series,
    second: Series,
    *,
    y_label: str = "Gap (percentage points)",
    value_format: str = "{:+.0f}",
    group_format: str = "{:.0f}%",
    y_extent: float | None = None,
    x_header: str = "Round",
    id_prefix: str | None = None,
    targets: Sequence[TargetLine] = (),
    marks: Sequence[DateMark] = (),
    x_dates: Sequence[dt.date] | None = None,
) -> Chart:
    """Draw ``first`` minus ``second`` around a zero line; a gap needs both groups shown.

    ``targets``, ``marks`` and ``x_dates`` work as in `line_chart`.
    """
    _check_series(x_labels, [first, second], 2)
    gaps = [
        None if a is None or b is None else a - b
        for a, b in zip(first.values, second.values, strict=True)
    ]
    gap = Series(f"{first.label} minus {second.label}", gaps)
    largest = max((abs(g) for g in gaps if g is not None), default=0.0)
    furthest = max((abs(_finite(t.value, "a target")) for t in targets), default=0.0)
    if y_extent is None:
        y_extent = _nice_ceiling(max(largest * 1.1, furthest * 1.1, 5.0))
    elif max(largest, furthest) > y_extent:
        raise ValueError(f"a gap or target of {max(largest, furthest)} lies outside ±{y_extent}")
    keyed, notes = _marks_and_notes(targets, marks, x_dates, x_labels, value_format)
    chart_id = _chart_id(
        "gap", title, (list(x_labels), first, second, y_label, value_format, y_extent)
        + ((tuple(targets), tuple(keyed)) if targets or keyed else ()), id_prefix,
    )  # fmt: skip
    description = " ".join(
        [
            f"Line chart of the gap between {first.label} and {second.label} ({y_label}) "
            f"at {len(x_labels)} points from {x_labels[0]} to {x_labels[-1]}: above zero "
            f"{first.label} is higher, below zero {second.label} is higher. The gap is "
            f"{NOT_SHOWN} wherever either group is {NOT_SHOWN}.",
            _series_summary(gap, x_labels, value_format),
            *notes,
        ]
    )
    svg = _line_svg(
        chart_id, "gap", title, description, x_labels, [gap], -y_extent, y_extent, y_label,
        value_format, 0.0, [f"{gap.label} (above 0: {first.label} higher)"], targets, keyed,
        x_dates,
    )  # fmt: skip
    headers = (x_header, first.label, second.label, gap.label)
    rows = tuple(
        (
            x,
            NOT_SHOWN if a is None else group_format.format(a),
            NOT_SHOWN if b is None else group_format.format(b),
            NOT_SHOWN if g is None else value_format.format(g),
        )
        for x, a, b, g in zip(x_labels, first.values, second.values, gaps, strict=True)
    )
    return Chart(chart_id, svg, title, description, headers, rows, notes)


# --------------------------------------------------------------------------
# Bar charts


def bar_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool,
    y_label: str,
    *,
    value_format: str = "{:.0f}",
    x_header: str = "Period",
    id_prefix: str | None = None,
) -> Chart:
    """Draw grouped or stacked bars of counts; hidden (or zero) counts are a "not shown" marker.

    A published count is never below the minimum group size, so a zero can only
    be an empty cell, which must look exactly like a hidden one. A hidden count
    never gets a bar with height (a tall hatched bar reads as the biggest value):
    it is a small open triangle on the baseline (above a stack's shown part) with
    the words "not shown".
    """
    _check_series(x_labels, series, len(BAR_COLOURS))
    for s in series:
        if any(v is not None and v < 0 for v in s.values):
            raise ValueError(f"series {s.label!r} has a negative count")
    values = [[v if v else None for v in s.values] for s in series]
    shown_series = [Series(s.label, v) for s, v in zip(series, values, strict=True)]
    any_hidden = any(v is None for vs in values for v in vs)
    chart_id = _chart_id(
        "bar", title, (list(x_labels), shown_series, stacked, y_label, value_format), id_prefix
    )

    if stacked:
        peak = max((sum(v for v in col if v) for col in zip(*values, strict=True)), default=0.0)
    else:
        peak = max((v for vs in values for v in vs if v), default=0.0)
    # Headroom keeps value labels, and the words over a partly hidden stack, visible.
    y_max = _nice_ceiling(max(peak * (1.4 if stacked and any_hidden else 1.1), 5.0))

    entries = [(_box_swatch(BAR_COLOURS[i]), s.label) for i, s in enumerate(series)]
    if any_hidden:
        entries.append((_not_shown_marker(7.0, 14.0), NOT_SHOWN))
    legend, legend_h = _legend(entries, 12, 14)

    ticks = _ticks(0.0, y_max)
    x0, x1 = _left_margin(ticks, value_format), WIDTH - 24.0
    y0 = 12 + legend_h + 14
    y1 = y0 + 220

    def ypos(v: float) -> float:
        return y1 - v / y_max * (y1 - y0)

    slot = (x1 - x0) / len(x_labels)
    if overhang := _turned_label_overhang(x_labels, x0 + 0.5 * slot, slot):
        x0 += overhang
        slot = (x1 - x0) / len(x_labels)
    xs = [x0 + (j + 0.5) * slot for j in range(len(x_labels))]
    group_w = slot * 0.72
    x_axis, x_axis_h = _x_labels(x_labels, xs, slot, y1)

    def not_shown(x: float, width: float, tooltip: str, base: float = y1) -> str:
        cx = x + width / 2
        words = _text(cx + 4, base - 12, NOT_SHOWN, font_size=SMALL_FONT_SIZE, fill=MUTED_TEXT,
                      transform=f"rotate(-90 {_num(cx + 4)} {_num(base - 12)})")  # fmt: skip
        return _tag("g", _tooltip(tooltip) + _not_shown_marker(cx, base) + words,
                    class_="not-shown")

    def bar(i: int, x: float, width: float, low: float, value: float, x_label: str) -> str:
        return _tag(
            "rect",
            _tooltip(f"{series[i].label}, {x_label}: {value_format.format(value)}"),
            class_=f"bar series-{i}",
            x=x,
            y=ypos(low + value),
            width=width,
            height=ypos(low) - ypos(low + value),
            fill=BAR_COLOURS[i],
            stroke=TEXT,
            stroke_width=0.75,
        )

    columns = []
    for j, x_label in enumerate(x_labels):
        left, parts = xs[j] - group_w / 2, []
        if stacked:
            hidden = [s.label for s, vs in zip(series, values, strict=True) if vs[j] is None]
            if hidden:
                top_of_stack = ypos(sum(v for vs in values if (v := vs[j]) is not None))
                parts.append(not_shown(left, group_w, f"{x_label}: {', '.join(hidden)} {NOT_SHOWN}",
                                       top_of_stack))  # fmt: skip
            low = 0.0
            for i, vs in enumerate(values):
                v = vs[j]
                if v is None:
                    continue
                parts.append(bar(i, left, group_w, low, v, x_label))
                text, ink = value_format.format(v), _label_colour(BAR_COLOURS[i])
                seg_h = ypos(low) - ypos(low + v)
                if ink and seg_h >= 16 and group_w >= _text_width(text, SMALL_FONT_SIZE) + 4:
                    parts.append(
                        _text(
                            xs[j],
                            ypos(low + v / 2) + 4,
                            text,
                            fill=ink,
                            font_size=SMALL_FONT_SIZE,
                            text_anchor="middle",
                            class_="bar-label",
                        )
                    )
                low += v
        else:
            width = group_w / len(series)
            for i, vs in enumerate(values):
                v, bx = vs[j], left + i * width
                if v is None:
                    parts.append(
                        not_shown(bx + 1, width - 2, f"{series[i].label}, {x_label}: {NOT_SHOWN}")
                    )
                    continue
                parts.append(bar(i, bx + 1, width - 2, 0.0, v, x_label))
                text = value_format.format(v)
                if width >= _text_width(text, SMALL_FONT_SIZE) + 2:
                    parts.append(
                        _text(
                            bx + width / 2,
                            ypos(v) - 4,
                            text,
                            font_size=SMALL_FONT_SIZE,
                            text_anchor="middle",
                            class_="bar-label",
                        )
                    )
        columns.append(_tag("g", "".join(parts), class_="column"))

    body = (
        legend
        + _y_axis(ticks, ypos, x0, x1, value_format, y_label, (y0 + y1) / 2)
        + x_axis
        + _tag("g", "".join(columns), class_="columns")
        + _tag("line", x1=x0, y1=y1, x2=x1, y2=y1, stroke=TEXT, stroke_width=1)
    )

    kind = "stacked" if stacked else "grouped"
    order = ", stacked from the bottom in legend order" if stacked else ""
    sentences = [
        f"{kind.capitalize()} bar chart of {y_label} for {len(x_labels)} "
        f"{'period' if len(x_labels) == 1 else 'periods'} from {x_labels[0]} to {x_labels[-1]}"
        f"{order}; series: {', '.join(s.label for s in series)}."
    ]
    for j, x_label in enumerate(x_labels):
        cells = [
            f"{s.label} {NOT_SHOWN if vs[j] is None else value_format.format(vs[j])}"
            for s, vs in zip(series, values, strict=True)
        ]
        sentences.append(f"{x_label}: {', '.join(cells)}.")
    description = " ".join(sentences)
    svg = _svg(chart_id, f"bar chart-{kind}", y1 + x_axis_h + 12, title, description, body)
    headers = (x_header, *(s.label for s in series))
    return Chart(
        chart_id,
        svg,
        title,
        description,
        headers,
        _value_table(x_labels, shown_series, value_format),
    )
