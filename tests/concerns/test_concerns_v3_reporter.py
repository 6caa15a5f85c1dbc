"""Issue 19 (Concerns v3), findings 3, 4 and 6, over HTTP on both engines.

3. A refusal after files were chosen names them and says to choose them again.
4. Downloads have their own budget; each limit says what it counts and the wait.
5. The verdict confirmation (or problem) takes the focus.
6. A sole reader with nobody to share with is shown the way out (the recovery key).
"""

from __future__ import annotations

import io
import re

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from, submit
from sqlalchemy import func, select
from test_concerns_attachments import _dump
from test_verdict import _answer, _raise, _replied, _verdict_fields

from concerns import conflicts, evidence, ratelimit, services, views
from concerns.config import ConcernConfig
from concerns.models import Concern, ConcernKeyWrap, RateLimitWindow, Reader
from speakup.headers import HeaderValueError
from speakup.settings import Settings
from speakup.web import services as app_services

TEXT = "The charge nurse mocked my accent in front of the patients."
NAMES = ["zq-rota-photo-41.txt", "zq-statement-42.txt", "zq-email-43.txt"]


def _limits(app, **changes):  # type: ignore[no-untyped-def]
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(**changes)


def _files(names):  # type: ignore[no-untyped-def]
    return [(io.BytesIO(b"what I noted down\n"), name) for name in names]


def _new_form_post(client, data, names):  # type: ignore[no-untyped-def]
    return client.post("/concerns/new", content_type="multipart/form-data",
                       data={**data, "attachments": _files(names)})


def _field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error-message" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert match, f"no error at the {field_id} field"
    return match.group(1)


