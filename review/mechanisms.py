"""The mechanism review: how concerns are handled, how safe speaking up feels, the audit log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from concerns.publication import chain_marks
from concerns.stats import (
    MechanismStats,
    QuarterStats,
    last_quarters,
    published_stats,
    quarter_label,
)
from review import charts
from review.reports import EVERYONE
from review.safety import checked_mechanism_stats, checked_round
from review.tables import (
    COUNT,
    DATE,
    DAYS,
    NOT_SHOWN,
    PERCENT,
    TEXT,
    Column,
    Table,
    TableRow,
    not_shown_note,
)
from speakup import audit
from surveys.published import PublishedRound, Row

SPEAK_INSTRUMENT = "speak"

# The only audited actions the review counts live: changes staff make to the service
# itself (an exact action, or every action under a prefix ending in "."). Nothing a
# reporter, a respondent or a case handler does on a concern is counted live: those
# counts follow reporters' activity (finding 1 of issue 17). Downloads are left out too:
# each one is audited, so counting them would change the page with every download.
STAFF_CHANGE_ACTIONS = (
    "account.create", "account.update", "account.password", "settings.", "category.",
    "survey.create", "survey.update", "survey.teams.replace", "survey.audience.replace",
    "goal.", "action.", "recovery_key.",
)


NOT_YET_PUBLISHED = "not yet published"
K_DEFINITION = (
    "min_group_size", "Minimum group size",
    "The minimum group size the quarter was published with, frozen with its figures: a "
    "later change of the setting never re-reads or re-checks a published quarter.",
)
# A quarter not yet published holds concerns whose deadlines have not all passed: its
# timeliness is "not yet due", never a miss (and never "not shown", which means hidden).
NOT_YET_DUE = "not yet due"
TIMELINESS_NOTE = (
    "How to read this: a concern counts towards a quarter’s timeliness only once its "
    "deadline (7 days to acknowledge, 3 months to give feedback) has passed, in the quarter "
    "that deadline falls in; until then it is not yet due, and never counted as late."
)


def load_mechanism_stats(session: Session, k: int, today: dt.date) -> MechanismStats:
    """Return the stored quarterly publications of concern statistics (never live figures)."""
    return published_stats(session, k, today)


CHAIN_NOTE = (
    "The audit log is a chain: each entry holds a keyed hash of the one before, so no "
    "entry can be changed or removed unseen. Its length and its last hash (the head) move "
    "with every audited action, a reporter's included, so this page never shows them as "
    "they are now: only as they stood when each quarter's concern statistics were "
    "published, frozen with those figures, and whether the whole chain verifies today. "
    "Keep a head from this table: an administrator can prove later that the chain still "
    "runs through it with “speakup audit verify --head <head>”."
)
STAFF_NOTE = (
    "Counted live from the audit log: only changes staff make to the service itself "
    "(accounts, settings, categories, surveys, goals and actions). Nothing reporters, "
    "respondents or case handlers do is counted here, and neither are downloads."
)


@dataclass(frozen=True)
class AuditSummary:
    """What the review shows of the audit log: nothing that moves with a reporter's action."""

    verified: bool  # the whole chain verifies now (a yes or no, never a count)
    chain: Table  # length and head frozen into each quarterly publication
    staff: Table  # staff's own changes to the service per month, live


def audit_summary(session: Session, today: dt.date) -> AuditSummary:
    """Whether the chain verifies, its frozen marks, and staff's changes per month."""
    labels = [quarter_label(*q) for q in last_quarters(today)]
    marks = chain_marks(session, labels)
    verified = audit.verify(session).ok
    chain_rows = tuple(TableRow({
        "quarter": m.quarter, "published_on": m.published_on.isoformat(),
        "entries": m.entries if m.entries is not None else NOT_RECORDED,
        "head": m.head or NOT_RECORDED,
    }) for m in marks)  # fmt: skip
    chain = Table(
        "audit_chain", "The audit log's chain, frozen with each quarter's publication",
        CHAIN_COLUMNS, chain_rows, "", description=CHAIN_NOTE,
        extra={"chain_verified_now": verified},
    )
    staff_rows = tuple(
        TableRow({"month": m, "action": a, "count": n})
        for m, a, n in audit.count_by_month_and_action(session, STAFF_CHANGE_ACTIONS)
    )
    staff = Table("staff_changes", "Changes staff made to the service, per month",
                  STAFF_COLUMNS, staff_rows, "", description=STAFF_NOTE)
    return AuditSummary(verified, chain, staff)


