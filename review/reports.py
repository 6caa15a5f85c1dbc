"""Round reports and the overview, built from published rounds only.

Everything here reads `surveys.published` (through `review.safety`) and never a
survey table. Functions are pure or take a Session; none imports Flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from review import charts
from review.safety import checked_round
from review.tables import (
    COUNT,
    DATE,
    MEAN,
    PERCENT,
    POINTS,
    Column,
    Table,
    TableRow,
    not_shown_note,
)
from speakup.site_settings import headline_survey_id
from surveys.itembank import ItemBankError, load_item_bank
from surveys.published import (
    Cell,
    Dimension,
    PublishedRound,
    Row,
    publication_order,
    published_round,
    published_rounds,
)

EVERYONE = "Everyone"


class ReviewError(LookupError):
    """Raise when a page asks for something that is not published."""


def answer_labels(response_scale: str, distribution: dict[str, int] | None = None) -> list[str]:
    """Return the answer labels of a response scale, in scale order."""
    try:
        scale = load_item_bank().scale(response_scale)
    except ItemBankError:
        keys = sorted(distribution or {}, key=lambda v: (len(v), v))
        return keys
    return [option.label for option in scale.options]


def answer_values(response_scale: str, distribution: dict[str, int] | None = None) -> list[str]:
    """Return the stored values (as text) of a response scale's answers, in scale order."""
    try:
        scale = load_item_bank().scale(response_scale)
    except ItemBankError:
        return sorted(distribution or {}, key=lambda v: (len(v), v))
    return [str(option.value) for option in scale.options]


def neutral_index(response_scale: str) -> int | None:
    labels = answer_labels(response_scale)
    for i, label in enumerate(labels):
        if label.startswith("Neither"):
            return i
    return None


def shares(cell: Cell | None, response_scale: str) -> list[float] | None:
    """Return the cell's distribution as shares of its answers, or None when not shown."""
    if cell is None or not cell.n:
        return None
    values = answer_values(response_scale, cell.distribution)
    counts = [cell.distribution.get(v, 0) for v in values]
    total = sum(counts)
    if not total:
        return None
    return [c / total for c in counts]


def instrument_title(instrument_id: str, fallback: str) -> str:
    try:
        return load_item_bank().instrument(instrument_id).title
    except ItemBankError:
        return fallback


def headline_value(row: Row, cell: Cell | None) -> float | None:
    """The figure a row is judged by: favourable share, or the yes share of a yes/no item."""
    if cell is None or not cell.n:
        return None
    if row.response_scale == "yes_no":
        return cell.yes_share
    return cell.favourable


def scale_items(published: PublishedRound, scale: Row) -> list[Row]:
    """The published question rows a scale row pools (its subscale's only, for a subscale)."""
    instrument_id, _, subdimension = scale.id.partition(".")
    items = [r for r in published.items if r.instrument_id == instrument_id]
    if subdimension:
        try:
            wanted = {i.id for i in load_item_bank().instrument(instrument_id)
                      .items_in(subdimension)}
        except (ItemBankError, ValueError):
            return []
        items = [r for r in items if r.id in wanted]
    return items


def pooled_scale_cell(scale: Row, items: Sequence[Row], cell: Cell | None,
                      dimension_id: str | None = None, group_id: str | None = None
                      ) -> Cell | None:
    """A scale's cell with its distribution replaced by its questions' answers, pooled.

    The scale's favourable share pools every answer to its questions (publish.py), so
    a chart drawn from the people's rounded scale scores showed another figure (55 + 16
    beside a table's 66). Pooled answers, a negatively worded question's turned round,
    give the chart the table's definition: its favourable segments add up to the
    table's figure. Sums of shown item cells only: nothing new is disclosed.
    """
    if cell is None or not cell.n or not items:
        return None
    values = [int(v) for v in answer_values(scale.response_scale)]
    top, bottom = max(values), min(values)
    pooled = dict.fromkeys((str(v) for v in values), 0)
    for item in items:
        item_cell = (item.overall if dimension_id is None
                     else item.by_group.get(dimension_id, {}).get(group_id or ""))
        if item_cell is None:
            return None  # rows share one suppression pattern; never pool a partial set
        for value, count in item_cell.distribution.items():
            scored = top + bottom - int(value) if item.reverse else int(value)
            pooled[str(scored)] = pooled.get(str(scored), 0) + count
    return Cell(cell.n, cell.mean, cell.favourable, pooled, cell.yes_share)


