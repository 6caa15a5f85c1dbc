"""Tests for review.charts: CSP-safe, accessible SVG charts that never show hidden cells."""

import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from review.charts import (
    BAR_COLOURS,
    LINE_COLOURS,
    NOT_SHOWN,
    Chart,
    DivergingRow,
    Series,
    bar_chart,
    contrast_ratio,
    diverging_bars,
    gap_chart,
    line_chart,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
TRICKY = '<b>&"x"'
SEVEN = [
    "Strongly disagree",
    "Disagree",
    "Slightly disagree",
    "Neither agree nor disagree",
    "Slightly agree",
    "Agree",
    "Strongly agree",
]
FIVE = ["Strongly disagree", "Disagree", "Neither", "Agree", "Strongly agree"]
SEVEN_SHARES = [0.05, 0.10, 0.10, 0.15, 0.20, 0.25, 0.15]
FIVE_SHARES = [0.10, 0.15, 0.25, 0.30, 0.20]
ROUNDS = ["2024 Q1", "2024 Q2", "2024 Q3", "2024 Q4", "2025 Q1"]


def parse(chart: Chart) -> ET.Element:
    # Our own output, parsed to prove it is well formed; no untrusted XML here.
    return ET.fromstring(str(chart.svg))  # noqa: S314


def local(element: ET.Element) -> str:
    return element.tag.removeprefix(SVG_NS)


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def find_all(root: ET.Element, name: str, cls: str | None = None) -> list[ET.Element]:
    return [e for e in root.iter(SVG_NS + name) if cls is None or cls in classes(e)]


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def texts(root: ET.Element) -> list[str]:
    return [text_of(t) for t in root.iter(SVG_NS + "text")]


def rows_of(root: ET.Element) -> list[ET.Element]:
    return find_all(root, "g", "row")


def polyline_points(line: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in line.get("points").split()]


def seven_point(**kwargs) -> Chart:
    return diverging_bars(
        "Team psychological safety",
        [
            DivergingRow("Whole organisation", 123, SEVEN_SHARES),
            DivergingRow("Global Majority", None, None),
            DivergingRow(TRICKY, 88, [0.02, 0.06, 0.07, 0.10, 0.25, 0.30, 0.20]),
        ],
        SEVEN,
        3,
        **kwargs,
    )


def five_point() -> Chart:
    return diverging_bars(
        "Speaking up",
        [DivergingRow("Whole organisation", 400, FIVE_SHARES), DivergingRow("White", 0, None)],
        FIVE,
        2,
    )


def yes_no() -> Chart:
    return diverging_bars(
        "Experienced discrimination",
        [DivergingRow("Global Majority", 60, [0.7, 0.3]), DivergingRow("White", None, None)],
        ["No", "Yes"],
        None,
    )


def favourable_lines() -> Chart:
    return line_chart(
        "Favourable answers",
        ROUNDS,
        [
            Series("Global Majority", [52, None, 58, 61, None]),
            Series("White", [70, 71, 69, 72, 73]),
            Series(TRICKY, [None, 60, None, None, None]),
        ],
        0,
        100,
        "Favourable answers",
    )


def ethnicity_gap() -> Chart:
    return gap_chart(
        "Gap: Global Majority minus White",
        ROUNDS,
        Series("Global Majority", [52, None, 58, 61, 66]),
        Series("White", [70, 71, 69, None, 73]),
    )


def concern_bars(stacked: bool) -> Chart:
    return bar_chart(
        "Concerns by category",
        ["2024 Q1", "2024 Q2", "2024 Q3"],
        [
            Series("Racism", [12, 9, None]),
            Series(TRICKY, [7, None, 8]),
            Series("Other", [5, 6, 0]),
        ],
        stacked,
        "Concerns raised",
    )


ALL_CHARTS = {
    "seven-point": seven_point,
    "five-point": five_point,
    "yes-no": yes_no,
    "line": favourable_lines,
    "gap": ethnicity_gap,
    "grouped-bars": lambda: concern_bars(False),
    "stacked-bars": lambda: concern_bars(True),
}


# --------------------------------------------------------------------------
# Every chart: well formed, CSP-safe, accessible


@pytest.fixture(params=list(ALL_CHARTS), ids=list(ALL_CHARTS))
def chart(request) -> Chart:
    return ALL_CHARTS[request.param]()


def test_svg_is_markup_and_well_formed(chart):
    assert isinstance(chart.svg, Markup)
    root = parse(chart)
    assert local(root) == "svg"


def test_svg_has_no_styles_scripts_or_external_references(chart):
    root = parse(chart)
    for element in root.iter():
        assert local(element) not in {"style", "script", "foreignObject", "image", "a", "use"}
        assert "style" not in element.attrib
        assert not any(name.startswith("on") for name in element.attrib)
        assert not any("href" in name for name in element.attrib)
        for value in element.attrib.values():
            assert "http" not in value and "javascript:" not in value
            if "url(" in value:
                assert re.fullmatch(r"url\(#[A-Za-z][\w-]*\)", value)
    # The SVG namespace name is an identifier, never fetched.
    assert "http" not in str(chart.svg).replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_svg_scales_with_its_container(chart):
    root = parse(chart)
    assert root.get("width") == "100%"
    assert root.get("height") is None
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox"))


def test_title_and_desc_are_labelled_and_describe_the_chart(chart):
    root = parse(chart)
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert local(by_id[title_id]) == "title" and by_id[title_id].text == chart.title
    assert local(by_id[desc_id]) == "desc" and by_id[desc_id].text == chart.description
    # They are the first children, where assistive technology looks.
    assert [local(e) for e in root[:2]] == ["title", "desc"]


def test_ids_are_unique_and_prefixed_with_the_chart_id(chart):
    ids = [e.get("id") for e in parse(chart).iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    assert all(i.startswith(chart.id) for i in ids)


def test_fonts_are_at_least_12px(chart):
    for element in parse(chart).iter():
        if "font-size" in element.attrib:
            assert float(element.get("font-size")) >= 12


def test_text_contrast_is_at_least_4_5_to_1(chart):
    root = parse(chart)
    default_ink = root.get("fill")
    stacked = "chart-stacked" in classes(root)
    for group in root.iter(SVG_NS + "g"):
        background = "#ffffff"
        for element in group:
            if local(element) == "rect" and classes(element) & {"segment", "bar"}:
                background = element.get("fill")
            elif local(element) == "text":
                inside = "segment-label" in classes(element) or (
                    stacked and "bar-label" in classes(element)
                )
                behind = background if inside else "#ffffff"
                assert contrast_ratio(element.get("fill", default_ink), behind) >= 4.5


@pytest.mark.parametrize("make", list(ALL_CHARTS.values()), ids=list(ALL_CHARTS))
def test_output_is_deterministic(make):
    assert make() == make()


def test_labels_are_escaped_not_interpreted():
    for chart in (seven_point(), favourable_lines(), concern_bars(True)):
        raw = str(chart.svg)
        assert "<b>" not in raw
        assert "&lt;b&gt;&amp;&#34;x&#34;" in raw
        assert TRICKY in texts(parse(chart))


def test_escaped_title_category_and_x_labels():
    chart = diverging_bars(TRICKY, [DivergingRow("a", 10, [0.5, 0.5])], [TRICKY, "Yes"], None)
    root = parse(chart)
    assert root.find(SVG_NS + "title").text == TRICKY
    assert TRICKY in texts(root)
    lines = line_chart(TRICKY, [TRICKY, "b"], [Series("s", [1, 2])], 0, 10, TRICKY)
    assert texts(parse(lines)).count(TRICKY) == 2  # x label and y label


def test_charts_on_one_page_do_not_share_ids():
    charts = [seven_point(), five_point(), yes_no(), favourable_lines(), ethnicity_gap()]
    charts += [concern_bars(False), concern_bars(True)]
    ids = [e.get("id") for c in charts for e in parse(c).iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_same_title_different_data_gets_a_different_id():
    one = line_chart("Trend", ["a"], [Series("s", [1])], 0, 10, "y")
    two = line_chart("Trend", ["a"], [Series("s", [2])], 0, 10, "y")
    assert one.id != two.id
    assert one.id.startswith("chart-trend-")


def test_id_prefix_is_used_and_validated():
    assert seven_point(id_prefix="psysafe").id == "psysafe"
    assert 'id="psysafe-title"' in str(seven_point(id_prefix="psysafe").svg)
    with pytest.raises(ValueError, match="id_prefix"):
        seven_point(id_prefix='x" onload="alert(1)')


# --------------------------------------------------------------------------
# Diverging bars


def centre_of(root: ET.Element) -> float:
    (line,) = find_all(root, "line", "centre-line")
    assert line.get("x1") == line.get("x2")
    return float(line.get("x1"))


def segments(row: ET.Element) -> list[ET.Element]:
    return [r for r in row.iter(SVG_NS + "rect") if "segment" in classes(r)]


def left_edge(rect: ET.Element) -> float:
    return float(rect.get("x"))


def right_edge(rect: ET.Element) -> float:
    return float(rect.get("x")) + float(rect.get("width"))


@pytest.mark.parametrize(
    ("categories", "shares", "neutral"),
    [(SEVEN, SEVEN_SHARES, 3), (FIVE, FIVE_SHARES, 2)],
    ids=["7-point", "5-point"],
)
def test_disagree_goes_left_agree_right_and_neutral_straddles_the_centre(
    categories, shares, neutral
):
    root = parse(diverging_bars("t", [DivergingRow("All", 50, shares)], categories, neutral))
    centre = centre_of(root)
    (row,) = rows_of(root)
    rects = segments(row)
    assert len(rects) == len(categories)
    for i, rect in enumerate(rects):
        assert f"cat-{i}" in classes(rect)
        if i < neutral:
            assert right_edge(rect) <= centre + 0.01
        elif i > neutral:
            assert left_edge(rect) >= centre - 0.01
        else:
            assert left_edge(rect) < centre < right_edge(rect)
            assert (left_edge(rect) + right_edge(rect)) / 2 == pytest.approx(centre, abs=0.02)
    # Segments touch, in scale order, and their widths follow the shares.
    for a, b in zip(rects, rects[1:], strict=False):
        assert right_edge(a) == pytest.approx(left_edge(b), abs=0.02)
    widths = [float(r.get("width")) for r in rects]
    for w, s in zip(widths, shares, strict=True):
        assert w / sum(widths) == pytest.approx(s, abs=0.001)


@pytest.mark.parametrize("make", [seven_point, five_point, yes_no])
def test_legend_lists_every_category_in_scale_order(make):
    chart = make()
    root = parse(chart)
    (legend,) = find_all(root, "g", "legend")
    assert [text_of(t) for t in legend.iter(SVG_NS + "text")] == list(chart.table_headers[2:])


def test_seven_point_palette_has_distinct_colours_and_lightness_steps():
    root = parse(seven_point())
    fills = [r.get("fill") for r in segments(rows_of(root)[0])]
    assert len(set(fills)) == 7
    # Luminance falls away from the centre on each side, so greyscale still reads.
    lum = [contrast_ratio(f, "#000000") for f in fills]
    assert lum[0] < lum[1] < lum[2] < lum[3]
    assert lum[3] > lum[4] > lum[5] > lum[6]


def test_yes_no_has_no_neutral_and_splits_at_the_centre():
    root = parse(yes_no())
    centre = centre_of(root)
    no, yes = segments(rows_of(root)[0])
    assert right_edge(no) == pytest.approx(centre, abs=0.02)
    assert left_edge(yes) == pytest.approx(centre, abs=0.02)
    assert float(no.get("width")) == pytest.approx(float(yes.get("width")) * 7 / 3, rel=1e-3)
    assert "70% No, 30% Yes" in yes_no().description


def test_rows_end_with_n_or_not_shown():
    root = parse(seven_point())
    ends = [
        text_of(t) for row in rows_of(root) for t in row.iter(SVG_NS + "text") if "n" in classes(t)
    ]
    assert ends == ["n = 123", NOT_SHOWN, "n = 88"]


def test_percent_axis_ticks_mirror_around_zero():
    labels = texts(parse(five_point()))
    assert labels.count("0%") == 1
    assert labels.count("25%") >= 2  # tick on each side (plus maybe a segment label)


@pytest.mark.parametrize(
    "hidden",
    [
        DivergingRow("Prefer not to say", None, None),
        DivergingRow("Prefer not to say", 0, None),
        DivergingRow("Prefer not to say", 0, [0.0] * 5),
        DivergingRow("Prefer not to say", None, [0.9, 0.1, 0, 0, 0]),
        DivergingRow("Prefer not to say", 4, None),
        DivergingRow("Prefer not to say", 4, [0.5, None, 0.2, 0.2, 0.1]),
    ],
    ids=["hidden", "no-answers", "empty-shares", "n-hidden", "shares-hidden", "one-share-hidden"],
)
def test_hidden_and_empty_rows_look_exactly_alike(hidden):
    def make(row: DivergingRow) -> Chart:
        shown = DivergingRow("Whole organisation", 40, FIVE_SHARES)
        # No id_prefix: the derived id must not depend on the hidden cell either.
        return diverging_bars("Speaking up", [shown, row], FIVE, 2)

    reference = make(DivergingRow("Prefer not to say", None, None))
    chart = make(hidden)
    # Same SVG (so nothing drawn depends on the hidden cell), text and table.
    assert chart == reference
    row = rows_of(parse(chart))[1]
    assert "row-not-shown" in classes(row)
    assert not list(row.iter(SVG_NS + "rect"))
    assert NOT_SHOWN in [text_of(t) for t in row.iter(SVG_NS + "text")]
    assert chart.table_rows[1] == ("Prefer not to say",) + (NOT_SHOWN,) * 6
    assert "Prefer not to say: not shown." in chart.description


def test_diverging_table_matches_input():
    chart = seven_point()
    assert chart.table_headers == ("Group", "n", *SEVEN)
    assert chart.table_rows == (
        ("Whole organisation", "123", "5%", "10%", "10%", "15%", "20%", "25%", "15%"),
        ("Global Majority", *([NOT_SHOWN] * 8)),
        (TRICKY, "88", "2%", "6%", "7%", "10%", "25%", "30%", "20%"),
    )


def test_diverging_description_summarises_each_row_in_words():
    text = five_point().description
    assert "5-point scale from Strongly disagree to Strongly agree" in text
    assert (
        "Whole organisation (n = 400): 25% Strongly disagree or Disagree, 25% Neither, "
        "50% Agree or Strongly agree." in text
    )
    assert "White: not shown." in text


def test_rounding_leftovers_do_not_push_bars_past_the_axis():
    shares = [0.34, 0.34, 0.34]  # published percentages that sum to 102%
    root = parse(diverging_bars("t", [DivergingRow("a", 9, shares)], ["No", "Maybe", "Yes"], 1))
    widths = [float(r.get("width")) for r in segments(rows_of(root)[0])]
    assert widths[0] == pytest.approx(widths[2])


@pytest.mark.parametrize(
    ("rows", "categories", "neutral", "message"),
    [
        ([DivergingRow("a", 5, [0.5, 0.5])], FIVE, 2, "2 shares for 5"),
        ([DivergingRow("a", 5, [0.5, 0.5, 0.5])], ["a", "b", "c"], 1, "sum to 1"),
        ([DivergingRow("a", 5, [-0.5, 1.5])], ["No", "Yes"], None, "non-negative"),
        ([], ["a", "b", "c"], None, "neutral_index"),
        ([], FIVE, 0, "both sides"),
        ([], ["only"], None, "at least two"),
        ([], [str(i) for i in range(11)], 5, "at most four"),
        ([DivergingRow("a", -1, None)], ["No", "Yes"], None, "non-negative int"),
    ],
)
def test_diverging_rejects_bad_input(rows, categories, neutral, message):
    with pytest.raises(ValueError, match=message):
        diverging_bars("t", rows, categories, neutral)


# --------------------------------------------------------------------------
# Line and gap charts


def series_group(root: ET.Element, index: int) -> ET.Element:
    (group,) = find_all(root, "g", f"series-{index}")
    return group


def markers(group: ET.Element) -> list[ET.Element]:
    return [e for e in group.iter() if "marker" in classes(e)]


def test_hidden_points_break_the_line_and_are_never_bridged():
    values = [50, 55, None, 60, 62, None, 70]
    labels = [f"R{i}" for i in range(1, 8)]
    chart = line_chart("t", labels, [Series("s", values)], 0, 100, "y")
    group = series_group(parse(chart), 0)
    lines = find_all(group, "polyline")
    assert [len(polyline_points(p)) for p in lines] == [2, 2]
    # The isolated last point still shows, as a marker.
    assert len(markers(group)) == 5
    xs = sorted({m_x for p in lines for m_x, _ in polyline_points(p)})
    first, second = (polyline_points(p) for p in lines)
    assert first[-1][0] < second[0][0]
    assert len(xs) == 4


def test_all_hidden_series_draws_nothing():
    chart = line_chart("t", ["a", "b"], [Series("s", [None, None])], 0, 100, "y")
    group = series_group(parse(chart), 0)
    assert list(group) == []
    assert "s: not shown at any point." in chart.description


def test_markers_sit_at_their_values():
    chart = line_chart("t", ["a", "b", "c"], [Series("s", [0, None, 100])], 0, 100, "y")
    root = parse(chart)
    circles = find_all(series_group(root, 0), "circle")
    grid_y = [
        float(line.get("y1")) for line in find_all(root, "line") if line.get("stroke") == "#d0d0d0"
    ]
    assert float(circles[0].get("cy")) == pytest.approx(max(grid_y))
    assert float(circles[1].get("cy")) == pytest.approx(min(grid_y))


def test_each_series_has_its_own_colour_dash_and_marker_shape():
    series = [Series(f"s{i}", [i, i + 1, i + 2]) for i in range(len(LINE_COLOURS))]
    root = parse(line_chart("t", ["a", "b", "c"], series, 0, 10, "y"))
    looks = set()
    for i in range(len(series)):
        group = series_group(root, i)
        (line,) = find_all(group, "polyline")
        shapes = {next(c for c in classes(m) if c.startswith("marker-")) for m in markers(group)}
        assert len(shapes) == 1
        looks.add((line.get("stroke"), line.get("stroke-dasharray", "solid"), shapes.pop()))
    assert len({colour for colour, _, _ in looks}) == len(series)
    assert len({dash for _, dash, _ in looks}) == len(series)
    assert len({shape for _, _, shape in looks}) == len(series)


def test_legend_repeats_each_series_style():
    root = parse(favourable_lines())
    (legend,) = find_all(root, "g", "legend")
    assert [text_of(t) for t in legend.iter(SVG_NS + "text")] == [
        "Global Majority",
        "White",
        TRICKY,
    ]
    dashes = [line.get("stroke-dasharray", "solid") for line in find_all(legend, "line")]
    assert len(set(dashes)) == 3


def test_line_table_matches_input():
    chart = favourable_lines()
    assert chart.table_headers == ("Round", "Global Majority", "White", TRICKY)
    assert chart.table_rows == (
        ("2024 Q1", "52%", "70%", NOT_SHOWN),
        ("2024 Q2", NOT_SHOWN, "71%", "60%"),
        ("2024 Q3", "58%", "69%", NOT_SHOWN),
        ("2024 Q4", "61%", "72%", NOT_SHOWN),
        ("2025 Q1", NOT_SHOWN, "73%", NOT_SHOWN),
    )


def test_line_description_names_hidden_points():
    text = favourable_lines().description
    assert "Global Majority: 52% at 2024 Q1, 61% at 2024 Q4" in text
    assert "not shown at 2024 Q2, 2025 Q1." in text


def test_gridlines_cover_the_scale():
    labels = texts(parse(favourable_lines()))
    assert {"0%", "20%", "40%", "60%", "80%", "100%"} <= set(labels)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"series": [Series("s", [1])]}, "1 values for 2"),
        ({"series": [Series("s", [1, 200])]}, "outside"),
        ({"series": [Series("s", [1, float("nan")])]}, "finite"),
        ({"series": []}, "at least one series"),
        ({"series": [Series(str(i), [1, 2]) for i in range(7)]}, "at most 6"),
        ({"series": [Series("s", [1, 2])], "y_min": 10, "y_max": 10}, "below"),
        ({"x_labels": []}, "at least one x label"),
    ],
)
def test_line_chart_rejects_bad_input(kwargs, message):
    args = {"x_labels": ["a", "b"], "series": [Series("s", [1, 2])], "y_min": 0, "y_max": 100}
    args |= kwargs
    with pytest.raises(ValueError, match=message):
        line_chart("t", y_label="y", **args)


