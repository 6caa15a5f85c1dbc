"""Publish each quarter's concern statistics once: compute → disclosure → attacker's audit → store.

A quarter is due `grace_days` after it ends (its *snapshot date*); every figure is
computed as of that date, so when the job happens to run changes nothing. The
scheduler job and `speakup concerns publish-stats` both call
:func:`publish_due_quarters`, which publishes every due quarter without a
publication, oldest first (so a fourth quarter's year table is audited together
with the year's stored quarters). A publication is inserted under its quarter as
primary key: a second publisher's insert fails and changes nothing. Stored
publications are never updated or recomputed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concerns.group_marks import counted_by_group
from concerns.handling import days_between
from concerns.models import (
    EXCLUDED_OUTCOMES,
    FAVOURABLE_ANSWERS,
    OUTCOMES,
    Concern,
    ConcernCategory,
    ConcernStatsPublication,
    ProfessionalGroup,
)
from concerns.professional_groups import NOT_ANSWERED
from concerns.stats import (
    QUARTERS_SHOWN,
    last_quarters,
    median_of_histogram,
    parse_quarter,
    quarter_bounds,
    quarter_label,
    quarter_of,
    quarters_between,
    snapshot_date,
)
from concerns.themes import theme_counts
from concerns.verdict import verdict_counts
from speakup import audit, disclosure, publication_log
from speakup.clock import Clock
from speakup.disclosure_audit import AttackModel, AuditReport, audit_model

# Shares are stored as exports write them: to 0.1 percentage point (pages round further).
SHARE_THOUSANDTHS = 1000
SHARE_HALF_WIDTH = 0.5 / SHARE_THOUSANDTHS
AUDIT_ACTION = "statistics.publish"  # not "concern…": those are counted like concerns


class StatsPublicationError(Exception):
    """A quarter could not be made safe to publish; nothing was stored."""


@dataclass(frozen=True)
class PublishedQuarter:
    quarter: str
    snapshot_date: dt.date
    hidden_by_audit: tuple[str, ...]  # what the audit made us hide beyond the heuristics


# --- which quarters ----------------------------------------------------------------------


def due_quarters(session: Session, today: dt.date, grace_days: int) -> list[str]:
    """Quarters whose snapshot date has come and that have no publication, oldest first.

    From the oldest quarter the review shows (or the first concern's quarter, if
    older) to the last quarter whose snapshot date is today or earlier.
    """
    first = last_quarters(today, QUARTERS_SHOWN)[0]
    earliest = session.scalar(select(func.min(Concern.received_on)))
    if earliest is not None:
        first = min(first, quarter_of(earliest))
    candidates = [q for q in quarters_between(first, quarter_of(today))
                  if snapshot_date(*q, grace_days) <= today]  # fmt: skip
    labels = [quarter_label(*q) for q in candidates]
    done = set(session.scalars(
        select(ConcernStatsPublication.quarter)
        .where(ConcernStatsPublication.quarter.in_(labels))
    ))  # fmt: skip
    return [label for label in labels if label not in done]


def publish_due_quarters(
    session: Session, clock: Clock, today: dt.date, *, k: int, grace_days: int, actor: str
) -> list[PublishedQuarter]:
    """Publish every due, unpublished quarter; return what this call stored. Never commits."""
    out = []
    for label in due_quarters(session, today, grace_days):
        published = publish_quarter(session, clock, label, today, k=k, grace_days=grace_days,
                                    actor=actor)
        if published is not None:
            out.append(published)
    return out


def publish_quarter(
    session: Session, clock: Clock, label: str, today: dt.date, *, k: int, grace_days: int,
    actor: str,
) -> PublishedQuarter | None:
    """Compute, suppress, audit and store one quarter; None if it was already published."""
    k = disclosure.validate_min_group_size(k)
    year, quarter = parse_quarter(label)
    as_of = snapshot_date(year, quarter, grace_days)
    if as_of > today:
        raise StatsPublicationError(f"{label} is not due before {as_of.isoformat()}.")
    if session.get(ConcernStatsPublication, label) is not None:
        return None
    withheld = _true_counts(session, year, quarter, as_of)
    earlier = _stored_year_payloads(session, year, quarter)
    # A fourth quarter's year table adds up quarters published under their own k: it is
    # decided and audited with the largest of them, so lowering k later narrows nothing.
    audit_k = max([k, *(_payload_k(p) for p in earlier)])
    public = _decide(label, as_of, k, withheld, earlier, year_k=audit_k)
    # The audit chain as it stands now, frozen with the figures: the review shows the
    # chain's length and head only from here, never live (they move with every action,
    # a reporter's included).
    public["audit_chain"] = _chain_mark(session)
    payload = {"published": public, "withheld": withheld}
    hidden_more = _audit_until_safe(payload, earlier)
    row = ConcernStatsPublication(quarter=label, published_on=today, min_group_size=k,
                                  payload=payload)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # another publisher stored this quarter first; theirs stands
    # Only what the review shows is signed and public; the withheld true counts never are.
    publication_log.record(session, kind=publication_log.CONCERN_QUARTER, ref=label,
                           payload=public, published_on=today)
    audit.record(session, clock, actor=actor, action=AUDIT_ACTION, subject=label,
                 detail={"snapshot_date": as_of.isoformat(), "min_group_size": k,
                         "hidden_by_audit": hidden_more})  # fmt: skip
    return PublishedQuarter(label, as_of, tuple(hidden_more))


def sign_unlogged_quarters(session: Session) -> int:
    """Sign quarters published before signing existed, oldest first; return how many."""
    count = 0
    for row in session.scalars(select(ConcernStatsPublication)
                               .order_by(ConcernStatsPublication.quarter)):
        if not publication_log.is_logged(session, publication_log.CONCERN_QUARTER, row.quarter):
            publication_log.record(session, kind=publication_log.CONCERN_QUARTER, ref=row.quarter,
                                   payload=row.payload["published"], published_on=row.published_on)
            count += 1
    return count


# --- compute (SQL) -------------------------------------------------------------------------


def _counted() -> Any:
    return or_(Concern.outcome.is_(None), Concern.outcome.not_in(list(EXCLUDED_OUTCOMES)))


def _true_counts(session: Session, year: int, quarter: int, as_of: dt.date) -> dict[str, Any]:
    """Every count the quarter's figures come from, as of its snapshot date."""
    first, last = quarter_bounds(year, quarter)
    received_in = and_(Concern.received_on >= first, Concern.received_on <= last, _counted())
    by_category = dict(session.execute(
        select(Concern.category_id, func.count()).where(received_in)
        .group_by(Concern.category_id)
    ).all())  # fmt: skip
    categories = [
        [c.id, c.label, bool(c.active), int(by_category.get(c.id, 0))]
        for c in session.scalars(
            select(ConcernCategory).order_by(ConcernCategory.position, ConcernCategory.id)
        )
    ]

    def on_time(due: Any, done: Any) -> list[int]:
        due_in = and_(due >= first, due <= last, _counted())
        n, met = session.execute(
            select(func.count(), func.sum(case((and_(done.is_not(None), done <= due), 1),
                                               else_=0))).where(due_in)
        ).one()  # fmt: skip
        return [int(met or 0), int(n)]

    closed_in = and_(received_in, Concern.closed_on.is_not(None), Concern.closed_on <= as_of)
    outcomes = dict(session.execute(
        select(Concern.outcome, func.count()).where(closed_in).group_by(Concern.outcome)
    ).all())  # fmt: skip
    days = days_between(session, Concern.acknowledged_on, Concern.received_on)
    histogram = session.execute(
        select(days, func.count())
        .where(received_in, Concern.acknowledged_on.is_not(None),
               Concern.acknowledged_on <= as_of)
        .group_by(days)
    ).all()  # fmt: skip
    return {
        "received": sum(int(n) for n in by_category.values()),
        "categories": categories,  # [id, label, active, count], every category ever defined
        "acknowledged": on_time(Concern.acknowledge_by, Concern.acknowledged_on),
        "fed_back": on_time(Concern.feedback_by, Concern.first_replied_on),
        "closed": sum(int(n) for n in outcomes.values()),
        "outcomes": [[o, int(outcomes.get(o, 0))] for o in OUTCOMES],
        "acknowledge_days": sorted([int(d), int(n)] for d, n in histogram),
        # Answers given in the quarter; not tied to the concerns received in it.
        "verdicts": verdict_counts(session, quarter_label(year, quarter)),
        # [id, label, active, count] per theme, over the quarter's received concerns.
        "themes": theme_counts(session, received_in),
        # [id, label, active, count] per professional group, and [None, "Not answered",
        # True, count] last: a partition of the received concerns, like the categories.
        "groups": _group_counts(session, quarter_label(year, quarter),
                                sum(int(n) for n in by_category.values())),
    }


