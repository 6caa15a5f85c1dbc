"""The guardian's quarterly return: the professional-group question, the exact return
for handlers (page and CSV, audited), the handling analytics, and the publication."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import html
import io
import json
import re
import secrets

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, post_form, submit
from sqlalchemy import select

from concerns import group_marks, guardian_return, professional_groups, publication, services
from concerns.config import add_months
from concerns.models import (
    EXCLUDED_OUTCOMES,
    Concern,
    ConcernGroupMark,
    ConcernStatsPublication,
    ConcernThemeTag,
    ProfessionalGroup,
)
from concerns.stats import published_stats, quarter_label, quarter_of
from concerns.themes import list_themes
from speakup.models import AuditEntry
from speakup.web import services as app_services

K = 5
TODAY = dt.date(2026, 3, 2)  # the frozen clock's date
DEFAULT_GROUPS = [
    "Registered nurses and midwives", "Medical and dental", "Allied health professionals",
    "Additional clinical services (for example healthcare assistants)",
    "Administrative and clerical", "Estates and ancillary", "Healthcare scientists",
    "Additional professional scientific and technical", "Students",
    "Not known / prefer not to say",
]
NURSES, MEDICAL, STUDENTS = DEFAULT_GROUPS[0], DEFAULT_GROUPS[1], DEFAULT_GROUPS[8]
SAFETY, WORKER, BULLYING, ATTITUDES, DETRIMENT = (
    "Element of patient safety or quality", "Worker safety or wellbeing",
    "Bullying or harassment", "Inappropriate attitudes or behaviours", "Detriment indicated")
D = dt.date


@pytest.fixture
def reporter(app):
    return app.test_client()


def _group_ids(session):
    return {g.label: g.id for g in professional_groups.list_groups(session, active_only=False)}


def _add(session, received, *, group=None, themes=(), ack=None, replied=None, closed=None,
         outcome=None):
    """A concern with the dates given (deadlines as submission sets them), and its group's
    unlinked mark, uncounted for spam and duplicates as a handler's marking leaves it."""
    status = "closed" if closed else ("acknowledged" if ack else "new")
    concern = Concern(
        id=secrets.token_hex(5), category_id=1, status=status, received_on=received,
        acknowledge_by=received + dt.timedelta(days=7), feedback_by=add_months(received, 3),
        acknowledged_on=ack, first_replied_on=replied, closed_on=closed,
        outcome=(outcome or "resolved") if closed else None, last_seq=1)
    session.add(concern)
    if group:
        session.add(ConcernGroupMark(
            id=group_marks.new_mark_id(), quarter=quarter_label(*quarter_of(received)),
            group_id=_group_ids(session)[group], counted=outcome not in EXCLUDED_OUTCOMES))
    session.flush()
    theme_ids = {t.label: t.id for t in list_themes(session, active_only=False)}
    session.add_all(ConcernThemeTag(concern_id=concern.id, theme_id=theme_ids[t])
                    for t in themes)
    session.flush()
    return concern


def _fixture(session):
    """Hand-counted concerns over three quarters (today is 2 March 2026).

    2025-Q4 counts A, B, C, D, F, J (E is spam); G and I are 2025-Q3, H 2025-Q2, K 2026-Q1.
    """
    _add(session, D(2025, 10, 3), group=NURSES, themes=[BULLYING, DETRIMENT],  # A
         ack=D(2025, 10, 5), replied=D(2025, 10, 20), closed=D(2025, 11, 1))
    _add(session, D(2025, 11, 9), group=MEDICAL, themes=[BULLYING],  # B: 4 and 30 days
         ack=D(2025, 11, 13), replied=D(2025, 12, 9))
    _add(session, D(2025, 12, 1), group=NURSES, themes=[WORKER],  # C: feedback due 1 March
         ack=D(2025, 12, 10))
    _add(session, D(2025, 12, 30))  # D: never acknowledged; feedback due 30 March
    _add(session, D(2025, 12, 1), group=STUDENTS, themes=[BULLYING],  # E: spam
         closed=D(2025, 12, 2), outcome="spam")
    _add(session, D(2025, 10, 10), group=STUDENTS,  # F: closed after the quarter ended
         ack=D(2025, 10, 11), replied=D(2025, 10, 12), closed=D(2026, 1, 15))
    _add(session, D(2025, 11, 30), group=MEDICAL, ack=D(2025, 11, 30))  # J: feedback due 28 Feb
    _add(session, D(2025, 7, 15), group=MEDICAL, themes=[SAFETY],  # G
         ack=D(2025, 7, 16), replied=D(2025, 8, 1))
    _add(session, D(2025, 8, 1), ack=D(2025, 8, 2), closed=D(2025, 9, 1),  # I
         outcome="not_upheld")
    _add(session, D(2025, 6, 20), ack=D(2025, 6, 21))  # H
    _add(session, D(2026, 2, 25))  # K: acknowledgement due 4 March