# --------------------------------------------------------------------------
# Round report


@dataclass(frozen=True)
class GroupCell:
    """One group's (or everyone's) figures for one row; cell None = not shown."""

    group_id: str | None
    label: str
    cell: Cell | None


@dataclass(frozen=True)
class RowReport:
    row: Row
    kind: str  # "scale" or "item"
    cells: tuple[GroupCell, ...]  # Everyone first, then each group of the dimension
    chart: charts.Chart | None = None


@dataclass(frozen=True)
class Section:
    """The rows of one instrument: its scale (if any) and its items."""

    instrument_id: str
    title: str
    rows: tuple[RowReport, ...]
    # Without a breakdown: one chart of all rows (per answer scale and direction).
    charts: tuple[charts.Chart, ...]
    # Questions worded negatively, named under the chart: drawn the other way round.
    worded_negatively: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoundReport:
    published: PublishedRound
    dimension: Dimension | None
    hidden_note: str
    respondents: Table
    results: Table
    sections: tuple[Section, ...]  # every instrument (the contents list, the exports)
    comments: list[str] | None
    # What the page draws: every instrument, or with a breakdown one instrument per page
    # (a breakdown draws a chart per question and group: all of them weigh ~400 KB).
    shown_sections: tuple[Section, ...] = ()


FAVOURABLE_DEFINITION = (
    "A question’s favourable share is the share of its answers that are one of the two most "
    "positive options (for a question worded negatively, the two most negative)."
)
SCALE_DEFINITION = (
    "A scale’s favourable share is the share of all answers to its questions that are "
    "favourable, every answer counted once, so it always lies between its questions’ "
    "figures; its mean averages each person’s answers first, then the people."
)
SCALE_CHART_DEFINITION = (
    "In the charts a scale’s bar pools every answer to its questions the same way (a "
    "negatively worded question’s turned round), so its favourable part is the scale’s "
    "favourable share in the table."
)
DEFINITIONS = {"favourable_question": FAVOURABLE_DEFINITION, "favourable_scale": SCALE_DEFINITION,
               "scale_chart": SCALE_CHART_DEFINITION}


def dimension_of(published: PublishedRound, dimension_id: str | None) -> Dimension | None:
    """Return the chosen dimension, None for no breakdown; raise if it is not published."""
    if not dimension_id:
        return None
    for dimension in published.dimensions:
        if dimension.id == dimension_id:
            return dimension
    raise ReviewError(f"round {published.round_id} has no breakdown {dimension_id!r}")


def _group_cells(row: Row, dimension: Dimension | None) -> tuple[GroupCell, ...]:
    cells = [GroupCell(None, EVERYONE, row.overall)]
    if dimension is not None:
        by_group = row.by_group.get(dimension.id, {})
        cells += [GroupCell(g.id, g.label, by_group.get(g.id)) for g in dimension.groups]
    return tuple(cells)


def yes_first(row: Row) -> bool:
    """Whether "Yes" goes left of the centre: the unfavourable answer always goes left."""
    return row.response_scale != "yes_no" or row.lower_is_better


AXIS_ENDS = ("less favourable", "more favourable")


def _diverging(title: str, rows: Sequence[tuple[str, Cell | None, bool]], template: Row,
               header: str, id_prefix: str) -> charts.Chart:
    """Draw answers so that more favourable is to the right on every row.

    ``rows`` are (label, cell, worded negatively): a negatively worded question's
    answers are drawn mirrored, so its "strongly agree" sits at the unfavourable end.
    """
    scale, flip = template.response_scale, not yes_first(template)
    chart_rows = []
    for label, cell, reverse in rows:
        row_shares = shares(cell, scale)
        if flip and row_shares is not None:
            row_shares = row_shares[::-1]
        chart_rows.append(charts.DivergingRow(label, cell.n if cell else None, row_shares,
                                              reversed=reverse))
    labels = answer_labels(scale)
    return charts.diverging_bars(
        title, chart_rows, labels[::-1] if flip else labels, neutral_index(scale),
        label_header=header, id_prefix=id_prefix, axis_ends=AXIS_ENDS,
    )  # fmt: skip


def _chart_cell(published: PublishedRound, row: Row, kind: str, cell: Cell | None,
                dimension: Dimension | None = None, group_id: str | None = None
                ) -> Cell | None:
    """What a chart draws for a row: a question's own answers, a scale's pooled answers."""
    if kind != "scale":
        return cell
    return pooled_scale_cell(row, scale_items(published, row), cell,
                             dimension.id if dimension and group_id else None, group_id)