NOT_RECORDED = "not recorded"
CHAIN_COLUMNS = (
    Column("quarter", "Quarter published"),
    Column("published_on", "Published on", DATE),
    Column("entries", "Entries in the chain then", COUNT),
    Column("head", "Head of the chain then", TEXT),
)
STAFF_COLUMNS = (
    Column("month", "Month"),
    Column("action", "Change"),
    Column("count", "Count", COUNT),
)

CATEGORY_COLUMNS = (
    Column("quarter", "Quarter"),
    Column("category", "Category"),
    Column("concerns", "Concerns received", COUNT),
)

YEAR_CATEGORY_COLUMNS = (
    Column("year", "Year"),
    Column("category", "Category"),
    Column("concerns", "Concerns received", COUNT),
)

CLOCK_COLUMNS = (
    Column("quarter", "Quarter"),
    Column("snapshot_date", "Figures as of", DATE),
    Column("min_group_size", "Minimum group size", COUNT),
    Column("received", "Concerns received", COUNT),
    Column("median_days_to_acknowledge", "Median days to acknowledge", DAYS),
    Column("acknowledged_within_7_days_pct", "Acknowledged within 7 days", PERCENT),
    Column("feedback_within_3_months_pct", "Feedback within 3 months", PERCENT),
    Column("closed_pct", "Closed", PERCENT),
)

OUTCOME_COLUMNS = (
    Column("quarter", "Quarter"),
    Column("outcome", "Outcome"),
    Column("concerns", "Concerns closed", COUNT),
)

DEFINITION_COLUMNS = (
    Column("figure", "Figure"),
    Column("definition", "Definition"),
)

CATEGORY_LIST_COLUMNS = (
    Column("category", "Category"),
    Column("offered", "Still offered to reporters"),
)

SPEAK_COLUMNS = (
    Column("survey", "Survey"),
    Column("round_id", "Round id", TEXT),
    Column("round", "Round"),
    Column("id", "Id"),
    Column("question", "Question"),
    Column("n", "Answers", COUNT),
    Column("favourable_pct", "Favourable", PERCENT),
)


VERDICT_SHARE_COLUMNS = (
    Column("quarter", "Quarter"),
    Column("would_speak_up_again_pct", "Would speak up again", PERCENT),
    Column("felt_safe_pct", "Felt safe raising it", PERCENT),
    Column("kept_informed_pct", "Kept informed", PERCENT),
)

VERDICT_ANSWER_COLUMNS = (
    Column("quarter", "Quarter"),
    Column("question", "Question"),
    Column("answer", "Answer"),
    Column("answers", "Answers", COUNT),
)

THEME_COLUMNS = (
    Column("quarter", "Quarter"),
    Column("theme", "Theme"),
    Column("concerns", "Concerns tagged", COUNT),
)


def _verdict_tables(quarters: Sequence[QuarterStats],
                    questions: dict[str, tuple[str, dict[str, str]]], note: str) -> list[Table]:
    """The reporters' verdict per published quarter: the shares, then every answer count."""
    share_rows, answer_rows = [], []
    for q in quarters:
        if not q.published:
            continue
        shares = (q.would_speak_up_again, q.felt_safe_favourable, q.kept_informed_favourable)
        share_rows.append(TableRow({
            "quarter": q.quarter, "would_speak_up_again_pct": shares[0],
            "felt_safe_pct": shares[1], "kept_informed_pct": shares[2],
        }, hidden=any(s is None for s in shares)))  # fmt: skip
        for question, (wording, answers) in questions.items():
            if question not in q.verdict_totals:
                continue  # published before the verdict existed
            total = q.verdict_totals[question]
            cells = q.verdict_answers.get(question, {})
            answer_rows.append(TableRow({"quarter": q.quarter, "question": wording,
                                         "answer": "All answers", "answers": total},
                                        hidden=total is None))
            for key, label in answers.items():
                n = cells.get(key)
                answer_rows.append(TableRow({"quarter": q.quarter, "question": wording,
                                             "answer": label, "answers": n}, hidden=n is None))
    return [
        Table("reporters_verdict", "Reporters' verdict on raising a concern",
              VERDICT_SHARE_COLUMNS, tuple(share_rows), note,
              description="Reporters answer after a case handler's first reply and again at "
                          "closing; answers are stored without any link to the concern and "
                          "counted in the quarter they were given."),
        Table("reporters_verdict_answers", "Reporters' answers per question",
              VERDICT_ANSWER_COLUMNS, tuple(answer_rows), note),
    ]