# 2025-Q4 counted by hand from _fixture.
Q4_RETURN = {
    "Cases raised": 6, "Raised anonymously": 6,
    SAFETY: 0, WORKER: 1, BULLYING: 2, ATTITUDES: 0, DETRIMENT: 1,
    **dict.fromkeys(DEFAULT_GROUPS, 0), NURSES: 2, MEDICAL: 2, STUDENTS: 1, "Not answered": 1,
    # acknowledged after 2, 4, 9, 1 and 0 days (A, B, C, F, J); D not yet, overdue
    "Median days to acknowledge": 2,
    "Not yet acknowledged, overdue": 1, "Not yet acknowledged, not yet due": 0,
    # first replies after 17, 30 and 2 days (A, B, F); C and J overdue, D not yet due
    "Median days to first feedback": 17,
    "No feedback yet, overdue": 2, "No feedback yet, not yet due": 1,
    # open on 31 December 2025: C, D | B, F, J (30 November is one month) | G | H
    "Open, under 1 month old": 2, "Open, 1 to 3 months old": 3,
    "Open, 3 to 6 months old": 1, "Open, over 6 months old": 1,
}


def test_the_migration_seeds_the_guardians_professional_groups(session):
    assert [g.label for g in professional_groups.list_groups(session)] == DEFAULT_GROUPS


def test_return_figures_match_the_hand_count(session):
    _fixture(session)
    result = guardian_return.guardian_return(session, "2025-Q4", TODAY)
    assert result.as_of == D(2025, 12, 31)
    assert {f.label: f.value for f in result.figures} == Q4_RETURN
    # The groups partition the cases raised; the themes overlap and need not.
    assert sum(f.value for f in result.section(guardian_return.GROUPS)) == 6


def test_current_quarter_counts_open_cases_today_and_not_yet_due_deadlines(session):
    _fixture(session)
    result = guardian_return.guardian_return(session, "2026-Q1", TODAY)
    assert result.as_of == TODAY
    figures = {f.label: f.value for f in result.figures}
    assert figures["Cases raised"] == 1 and figures["Not answered"] == 1
    # K was received on 25 February: acknowledgement due 4 March, so not yet due.
    assert figures["Median days to acknowledge"] is None
    assert figures["Not yet acknowledged, overdue"] == 0
    assert figures["Not yet acknowledged, not yet due"] == 1
    assert figures["No feedback yet, not yet due"] == 1
    # Open on 2 March 2026 (F closed on 15 January): K | D | B, C, J | G, H
    assert [figures[name] for name, _, _ in guardian_return.AGE_BANDS] == [1, 1, 3, 2]


def _csv_rows(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def _audit(session, action):
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)))


def test_handler_downloads_the_csv_equal_to_the_hand_count_and_it_is_audited(
        client, session, login_as):
    _fixture(session)
    session.commit()
    handler = login_as("handler")
    response = client.get("/handle/return.csv?quarter=2025-Q4")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "speakup-guardian-return-2025-Q4.csv" in response.headers["Content-Disposition"]
    rows = _csv_rows(response)
    assert rows[0] == ["quarter", "section", "figure", "value", "definition"]
    assert {r[2]: float(r[3]) if r[3] else None for r in rows[1:]} == Q4_RETURN
    assert all(r[0] == "2025-Q4" and r[4] for r in rows[1:])  # every figure defined
    (entry,) = _audit(session, guardian_return.EXPORT_ACTION)
    assert (entry.actor, entry.subject) == (handler.user.email, "2025-Q4")
    assert json.loads(entry.detail)["format"] == "csv"
    assert client.get("/handle/return.csv?quarter=2025-Q5").status_code == 400
    assert client.get("/handle/return.csv?quarter=%0d2025-Q4").status_code == 400
    assert len(_audit(session, guardian_return.EXPORT_ACTION)) == 1


def _cells(page):
    """(row heading, value) of every figure row on the printable page."""
    return {html.unescape(h): v for h, v in re.findall(
        r'<tr><th scope="row">([^<]+)</th><td class="number">([^<]*)</td>', page)}