def test_gap_is_first_minus_second_and_hidden_where_either_is():
    chart = ethnicity_gap()
    assert chart.table_headers == (
        "Round",
        "Global Majority",
        "White",
        "Global Majority minus White",
    )
    assert chart.table_rows == (
        ("2024 Q1", "52%", "70%", "-18"),
        ("2024 Q2", NOT_SHOWN, "71%", NOT_SHOWN),
        ("2024 Q3", "58%", "69%", "-11"),
        ("2024 Q4", "61%", NOT_SHOWN, NOT_SHOWN),
        ("2025 Q1", "66%", "73%", "-7"),
    )
    group = series_group(parse(chart), 0)
    assert find_all(group, "polyline") == []  # no two neighbouring gaps are shown
    assert len(markers(group)) == 3


def test_gap_chart_has_a_zero_reference_line_and_symmetric_scale():
    root = parse(ethnicity_gap())
    (zero,) = find_all(root, "line", "reference-line")
    grid = sorted(
        float(line.get("y1")) for line in find_all(root, "line") if line.get("stroke") == "#d0d0d0"
    )
    assert float(zero.get("y1")) == pytest.approx((grid[0] + grid[-1]) / 2)
    labels = texts(root)
    assert "0" in labels and "+20" in labels and "-20" in labels
    assert "above zero Global Majority is higher" in ethnicity_gap().description