def _group_counts(session: Session, quarter: str, received: int) -> list[list[Any]]:
    """The answers from the unlinked marks (concerns/group_marks.py), "Not answered" being
    the rest of the received concerns; [] (no table) in the rare quarter whose counted
    answers exceed its concerns (spam its handler could not read), which no partition
    could hold."""
    found = counted_by_group(session, quarter)
    answered = sum(found.values())
    if answered > received:
        return []
    groups = session.scalars(
        select(ProfessionalGroup).order_by(ProfessionalGroup.position, ProfessionalGroup.id))
    return [*([g.id, g.label, bool(g.active), found.get(g.id, 0)] for g in groups),
            [None, NOT_ANSWERED, True, received - answered]]


def _payload_k(payload: dict[str, Any]) -> int:
    """The minimum group size a stored publication was decided with."""
    return int(payload["published"]["k"])


def _chain_mark(session: Session) -> dict[str, Any]:
    entries, _, digest = audit.head(session).partition(":")
    return {"entries": int(entries), "head": f"{entries}:{digest}"}


@dataclass(frozen=True)
class ChainMark:
    """The audit chain as it stood when a quarter's statistics were published."""

    quarter: str
    published_on: dt.date
    entries: int | None  # None: published before the chain was frozen with the figures
    head: str | None  # "<entries>:<hash>", as `speakup audit verify --head` takes it