GROUP_COLUMNS = (
    Column("quarter", "Quarter"),
    Column("group", "Professional group"),
    Column("concerns", "Concerns received", COUNT),
)


def _group_table(quarters: Sequence[QuarterStats], groups: Sequence[str], note: str) -> Table:
    return Table("concerns_by_group", "Concerns received by professional group",
                 GROUP_COLUMNS, _per_quarter_rows(quarters, "professional_groups", "group",
                                                  groups), note,
                 description="The reporter's optional answer; quarters whose group cells "
                             "would all be hidden publish no table.")


def _theme_table(quarters: Sequence[QuarterStats], themes: Sequence[str], note: str) -> Table:
    return Table("concern_themes", "Concerns by theme of the Freedom to Speak Up return",
                 THEME_COLUMNS, _per_quarter_rows(quarters, "themes", "theme", themes), note,
                 description="One concern can carry several themes, so the themes do not add "
                             "up to the concerns received.")


def _per_quarter_rows(quarters: Sequence[QuarterStats], counts_of: str, column: str,
                      names: Sequence[str]) -> tuple[TableRow, ...]:
    """A row per quarter and name from each quarter's published counts (`counts_of`, a
    name -> count or None mapping; a quarter without it has no rows); None or 0 is hidden."""
    rows = []
    for q in quarters:
        counts = getattr(q, counts_of)
        for name in names if counts is not None else []:
            n = counts.get(name)
            rows.append(TableRow({"quarter": q.quarter, column: name, "concerns": n},
                                 hidden=not n))
    return tuple(rows)


@dataclass(frozen=True)
class MechanismReview:
    stats: MechanismStats | None
    latest_quarter: QuarterStats | None
    tables: list[Table]
    volume_charts: list[charts.Chart]
    clock_chart: charts.Chart | None
    days_chart: charts.Chart | None
    outcome_charts: list[charts.Chart]
    speak_chart: charts.Chart | None
    speak_rows: list[Row]
    audit: AuditSummary
    hidden_note: str
    # The k of the shown publications: one number when they share it, else each in order.
    hidden_k: int | list[int] = 0


def _chunked(labels: Sequence[str], size: int) -> list[list[str]]:
    return [list(labels[i : i + size]) for i in range(0, len(labels), size)]


def _count_charts(title: str, quarters: Sequence[QuarterStats], labels: Sequence[str],
                  attr: str, y_label: str, prefix: str) -> list[charts.Chart]:
    quarters = [q for q in quarters if getattr(q, attr)]
    if not quarters or not labels:
        return []
    x_labels = [q.quarter for q in quarters]
    out = []
    chunks = _chunked(labels, len(charts.BAR_COLOURS))
    for c, chunk in enumerate(chunks):
        series = [
            charts.Series(label, [getattr(q, attr).get(label) for q in quarters])
            for label in chunk
        ]
        part = f" (part {c + 1} of {len(chunks)})" if len(chunks) > 1 else ""
        out.append(charts.bar_chart(title + part, x_labels, series, True, y_label,
                                    x_header="Quarter", id_prefix=f"{prefix}-{c}"))
    return out


def _speak_rows(rounds: Sequence[PublishedRound]) -> list[Row]:
    if not rounds:
        return []
    latest = rounds[-1]
    rows = [r for r in latest.items if r.instrument_id == SPEAK_INSTRUMENT]
    if not rows:
        rows = [r for r in latest.items if "speak up" in r.label.lower()]
    return rows[: len(charts.LINE_COLOURS)]


def latest_shown_quarter(stats: MechanismStats | None) -> QuarterStats | None:
    """The most recent quarter whose figures are shown."""
    if stats is None:
        return None
    shown = [q for q in stats.quarters if q.received is not None]
    return shown[-1] if shown else None