def test_gap_chart_rejects_an_extent_that_clips():
    with pytest.raises(ValueError, match="outside"):
        gap_chart("t", ["a"], Series("a", [80]), Series("b", [10]), y_extent=50)


# --------------------------------------------------------------------------
# Bar charts


def columns(root: ET.Element) -> list[ET.Element]:
    return find_all(root, "g", "column")


def bars(column: ET.Element) -> list[ET.Element]:
    return [r for r in column.iter(SVG_NS + "rect") if "bar" in classes(r)]


def hatched(column: ET.Element) -> list[ET.Element]:
    """The "not shown" markers of a column (named for the hatched bars they replaced)."""
    return [g for g in column.iter(SVG_NS + "g") if "not-shown" in classes(g)]


def test_grouped_bars_show_hidden_and_zero_counts_as_a_not_shown_marker():
    root = parse(concern_bars(False))
    q1, q2, q3 = columns(root)
    assert (len(bars(q1)), len(hatched(q1))) == (3, 0)
    assert (len(bars(q2)), len(hatched(q2))) == (2, 1)
    assert (len(bars(q3)), len(hatched(q3))) == (1, 2)  # a None and a 0
    baseline = max(float(line.get("y1")) for line in root.iter(SVG_NS + "line"))
    for marker in hatched(q3):
        # Issue 9 finding 6: never a bar with height, a marker on the baseline and words.
        assert list(marker.iter(SVG_NS + "rect")) == []
        (path,) = marker.iter(SVG_NS + "path")
        ys = [float(v) for v in re.findall(r"[\d.]+ ([\d.]+)", path.get("d"))]
        assert max(ys) == pytest.approx(baseline) and max(ys) - min(ys) <= 10
        assert NOT_SHOWN in texts(marker)
    assert "series-1" in classes(bars(q3)[0])
    assert NOT_SHOWN in texts(root)  # the legend explains the marker