def chain_marks(session: Session, labels: Sequence[str]) -> list[ChainMark]:
    """The frozen chain length and head of each of these quarters' stored publications."""
    rows = session.scalars(
        select(ConcernStatsPublication).where(ConcernStatsPublication.quarter.in_(labels))
        .order_by(ConcernStatsPublication.quarter)
    )  # fmt: skip
    out = []
    for row in rows:
        mark = row.payload["published"].get("audit_chain") or {}
        out.append(ChainMark(row.quarter, row.published_on, mark.get("entries"),
                             mark.get("head")))
    return out


def _stored_year_payloads(session: Session, year: int, quarter: int) -> list[dict[str, Any]]:
    """The year's earlier stored publications a fourth quarter's year table adds up."""
    if quarter != 4:
        return []
    labels = [quarter_label(year, q) for q in (1, 2, 3)]
    rows = session.scalars(
        select(ConcernStatsPublication).where(ConcernStatsPublication.quarter.in_(labels))
        .order_by(ConcernStatsPublication.quarter)
    )  # fmt: skip
    return [row.payload for row in rows]


# --- disclosure (heuristics) -----------------------------------------------------------------


def _share(numerator: int, denominator: int) -> float:
    """numerator / denominator rounded half up to 0.001, in exact integer arithmetic."""
    thousandths = (2 * SHARE_THOUSANDTHS * numerator + denominator) // (2 * denominator)
    return thousandths / SHARE_THOUSANDTHS


def _shown_share(pair: Sequence[int], k: int) -> float | None:
    met, due = pair
    return _share(met, due) if due >= k else None


def _category_cells(withheld: dict[str, Any], k: int) -> dict[str, int | None] | None:
    counts = {label: n for _, label, _, n in withheld["categories"]}
    shown = disclosure.suppress_breakdown(counts, counts, k)
    # A table of nothing but "not shown" says nothing: publish the total alone.
    return None if all(v is None for v in shown.values()) else shown


