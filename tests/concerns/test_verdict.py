"""The reporters' verdict: unlinked answers, replaceable with the receipt, published above k."""

from __future__ import annotations

import copy
import datetime as dt
import re
import secrets

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_fixtures import CHEAP_ARGON2
from concern_helpers import hidden_fields, receipt_from, submit
from conftest import REPO, TEST_SECRET, add_concern_reader
from playwright.sync_api import sync_playwright
from sqlalchemy import func, inspect, select, text

from concerns import keys as concern_keys
from concerns import publication, services, verdict
from concerns.config import ConcernConfig
from concerns.demo import seed_demo_concerns
from concerns.models import Concern, ConcernStatsPublication, ConcernVerdict
from concerns.stats import MechanismStats, QuarterStats, published_stats
from review.safety import checked_mechanism_stats
from speakup import migrate
from speakup.clock import FrozenClock, SystemClock
from speakup.db import erasure_requested, make_engine, make_session_factory
from speakup.settings import Settings
from speakup.web import services as app_services

K = 5
TODAY = dt.date(2026, 3, 2)  # the frozen clock's date: 2026-Q1
VERDICT_COLUMNS = {"id", "quarter", "stage", "speak_again", "felt_safe", "kept_informed",
                   "counted"}


def _check(client, receipt):
    html = client.get("/concerns/check").get_data(as_text=True)
    return client.post("/concerns/check", data={"csrf_token": hidden_fields(html)["csrf_token"],
                                                "receipt": receipt})


def _raise(client, session):
    receipt = receipt_from(submit(client).get_data(as_text=True))
    concern = session.scalar(select(Concern).order_by(Concern.id.desc()))
    return receipt, concern


def _replied(session, concern, *, closed=False):
    concern.first_replied_on = dt.date(2026, 2, 20)
    concern.acknowledged_on = dt.date(2026, 2, 20)
    concern.status = "acknowledged"
    if closed:
        concern.status, concern.outcome, concern.closed_on = "closed", "resolved", TODAY
    session.commit()


def _answer(client, receipt, **answers):
    page = _check(client, receipt).get_data(as_text=True)
    fields = _verdict_fields(page)
    return client.post("/concerns/verdict", data={**fields, **answers})


def _verdict_fields(page):
    form = re.search(r'<form[^>]*action="/concerns/verdict".*?</form>', page, re.S)
    assert form, "no verdict form on the page"
    return hidden_fields(form.group(0))


def _rows(session):
    return list(session.scalars(select(ConcernVerdict)))


# --- no link ---------------------------------------------------------------------------


def test_verdict_table_holds_no_column_that_could_link_to_a_concern(session, backend):
    table = inspect(session.get_bind()).get_columns("concern_verdicts")
    assert {c["name"] for c in table} == VERDICT_COLUMNS
    assert inspect(session.get_bind()).get_foreign_keys("concern_verdicts") == []
    if backend == "sqlite":
        sql = session.scalar(text("SELECT sql FROM sqlite_master WHERE name='concern_verdicts'"))
        assert "WITHOUT ROWID" in sql.upper()


