"""A survey title is one line, and the test invitation never fails with a 500 (issue 18).

A newline in a title went into the test invitation's Subject header; the email library
refused it with a ValueError that `send_test` did not catch (it caught only MailError).
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from conftest import post_form
from sqlalchemy import func, select
from surveys_testlib import SPEC, make_survey

from speakup.mail import MailError
from speakup.models import AuditEntry
from surveys import admin_services, tryout
from surveys.models import Survey

FORM = {
    "title": "Spring pulse", "sector": "healthcare", "intro": "Five minutes, anonymous.",
    "items": ["psafe_1", "psafe_2", "psafe_3", "psafe_4", "speak_1", "wres_5"],
    "schedule": "monthly, first Monday 09:00", "timezone": "Europe/London",
    "open_days": "14", "min_group_size": "5", "active": "y",
}
NOT_ONE_LINE = ["Spring\npulse", "Spring\r\npulse", "Spring\rpulse", "Spring\x0bpulse",
                "Spring\x00pulse", "Spring\u2028pulse", "Spring\x85pulse", "Spring\tpulse"]


def _test_invitations(session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "survey.test_invitation")) or 0)


@pytest.mark.parametrize("title", NOT_ONE_LINE)
def test_a_title_with_a_line_break_or_control_character_is_refused(settings, title):
    with pytest.raises(admin_services.SurveySpecError) as refused:
        admin_services.check_spec({**SPEC, "title": title}, settings)
    assert [name for name, _ in refused.value.problems] == ["title"]
    assert "one line" in refused.value.problems[0][1]


def test_the_admin_form_refuses_a_two_line_title_and_keeps_the_text(client, session, login_as):
    login_as("admin")
    response = post_form(client, "/admin/surveys/new",
                         {**FORM, "title": "Spring\r\npulse", "save": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "A title is one line" in page
    assert "Spring" in page and "pulse" in page and "Five minutes, anonymous." in page
    assert session.scalars(select(Survey)).first() is None


def test_test_invitation_for_an_older_two_line_title_is_sent_on_one_line(
        client, session, clock, settings, login_as, app):
    survey = make_survey(session, clock, settings)
    survey.title = "Spring\r\npulse\x0b2026"  # stored before titles were checked
    session.commit()
    admin = login_as("admin")
    sent = post_form(client, f"/admin/surveys/{survey.id}/send-test", {},
                     page=f"/admin/surveys/{survey.id}")
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert f"A test invitation is on its way to {admin.user.email}" in page
    [mail] = app.extensions["speakup"].settings.outbox_path.glob("test-survey-*.eml")
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "[Test] Spring pulse 2026: your personal survey link"
    assert _test_invitations(session) == 1


class _BrokenMailer:
    """A mailer whose transport fails in a way the SMTP mailer does not translate."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send(self, message: EmailMessage, label: str) -> None:
        raise self.error


@pytest.mark.parametrize("error", [ValueError("bad header"), UnicodeEncodeError(
    "ascii", "é", 0, 1, "no SMTPUTF8"), LookupError("unknown encoding"), MailError("refused")])
def test_every_mail_error_becomes_a_clear_mail_error_and_audits_nothing(
        session, clock, settings, error):
    survey = make_survey(session, clock, settings)
    with pytest.raises(MailError) as failed:
        tryout.send_test_invitation(session, clock, settings, _BrokenMailer(error), survey,
                                    to="admin@example.org", actor="admin@example.org")
    assert str(failed.value)
    assert _test_invitations(session) == 0
