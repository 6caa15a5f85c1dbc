"""Open, close and publish ask first: what will happen, responses at k, who will be hidden."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import post_form
from sqlalchemy import func, select
from surveys_testlib import make_survey, open_round_now, publish_as_admin, tokens_for

from speakup.clock import as_utc
from surveys import confirm, rounds
from surveys.invitations import token_key
from surveys.models import MailJob, PublishedResult, Response, Round
from surveys.responses import Submission, submit_response
from surveys.round_keys import RoundKeyFolder


def _answer(session, settings, round_, groups: list[dict[str, str]]) -> None:
    key = token_key(settings)
    for token, declared in zip(tokens_for(session, settings, round_, len(groups)), groups,
                               strict=True):
        submit_response(session, key, token, Submission(
            answers={"psafe_1": 4, "speak_1": 3}, groups=declared))


# 13 responses: ethnicity White 5, Global Majority 5, prefer not 1, skipped 2; team
# Nursing 7, Estates 6. With k = 3, the one "prefer not to say" is below k; the hidden
# cells of the ethnicity breakdown (prefer not 1 + skipped 2 = 3) already reach k, so
# nothing more is hidden there. In the team breakdown nobody chose "prefer not to say":
# an empty cell is below k too, and is hidden like any other (hidden and empty look alike).
GROUPS = (
    [{"ethnicity": "white", "team": "nursing"}] * 5
    + [{"ethnicity": "global_majority", "team": "estates"}] * 5
    + [{"ethnicity": "prefer_not", "team": "nursing"}]
    + [{"team": "nursing"}, {"team": "estates"}]
)


def test_preview_names_the_groups_publication_will_hide(session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    _answer(session, settings, round_, GROUPS)
    preview = confirm.preview_round_action(session, round_, "close", settings, clock)
    assert preview.blocked is None and preview.live.responses == 13
    assert [(h.dimension, h.groups) for h in preview.hidden] == [
        ("Ethnicity group", ["Prefer not to say"]),
        ("Team", ["Prefer not to say"]),
    ]
    assert not preview.everything_hidden
    # The preview stored nothing and deleted nothing.
    assert session.get(PublishedResult, round_.id) is None
    assert session.scalar(select(func.count()).select_from(Response)) == 13
    # The same decision publication then stores.
    rounds.close_round(session, round_, clock)
    published = rounds.publish(session, round_, settings, clock)
    assert published.group_counts["ethnicity"] == {"global_majority": 5, "white": 5,
                                                   "prefer_not": None}


def test_preview_with_fewer_than_k_hides_everything_and_shows_no_count(session, clock,
                                                                         settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    _answer(session, settings, round_, [{"ethnicity": "white"}] * 2)
    preview = confirm.preview_round_action(session, round_, "close", settings, clock)
    assert preview.everything_hidden and preview.live.responses is None


def test_open_is_refused_with_an_empty_audience_and_says_why(client, session, clock,
                                                              settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings)
    round_ = rounds.add_round(session, survey, clock.now() + dt.timedelta(days=1))
    session.commit()
    detail = client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)
    assert "Open now" not in detail and "the audience is empty" in detail
    page = client.get(f"/admin/surveys/rounds/{round_.id}/open").get_data(as_text=True)
    assert "no audience yet" in page and "<button" not in page.split("<main")[-1]
    post_form(client, f"/admin/surveys/rounds/{round_.id}/open", {"confirmed": "yes"})
    session.expire_all()
    assert session.get(Round, round_.id).status == "scheduled"


def test_each_action_shows_a_confirmation_page_and_acts_only_when_confirmed(
        client, app, session, clock, settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings, ["a@example.org", "b@example.org"])
    planned = clock.now() + dt.timedelta(days=2)
    round_ = rounds.add_round(session, survey, planned)
    session.commit()
    url = f"/admin/surveys/rounds/{round_.id}"
    # Given the confirmation page of "open": it says what will happen and changes nothing.
    page = client.get(f"{url}/open").get_data(as_text=True)
    assert "Open Round 1 · 4 Mar 2026?" in page
    assert "each of the 2 addresses in the audience" in page
    assert "fixed at 3" in page
    session.expire_all()
    assert session.get(Round, round_.id).status == "scheduled"
    # A bare POST (an old button, a stray request) without the page's confirmation is refused.
    assert post_form(client, f"{url}/open", {}).status_code == 400
    # When confirmed, it opens now: close date and reminders move with the early opening.
    assert post_form(client, f"{url}/open", {"confirmed": "yes"}).status_code == 302
    session.expire_all()
    opened = session.get(Round, round_.id)
    assert opened.status == "open"
    assert as_utc(opened.closes_at) == clock.now() + dt.timedelta(days=3)
    assert [dt.datetime.fromisoformat(t) for t in opened.reminder_times] == [
        clock.now() + dt.timedelta(days=1), clock.now() + dt.timedelta(days=2)]
    assert session.scalar(select(func.count()).select_from(MailJob)) == 2
    # Close and publish also say that the raw answers go for good, and need the box ticked.
    for action, status in (("close", "closed"), ("publish", "published")):
        page = client.get(f"{url}/{action}").get_data(as_text=True)
        assert "raw answers are deleted for good" in page
        assert "Fewer than 3 so far" in page
        refused = post_form(client, f"{url}/{action}", {"confirmed": "yes"})
        assert refused.status_code == 400 and "Tick the box" in refused.get_data(as_text=True)
        session.expire_all()
        assert session.get(Round, round_.id).status != status
        if action == "publish":
            assert publish_as_admin(client, app, round_.id).status_code == 200
        else:
            done = post_form(client, f"{url}/{action}", {"confirmed": "yes", "understood": "y"})
            assert done.status_code == 302
        session.expire_all()
        assert session.get(Round, round_.id).status == status
    again = client.get(f"{url}/close").get_data(as_text=True)
    assert "only an open round closes" in again


def test_cli_asks_unless_yes(runner, session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    round_ = rounds.add_round(session, survey, clock.now())
    session.commit()
    declined = runner.invoke(args=["rounds", "open", str(round_.id), "--no-send"], input="n\n")
    assert declined.exit_code == 1 and "Invitations go to 1 address(es)" in declined.output
    session.expire_all()
    assert session.get(Round, round_.id).status == "scheduled"
    accepted = runner.invoke(args=["rounds", "open", str(round_.id), "--no-send"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    closing = runner.invoke(args=["rounds", "close", str(round_.id)], input="n\n")
    assert "Hidden: everything (fewer than 3 responses)." in closing.output
    assert "The raw answers are deleted for good at publication." in closing.output
    session.expire_all()
    assert session.get(Round, round_.id).status == "open"
    assert runner.invoke(args=["rounds", "close", str(round_.id), "--yes"]).exit_code == 0


def test_a_second_round_cannot_open_while_one_is_open(session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    first = open_round_now(session, clock, survey, settings)
    second = rounds.add_round(session, survey, clock.now() + dt.timedelta(days=7))
    preview = confirm.preview_round_action(session, second, "open", settings, clock)
    assert preview.blocked is not None and "still open" in preview.blocked
    with pytest.raises(rounds.RoundError, match="close it first"):
        rounds.open_round(session, second, clock, keys=RoundKeyFolder.of(settings),
                          actor="admin@example.org")
    rounds.close_round(session, first, clock)
    assert confirm.preview_round_action(session, second, "open", settings, clock).blocked is None


def test_open_now_moves_close_and_reminders_by_the_interval_the_schedule_planned(
        client, session, clock, settings, login_as):
    # Given a round planned for 3 days with reminders after 1 and 2 days, and the survey's
    # window changed since (to 7 days, one reminder): the planned round keeps its plan
    login_as("admin")
    survey = make_survey(session, clock, settings, ["a@example.org"])
    planned = rounds.add_round(session, survey, clock.now() + dt.timedelta(days=2))
    planned_close, planned_reminders = as_utc(planned.closes_at), list(planned.reminder_times)
    survey.open_days, survey.reminder_offsets_days = 7, [3]
    session.commit()
    # When an admin opens it at 02:16, 2 days 6 h 44 min early
    clock.current = clock.now() - dt.timedelta(hours=6, minutes=44)
    url = f"/admin/surveys/rounds/{planned.id}"
    page = client.get(f"{url}/open").get_data(as_text=True)
    assert post_form(client, f"{url}/open", {"confirmed": "yes"}).status_code == 302
    # Then the close time and every reminder move by exactly that interval
    session.expire_all()
    opened = session.get(Round, planned.id)
    early = as_utc(planned.opens_at) - clock.now()
    assert as_utc(opened.closes_at) == planned_close - early
    assert [dt.datetime.fromisoformat(t) for t in opened.reminder_times] == [
        dt.datetime.fromisoformat(t) - early for t in planned_reminders]
    # And the confirmation page said the very close time the round (and its e-mail) has
    assert rounds.local_time(opened.closes_at, survey.timezone) in page
