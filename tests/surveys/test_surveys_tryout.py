"""Preview a survey and send yourself a test invitation: nothing is stored or counted."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re

from conftest import csrf_token_from, post_form
from sqlalchemy import func, select
from surveys_testlib import make_survey

from speakup.models import AuditEntry
from speakup.site_settings import results_page_enabled
from surveys import rounds
from surveys.invitations import invitation_message
from surveys.models import Response, Round, TokenHash

# The test link in the first language (the Welsh line below it adds "?lang=cy").
ENGLISH_LINK = r"/s/test/[A-Za-z0-9_.-]+(?![A-Za-z0-9_.?-])"


def _stored(session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(session.scalar(select(func.count()).select_from(m))  # type: ignore[return-value]
                 for m in (Response, TokenHash, Round))


def _all_answers(survey) -> dict[str, str]:
    return {f"item-{i}": ("0" if i.startswith("wres") else "4") for i in survey.item_ids}


def test_preview_shows_the_real_form_and_stores_nothing(client, session, clock, settings,
                                                        login_as):
    survey = make_survey(session, clock, settings)
    session.commit()
    url = f"/admin/surveys/{survey.id}/preview"
    login_as("admin")
    before = _stored(session)
    html = client.get(url).get_data(as_text=True)
    assert "Preview:</strong> this is exactly what staff see" in html
    assert html.count("<fieldset") == 7 + 4 + 4 + 2
    assert "Send my answers" in html
    partial = post_form(client, url, {"item-psafe_1": "3"}).get_data(as_text=True)
    assert "You answered 1 of 15 questions." in partial and "Preview" in partial
    done = post_form(client, url, {"item-psafe_1": "3", "send_anyway": "1"})
    assert "Preview finished: nothing was saved" in done.get_data(as_text=True)
    bad = post_form(client, url, {"item-psafe_1": "9"})
    assert bad.status_code == 400 and "not one of this question" in bad.get_data(as_text=True)
    assert _stored(session) == before


def test_only_admins_preview(client, session, clock, settings, login_as):
    survey = make_survey(session, clock, settings)
    session.commit()
    login_as("reviewer")
    assert client.get(f"/admin/surveys/{survey.id}/preview").status_code == 403


def test_test_invitation_goes_to_the_admin_and_its_answers_are_thrown_away(
        client, session, clock, settings, login_as, app):
    survey = make_survey(session, clock, settings)
    session.commit()
    admin = login_as("admin")
    detail = f"/admin/surveys/{survey.id}"
    sent = post_form(client, f"/admin/surveys/{survey.id}/send-test", {}, page=detail)
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert f"A test invitation is on its way to {admin.user.email}" in page
    [mail] = app.extensions["speakup"].settings.outbox_path.glob("test-survey-*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    text = f"To: {message['To']}\n{message['Subject']}\n{message.get_content()}"
    assert f"To: {admin.user.email}" in text and "[Test] Pulse check" in text
    [link] = re.findall(ENGLISH_LINK, text)
    assert session.scalars(select(AuditEntry.action)).all().count("survey.test_invitation") == 1

    client.post("/logout", data={"csrf_token": csrf_token_from(page)})
    before = _stored(session)
    form = client.get(link).get_data(as_text=True)
    assert "Test link:</strong>" in form and "thrown away and never counted" in form
    done = client.post(link, data={"csrf_token": csrf_token_from(form), **_all_answers(survey)})
    assert done.status_code == 200
    assert "Test finished: nothing was saved" in done.get_data(as_text=True)
    # The link works again (it is a test), and nothing was stored or counted.
    assert client.get(link).status_code == 200
    assert _stored(session) == before
    # A forged or altered link is an unknown link.
    assert client.get(link[:-3] + "abc").status_code == 404


def test_test_invitation_is_the_real_invitation_with_a_test_banner(
        client, session, clock, settings, login_as, app):
    # Given a survey with a round planned (the one staff will be invited to next)
    survey = make_survey(session, clock, settings)
    planned = rounds.add_round(session, survey, clock.now() + dt.timedelta(days=3))
    session.commit()
    login_as("admin")
    detail = f"/admin/surveys/{survey.id}"
    post_form(client, f"/admin/surveys/{survey.id}/send-test", {}, page=detail)
    [mail] = app.extensions["speakup"].settings.outbox_path.glob("test-survey-*.eml")
    text = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default
                                    ).get_content()
    [link] = re.findall(ENGLISH_LINK, text)
    # Then it opens with the test banner, and below it is exactly what staff receive:
    assert text.lstrip().startswith("*** TEST")
    real = invitation_message(settings, survey, planned, "staff@example.org", "TOKEN",
                              results_page_enabled(session), "en", settings.languages)
    body = real.get_content().replace("/s/TOKEN", link)
    assert body in text
    # the close date, the anonymity paragraph and the results link among it
    assert "It is open\nuntil " in text and "Your answers cannot be traced back to you" in text
    assert "What happened after the last round" in text


def test_a_test_invitation_in_welsh_is_the_welsh_invitation(
        client, session, clock, settings, login_as, app):
    survey = make_survey(session, clock, settings,
                         translations={"cy": {"title": "Gwiriad curiad"}})
    session.commit()
    login_as("admin")
    detail = f"/admin/surveys/{survey.id}"
    page = client.get(detail).get_data(as_text=True)
    assert '<label for="language">Language of the test invitation</label>' in page
    assert '<option value="cy">Cymraeg</option>' in page
    sent = post_form(client, f"/admin/surveys/{survey.id}/send-test", {"language": "cy"},
                     page=detail)
    assert sent.status_code == 302
    [mail] = app.extensions["speakup"].settings.outbox_path.glob("test-survey-*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    text = message.get_content()
    # What a Welsh reader gets: the Welsh subject and title, a link to the Welsh page.
    assert message["Subject"].startswith("[Test] Gwiriad curiad")
    assert "Gwiriad curiad" in text and "Pulse check" not in text.split("-----", 1)[1]
    [link] = re.findall(r"/s/test/[A-Za-z0-9_.-]+\?lang=cy", text)
    assert 'lang="cy"' in client.get(link).get_data(as_text=True)
    [entry] = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "survey.test_invitation")).all()
    assert '"language": "cy"' in entry.detail
    # A language the site does not offer is refused, and nothing is sent.
    refused = post_form(client, f"/admin/surveys/{survey.id}/send-test", {"language": "fr"},
                        page=detail)
    assert refused.status_code == 400
    assert len(list(app.extensions["speakup"].settings.outbox_path.glob("*.eml"))) == 1