def test_zero_count_looks_exactly_like_a_hidden_one():
    def make(value):
        series = [Series("Racism", [12, value]), Series("Other", [5, 6])]
        return bar_chart("Concerns", ["Q1", "Q2"], series, False, "n")

    assert make(0) == make(None)
    assert make(0).table_rows[1] == ("Q2", NOT_SHOWN, "6")


def test_grouped_bar_heights_follow_values():
    root = parse(concern_bars(False))
    heights = [float(r.get("height")) for r in bars(columns(root)[0])]
    assert heights[0] / heights[1] == pytest.approx(12 / 7, rel=1e-3)
    assert heights[0] / heights[2] == pytest.approx(12 / 5, rel=1e-3)


def test_stacked_bars_put_a_not_shown_marker_on_the_stack_when_part_is_hidden():
    root = parse(concern_bars(True))
    q1, q2, q3 = columns(root)
    assert hatched(q1) == []
    assert len(hatched(q2)) == len(hatched(q3)) == 1
    for column in (q1, q2):
        stack = bars(column)
        for lower, upper in zip(stack, stack[1:], strict=False):
            assert float(upper.get("y")) + float(upper.get("height")) == pytest.approx(
                float(lower.get("y")), abs=0.02
            )
    assert len(bars(q3)) == 1
    # The marker stands on the top of the shown stack, and has no height of its own.
    (marker,) = hatched(q2)
    (path,) = marker.iter(SVG_NS + "path")
    top = min(float(r.get("y")) for r in bars(q2))
    ys = [float(v) for v in re.findall(r"[\d.]+ ([\d.]+)", path.get("d"))]
    assert max(ys) == pytest.approx(top)