def _sections(published: PublishedRound, dimension: Dimension | None) -> tuple[Section, ...]:
    order: list[str] = []
    scales_of: dict[str, list[Row]] = {}  # an instrument's scale, then its subscales
    items_of: dict[str, list[Row]] = {}
    for scale in published.scales:
        key = scale.instrument_id or scale.id
        if scale.id != key:
            # Subscales get a section of their own after their instrument's, so that a
            # breakdown's page stays light (one section per page).
            key = f"{key}_subscales"
        scales_of.setdefault(key, []).append(scale)
        if key not in order:
            order.append(key)
    for item in published.items:
        key = item.instrument_id or item.id
        items_of.setdefault(key, []).append(item)
        if key not in order:
            order.append(key)
    sections = []
    for s, key in enumerate(order):
        rows: list[tuple[Row, str]] = [(scale, "scale") for scale in scales_of.get(key, [])]
        rows += [(item, "item") for item in items_of.get(key, [])]
        fallback = scales_of[key][0].label if key in scales_of else key
        if key.endswith("_subscales"):
            fallback = instrument_title(key.removesuffix("_subscales"), key) + ": subscales"
        title = instrument_title(key, fallback)
        reports = []
        for r, (row, kind) in enumerate(rows):
            cells = _group_cells(row, dimension)
            chart = None
            if dimension is not None:
                chart = _diverging(
                    f"{row.label}: answers by {dimension.name.lower()}"
                    + (REVERSED_MARK if row.reverse else ""),
                    [(c.label, _chart_cell(published, row, kind, c.cell, dimension, c.group_id),
                      row.reverse) for c in cells], row,
                    dimension.name, f"chart-s{s}-r{r}",
                )  # fmt: skip
            reports.append(RowReport(row, kind, cells, chart))
        section_charts: list[charts.Chart] = []
        if dimension is None:
            kinds: dict[tuple[str, bool], list[tuple[Row, str]]] = {}
            for row, kind in rows:
                kinds.setdefault((row.response_scale, yes_first(row)), []).append((row, kind))
            for c, ((_, first), group) in enumerate(kinds.items()):
                direction = ""
                if len(kinds) > 1:
                    direction = " (lower is better)" if first else " (higher is better)"
                section_charts.append(_diverging(
                    f"{title}: answers, everyone{direction}",
                    [(_row_label(row, kind), _chart_cell(published, row, kind, row.overall),
                      row.reverse) for row, kind in group],
                    group[0][0], "Question", f"chart-s{s}-{c}",
                ))  # fmt: skip
        worded_negatively = tuple(row.label for row, _ in rows if row.reverse)
        sections.append(Section(key, title, tuple(reports), tuple(section_charts),
                                worded_negatively))
    return tuple(sections)


REVERSED_MARK = " (worded negatively: drawn reversed)"


def _row_label(row: Row, kind: str) -> str:
    if kind == "scale":
        return f"{row.label} (scale score)"
    return row.label + (REVERSED_MARK if row.reverse else "")


RESPONDENT_COLUMNS = (
    Column("dimension", "Breakdown"),
    Column("group", "Group"),
    Column("n", "Respondents", COUNT),
)


def _respondents_table(published: PublishedRound, dimension: Dimension | None,
                       note: str) -> Table:
    rows = [TableRow({"dimension": "", "group": EVERYONE, "n": published.responses},
                     hidden=published.responses is None)]
    if dimension is not None:
        counts = published.group_counts.get(dimension.id, {})
        for group in dimension.groups:
            n = counts.get(group.id)
            rows.append(TableRow({"dimension": dimension.name, "group": group.label, "n": n},
                                 hidden=not n))
    return Table("respondents", "Respondents", RESPONDENT_COLUMNS, tuple(rows), note)


RESULT_COLUMNS = (
    Column("round", "Round"),
    Column("k", "Minimum group size", COUNT),
    Column("kind", "Scale or question"),
    Column("id", "Id"),
    Column("label", "Wording"),
    Column("dimension", "Breakdown"),
    Column("group", "Group"),
    Column("n", "Answers", COUNT),
    Column("mean", "Mean", MEAN),
    Column("favourable_pct", "Favourable", PERCENT),
    Column("yes_pct", "Answering yes", PERCENT),
    Column("definition", "What favourable means"),
)


