"""SVG building blocks every chart kind shares: text, axes, legends, ids, contrast."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from review.charts.model import (
    NOT_SHOWN,
    Series,
)

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
