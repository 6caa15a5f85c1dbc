"""The admin's Publish queues a background job: progress, result, one at a time, limits."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from conftest import csrf_token_from, post_form
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from surveys_testlib import make_survey, open_round_now, publish_as_admin, tokens_for

from speakup.clock import as_utc
from speakup.models import AuditEntry
from speakup.settings import Settings, SettingsError
from speakup.translatable import Translatable, packed, unpacked
from speakup.web import Services, services
from surveys import jobs, publication_jobs, publish, rounds
from surveys.invitations import token_key
from surveys.models import PublicationJob, PublishedResult, Response, Round
from surveys.responses import Submission, submit_response
from surveys.round_disclosure import SuppressionError

# 13 answers, k = 3: enough for every step of the decision to run, insiders' check too.
GROUPS = (
    [{"ethnicity": "white", "team": "nursing"}] * 5
    + [{"ethnicity": "global_majority", "team": "estates"}] * 5
    + [{"ethnicity": "prefer_not", "team": "nursing"}]
    + [{"team": "nursing"}, {"team": "estates"}]
)
WAIT_TEXT = "Checking what can be shown safely — this can take a few minutes."


@pytest.fixture
def closed_round(session, clock, settings) -> Round:
    round_ = _answered_round(session, clock, settings)
    rounds.close_round(session, round_, clock)
    session.commit()
    return round_


def refuse_the_decision(monkeypatch, why: str) -> None:  # type: ignore[no-untyped-def]
    """Make the disclosure decision refuse the round, saying `why`."""
    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise SuppressionError(why)

    monkeypatch.setattr(publish, "decide_suppression", refuse)


def forbid_the_decision(monkeypatch, where: str) -> None:  # type: ignore[no-untyped-def]
    """Fail the test if `where` runs the (slow) disclosure decision."""
    def must_not_run(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError(f"{where} ran the disclosure decision")

    monkeypatch.setattr(publish, "decide_suppression", must_not_run)


def _answered_round(session, clock, settings) -> Round:  # type: ignore[no-untyped-def]
    """An open round with one response per group of GROUPS."""
    survey = make_survey(session, clock, settings, ["a@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    key = token_key(settings)
    for token, groups in zip(tokens_for(session, settings, round_, len(GROUPS)), GROUPS,
                             strict=True):
        submit_response(session, key, token, Submission(
            answers={"psafe_1": 4, "speak_1": 3}, groups=groups))
    return round_


def _status_url(round_: Round) -> str:
    return f"/admin/surveys/rounds/{round_.id}/publication"


def _press_publish(client, round_: Round):  # type: ignore[no-untyped-def]
    return post_form(client, f"/admin/surveys/rounds/{round_.id}/publish",
                     {"confirmed": "yes", "understood": "y"})


def _jobs(session, round_: Round) -> list[PublicationJob]:
    session.expire_all()
    return list(session.scalars(select(PublicationJob).where(
        PublicationJob.round_id == round_.id).order_by(PublicationJob.id)))


def _audited(session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _responses(session, round_: Round) -> int:
    return int(session.scalar(select(func.count()).select_from(Response)
                              .where(Response.round_id == round_.id)) or 0)


def test_publish_returns_the_status_page_at_once_and_stores_nothing_yet(
        client, session, closed_round, login_as):
    admin = login_as("admin")
    # The confirmation page says it runs in the background.
    confirm_page = client.get(f"/admin/surveys/rounds/{closed_round.id}/publish")
    assert "in the background" in confirm_page.get_data(as_text=True)
    pressed = _press_publish(client, closed_round)
    assert pressed.status_code == 302
    assert pressed.headers["Location"].endswith(_status_url(closed_round))
    session.expire_all()
    assert session.get(PublishedResult, closed_round.id) is None
    assert session.get(Round, closed_round.id).status == "closed"
    assert _responses(session, closed_round) == len(GROUPS)
    [job] = _jobs(session, closed_round)
    assert job.status == "queued" and job.requested_by == admin.user.email
    [asked] = _audited(session, "survey.round.publish.request")
    assert asked.actor == admin.user.email and asked.subject == f"round {closed_round.id}"

    page = client.get(_status_url(closed_round)).get_data(as_text=True)
    assert WAIT_TEXT in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "Waiting for the scheduler to start it" in page
    # The round's page says it is being published instead of offering Publish again.
    detail = client.get(f"/admin/surveys/{closed_round.survey_id}").get_data(as_text=True)
    assert "Publishing: see progress" in detail and "Publish now…" not in detail


def test_the_job_publishes_and_the_page_shows_the_result(client, app, session, closed_round,
                                                         login_as):
    admin = login_as("admin")
    page = publish_as_admin(client, app, closed_round.id).get_data(as_text=True)
    assert "Published." in page and WAIT_TEXT not in page
    assert 'http-equiv="refresh"' not in page  # finished: no more reloading
    assert f'href="/review/rounds/{closed_round.id}"' in page
    session.expire_all()
    assert session.get(Round, closed_round.id).status == "published"
    assert session.get(PublishedResult, closed_round.id) is not None
    assert _responses(session, closed_round) == 0
    [job] = _jobs(session, closed_round)
    assert (job.status, job.active_round_id) == ("published", None)
    [done] = _audited(session, "survey.round.publish")
    assert done.actor == admin.user.email
    # The link leads to the published results.
    assert client.get(f"/review/rounds/{closed_round.id}").status_code == 200


def test_the_page_shows_each_check_while_it_runs(client, app, session, closed_round, login_as,
                                                 monkeypatch):
    login_as("admin")
    _press_publish(client, closed_round)
    seen: list[str] = []
    set_step = publication_jobs._set_step

    def set_step_and_look(svc, job_id, step):  # type: ignore[no-untyped-def]
        set_step(svc, job_id, step)
        seen.append(client.get(_status_url(closed_round)).get_data(as_text=True))

    monkeypatch.setattr(publication_jobs, "_set_step", set_step_and_look)
    publication_jobs.run_publications(services(app))
    assert all(WAIT_TEXT in page for page in seen)
    assert any("(outsider check, round 1)" in page for page in seen)
    assert any("(insiders’ check, round 1)" in page or "(insiders' check, round 1)" in page
               or "(insiders&#39; check, round 1)" in page for page in seen)
    assert "Storing the results" in seen[-1]
    assert "Published." in client.get(_status_url(closed_round)).get_data(as_text=True)


def test_a_second_publish_while_one_runs_is_refused(client, app, session, closed_round,
                                                    login_as):
    login_as("admin")
    # A double-click: the same confirmation page's form sent twice.
    url = f"/admin/surveys/rounds/{closed_round.id}/publish"
    form = {"csrf_token": csrf_token_from(client.get(url).get_data(as_text=True)),
            "confirmed": "yes", "understood": "y"}
    assert client.post(url, data=form).status_code == 302
    again = client.post(url, data=form)
    assert again.status_code == 302 and again.headers["Location"].endswith(
        _status_url(closed_round))
    page = client.get(_status_url(closed_round)).get_data(as_text=True)
    assert "already being published" in page and "It was not started a second time." in page
    assert len(_jobs(session, closed_round)) == 1
    # The confirmation page, too, leads to the progress instead of a second start.
    assert client.get(f"/admin/surveys/rounds/{closed_round.id}/publish").headers[
        "Location"].endswith(_status_url(closed_round))
    assert publication_jobs.run_publications(services(app)) == 1


def test_the_database_refuses_a_second_active_job_for_a_round(session, clock, closed_round,
                                                              monkeypatch):
    publication_jobs.request_publication(session, closed_round, clock, actor="a@example.org")
    # Two requests that both checked before either inserted: the unique column decides.
    monkeypatch.setattr(publication_jobs, "active_job", lambda *_: None)
    with pytest.raises(publication_jobs.PublicationBusy):
        publication_jobs.request_publication(session, closed_round, clock,
                                             actor="b@example.org")
    session.add(PublicationJob(round_id=closed_round.id, active_round_id=closed_round.id,
                               status="queued", step="", requested_by="c@example.org",
                               requested_at=clock.now()))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_failing_decision_shows_the_error_and_stores_nothing(
        client, app, session, closed_round, login_as, monkeypatch):
    login_as("admin")
    refuse_the_decision(monkeypatch, "the round cannot be published safely: a test says no")
    page = publish_as_admin(client, app, closed_round.id).get_data(as_text=True)
    assert "Not published." in page
    assert "the round cannot be published safely: a test says no" in page
    assert "Nothing was published" in page and "Try publishing again" in page
    assert 'http-equiv="refresh"' not in page
    session.expire_all()
    assert session.get(PublishedResult, closed_round.id) is None
    assert session.get(Round, closed_round.id).status == "closed"
    assert _responses(session, closed_round) == len(GROUPS)
    [job] = _jobs(session, closed_round)
    assert (job.status, job.active_round_id) == ("failed", None)
    assert _audited(session, "survey.round.publish.failed")
    # Retrying works once the cause is gone.
    monkeypatch.undo()
    assert "Published." in publish_as_admin(client, app, closed_round.id).get_data(as_text=True)


def test_a_crash_while_storing_leaves_no_half_written_publication(
        client, app, session, closed_round, login_as, monkeypatch):
    login_as("admin")

    def crash(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    # After the results row is added, before the raw answers go.
    monkeypatch.setattr(publish, "delete_raw_responses", crash)
    page = publish_as_admin(client, app, closed_round.id).get_data(as_text=True)
    assert "unexpected error" in page and "Try publishing again" in page
    session.expire_all()
    assert session.get(PublishedResult, closed_round.id) is None
    assert session.get(Round, closed_round.id).status == "closed"
    assert _responses(session, closed_round) == len(GROUPS)


def test_a_publication_past_its_time_limit_stops_and_says_so(
        client, app, session, clock, closed_round, login_as, monkeypatch):
    login_as("admin")
    decide = publish.decide_suppression

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        clock.advance(minutes=16)  # the default limit is 15 minutes
        return decide(*args, **kwargs)

    monkeypatch.setattr(publish, "decide_suppression", slow)
    page = publish_as_admin(client, app, closed_round.id).get_data(as_text=True)
    assert "Stopped after 15 minutes" in page and "SPEAKUP_PUBLISH_TIME_LIMIT" in page
    session.expire_all()
    assert session.get(PublishedResult, closed_round.id) is None
    assert _responses(session, closed_round) == len(GROUPS)


def test_the_time_limit_is_a_setting():
    assert Settings().publish_time_limit_minutes == 15
    assert Settings.from_env({"SPEAKUP_PUBLISH_TIME_LIMIT": "40"}).publish_time_limit_minutes == 40
    with pytest.raises(SettingsError, match="SPEAKUP_PUBLISH_TIME_LIMIT"):
        Settings.from_env({"SPEAKUP_PUBLISH_TIME_LIMIT": "0"})


def test_a_job_whose_heartbeat_stopped_is_shown_failed_and_can_be_retried(
        client, app, session, clock, closed_round, login_as):
    login_as("admin")
    _press_publish(client, closed_round)
    # Given a job a scheduler started and then died in (killed mid-way).
    [job] = _jobs(session, closed_round)
    job.status, job.step = "running", "insider:2"
    job.started_at = job.heartbeat_at = clock.now()
    session.commit()
    assert "insiders" in client.get(_status_url(closed_round)).get_data(as_text=True)
    clock.advance(seconds=publication_jobs.STALE_AFTER.total_seconds() + 1)
    page = client.get(_status_url(closed_round)).get_data(as_text=True)
    assert "Not published." in page and "stopped before it finished" in page
    assert "Try publishing again" in page and WAIT_TEXT not in page
    # The scheduler's next tick records it; a new Publish then starts afresh.
    publication_jobs.run_publications(services(app))
    [job] = _jobs(session, closed_round)
    assert (job.status, job.active_round_id) == ("failed", None)
    [failed] = _audited(session, "survey.round.publish.failed")
    assert failed.subject == f"round {closed_round.id}"
    assert "Published." in publish_as_admin(client, app, closed_round.id).get_data(as_text=True)


def test_the_automatic_publication_leaves_a_round_being_published_alone(
        app, session, clock, closed_round):
    publication_jobs.request_publication(session, closed_round, clock, actor="a@example.org")
    session.commit()
    assert jobs.publish_closed(services(app)) == 0
    session.expire_all()
    assert session.get(Round, closed_round.id).status == "closed"
    assert publication_jobs.run_publications(services(app)) == 1
    session.expire_all()
    assert session.get(Round, closed_round.id).status == "published"


def test_only_a_closed_round_can_be_queued(session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    round_ = rounds.add_round(session, survey, clock.now() + dt.timedelta(days=1))
    with pytest.raises(rounds.RoundError, match="only a closed round"):
        publication_jobs.request_publication(session, round_, clock, actor="a@example.org")


def test_the_publish_page_leaves_the_decision_to_the_background(
        client, session, closed_round, login_as, monkeypatch):
    login_as("admin")

    forbid_the_decision(monkeypatch, "the publish page")
    page = client.get(f"/admin/surveys/rounds/{closed_round.id}/publish")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Worked out during publication, in the background" in text
    assert "13 responses" in text  # what the page still says


def test_the_close_page_leaves_the_decision_to_the_background(
        client, session, clock, settings, login_as, monkeypatch):
    round_ = _answered_round(session, clock, settings)
    session.commit()
    login_as("admin")

    forbid_the_decision(monkeypatch, "the close page")
    page = client.get(f"/admin/surveys/rounds/{round_.id}/close")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Worked out during publication, in the background" in text
    closed = post_form(client, f"/admin/surveys/rounds/{round_.id}/close",
                       {"confirmed": "yes", "understood": "y"})
    assert closed.status_code == 302
    session.expire_all()
    assert session.get(Round, round_.id).status == "closed"


def test_the_scheduler_looks_for_publications_every_minute():
    [job] = [j for j in jobs.JOBS if j.id == "surveys.publication-jobs"]
    assert job.every_minutes == 1 and job.run is publication_jobs.run_publications


def test_the_reloading_can_be_stopped(client, session, closed_round, login_as):
    login_as("admin")
    _press_publish(client, closed_round)
    page = client.get(_status_url(closed_round)).get_data(as_text=True)
    stop = f'href="{_status_url(closed_round)}?reload=off">Stop reloading this page</a>'
    assert stop in page
    still = client.get(f"{_status_url(closed_round)}?reload=off").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in still and WAIT_TEXT in still
    assert f'href="{_status_url(closed_round)}?reload=off">Check again</a>' in still
    assert f'href="{_status_url(closed_round)}">reload it automatically</a>' in still


def test_a_running_job_renews_its_heartbeat_from_its_own_thread(
        session, session_factory, settings, engine, clock, closed_round):
    job = publication_jobs.request_publication(session, closed_round, clock,
                                               actor="a@example.org")
    job.status, job.started_at, job.heartbeat_at = "running", clock.now(), clock.now()
    session.commit()
    clock.advance(minutes=1)
    renewed = threading.Event()

    def factory():  # type: ignore[no-untyped-def]
        # The test waits (touching no database) until the thread has written once.
        made = session_factory()
        event.listen(made, "after_commit", lambda _s: renewed.set())
        return made

    svc = Services(settings=settings, engine=engine, session_factory=factory, clock=clock)
    beat = publication_jobs._Heartbeat(svc, job.id, every=0.01)
    try:
        assert renewed.wait(timeout=60)
    finally:
        beat.stop()
    session.expire_all()
    assert as_utc(session.get(PublicationJob, job.id).heartbeat_at) == clock.now()


# --- why it failed, in the reader's language (issue 20) ---------------------------------


def test_why_a_publication_failed_is_stored_as_a_message_and_said_through_the_catalogue(
        client, app, session, closed_round, login_as, monkeypatch, marked):
    login_as("admin")
    refuse_the_decision(monkeypatch, "a test says no")
    page = publish_as_admin(client, app, closed_round.id).get_data(as_text=True)
    # Each message went through gettext (⟦…⟧), the cause inside the refusal too.
    assert "Nothing was published; the raw answers are untouched.⟧" in page
    assert "⟦Round %(round)s: %(problem)s⟧" not in page  # filled in, not left raw
    assert "a test says no" in page
    session.expire_all()
    [job] = _jobs(session, closed_round)
    stored = unpacked(job.error)
    assert isinstance(stored, Translatable) and stored.message == publication_jobs.REFUSED
    assert str(stored).endswith("a test says no Nothing was published; the raw answers are "
                                "untouched.")
    # The audit log keeps the English.
    [entry] = _audited(session, "survey.round.publish.failed")
    assert json.loads(entry.detail)["error"] == str(stored)


def test_a_stored_message_comes_back_whole_and_older_text_as_it_was():
    timed_out = Translatable(publication_jobs.TIMED_OUT, num=1)
    again = unpacked(packed(timed_out))
    assert isinstance(again, Translatable)
    assert str(again) == str(timed_out)
    assert str(again).startswith("Stopped after 1 minute: checking")
    assert str(unpacked(packed(Translatable(publication_jobs.TIMED_OUT, num=2)))).startswith(
        "Stopped after 2 minutes:")
    nested = Translatable(publication_jobs.REFUSED, cause=publish.PublicationError(
        "Round %(round)s has no survey.", round=7))
    back = unpacked(packed(nested))
    assert isinstance(back, Translatable) and str(back) == str(nested)
    assert isinstance(back.params["cause"], Translatable)
    # A row written before messages were stored keeps its English.
    older = "Stopped after 15 minutes: checking what can be shown safely took longer."
    assert unpacked(older) == older and unpacked(None) is None
    assert unpacked("{not json") == "{not json"


def test_what_a_running_publication_does_is_said_through_the_catalogue(
        client, app, session, closed_round, login_as, marked):
    login_as("admin")
    _press_publish(client, closed_round)
    [job] = _jobs(session, closed_round)
    job.status, job.step, job.heartbeat_at = "running", "insider:2", job.requested_at
    session.commit()
    page = client.get(f"/admin/surveys/rounds/{closed_round.id}/publication").get_data(
        as_text=True)
    assert ("⟦Checking what a colleague who answered could work out about others "
            "(insiders&#39; check, round 2).⟧") in page