def test_bar_colours_differ_and_labels_inside_are_readable():
    assert len(set(BAR_COLOURS)) == len(BAR_COLOURS)
    series = [Series(f"s{i}", [20]) for i in range(len(BAR_COLOURS))]
    root = parse(bar_chart("t", ["Q1"], series, True, "n"))
    (column,) = columns(root)
    assert [r.get("fill") for r in bars(column)] == list(BAR_COLOURS)


def test_bar_table_and_description_match_input():
    chart = concern_bars(True)
    assert chart.table_headers == ("Period", "Racism", TRICKY, "Other")
    assert chart.table_rows == (
        ("2024 Q1", "12", "7", "5"),
        ("2024 Q2", "9", NOT_SHOWN, "6"),
        ("2024 Q3", NOT_SHOWN, "8", NOT_SHOWN),
    )
    assert f"2024 Q3: Racism not shown, {TRICKY} 8, Other not shown." in chart.description


def test_bar_chart_rejects_negative_counts_and_too_many_series():
    with pytest.raises(ValueError, match="negative"):
        bar_chart("t", ["Q1"], [Series("s", [-1])], False, "n")
    with pytest.raises(ValueError, match="at most 5"):
        bar_chart("t", ["Q1"], [Series(str(i), [1]) for i in range(6)], True, "n")


def test_long_x_labels_turn_instead_of_colliding():
    labels = [f"Quarter {i} of the financial year" for i in range(8)]
    chart = bar_chart("t", labels, [Series("s", list(range(5, 13)))], False, "n")
    (group,) = find_all(parse(chart), "g", "x-labels")
    assert all("rotate(-35" in t.get("transform", "") for t in group)


def test_contrast_ratio_matches_wcag():
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def lightness(colour: str) -> float:
    """Return CIE L* of a colour, how light it prints in greyscale."""
    y = (contrast_ratio(colour, "#000000") * 0.05) - 0.05
    return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y


def test_bar_colours_stay_apart_in_greyscale():
    levels = sorted(lightness(c) for c in BAR_COLOURS)
    assert min(b - a for a, b in zip(levels, levels[1:], strict=False)) >= 15
    stack = [lightness(c) for c in BAR_COLOURS]
    assert min(abs(b - a) for a, b in zip(stack, stack[1:], strict=False)) >= 20