def test_a_database_dump_links_no_verdict_to_its_concern(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    assert _answer(client, receipt, speak_again="yes", felt_safe="4").status_code == 200
    session.expire_all()
    (row,) = _rows(session)
    concern = session.get(Concern, concern.id)
    assert concern.sealed_verdicts is not None
    # The row: the quarter, the stage and the answers, nothing of the concern.
    values = {c: getattr(row, c) for c in VERDICT_COLUMNS}
    assert values["quarter"] == "2026-Q1" and values["stage"] == "after_reply"
    dump = repr(values)
    for secret in (concern.id, concern.receipt_hash.hex(), "2026-03-02", "2026-02-20"):
        assert secret not in dump
    # Every other table: the verdict's id appears nowhere in plain text or bytes.
    bind = session.get_bind()
    for name in inspect(bind).get_table_names():
        if name == "concern_verdicts":
            continue
        for record in session.execute(text(f'SELECT * FROM "{name}"')):
            for value in record:
                if isinstance(value, str):
                    assert row.id not in value, name
                elif isinstance(value, (bytes, memoryview)):
                    assert row.id.encode() not in bytes(value), name
                    assert bytes.fromhex(row.id) not in bytes(value), name


# --- answering -------------------------------------------------------------------------


def test_questions_open_only_after_a_reply_and_again_at_closing(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    page = _check(client, receipt).get_data(as_text=True)
    assert "/concerns/verdict" not in page  # no reply yet: nothing to judge
    _replied(session, concern)
    page = _check(client, receipt).get_data(as_text=True)
    assert _verdict_fields(page)["stage"] == "after_reply"
    assert "Given your experience, would you speak up again?" in page
    _replied(session, concern, closed=True)
    page = _check(client, receipt).get_data(as_text=True)
    assert _verdict_fields(page)["stage"] == "at_closing"


def test_a_stage_that_is_not_open_stores_nothing(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    page = _check(client, receipt).get_data(as_text=True)
    response = client.post("/concerns/verdict", data={**_verdict_fields(page),
                                                      "stage": "at_closing",
                                                      "speak_again": "no"})
    assert response.status_code == 400
    assert "not open for your concern" in response.get_data(as_text=True)
    assert _rows(session) == []


def test_changing_ones_mind_replaces_the_earlier_answer(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    _answer(client, receipt, speak_again="no", felt_safe="2")
    (first,) = _rows(session)
    first_id = first.id
    response = _answer(client, receipt, speak_again="maybe", kept_informed="5")
    assert response.status_code == 200
    assert "your answers have been saved" in response.get_data(as_text=True)
    session.expire_all()
    (row,) = _rows(session)  # still one per stage
    assert row.id != first_id and session.get(ConcernVerdict, first_id) is None
    assert (row.speak_again, row.felt_safe, row.kept_informed) == ("maybe", None, 5)
    # The page shows the reporter their current answers.
    page = _check(client, receipt).get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="maybe"|value="maybe"[^>]*checked', page)


def test_each_stage_keeps_its_own_answer_and_a_concern_counts_once_a_quarter(
        client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    _answer(client, receipt, speak_again="no")
    _replied(session, concern, closed=True)
    _answer(client, receipt, speak_again="yes")
    session.expire_all()
    rows = {r.stage: r for r in _rows(session)}
    assert set(rows) == {"after_reply", "at_closing"}
    assert not rows["after_reply"].counted and rows["at_closing"].counted
    counts = dict(verdict.verdict_counts(session, "2026-Q1")["speak_again"])
    assert counts == {"yes": 1, "maybe": 0, "no": 0, "prefer_not": 0}


def test_errors_keep_the_choices_and_nothing_chosen_is_refused(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    response = _answer(client, receipt, speak_again="yes", felt_safe="7")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose one of the answers offered." in page
    assert re.search(r'<input checked[^>]*value="yes"|value="yes"[^>]*checked', page)
    response = _answer(client, receipt)
    assert response.status_code == 400
    assert "Choose an answer to at least one question." in response.get_data(as_text=True)
    assert _rows(session) == []


def test_an_expired_form_keeps_the_choices_and_saves_nothing(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    fields = _verdict_fields(_check(client, receipt).get_data(as_text=True))
    response = client.post("/concerns/verdict", data={
        **fields, "csrf_token": "expired-or-reused", "speak_again": "maybe", "felt_safe": "2"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "your answers were not saved just now" in page
    assert re.search(r'<input checked[^>]*value="maybe"|value="maybe"[^>]*checked', page)
    assert re.search(r'<input checked[^>]*value="2"|value="2"[^>]*checked', page)
    assert _rows(session) == []
    # The page carries a fresh token and the receipt: pressing the button again saves.
    retry = client.post("/concerns/verdict", data={**_verdict_fields(page),
                                                   "speak_again": "maybe", "felt_safe": "2"})
    assert retry.status_code == 200
    session.expire_all()
    (row,) = _rows(session)
    assert (row.speak_again, row.felt_safe) == ("maybe", 2)


def test_replacing_asks_for_the_old_row_to_be_erased(session, clock, concern_config,
                                                     recovery_key):
    receipt, concern_id = services.submit_concern(
        session, clock, concern_config, category_id="1", what_happened="Something happened.")
    concern = session.get(Concern, concern_id)
    concern.first_replied_on = dt.date(2026, 2, 1)
    keys_ = services.receipt_keys(concern_config, receipt)
    args = (session, clock, concern_config, keys_.lookup, keys_.private_key)
    verdict.record_verdict(*args, stage="after_reply", answers=verdict.Answers("yes"))
    assert "concern_verdicts" not in erasure_requested(session)
    verdict.record_verdict(*args, stage="after_reply", answers=verdict.Answers("no"))
    assert "concern_verdicts" in erasure_requested(session)
    assert session.scalar(select(func.count()).select_from(ConcernVerdict)) == 1
    # Another receipt's key cannot open the link.
    other = services.receipt_keys(concern_config, "ABCD-EFGH-JKMN-PQRS-TVWX")
    with pytest.raises(Exception):  # noqa: B017, PT011 - any decryption failure
        verdict.my_verdicts(session, keys_.lookup, other.private_key)


def test_a_replaced_answer_is_gone_from_every_file_of_the_instance(tmp_path):
    """The attacker's side: a copy of instance/ after a change of mind holds no old row."""
    instance = tmp_path / "instance"
    instance.mkdir()
    url = f"sqlite:///{instance / 'speakup.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    config = ConcernConfig.from_settings(Settings(database_url=url, secret_key=TEST_SECRET)
                                         ).with_changes(argon2=CHEAP_ARGON2)
    clock = FrozenClock()
    factory = make_session_factory(engine)
    with factory() as session:
        concern_keys.create_recovery_key(session, clock, config, actor="test")
        add_concern_reader(session, clock, config)
        receipt, concern_id = services.submit_concern(
            session, clock, config, category_id="1", what_happened="Something happened.")
        session.get(Concern, concern_id).first_replied_on = dt.date(2026, 2, 1)
        keys_ = services.receipt_keys(config, receipt)
        args = (session, clock, config, keys_.lookup, keys_.private_key)
        verdict.record_verdict(*args, stage="after_reply", answers=verdict.Answers("yes"))
        session.commit()
        (old_id,) = session.scalars(select(ConcernVerdict.id))
        verdict.record_verdict(*args, stage="after_reply", answers=verdict.Answers("no"))
        session.commit()
        (new_id,) = session.scalars(select(ConcernVerdict.id))
        # Copied while the server still runs: closing the last connection would
        # checkpoint and remove the -wal file and hide what it held.
        files = {p.name: p.read_bytes() for p in instance.iterdir() if p.is_file()}
    engine.dispose()
    assert any(new_id.encode() in data for data in files.values())  # the scan sees rows
    assert [name for name, data in files.items() if old_id.encode() in data] == []


# --- publication -----------------------------------------------------------------------


def _verdicts(session, quarter, question, counts):
    for answer, n in counts.items():
        for _ in range(n):
            value = answer if question == "speak_again" else int(answer)
            session.add(ConcernVerdict(id=secrets.token_hex(16), quarter=quarter,
                                       stage="at_closing", counted=True, **{question: value}))


def _publish(session, clock, label="2025-Q4"):
    session.flush()
    return publication.publish_quarter(session, clock, label, TODAY, k=K, grace_days=14,
                                       actor="test")


def _q(session, label="2025-Q4"):
    return next(q for q in published_stats(session, K, TODAY).quarters if q.quarter == label)


def test_shares_above_k_are_published_as_hand_computed(session, clock):
    _verdicts(session, "2025-Q4", "speak_again", {"yes": 7, "maybe": 5})
    _verdicts(session, "2025-Q4", "felt_safe", {"2": 5, "4": 5, "5": 5})
    _verdicts(session, "2025-Q4", "kept_informed", {"4": 3})
    # Not counted (the concern answered again at closing in the quarter): left out.
    session.add(ConcernVerdict(id=secrets.token_hex(16), quarter="2025-Q4", stage="after_reply",
                               counted=False, speak_again="no"))
    published = _publish(session, clock)
    assert published.hidden_by_audit == ()
    q = _q(session)
    assert q.would_speak_up_again == 0.583  # 7 of 12 (no "prefer not to say")
    assert q.felt_safe_favourable == 0.667  # 10 of 15 agree or strongly agree
    assert q.kept_informed_favourable is None  # 3 answers: below k
    assert q.verdict_totals == {"speak_again": 12, "felt_safe": 15, "kept_informed": None}
    assert q.verdict_answers["speak_again"] == {"yes": 7, "maybe": 5, "no": None,
                                                "prefer_not": None}
    assert "kept_informed" not in q.verdict_answers
    assert publication.audit_publications(K, [session.get(ConcernStatsPublication,
                                                          "2025-Q4").payload]).ok


def test_below_k_nothing_of_the_verdict_is_shown(session, clock):
    _verdicts(session, "2025-Q4", "speak_again", {"yes": 2, "no": 2})
    _publish(session, clock)
    q = _q(session)
    assert q.would_speak_up_again is None
    assert q.verdict_totals["speak_again"] is None and q.verdict_answers == {}


def test_prefer_not_to_say_leaves_the_share_and_the_audit_hides_what_would_pin_it(
        session, clock):
    # yes 6, maybe 2, no 1, prefer not 3: 12 answers; the share's denominator is 9.
    _verdicts(session, "2025-Q4", "speak_again", {"yes": 6, "maybe": 2, "no": 1,
                                                  "prefer_not": 3})
    payload = publication._decide("2025-Q4", dt.date(2026, 1, 14), K, {
        **publication._true_counts(session, 2025, 4, dt.date(2026, 1, 14))}, [])
    assert payload["figures"]["verdicts"]["speak_again"]["share"] == 0.667  # 6 / 9
    published = _publish(session, clock)
    # 12 shown, yes 6 shown, 6 / x = 0.667 gives x = 9: "prefer not to say" (3) pinned.
    assert "a verdict figure" in published.hidden_by_audit
    q = _q(session)
    assert q.would_speak_up_again is None and q.verdict_totals["speak_again"] == 12
    assert q.verdict_answers["speak_again"]["yes"] == 6


def test_the_audit_catches_an_under_suppressed_verdict_share(session, clock):
    _verdicts(session, "2025-Q4", "speak_again", {"yes": 6, "maybe": 2, "no": 1,
                                                  "prefer_not": 3})
    _publish(session, clock)
    payload = copy.deepcopy(session.get(ConcernStatsPublication, "2025-Q4").payload)
    assert publication.audit_publications(K, [payload]).ok
    payload["published"]["figures"]["verdicts"]["speak_again"]["share"] = 0.667
    report = publication.audit_publications(K, [payload])
    assert not report.ok
    assert any(e.key[1] == "verdict" for e in report.exposures)


def test_old_payloads_without_verdicts_read_as_not_published(session, clock):
    _publish(session, clock)
    row = session.get(ConcernStatsPublication, "2025-Q4")
    payload = copy.deepcopy(row.payload)
    for key in ("verdicts", "themes"):
        payload["published"]["figures"].pop(key)
        payload["withheld"].pop(key)
    row.payload = payload
    session.flush()
    q = _q(session)
    assert q.published and q.would_speak_up_again is None and q.verdict_totals == {}
    assert q.themes is None
    assert publication.audit_publications(K, [payload]).ok


def test_mechanisms_page_and_exports_show_the_verdict(client, login_as, session, clock):
    _verdicts(session, "2025-Q4", "speak_again", {"yes": 7, "maybe": 5})
    _verdicts(session, "2025-Q4", "felt_safe", {"2": 5, "4": 5, "5": 5})
    _publish(session, clock)
    session.commit()
    login_as("reviewer")
    html = client.get("/review/mechanisms").get_data(as_text=True)
    assert "And those who raised a concern?" in html
    assert "58.3" in html or "58%" in html  # 7 of 12 would speak up again
    assert "the share answering yes" in html  # its definition is on the page
    body = client.get("/review/mechanisms.json").get_json()
    tables = {t["id"]: t for t in body["tables"]}
    (row,) = [r for r in tables["reporters_verdict"]["rows"] if r["quarter"] == "2025-Q4"]
    assert row["would_speak_up_again_pct"] == 58.3 and row["felt_safe_pct"] == 66.7
    assert row["kept_informed_pct"] is None
    answers = {(r["question"][:12], r["answer"]): r["answers"]
               for r in tables["reporters_verdict_answers"]["rows"]
               if r["quarter"] == "2025-Q4"}
    assert answers[("Given your e", "All answers")] == 12
    assert answers[("Given your e", "No")] is None
    csv_body = client.get("/review/mechanisms.csv").get_data(as_text=True)
    assert tables["reporters_verdict"]["title"] in csv_body  # the table is in the CSV too


def test_the_review_hides_again_a_verdict_figure_a_faulty_publisher_let_through():
    faulty = QuarterStats("2025-Q4", True, "2026-01-14", K, 12, None, None, None, None, None,
                          {}, would_speak_up_again=0.667, felt_safe_favourable=0.8,
                          verdict_totals={"speak_again": 3, "felt_safe": 10},
                          verdict_answers={"speak_again": {"yes": 2},
                                           "felt_safe": {"4": 8, "5": 2}},
                          themes={"Bullying or harassment": 4, "Detriment indicated": 6})
    stats = MechanismStats(K, [], [], [], [faulty])
    (q,) = checked_mechanism_stats(stats).quarters
    assert q.would_speak_up_again is None and q.felt_safe_favourable == 0.8
    assert q.verdict_totals == {"speak_again": None, "felt_safe": 10}
    assert q.verdict_answers == {"felt_safe": {"4": 8, "5": None}}
    assert q.themes == {"Bullying or harassment": None, "Detriment indicated": 6}


def test_the_demo_reporters_answer_and_their_quarters_are_published_safely(app, session,
                                                                          clock, make_handler):
    make_handler()  # as `speakup demo` does: a handler with keys, so concerns are taken
    seed_demo_concerns(session, app_services(app), lambda _line: None)
    rows = [r for r in _rows(session) if r.counted]
    assert rows
    stats = published_stats(session, K, clock.today())
    for q in stats.quarters:
        answered = sum(1 for r in rows if r.quarter == q.quarter and r.speak_again)
        if q.published:
            expected = answered if answered >= K else None
            assert q.verdict_totals["speak_again"] == expected, q.quarter
    payloads = [row.payload for row in session.scalars(select(ConcernStatsPublication))]
    assert publication.audit_publications(K, payloads).ok


# --- browser ---------------------------------------------------------------------------

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.mark.browser
def test_reporter_answers_the_verdict_without_javascript(live_server, fresh_database_url,
                                                         tmp_path):
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET)
    engine = make_engine(fresh_database_url)
    factory = make_session_factory(engine)
    with factory() as db:
        concern_keys.create_recovery_key(db, SystemClock(), ConcernConfig.from_settings(settings),
                                         actor="test")
        add_concern_reader(db, SystemClock(), ConcernConfig.from_settings(settings))
    server = live_server()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        reporter = browser.new_context(java_script_enabled=False).new_page()
        reporter.goto(server.url + "/concerns/new")
        reporter.get_by_label("Racism or discrimination").check()
        reporter.get_by_label("What happened?").fill("Someone was told to go back home.")
        reporter.get_by_role("button", name="Send my concern").click()
        reporter.wait_for_load_state()
        receipt = reporter.locator("#receipt").inner_text().strip()
        with factory() as db:  # a handler's first reply, as far as the verdict cares
            concern = db.scalar(select(Concern))
            concern.first_replied_on = concern.received_on
            db.commit()
        reporter.goto(server.url + "/concerns/check")
        reporter.get_by_label("Your receipt").fill(receipt)
        reporter.get_by_role("button", name="Show my concern").click()
        reporter.wait_for_load_state()
        group = reporter.get_by_role("group", name=re.compile("would you speak up again"))
        group.get_by_label("Maybe").check()
        reporter.get_by_role("group", name=re.compile("kept informed")).get_by_label(
            "Strongly agree").check()
        reporter.get_by_role("button", name="Save my answers").click()
        reporter.wait_for_load_state()
        html = reporter.content()
        assert "your answers have been saved" in html
        checker = browser.new_context(bypass_csp=True).new_page()
        checker.goto(server.url + "/privacy")
        checker.set_content(html)
        checker.add_script_tag(path=str(AXE))
        result = checker.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
        browser.close()
    assert [v["id"] for v in result["violations"]] == []
    with factory() as db:
        (row,) = db.scalars(select(ConcernVerdict)).all()
        assert (row.speak_again, row.felt_safe, row.kept_informed) == ("maybe", None, 5)
    engine.dispose()