def test_printable_page_shows_every_figure_and_definition_and_is_audited(
        client, session, login_as):
    _fixture(session)
    session.commit()
    handler = login_as("handler")
    chooser = client.get("/handle/return")
    assert chooser.status_code == 200
    assert "2025-Q4" in chooser.get_data(as_text=True)
    assert _audit(session, guardian_return.EXPORT_ACTION) == []  # nothing shown yet
    response = client.get("/handle/return?quarter=2025-Q4")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert _cells(page) == {label: str(v) for label, v in Q4_RETURN.items()}
    result = guardian_return.guardian_return(session, "2025-Q4", TODAY)
    for figure in result.figures:
        assert figure.definition in page
    assert "always equals the cases raised" in page  # why anonymous == raised
    assert "media=\"print\"" in page and "no-print" in page
    (entry,) = _audit(session, guardian_return.EXPORT_ACTION)
    assert entry.actor == handler.user.email and json.loads(entry.detail)["format"] == "page"


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_only_handlers_reach_the_return(client, session, login_as, role):
    login_as(role)
    for url in ("/handle/return", "/handle/return?quarter=2025-Q4",
                "/handle/return.csv?quarter=2025-Q4"):
        assert client.get(url).status_code == 403
    assert _audit(session, guardian_return.EXPORT_ACTION) == []


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/handle/return.csv?quarter=2025-Q4")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the question on the form ----------------------------------------------------------------


def test_form_offers_only_the_configured_groups_and_stores_the_choice(
        reporter, session, clock, concern_config, recovery_key, make_handler):
    handler = make_handler()
    ids = _group_ids(session)
    professional_groups.update_group(session, clock, ids[STUDENTS], label=STUDENTS,
                                     active=False, actor="admin")
    session.commit()
    page = reporter.get("/concerns/new").get_data(as_text=True)
    offered = re.findall(r'<option[^>]*value="([^"]*)"', page)
    assert offered == ["", *(str(ids[g]) for g in DEFAULT_GROUPS if g != STUDENTS)]
    assert "Your professional group (optional)" in page
    response = submit(reporter, extra={"professional_group": str(ids[MEDICAL])})
    assert response.status_code == 200
    response = submit(reporter)  # left unanswered
    assert response.status_code == 200
    # One unlinked mark, for the answered one: its quarter and group, nothing else.
    (mark,) = session.scalars(select(ConcernGroupMark))
    assert (mark.quarter, mark.group_id, mark.counted) == ("2026-Q1", ids[MEDICAL], True)
    # The handler reads the answer inside the encrypted report, and only there.
    shown = {}
    for concern_id in session.scalars(select(Concern.id)):
        view = services.read_concern(session, clock, concern_config, handler.user, concern_id,
                                     handler.private_key)
        report = view.conversation.messages[0].body
        shown[report.get(group_marks.MARK_FIELD)] = view.professional_group
    assert shown == {mark.id: MEDICAL, None: None}


@pytest.mark.parametrize("value", ["retired", "9999", "abc", " 1", "１"])
def test_form_refuses_other_groups_with_a_clear_error_keeping_the_text(
        reporter, session, clock, recovery_key, make_handler, value):
    make_handler()
    ids = _group_ids(session)
    professional_groups.update_group(session, clock, ids[STUDENTS], label=STUDENTS,
                                     active=False, actor="admin")
    session.commit()
    sent = str(ids[STUDENTS]) if value == "retired" else value
    response = submit(reporter, text="The rota is unfair to some of us.",
                      extra={"professional_group": sent})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert professional_groups.CHOOSE_GROUP in page
    assert 'id="professional_group-error"' in page  # at the field, and in the summary
    assert 'href="#professional_group"' in page
    assert "The rota is unfair to some of us." in page
    assert session.scalar(select(Concern.id)) is None


def test_with_every_group_retired_the_question_is_not_asked(
        reporter, session, clock, recovery_key, make_handler):
    make_handler()
    for group_id in _group_ids(session).values():
        professional_groups.update_group(session, clock, group_id,
                                         label=session.get(ProfessionalGroup, group_id).label,
                                         active=False, actor="admin")
    session.commit()
    page = reporter.get("/concerns/new").get_data(as_text=True)
    assert "Your professional group (optional)" not in page
    assert '<select id="professional_group"' not in page
    assert submit(reporter).status_code == 200


def test_admin_adds_renames_and_retires_groups_audited(client, session, login_as):
    login_as("admin")
    ids = _group_ids(session)
    response = post_form(client, f"/admin/concern-professional-groups/{ids[STUDENTS]}",
                         {"label": "Students and trainees"})
    assert response.status_code == 302
    group = session.get(ProfessionalGroup, ids[STUDENTS])
    session.refresh(group)
    assert group.label == "Students and trainees" and not group.active
    assert post_form(client, "/admin/concern-professional-groups/",
                     {"label": "Volunteers"}).status_code == 302
    response = post_form(client, "/admin/concern-professional-groups/", {"label": "volunteers"})
    assert response.status_code == 400 and "already exists" in response.get_data(as_text=True)
    response = post_form(client, "/admin/concern-professional-groups/",
                         {"label": "Not answered"})
    assert response.status_code == 400
    assert [e.action for e in session.scalars(select(AuditEntry).where(
        AuditEntry.action.like("professional_group.%")).order_by(AuditEntry.id))] == [
        "professional_group.update", "professional_group.create"]
    assert "Volunteers" in [g.label for g in professional_groups.list_groups(session)]