def _decide(label: str, as_of: dt.date, k: int, withheld: dict[str, Any],
            earlier: list[dict[str, Any]], *, year_k: int | None = None) -> dict[str, Any]:
    """Apply primary and complementary suppression to every breakdown of the quarter.

    ``year_k``: the largest k of the year's quarters, for a fourth quarter's year table.
    """
    year, quarter = parse_quarter(label)
    first, last = quarter_bounds(year, quarter)
    received = disclosure.suppress_total(withheld["received"], k)
    outcome_counts = {OUTCOMES[o]: n for o, n in withheld["outcomes"]}
    closed_share = _share(withheld["closed"], withheld["received"]) if received else None
    outcomes = disclosure.suppress_breakdown(outcome_counts, outcome_counts, k)
    acknowledged = sum(n for _, n in withheld["acknowledge_days"])
    median = None
    if received is not None and acknowledged >= k:
        median = median_of_histogram(withheld["acknowledge_days"])
    return {
        "quarter": label,
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "snapshot_date": as_of.isoformat(),
        "k": k,
        "categories": [{"label": lb, "active": active}
                       for _, lb, active, _ in withheld["categories"]],
        "outcome_labels": list(OUTCOMES.values()),
        "figures": {
            "received": received,
            "received_by_category": _category_cells(withheld, k) if received else None,
            "median_days_to_acknowledge": median,
            "acknowledged_within_7_days": _shown_share(withheld["acknowledged"], k),
            "feedback_within_3_months": _shown_share(withheld["fed_back"], k),
            "closed_share": closed_share,
            "outcomes": outcomes,
            "verdicts": _verdict_figures(withheld.get("verdicts", {}), k),
            "themes": _theme_cells(withheld.get("themes", []), received, k),
            "received_by_group": _group_cells(withheld.get("groups", []), received, k),
        },
        "groups": [{"label": lb, "active": active}
                   for _, lb, active, _ in withheld.get("groups", [])],
        "themes": [{"label": lb, "active": active}
                   for _, lb, active, _ in withheld.get("themes", [])],
        "year": (_year_table(year, max(k, year_k or k), withheld, earlier)
                 if quarter == 4 else None),
    }


def _verdict_parts(question: str, counts: dict[str, int]) -> tuple[list[str], list[str]]:
    """The answers a question's share counts above the line, and those it is taken over.

    "Would speak up again": yes ÷ every answer but "prefer not to say". Agreement
    questions: agree or strongly agree ÷ every answer.
    """
    if question == "speak_again":
        return ["yes"], [a for a in counts if a != "prefer_not"]
    return list(FAVOURABLE_ANSWERS), list(counts)


def _verdict_figures(withheld: dict[str, Any], k: int) -> dict[str, Any]:
    """Per question: the total, the distribution and the share, each shown only above k."""
    out = {}
    for question, rows in withheld.items():
        counts = {str(a): int(n) for a, n in rows}
        total = sum(counts.values())
        cells = disclosure.suppress_breakdown(counts, counts, k)
        above, over = _verdict_parts(question, counts)
        denominator = sum(counts[a] for a in over)
        share = (_share(sum(counts[a] for a in above), denominator)
                 if denominator >= k else None)  # fmt: skip
        out[question] = {
            "total": disclosure.suppress_total(total, k),
            # A table of nothing but "not shown" says nothing: publish no table.
            "answers": None if all(v is None for v in cells.values()) else cells,
            "share": share,
        }
    return out


def _theme_cells(themes: list[list[Any]], received: int | None,
                 k: int) -> dict[str, int | None] | None:
    """Each theme's count, shown when at least k and the quarter's total is shown.

    A concern can carry several themes, so the cells are not a partition of the
    received concerns: no hidden cell can be found by subtraction, and each is only
    known to lie between 0 and the quarter's total (the audit checks this).
    """
    if received is None or not themes:
        return None
    cells = {label: (n if n >= k else None) for _, label, _, n in themes}
    return None if all(v is None for v in cells.values()) else cells


def _group_cells(groups: list[list[Any]], received: int | None,
                 k: int) -> dict[str, int | None] | None:
    """The received concerns by professional group (a partition, "Not answered" included),
    with primary and complementary suppression as the categories; None for no table."""
    if received is None or not groups:
        return None
    counts = {label: n for _, label, _, n in groups}
    shown = disclosure.suppress_breakdown(counts, counts, k)
    return None if all(v is None for v in shown.values()) else shown