def _summary(html: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert match, "no error summary"
    return match.group(0)


def _input_tag(html: str, field_id: str) -> str:
    match = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', html)
    assert match, f"no input {field_id}"
    return match.group(0)


# ------------------------------------------------------------------ finding 3


def _assert_told_to_choose_again(html: str, field_id: str = "attachments") -> None:
    told = "You had chosen 3 files (“zq-rota-photo-41.txt”, “zq-statement-42.txt”, " \
           "“zq-email-43.txt”). They were not sent: choose the files again before you send. " \
           "A browser cannot keep chosen files when a page comes back to it"
    assert told in _field_error(html, field_id)
    assert f"{field_id}-error" in _input_tag(html, field_id)  # aria-describedby names it
    assert told in _summary(html)


def test_a_validation_error_names_the_files_to_choose_again(client, session, recovery_key,
                                                            make_handler):
    make_handler()
    token = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    response = _new_form_post(client, {"csrf_token": token, "category": "",
                                       "what_happened": TEXT}, NAMES)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert TEXT in html
    _assert_told_to_choose_again(html)
    assert session.scalar(select(func.count()).select_from(Concern)) == 0
    dump = _dump(session)
    assert all(name.encode() not in dump for name in NAMES)  # echoed back, never stored


def test_an_expired_form_names_the_files_to_choose_again(client, recovery_key, make_handler):
    make_handler()
    client.get("/concerns/new")
    response = _new_form_post(client, {"csrf_token": "expired", "category": "1",
                                       "what_happened": TEXT}, NAMES)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "This form had expired" in html and TEXT in html
    _assert_told_to_choose_again(html)


def test_no_files_chosen_means_no_word_about_files(client, recovery_key, make_handler):
    make_handler()
    token = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    html = client.post("/concerns/new", data={"csrf_token": token, "category": "",
                                              "what_happened": TEXT}).get_data(as_text=True)
    assert "You had chosen" not in html and "attachments-error" not in html


def test_one_refused_file_says_why_and_names_every_file(client, recovery_key, make_handler):
    make_handler()
    token = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    response = client.post("/concerns/new", content_type="multipart/form-data", data={
        "csrf_token": token, "category": "1", "what_happened": TEXT,
        "attachments": [*_files(NAMES[:2]), (io.BytesIO(b"MZ\x90\x00 program"), "run.exe")]})
    error = _field_error(response.get_data(as_text=True), "attachments")
    assert response.status_code == 400
    assert "run.exe" in error and "You had chosen 3 files" in error


def test_many_or_long_names_are_shortened():
    chosen = [(io.BytesIO(), f"file-{n}.txt") for n in range(12)] + [
        (io.BytesIO(), "x" * 300 + ".txt")]
    note = views.files_not_kept(chosen)
    assert note is not None
    assert note.startswith("You had chosen 13 files (“file-0.txt”, ")
    assert "“file-9.txt” and 3 more)" in note and "x" * 61 not in note
    assert views.files_not_kept([]) is None


def test_the_wait_page_names_the_files(client, app, recovery_key):
    _limits(app, concerns_per_minute=1)
    assert submit(client, text="first").status_code == 200
    token = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    response = _new_form_post(client, {"csrf_token": token, "category": "1",
                                       "what_happened": TEXT}, NAMES)
    html = response.get_data(as_text=True)
    assert response.status_code == 429
    hint = re.search(r'<p class="hint" id="attachments-hint">(.*?)</p>', html, re.S)
    assert hint and "You had chosen 3 files (“zq-rota-photo-41.txt”" in hint.group(1)


def test_a_refused_reply_names_the_files_to_choose_again(client, recovery_key, make_handler):
    make_handler()
    receipt = receipt_from(submit(client, text=TEXT).get_data(as_text=True))
    token = hidden_fields(client.get("/concerns/check").get_data(as_text=True))["csrf_token"]
    page = client.post("/concerns/check", data={"csrf_token": token, "receipt": receipt}
                       ).get_data(as_text=True)
    fields = {k: v for k, v in hidden_fields(page).items() if k in ("csrf_token", "receipt",
                                                                    "seen_seq")}
    response = client.post("/concerns/reply", content_type="multipart/form-data",
                           data={**fields, "text": " ", "attachments": _files(NAMES)})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "cannot be empty" in html
    _assert_told_to_choose_again(html)


# ------------------------------------------------------------------ finding 4


@pytest.fixture
def with_file(client, session, recovery_key, make_handler):  # type: ignore[no-untyped-def]
    """A concern sent with one file; returns its receipt."""
    make_handler()
    token = hidden_fields(client.get("/concerns/new").get_data(as_text=True))["csrf_token"]
    response = _new_form_post(client, {"csrf_token": token, "category": "1",
                                       "what_happened": TEXT}, ["notes.txt"])
    assert response.status_code == 200
    return receipt_from(response.get_data(as_text=True))


def _check(client, receipt):  # type: ignore[no-untyped-def]
    token = hidden_fields(client.get("/concerns/check").get_data(as_text=True))["csrf_token"]
    return client.post("/concerns/check", data={"csrf_token": token, "receipt": receipt})


def _download(client, page):  # type: ignore[no-untyped-def]
    fields = {**hidden_fields(page), "seq": "1", "number": "1"}
    return client.post("/concerns/file", data=fields)


def test_one_check_and_nine_downloads_keep_the_reporter_in(client, with_file):
    page = _check(client, with_file)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    downloads = [(d.status_code, d.get_data()) for d in
                 (_download(client, html) for _ in range(9))]  # each read before the next
    assert downloads == [(200, b"what I noted down\n")] * 9
    # The checks are all still there: nine more make ten, the per-receipt limit.
    assert [_check(client, with_file).status_code for _ in range(9)] == [200] * 9


def test_over_the_download_limit_says_so_with_the_wait(client, app, clock, with_file):
    _limits(app, downloads_per_receipt_per_minute=2)
    html = _check(client, with_file).get_data(as_text=True)
    assert [_download(client, html).status_code for _ in range(2)] == [200, 200]
    refused = _download(client, html)
    page = refused.get_data(as_text=True)
    wait = ratelimit.seconds_to_next_window(clock.now())
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(wait)
    assert "You have downloaded 2 files in the last minute" in page
    assert "You can download more in about 1 minute" in page
    assert "receipt checks" not in page
    assert TEXT in page  # still in the conversation, not thrown out
    clock.advance(seconds=wait)
    assert _download(client, html).status_code == 200


def test_over_the_check_limit_says_so_with_the_wait(client, app, clock, with_file):
    _limits(app, checks_per_receipt_per_minute=2)
    assert [_check(client, with_file).status_code for _ in range(2)] == [200, 200]
    refused = _check(client, with_file)
    page = refused.get_data(as_text=True)
    wait = ratelimit.seconds_to_next_window(clock.now())
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(wait)
    assert "Your receipt has been used 2 times in the last minute" in page
    assert "You can try again in about 1 minute" in page
    assert "Downloading files is counted apart" in page
    assert with_file in page  # the receipt is kept in the form
    clock.advance(seconds=wait)
    assert _check(client, with_file).status_code == 200  # the wait stated was the wait


def test_download_and_check_budgets_are_apart_the_other_way_too(client, app, with_file):
    _limits(app, checks_per_receipt_per_minute=1)
    html = _check(client, with_file).get_data(as_text=True)
    assert _check(client, with_file).status_code == 429
    assert _download(client, html).status_code == 200  # checks used up, downloads not


def test_limits_count_per_receipt_never_per_person(client, session, with_file):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.77"
    html = _check(client, with_file).get_data(as_text=True)
    _download(client, html)
    buckets = set(session.scalars(select(RateLimitWindow.bucket)))
    per_receipt = {b for b in buckets if b.startswith(("receipt:", "files:"))}
    assert {b.split(":")[0] for b in per_receipt} == {"receipt", "files"}
    assert len({b.split(":")[1] for b in per_receipt}) == 1  # one keyed hash of the receipt
    assert b"203.0.113.77" not in _dump(session)
    assert with_file.encode() not in _dump(session)


def test_the_wait_is_said_in_minutes_rounded_up(clock):
    assert ratelimit.try_again_in(1) == "in about 1 minute"
    assert ratelimit.try_again_in(60) == "in about 1 minute"
    assert ratelimit.try_again_in(61) == "in about 2 minutes"
    assert 1 <= ratelimit.seconds_to_next_window(clock.now()) <= 60


def test_a_download_name_that_is_not_safe_is_refused(app):
    info = evidence.AttachmentInfo(1, 'a".txt', "text/plain", 1, ())
    with app.test_request_context(), pytest.raises(HeaderValueError):
        views.download(info, iter([b"x"]), 'speakup-1-a".txt')
    with app.test_request_context():
        sent = views.download(info, iter([b"x"]), "speakup-1-file-1.txt")
    assert sent.headers["Content-Disposition"] == 'attachment; filename="speakup-1-file-1.txt"'



# ------------------------------------------------------------------ finding 6


@pytest.fixture
def sole(client, session, clock, concern_config, recovery_key, login_as, make_handler,
         make_user):  # type: ignore[no-untyped-def]
    """A handler signed in as the only reader: the reporter kept the other one out."""
    other = make_handler()
    conflicts.set_display_name(session, clock, other.user.id, "Sam Doe", actor="test")
    admin = make_user("admin")
    me = login_as("handler")
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT, excluded=[str(other.user.id)])
    session.commit()
    return me, concern_id, admin