def mechanism_review(
    stats: MechanismStats | None,
    rounds: Sequence[PublishedRound],
    audit_part: AuditSummary,
    k: int,
) -> MechanismReview:
    """Build the mechanism review's tables and charts."""
    checked = checked_mechanism_stats(stats) if stats is not None else None
    if checked is not None:
        # Each quarter was published (and is re-checked) with its own k; the legend
        # names that k, never today's setting, which may have changed since.
        k = publications_k(checked) or checked.k
        checked = dataclasses.replace(checked, k=k)
    note = concern_note(checked, k)
    quarters = checked.quarters if checked else []
    categories = checked.categories if checked else []
    category_rows, year_rows, clock_rows, outcome_rows = [], [], [], []
    for q in quarters:
        # A quarter whose category cells would all be hidden publishes its total only.
        for category in categories if q.received_by_category is not None else []:
            n = q.received_by_category.get(category)
            category_rows.append(TableRow({"quarter": q.quarter, "category": category,
                                           "concerns": n}, hidden=not n))
        if q.year is not None and q.year.received_by_category is not None:
            for category in categories:
                n = q.year.received_by_category.get(category)
                year_rows.append(TableRow({"year": str(q.year.year), "category": category,
                                           "concerns": n}, hidden=not n))
        if q.published:
            clock_rows.append(TableRow({
                "quarter": q.quarter,
                "snapshot_date": q.snapshot_date,
                "min_group_size": q.k,
                "received": q.received,
                "median_days_to_acknowledge": q.median_days_to_acknowledge,
                "acknowledged_within_7_days_pct": q.acknowledged_within_7_days,
                "feedback_within_3_months_pct": q.feedback_within_3_months,
                "closed_pct": q.closed_share,
            }, hidden=q.received is None))
        else:
            clock_rows.append(TableRow({
                "quarter": q.quarter, "snapshot_date": NOT_YET_PUBLISHED,
                "min_group_size": NOT_YET_PUBLISHED, "received": NOT_YET_PUBLISHED,
                "median_days_to_acknowledge": NOT_YET_PUBLISHED,
                "acknowledged_within_7_days_pct": NOT_YET_DUE,
                "feedback_within_3_months_pct": NOT_YET_DUE, "closed_pct": NOT_YET_PUBLISHED,
            }))  # fmt: skip
        for outcome in checked.outcomes if checked and q.published else []:
            n = q.outcomes.get(outcome)
            outcome_rows.append(TableRow({"quarter": q.quarter, "outcome": outcome,
                                          "concerns": n}, hidden=not n))
    definitions = (*checked.definitions, K_DEFINITION) if checked else ()
    retired = set(checked.retired_categories) if checked else set()
    rounds = [checked_round(r) for r in rounds]
    speak_rows = _speak_rows(rounds)
    speak_table_rows, speak_series = [], []
    for row in speak_rows:
        values = []
        for published in rounds:
            match = next((r for r in published.items if r.id == row.id), None)
            cell = match.overall if match and match.overall and match.overall.n else None
            shown = cell is not None and cell.favourable is not None
            values.append(cell.favourable * 100 if shown else None)
            speak_table_rows.append(TableRow({
                "survey": published.survey_title, "round_id": published.round_id,
                "round": published.label, "id": row.id,
                "question": row.label, "n": cell.n if cell else None,
                "favourable_pct": cell.favourable if cell else None,
            }, hidden=cell is None))
        speak_series.append(charts.Series(short_label(row.label), values))
    survey_note = not_shown_note(rounds[-1].k if rounds else k)
    tables = [
        Table("concern_definitions", "What each concern figure means", DEFINITION_COLUMNS,
              tuple(TableRow({"figure": label, "definition": text})
                    for _, label, text in definitions), note),
        Table("concern_categories", "Concern categories", CATEGORY_LIST_COLUMNS,
              tuple(TableRow({"category": c, "offered": "no" if c in retired else "yes"})
                    for c in categories), note,
              description="Every category ever defined, whether used or not."),
        Table("concerns_by_category", "Concerns received by category", CATEGORY_COLUMNS,
              tuple(category_rows), note,
              description="Quarters whose category cells would all be hidden publish their "
                          "total only (see the timeliness table)."),
        Table("concerns_by_category_year", "Concerns received by category, per year",
              YEAR_CATEGORY_COLUMNS, tuple(year_rows), note,
              description="Published with each year's fourth quarter: the four quarters "
                          "added up."),
        Table("concern_clocks", "How quickly concerns are answered", CLOCK_COLUMNS,
              tuple(clock_rows), note,
              description="Each quarter is published once, after it ends plus a grace "
                          "period, and never recomputed; each share has its own "
                          "denominator (see the definitions). " + TIMELINESS_NOTE),
        Table("concern_outcomes", "Outcomes of closed concerns", OUTCOME_COLUMNS,
              tuple(outcome_rows), note),
        Table("speaking_up", f"Speaking up: favourable answers, {EVERYONE.lower()}"
              + (f" ({rounds[-1].survey_title})" if rounds else ""),
              SPEAK_COLUMNS, tuple(speak_table_rows), survey_note),
        *_verdict_tables(quarters, checked.verdict_questions if checked else {}, note),
        _theme_table(quarters, checked.themes if checked else [], note),
        _group_table(quarters, checked.professional_groups if checked else [], note),
        audit_part.chain,
        audit_part.staff,
    ]  # fmt: skip
    x_labels = [q.quarter for q in quarters]
    clock_chart = days_chart = None
    if quarters:
        clock_chart = charts.line_chart(
            "Concerns acknowledged and answered in time", x_labels,
            [
                charts.Series("Acknowledged within 7 days", [_pct(q.acknowledged_within_7_days)
                                                             for q in quarters]),
                charts.Series("Feedback within 3 months", [_pct(q.feedback_within_3_months)
                                                           for q in quarters]),
                charts.Series("Closed", [_pct(q.closed_share) for q in quarters]),
            ],
            0, 100, "Share of concerns received (%)", x_header="Quarter",
            id_prefix="mech-clocks",
        )  # fmt: skip
        days = [q.median_days_to_acknowledge for q in quarters]
        top = max([d for d in days if d is not None] + [7.0])
        days_chart = charts.line_chart(
            "Median days to acknowledge a concern (target: 7)", x_labels,
            [charts.Series("Median days to acknowledge", days)],
            0, float(math.ceil(top / 7) * 7), "Days", "{:.0f}", x_header="Quarter",
            id_prefix="mech-days",
        )  # fmt: skip
    speak_chart = None
    if rounds and speak_series:
        speak_chart = charts.line_chart(
            f"Speaking up: favourable answers per question ({rounds[-1].survey_title})",
            [r.label for r in rounds],
            speak_series, 0, 100, "Favourable (%)", id_prefix="mech-speak",
        )  # fmt: skip
    volume_charts = []
    if quarters:
        volume_charts.append(charts.bar_chart(
            "Concerns received per quarter", x_labels,
            [charts.Series("Concerns received", [q.received for q in quarters])], False,
            "Concerns received", x_header="Quarter", id_prefix="mech-received",
        ))  # fmt: skip
    return MechanismReview(
        stats=checked,
        latest_quarter=latest_shown_quarter(checked),
        tables=tables,
        volume_charts=volume_charts + _count_charts(
            "Concerns received by category", quarters, checked.categories if checked else [],
            "received_by_category", "Concerns received", "mech-volume",
        ),
        clock_chart=clock_chart,
        days_chart=days_chart,
        outcome_charts=_count_charts(
            "Outcomes of closed concerns", quarters, checked.outcomes if checked else [],
            "outcomes", "Concerns closed", "mech-outcomes",
        ),
        speak_chart=speak_chart,
        speak_rows=speak_rows,
        audit=audit_part,
        hidden_note=note,
        hidden_k=_ks(checked, k),
    )


def publications_k(stats: MechanismStats) -> int | None:
    """The k the shown publications were made with, when they all share one."""
    ks = {q.k for q in stats.quarters if q.published and q.k is not None}
    return ks.pop() if len(ks) == 1 else None


def _ks(stats: MechanismStats | None, k: int) -> int | list[int]:
    ks = sorted({q.k for q in stats.quarters if q.published and q.k is not None}) if stats else []
    return ks[0] if len(ks) == 1 else (ks or k)


def concern_note(stats: MechanismStats | None, k: int) -> str:
    """The legend for hidden concern figures, true for every quarter shown."""
    if stats is None or publications_k(stats) is not None or not any(
            q.published for q in stats.quarters):
        return not_shown_note(k, "concerns")
    return (f"{NOT_SHOWN}: either fewer concerns than the minimum group size the quarter "
            "was published with (its own column in the timeliness table), or hidden as "
            "well so that a smaller group cannot be worked out by subtraction")


def short_label(text: str, limit: int = 52) -> str:
    """Shorten a question's wording to fit a chart legend; the full text is beside the chart."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "…"


def _pct(share: float | None) -> float | None:
    return None if share is None else share * 100
