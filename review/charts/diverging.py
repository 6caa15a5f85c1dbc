"""Diverging stacked bars: one row per group, disagreement left, agreement right."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from review.charts.model import (
    NOT_SHOWN,
    Chart,
    DivergingRow,
)
from review.charts.svg import (
    FONT_SIZE,
    GRID,
    MUTED_TEXT,
    OUTLINE,
    SMALL_FONT_SIZE,
    TEXT,
    WIDTH,
    _box_swatch,
    _chart_id,
    _finite,
    _label_colour,
    _legend,
    _percent,
    _svg,
    _tag,
    _text,
    _text_lines,
    _text_width,
    _tooltip,
)

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