def _recuse(client, concern_id):  # type: ignore[no-untyped-def]
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    fields = {k: v for k, v in hidden_fields(page).items() if k.startswith("recuse-")}
    if "recuse-csrf_token" not in fields:  # the form is not offered: post as a stale page
        fields["recuse-csrf_token"] = hidden_fields(page)["reply-csrf_token"]
    return client.post(f"/handle/{concern_id}/recuse", data={**fields, "recuse-confirm": "y"})


def test_a_sole_reader_with_nobody_to_share_with_is_shown_the_way_out(client, session, sole):
    me, concern_id, admin = sole
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    way_out = re.search(r'<div class="notice" id="recuse-way-out">.*?</div>', page, re.S)
    assert way_out, "no way out is explained"
    assert "speakup keys recover --key RECOVERY-KEY-FILE --handler" in way_out.group(0)
    assert f'href="mailto:{admin.user.email}"' in way_out.group(0)  # whom to ask
    assert "Recuse myself" not in page and 'id="share-h"' not in page
    refused = _recuse(client, concern_id)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "The way out is the organisation&#39;s recovery key" \
        in html
    assert "Share it with a colleague first" not in html
    assert session.scalar(select(func.count()).select_from(ConcernKeyWrap).where(
        ConcernKeyWrap.concern_id == concern_id, ConcernKeyWrap.reader_kind == "handler",
        ConcernKeyWrap.reader_id == me.user.id)) == 1


