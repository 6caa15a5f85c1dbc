"""Grouped and stacked bars of counts."""

from __future__ import annotations

from collections.abc import Sequence

from review.charts.model import (
    NOT_SHOWN,
    Chart,
    Series,
)
from review.charts.svg import (
    MUTED_TEXT,
    SMALL_FONT_SIZE,
    TEXT,
    WIDTH,
    _box_swatch,
    _chart_id,
    _check_series,
    _label_colour,
    _left_margin,
    _legend,
    _nice_ceiling,
    _not_shown_marker,
    _num,
    _svg,
    _tag,
    _text,
    _text_width,
    _ticks,
    _tooltip,
    _turned_label_overhang,
    _value_table,
    _x_labels,
    _y_axis,
)

# Bars carry no dash or marker, so lightness alone must tell them apart in
# greyscale: Okabe & Ito blue, orange, yellow and black plus Paul Tol's indigo,
# CIE L* 46, 71, 22, 89, 0 — at least 18 apart, neighbours in a stack at least 25.
BAR_COLOURS = ("#0072B2", "#E69F00", "#332288", "#F0E442", "#000000")


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