def test_handler_and_reviewer_cannot_edit_the_group_list(client, login_as):
    login_as("handler")
    assert client.get("/admin/concern-professional-groups/").status_code == 403


# --- the publication -----------------------------------------------------------------------


def test_reviewers_see_groups_only_through_the_publication_above_k(session, clock, client,
                                                                    login_as):
    # 2025-Q4: 12 concerns: 7 nurses, 3 medical, 2 not answered.
    for i in range(12):
        group = NURSES if i < 7 else (MEDICAL if i < 10 else None)
        _add(session, D(2025, 11, 1 + i), group=group)
    session.commit()
    login_as("reviewer")
    before = client.get("/review/mechanisms.json").get_json()
    assert not any(r.get("group") for t in before["tables"] if t["id"] == "concerns_by_group"
                   for r in t["rows"])  # nothing live: the quarter is not published yet
    published = publication.publish_quarter(session, clock, "2025-Q4", TODAY, k=K,
                                            grace_days=14, actor="test")
    session.commit()
    q = next(q for q in published_stats(session, K, TODAY).quarters if q.quarter == "2025-Q4")
    assert q.received == 12
    # 3 and 2 are below k; hidden together they hold 5, so nothing more is hidden.
    assert q.professional_groups == {**dict.fromkeys(DEFAULT_GROUPS), NURSES: 7,
                                     "Not answered": None}
    assert published.hidden_by_audit == ()
    body = client.get("/review/mechanisms.json").get_json()
    rows = {r["group"]: r["concerns"] for t in body["tables"] if t["id"] == "concerns_by_group"
            for r in t["rows"] if r["quarter"] == "2025-Q4"}
    assert rows[NURSES] == 7 and all(v is None or v >= K for v in rows.values())
    page = client.get("/review/mechanisms").get_data(as_text=True)
    assert "Concerns by professional group" in page
    # A concern raised after publication changes nothing a reviewer sees.
    _add(session, D(2025, 11, 20), group=NURSES)
    session.commit()
    assert client.get("/review/mechanisms.json").get_json() == body
    payload = copy.deepcopy(session.get(ConcernStatsPublication, "2025-Q4").payload)
    assert publication.audit_publications(K, [payload]).ok
    # The handlers' first-feedback median and open cases by age are not published.
    assert set(payload["published"]["figures"]) == {
        "received", "received_by_category", "median_days_to_acknowledge",
        "acknowledged_within_7_days", "feedback_within_3_months", "closed_share", "outcomes",
        "verdicts", "themes", "received_by_group"}


def test_the_audit_catches_a_group_cell_recoverable_by_subtraction(session, clock):
    for i in range(12):
        _add(session, D(2025, 11, 1 + i), group=NURSES if i < 9 else MEDICAL)
    publication.publish_quarter(session, clock, "2025-Q4", TODAY, k=K, grace_days=14,
                                actor="test")
    payload = copy.deepcopy(session.get(ConcernStatsPublication, "2025-Q4").payload)
    figures = payload["published"]["figures"]
    # The heuristics hid medical (3) and "not answered" (0) ... and one more cell.
    assert figures["received_by_group"] is None or figures["received_by_group"][MEDICAL] is None
    # Under-suppressed on purpose: nurses shown with the total, medical alone hidden.
    figures["received_by_group"] = {**dict.fromkeys(DEFAULT_GROUPS, 0), NURSES: 9,
                                    MEDICAL: None, "Not answered": 0}
    report = publication.audit_publications(K, [payload])
    assert not report.ok and any(e.key[1] == "group" for e in report.exposures)


def test_the_wait_page_keeps_the_chosen_group(reporter, app, session, recovery_key,
                                              make_handler):
    make_handler()
    medical = _group_ids(session)[MEDICAL]
    session.commit()
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(concerns_per_minute=1)
    assert submit(reporter, text="first").status_code == 200
    response = submit(reporter, text="second", extra={"professional_group": str(medical)})
    assert response.status_code == 429
    fields = hidden_fields(response.get_data(as_text=True))
    assert fields["professional_group"] == str(medical)