def _year_counts(withheld: dict[str, Any], earlier: list[dict[str, Any]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for part in [*(p["withheld"] for p in earlier), withheld]:
        for category_id, _, _, n in part["categories"]:
            counts[category_id] = counts.get(category_id, 0) + n
    return counts


def _year_table(year: int, k: int, withheld: dict[str, Any],
                earlier: list[dict[str, Any]]) -> dict[str, Any]:
    """The four quarters' frozen category counts added up (labels as of this quarter)."""
    by_id = _year_counts(withheld, earlier)
    counts = {label: by_id.get(cid, 0) for cid, label, _, _ in withheld["categories"]}
    total = sum(counts.values())
    shown = disclosure.suppress_breakdown(counts, counts, k)
    cells = None if all(v is None for v in shown.values()) else shown
    return {"year": year, "k": k, "received": disclosure.suppress_total(total, k),
            "received_by_category": cells}


# --- the attacker's audit ------------------------------------------------------------------


def attack_model(k: int, payloads: Sequence[dict[str, Any]],
                 protect: Collection[str] | None = None,
                 protect_years: bool = True) -> AttackModel:
    """Describe everything these publications show, as an attacker combining them would.

    Each payload contributes its quarter (totals, category and outcome cells, the
    closed share with the counts it implies, the timeliness shares with their
    unpublished denominators, which the attacker knows reach that publication's own
    k); a fourth quarter's year table adds that each year cell is the sum of the
    quarters' cells. The model checks hidden cells against ``k``: those of the
    quarters in ``protect`` (all when None) and, if ``protect_years``, the year tables'.
    """
    model = AttackModel(k)
    for payload in payloads:
        quarter = payload["published"]["quarter"]
        _add_quarter(model, payload, protect is None or quarter in protect)
    for payload in payloads:
        year = payload["published"].get("year")
        if year is not None:
            _add_year(model, payload, [p for p in payloads if p["published"]["quarter"]
                                       .startswith(f"{year['year']}-")], protect_years)
    return model


def _add_quarter(model: AttackModel, payload: dict[str, Any], protected: bool) -> None:
    public, truth = payload["published"], payload["withheld"]
    k = _payload_k(payload)  # what the attacker knows of unpublished denominators
    q = public["quarter"]
    figures = public["figures"]
    total = (q, "received")
    model.count(total, truth["received"], shown=figures["received"] is not None,
                protected=protected)
    cells = figures["received_by_category"] or {}
    parts = []
    for category_id, label, _, n in truth["categories"]:
        key = (q, "category", category_id)
        model.count(key, n, shown=cells.get(label) is not None, protected=protected)
        parts.append(key)
    model.sum_of(total, parts)
    closed = (q, "closed")
    model.count(closed, truth["closed"], shown=False, protected=False)
    model.at_most(closed, total)
    if figures["closed_share"] is not None:
        model.share(closed, total, figures["closed_share"], SHARE_HALF_WIDTH)
    outcome_keys = []
    for outcome, n in truth["outcomes"]:
        key = (q, "outcome", outcome)
        model.count(key, n, shown=figures["outcomes"].get(OUTCOMES[outcome]) is not None,
                    protected=protected)
        outcome_keys.append(key)
    model.sum_of(closed, outcome_keys)
    for name, figure in (("acknowledged", "acknowledged_within_7_days"),
                         ("fed_back", "feedback_within_3_months")):
        met, due = truth[name]
        met_key, due_key = (q, name, "met"), (q, name, "due")
        model.count(met_key, met, shown=False, protected=False)
        model.count(due_key, due, shown=False, protected=False)
        model.at_most(met_key, due_key)
        if figures[figure] is not None:
            model.add({due_key: 1}, lower=k)
            model.share(met_key, due_key, figures[figure], SHARE_HALF_WIDTH)
    _add_verdicts(model, k, q, truth.get("verdicts", {}), figures.get("verdicts") or {},
                  protected)
    themes = figures.get("themes") or {}
    for theme_id, label, _, n in truth.get("themes", []):
        key = (q, "theme", theme_id)
        model.count(key, n, shown=themes.get(label) is not None, protected=protected)
        model.at_most(key, total)  # themes overlap: each is only known to be <= the total
    groups = truth.get("groups")
    if groups:
        cells = figures.get("received_by_group") or {}
        parts = []
        for group_id, label, _, n in groups:
            key = (q, "group", "none" if group_id is None else group_id)
            model.count(key, n, shown=cells.get(label) is not None, protected=protected)
            parts.append(key)
        model.sum_of(total, parts)  # every concern in exactly one group (or not answered)


def _add_verdicts(model: AttackModel, k: int, q: str, truth: dict[str, Any],
                  figures: dict[str, Any], protected: bool) -> None:
    """Each question: its answer counts add up to its total; its share, over a hidden
    denominator the attacker knows reaches k."""
    for question, rows in truth.items():
        counts = {str(a): int(n) for a, n in rows}
        shown = figures.get(question) or {}
        cells = shown.get("answers") or {}
        total = (q, "verdict", question, "total")
        model.count(total, sum(counts.values()), shown=shown.get("total") is not None,
                    protected=protected)
        keys = {a: (q, "verdict", question, a) for a in counts}
        for answer, n in counts.items():
            model.count(keys[answer], n, shown=cells.get(answer) is not None,
                        protected=protected)
        model.sum_of(total, keys.values())
        if shown.get("share") is None:
            continue
        above, over = _verdict_parts(question, counts)
        numerator = (q, "verdict", question, "above")
        denominator = (q, "verdict", question, "over")
        model.count(numerator, sum(counts[a] for a in above), shown=False, protected=False)
        model.count(denominator, sum(counts[a] for a in over), shown=False, protected=False)
        model.sum_of(numerator, [keys[a] for a in above])
        model.sum_of(denominator, [keys[a] for a in over])
        model.add({denominator: 1}, lower=k)
        model.share(numerator, denominator, shown["share"], SHARE_HALF_WIDTH)


def _add_year(model: AttackModel, payload: dict[str, Any],
              quarters: Sequence[dict[str, Any]], protected: bool) -> None:
    year = payload["published"]["year"]
    y = ("year", year["year"])
    by_id = _year_counts(payload["withheld"], [p for p in quarters if p is not payload])
    total = (*y, "received")
    model.count(total, sum(by_id.values()), shown=year["received"] is not None,
                protected=protected)
    model.sum_of(total, [(p["published"]["quarter"], "received") for p in quarters])
    cells = year["received_by_category"] or {}
    parts = []
    for category_id, label, _, _ in payload["withheld"]["categories"]:
        key = (*y, "category", category_id)
        model.count(key, by_id.get(category_id, 0), shown=cells.get(label) is not None,
                    protected=protected)
        parts.append(key)
        model.sum_of(key, [
            (p["published"]["quarter"], "category", category_id) for p in quarters
            if any(c[0] == category_id for c in p["withheld"]["categories"])
        ])  # fmt: skip
    model.sum_of(total, parts)


def audit_publications(k: int, payloads: Sequence[dict[str, Any]]) -> AuditReport:
    """Audit these publications together, every hidden cell checked against ``k``."""
    return audit_model(attack_model(k, payloads))


def audit_with_their_own_k(payloads: Sequence[dict[str, Any]]) -> AuditReport:
    """Audit publications together, each quarter's hidden cells against the k it was
    published with, and the year tables against the largest k of all (a year table adds
    up quarters published under each of them). A later change of k changes nothing here.
    """
    by_k: dict[int, set[str]] = {}
    for payload in payloads:
        by_k.setdefault(_payload_k(payload), set()).add(payload["published"]["quarter"])
    largest = max(by_k)
    report = None
    for k in sorted(by_k):
        report = audit_model(attack_model(k, payloads, protect=by_k[k],
                                          protect_years=k == largest))
        if not report.ok:
            return report
    assert report is not None
    return report


def _audit_until_safe(payload: dict[str, Any], earlier: list[dict[str, Any]]) -> list[str]:
    """Audit; while anything hidden can be narrowed down, hide more. Return what was hidden."""
    hidden_more: list[str] = []
    while True:
        report = audit_with_their_own_k([*earlier, payload])
        if report.ok:
            return hidden_more
        step = _hide_more(payload, earlier, report)
        if step is None:
            keys = ", ".join(repr(e.key) for e in report.exposures)
            raise StatsPublicationError(
                f"{payload['published']['quarter']}: cannot hide enough to protect {keys}."
            )
        hidden_more.append(step)


def _hide_more(payload: dict[str, Any], earlier: list[dict[str, Any]],
               report: AuditReport) -> str | None:
    """Hide the exposed breakdown's next smallest shown cell, or the whole breakdown."""
    public, truth = payload["published"], payload["withheld"]
    q, figures = public["quarter"], public["figures"]
    kinds = {_kind(e.key, q) for e in report.exposures}
    if "verdict" in kinds and _hide_verdict(figures.get("verdicts") or {}, truth, report, q):
        return "a verdict figure"
    if "theme" in kinds and figures.get("themes"):
        counts = {label: n for _, label, _, n in truth.get("themes", [])}
        if _hide_smallest(figures["themes"], counts):
            if all(v is None for v in figures["themes"].values()):
                figures["themes"] = None
            return "a theme cell"
    if "group" in kinds and figures.get("received_by_group"):
        counts = {label: n for _, label, _, n in truth.get("groups", [])}
        if _hide_smallest(figures["received_by_group"], counts):
            if all(v is None for v in figures["received_by_group"].values()):
                figures["received_by_group"] = None
            return "a professional group cell"
    if "outcome" in kinds:
        counts = {OUTCOMES[o]: n for o, n in truth["outcomes"]}
        if _hide_smallest(figures["outcomes"], counts):
            return "an outcome cell"
        if figures["closed_share"] is not None:
            figures["closed_share"] = None
            return "the closed share"
    if "category" in kinds and figures["received_by_category"] is not None:
        counts = {label: n for _, label, _, n in truth["categories"]}
        if _hide_smallest(figures["received_by_category"], counts):
            if all(v is None for v in figures["received_by_category"].values()):
                figures["received_by_category"] = None  # the total alone, as _decide does
            return "a category cell"
    year = public.get("year")
    if year is not None:
        if year["received_by_category"] is not None:
            counts = _year_counts(truth, earlier)
            by_label = {label: counts.get(cid, 0) for cid, label, _, _ in truth["categories"]}
            if _hide_smallest(year["received_by_category"], by_label):
                if all(v is None for v in year["received_by_category"].values()):
                    year["received_by_category"] = None
                return "a year category cell"
            year["received_by_category"] = None
            return "the year table"
        if year["received"] is not None:
            year["received"] = None
            return "the year total"
    return None


def _hide_verdict(figures: dict[str, Any], truth: dict[str, Any], report: AuditReport,
                  q: str) -> bool:
    """Hide the exposed question's share first (it is what the heuristics do not check),
    then its smallest shown answer, then its total."""
    exposed = [e.key[2] for e in report.exposures if _kind(e.key, q) == "verdict"]
    for question in dict.fromkeys(exposed):
        shown = figures.get(question)
        if not shown:
            continue
        if shown["share"] is not None:
            shown["share"] = None
            return True
        counts = {str(a): int(n) for a, n in truth["verdicts"][question]}
        if shown["answers"] is not None and _hide_smallest(shown["answers"], counts):
            if all(v is None for v in shown["answers"].values()):
                shown["answers"] = None
            return True
        if shown["total"] is not None:
            shown["total"] = None
            return True
    return False


def _kind(key: Hashable, quarter: str) -> str:
    if isinstance(key, tuple) and key and key[0] == quarter and len(key) > 1:
        if key[1] in ("verdict", "theme", "group"):
            return str(key[1])
        return "outcome" if key[1] in ("outcome", "closed") else "category"
    return "year"


def _hide_smallest(cells: dict[str, int | None], counts: dict[str, int]) -> bool:
    shown = sorted((counts[label], label) for label, v in cells.items() if v is not None)
    if not shown:
        return False
    cells[shown[0][1]] = None
    return True