def scale_name(response_scale: str) -> str:
    """Name an answer scale for export headers: "7-point", "5-point", "yes/no"."""
    if response_scale == "yes_no":
        return "yes/no"
    return f"{len(answer_labels(response_scale))}-point"


def answer_columns(response_scale: str) -> tuple[Column, ...]:
    """One share and one count column per answer, headed by its label and answer scale.

    A 5-point and a 7-point "Agree" are different answers, so each answer scale gets
    its own set ("Agree % (5-point)"); yes/no answers need no suffix.
    """
    suffix = "" if response_scale == "yes_no" else f" ({scale_name(response_scale)})"
    columns: list[Column] = []
    for label in answer_labels(response_scale):
        columns += [Column(f"{label} %{suffix}", f"{label} %{suffix}", PERCENT),
                    Column(f"{label} n{suffix}", f"{label} n{suffix}", COUNT)]
    return tuple(columns)


RESULTS_DESCRIPTION = (
    "One row per scale or question and group. Answer columns hold the share and the "
    "number of answers for each option, one set per answer scale; for a scale row they "
    "count people whose scale score rounds to that option. " + SCALE_DEFINITION
)


def _results_table(published: PublishedRound, sections: Sequence[Section],
                   dimension: Dimension | None, note: str) -> Table:
    scales = list(dict.fromkeys(r.row.response_scale for s in sections for r in s.rows))
    columns = RESULT_COLUMNS + tuple(c for scale in scales for c in answer_columns(scale))
    rows = []
    for section in sections:
        for report in section.rows:
            row = report.row
            answers = answer_values(row.response_scale)
            pairs = answer_columns(row.response_scale)
            for gc in report.cells:
                cell = gc.cell if gc.cell is not None and gc.cell.n else None
                values: dict[str, object] = {
                    "round": published.label,
                    "k": published.k,
                    "kind": report.kind,
                    "id": row.id,
                    "label": row.label,
                    "dimension": dimension.name if (dimension and gc.group_id) else "",
                    "group": gc.label,
                    "n": cell.n if cell else None,
                    "mean": cell.mean if cell else None,
                    "favourable_pct": cell.favourable if cell else None,
                    "yes_pct": cell.yes_share if cell else None,
                    "definition": SCALE_DEFINITION if report.kind == "scale"
                    else FAVOURABLE_DEFINITION,
                }
                row_shares = shares(cell, row.response_scale)
                for i, value in enumerate(answers):
                    shown = cell is not None and row_shares is not None
                    values[pairs[2 * i].key] = row_shares[i] if shown else None  # type: ignore[index]
                    values[pairs[2 * i + 1].key] = (
                        cell.distribution.get(value, 0) if shown else None)  # type: ignore[union-attr]
                rows.append(TableRow(values, hidden=cell is None))
    return Table("results", "Scores per scale and question", columns, tuple(rows), note,
                 description=RESULTS_DESCRIPTION)


def round_report(published: PublishedRound, dimension_id: str | None,
                 part: str | None = None) -> RoundReport:
    """Build one round's report, broken down by one dimension (or none).

    With a breakdown the page draws one instrument (``part``, default the first);
    the tables behind the exports always hold every instrument.
    """
    checked = checked_round(published)
    dimension = dimension_of(checked, dimension_id)
    note = not_shown_note(checked.k)
    sections = _sections(checked, dimension)
    shown = sections
    if dimension is not None and sections:
        shown = tuple(s for s in sections if s.instrument_id == (part or sections[0].instrument_id))
        if not shown:
            raise ReviewError(f"round {checked.round_id} has no part {part!r}")
    return RoundReport(
        shown_sections=shown,
        published=checked,
        dimension=dimension,
        hidden_note=note,
        respondents=_respondents_table(checked, dimension, note),
        results=_results_table(checked, sections, dimension, note),
        sections=sections,
        comments=checked.comments,
    )


def load_round(session: Session, round_id: int) -> PublishedRound:
    """Return one published round, or raise ReviewError."""
    published = published_round(session, round_id)
    if published is None:
        raise ReviewError(f"round {round_id} is not published")
    return published


ROUND_LIST_COLUMNS = (
    Column("survey", "Survey"),
    Column("round_id", "Round id"),
    Column("round", "Round"),
    Column("opens_on", "Opened", DATE),
    Column("closes_on", "Closed", DATE),
    Column("published_on", "Published", DATE),
    Column("invited", "Invited", COUNT),
    Column("responses", "Responses", COUNT),
    Column("response_rate_pct", "Response rate", PERCENT),
)