def test_the_way_out_works_then_recusal_is_offered(client, session, clock, concern_config,
                                                   recovery_key, make_handler, sole):
    me, concern_id, _ = sole
    newcomer = make_handler()
    # What the page tells the admin to run (`speakup keys recover`) does this.
    services.recover_access(session, clock, concern_config, recovery_key,
                            newcomer.user.email, actor="cli (recovery key)")
    session.commit()
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert 'id="recuse-way-out"' not in page and "Recuse myself" in page
    done = _recuse(client, concern_id)
    assert done.status_code == 302
    readers = set(session.scalars(select(ConcernKeyWrap.reader_id).where(
        ConcernKeyWrap.concern_id == concern_id,
        ConcernKeyWrap.reader_kind == Reader.HANDLER.value)))
    assert readers == {newcomer.user.id}


def test_a_sole_reader_with_a_colleague_is_told_to_share_first(
        client, session, clock, concern_config, recovery_key, login_as, make_handler):
    me = login_as("handler")
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT)
    session.commit()
    make_handler()  # signed in after the concern arrived: can be shared with
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert 'id="recuse-share-first"' in page and 'href="#share-h"' in page
    assert 'id="recuse-way-out"' not in page
    refused = _recuse(client, concern_id)
    assert refused.status_code == 400
    assert "Share it with a colleague first" in refused.get_data(as_text=True)
    assert conflicts.excluded_handlers(session, concern_config, concern_id, [me.user.id]) \
        == set()


# ------------------------------------------------------------------ finding 5 (markup;
# the browser test checks the viewport and focus)


def _tag_with_id(html: str, element_id: str) -> str:
    match = re.search(rf'<[a-z]+[^>]*id="{element_id}"[^>]*>', html)
    assert match, f"no element {element_id}"
    return match.group(0)


def test_the_verdict_confirmation_takes_the_focus(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    response = _answer(client, receipt, speak_again="yes")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    tag = _tag_with_id(html, "verdict-saved")
    assert 'role="status"' in tag and 'tabindex="-1"' in tag and "autofocus" in tag
    assert html.count("autofocus") == 1


def test_a_verdict_problem_takes_the_focus_where_it_is_said(client, session, recovery_key):
    receipt, concern = _raise(client, session)
    _replied(session, concern)
    wrong = _answer(client, receipt, speak_again="perhaps").get_data(as_text=True)
    summary = re.search(r'<section id="verdict".*?<div class="error-summary"[^>]*>', wrong, re.S)
    assert summary and "autofocus" in summary.group(0)
    fields = _verdict_fields(_check_page(client, receipt))
    expired = client.post("/concerns/verdict", data={**fields, "csrf_token": "stale",
                                                     "speak_again": "yes"})
    html = expired.get_data(as_text=True)
    notice = re.search(r'<section id="verdict".*?<div class="warning" role="alert" '
                       r'id="verdict-notice" tabindex="-1" autofocus>', html, re.S)
    assert expired.status_code == 400 and notice, "the expiry is said in the verdict section"
    assert html.count("your answers were not saved just now") == 1


def _check_page(client, receipt):  # type: ignore[no-untyped-def]
    return _check(client, receipt).get_data(as_text=True)


def test_the_download_limit_is_a_setting(tmp_path):
    env = {"SPEAKUP_INSTANCE_PATH": str(tmp_path), "SPEAKUP_SECRET_KEY": "k" * 64}
    assert Settings.from_env(env).downloads_per_receipt_per_minute == 30
    settings = Settings.from_env({**env, "SPEAKUP_DOWNLOADS_PER_RECEIPT_PER_MINUTE": "7"})
    assert ConcernConfig.from_settings(settings).downloads_per_receipt_per_minute == 7


def test_the_guessing_limit_says_the_wait_too(app, client, recovery_key):
    _limits(app, receipt_checks_per_minute=1)
    assert _check(client, "ABCD-EFGH-JKMN-PQRS-TVWX").status_code == 400  # no such concern
    refused = _check(client, "ABCD-EFGH-JKMN-PQRS-TVWY")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert "too many receipt checks in the last minute. You can try again in about 1 minute" \
        in refused.get_data(as_text=True)
