"""Turned x labels stay inside their chart: an SVG cuts off whatever lies outside it."""

import math
import re

import pytest

from review.charts import Series, _text_width, bar_chart, gap_chart, line_chart

# Six monthly rounds with their dates: too long to sit side by side, so they are turned.
ROUNDS = [f"Round {i} · {d} 2026" for i, d in enumerate(
    ["1 Jun", "6 Jul", "3 Aug", "7 Sep", "5 Oct", "2 Nov"], start=1)]
TURNED = re.compile(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="end" '
                    r'transform="rotate\(-35[^"]*"[^>]*>([^<]*)</text>')


def turned_labels(svg: str) -> list[tuple[float, str]]:
    return [(float(x), text) for x, text in TURNED.findall(svg)]


@pytest.mark.parametrize("chart", [
    lambda: line_chart("Favourable", ROUNDS, [Series("All", [60, 61, 62, 63, 64, 65])],
                       0, 100, "Favourable"),
    lambda: gap_chart("Gap", ROUNDS, Series("A", [60, 61, 62, 63, 64, 65]),
                      Series("B", [70, 70, 70, 70, 70, 70])),
    lambda: bar_chart("Concerns", ROUNDS, [Series("All", [5, 6, 7, 8, 9, 10])], False,
                      "Concerns"),
])
def test_the_first_turned_label_ends_inside_the_chart(chart) -> None:  # type: ignore[no-untyped-def]
    labels = turned_labels(str(chart().svg))
    assert [text for _, text in labels] == ROUNDS  # they were turned
    for x, text in labels:
        # The label ends at x and runs down to the left, its length turned by 35°.
        assert x - _text_width(text) * math.cos(math.radians(35)) >= 0, (text, x)