def rounds_table(session: Session, survey_id: int | None = None) -> Table:
    """Every published round (of one survey, if given), newest first."""
    rounds = [checked_round(r) for r in published_rounds(session, survey_id)]
    rounds.sort(key=lambda r: (r.opens_on, r.round_id), reverse=True)
    rows = tuple(
        TableRow({
            "survey": r.survey_title, "survey_id": r.survey_id,
            "round_id": r.round_id, "round": r.label,
            "opens_on": r.opens_on, "closes_on": r.closes_on, "published_on": r.published_on,
            "invited": r.invited, "responses": r.responses, "response_rate_pct": r.response_rate,
        }, hidden=r.responses is None)
        for r in rounds
    )  # fmt: skip
    k = min((r.k for r in rounds), default=5)
    title = f"Published rounds: {rounds[0].survey_title}" if survey_id and rounds \
        else "Published rounds"
    return Table("rounds", title, ROUND_LIST_COLUMNS, rows, not_shown_note(k))


# --------------------------------------------------------------------------
# Choosing a survey and the groups to compare


def survey_order(session: Session) -> list[int]:
    """The surveys in the order the pages show them: the headline one (an admin's
    choice, speakup.site_settings) first, then the one published last, and so on."""
    order = publication_order(session)
    headline = headline_survey_id(session)
    if headline in order:
        order.remove(headline)
        order.insert(0, headline)
    return order


def survey_rounds(session: Session, survey_id: int | None) -> list[PublishedRound]:
    """Published rounds of one survey (default: the headline survey), oldest first."""
    if survey_id is None:
        order = survey_order(session)
        if not order:
            return []
        survey_id = order[0]
    chosen = published_rounds(session, survey_id)
    if not chosen:
        raise ReviewError(f"survey {survey_id} has no published rounds")
    return chosen


def default_gap_pair(dimension: Dimension) -> tuple[str, str] | None:
    """Pick two groups to compare: Global Majority and White when present, else the first two."""
    def find(word: str) -> str | None:
        for group in dimension.groups:
            if word in group.label.lower():
                return group.id
        return None

    first, second = find("global majority"), find("white")
    if first and second and first != second:
        return first, second
    groups = [g.id for g in dimension.groups if g.id != "prefer_not"]
    return (groups[0], groups[1]) if len(groups) >= 2 else None


def gap_dimension(dimensions: Sequence[Dimension]) -> Dimension | None:
    """The dimension the headline gap is about: ethnicity if there is one, else the first."""
    for dimension in dimensions:
        if "ethnic" in dimension.id.lower() or "ethnic" in dimension.label.lower():
            return dimension
    return dimensions[0] if dimensions else None


# --------------------------------------------------------------------------
# Overview


@dataclass(frozen=True)
class Headline:
    row: Row
    value: float | None
    previous: float | None
    mean: float | None
    gap: float | None
    previous_gap: float | None


@dataclass(frozen=True)
class Overview:
    latest: PublishedRound | None
    previous: PublishedRound | None
    rounds: list[PublishedRound]
    headlines: list[Headline]
    gap_labels: tuple[str, str] | None
    table: Table
    hidden_note: str
    trend_row: Row | None = None
    trend_chart: charts.Chart | None = None


OVERVIEW_COLUMNS = (
    Column("survey", "Survey"),
    Column("measure", "Measure"),
    Column("round", "Round"),
    Column("favourable_pct", "Favourable (or answering yes)", PERCENT),
    Column("previous_round", "Previous round"),
    Column("previous_favourable_pct", "Previous round value", PERCENT),
    Column("mean", "Mean", MEAN),
    Column("gap_groups", "Gap between"),
    Column("gap_pts", "Gap (percentage points)", POINTS),
    Column("previous_gap_pts", "Previous gap (percentage points)", POINTS),
)


def _find_row(published: PublishedRound | None, row_id: str) -> Row | None:
    if published is None:
        return None
    for row in (*published.scales, *published.items):
        if row.id == row_id:
            return row
    return None


def main_scales(published: PublishedRound) -> list[Row]:
    """The instruments' own scale rows, without subscales (the overview's headlines)."""
    return [row for row in published.scales if row.id == (row.instrument_id or row.id)]


def row_gap(row: Row | None, dimension_id: str, pair: tuple[str, str]) -> float | None:
    """First group's headline figure minus the second's, in shares; None when either is hidden."""
    if row is None:
        return None
    cells = row.by_group.get(dimension_id, {})
    a = headline_value(row, cells.get(pair[0]))
    b = headline_value(row, cells.get(pair[1]))
    return None if a is None or b is None else a - b


