"""Line charts over time, and the gap between two groups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup

from review.charts.model import (
    NOT_SHOWN,
    Chart,
    DateMark,
    Series,
    TargetLine,
)
from review.charts.svg import (
    MUTED_TEXT,
    SMALL_FONT_SIZE,
    TEXT,
    WHITE,
    WIDTH,
    _chart_id,
    _check_series,
    _finite,
    _left_margin,
    _legend,
    _nice_ceiling,
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

# Okabe & Ito (2008), ordered so the first colours reach 3:1 against white;
# every series also gets its own dash pattern and marker shape.
LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00")
LINE_DASHES = (None, "9 4", "2 3", "10 3 2 3", "5 5", "14 3 2 3 2 3")
MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "cross")


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