def overview(session: Session, survey_id: int | None = None) -> Overview:
    """Headline scale scores of the latest round, with the change since the round before."""
    rounds = [checked_round(r) for r in survey_rounds(session, survey_id)]
    latest = rounds[-1] if rounds else None
    previous = rounds[-2] if len(rounds) > 1 else None
    k = latest.k if latest else 5
    note = not_shown_note(k)
    headlines: list[Headline] = []
    gap_labels = None
    rows = []
    if latest is not None:
        dimension = gap_dimension(latest.dimensions)
        pair = default_gap_pair(dimension) if dimension else None
        if dimension and pair:
            names = {g.id: g.label for g in dimension.groups}
            gap_labels = (names[pair[0]], names[pair[1]])
        shown_rows = main_scales(latest) or [
            r for r in latest.items if r.response_scale != "yes_no"
        ]
        for row in shown_rows:
            before = _find_row(previous, row.id)
            gap = previous_gap = None
            if dimension and pair:
                gap = row_gap(row, dimension.id, pair)
                previous_gap = row_gap(before, dimension.id, pair)
            headline = Headline(
                row=row,
                value=headline_value(row, row.overall),
                previous=headline_value(before, before.overall) if before else None,
                mean=row.overall.mean if row.overall else None,
                gap=gap,
                previous_gap=previous_gap,
            )
            headlines.append(headline)
            rows.append(TableRow({
                "survey": latest.survey_title,
                "measure": row.label,
                "round": latest.label,
                "favourable_pct": headline.value,
                "previous_round": previous.label if previous else "",
                "previous_favourable_pct": headline.previous,
                "mean": headline.mean,
                "gap_groups": " minus ".join(gap_labels) if gap_labels else "",
                "gap_pts": None if gap is None else gap * 100,
                "previous_gap_pts": None if previous_gap is None else previous_gap * 100,
            }, hidden=headline.value is None or (gap_labels is not None and gap is None)))
    table = Table("headlines", "Headline scores", OVERVIEW_COLUMNS, tuple(rows), note)
    trend_row, trend_chart = _overview_trend(rounds)
    return Overview(latest, previous, rounds, headlines, gap_labels, table, note,
                    trend_row, trend_chart)


def overviews(session: Session) -> list[Overview]:
    """One overview per survey with published rounds, in `survey_order` (never mixed)."""
    return [overview(session, survey_id) for survey_id in survey_order(session)]


def _overview_trend(rounds: Sequence[PublishedRound]) -> tuple[Row | None, charts.Chart | None]:
    """Speaking up (or the first scale) over the rounds: everyone and the two compared groups."""
    if not rounds:
        return None, None
    latest = rounds[-1]
    candidates = main_scales(latest) or [
        r for r in latest.items if r.response_scale != "yes_no"
    ]
    row = next((r for r in candidates if (r.instrument_id or r.id) == "speak"), None)
    row = row or (candidates[0] if candidates else None)
    if row is None:
        return None, None
    dimension = gap_dimension(latest.dimensions)
    pair = default_gap_pair(dimension) if dimension else None
    wanted: list[tuple[str | None, str]] = [(None, EVERYONE)]
    if dimension and pair:
        names = {g.id: g.label for g in dimension.groups}
        wanted += [(pair[0], names[pair[0]]), (pair[1], names[pair[1]])]
    series = []
    for group_id, label in wanted:
        values = []
        for published in rounds:
            match = _find_row(published, row.id)
            if match is None:
                values.append(None)
                continue
            cell = match.overall if group_id is None else match.by_group.get(
                dimension.id if dimension else "", {}).get(group_id)
            value = headline_value(match, cell)
            values.append(None if value is None else value * 100)
        series.append(charts.Series(label, values))
    chart = charts.line_chart(
        f"{row.label}: favourable answers over time", [r.label for r in rounds], series,
        0, 100, "Favourable (%)", id_prefix=f"overview-trend-{latest.survey_id}",
    )
    return row, chart


__all__ = [
    "EVERYONE",
    "Headline",
    "Overview",
    "ReviewError",
    "RoundReport",
    "answer_labels",
    "default_gap_pair",
    "gap_dimension",
    "headline_value",
    "load_round",
    "overview",
    "overviews",
    "publication_order",
    "round_report",
    "row_gap",
    "shares",
    "survey_rounds",
]
