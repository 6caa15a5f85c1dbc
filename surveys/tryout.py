"""Trying a survey out before it goes live: a preview and a test invitation, neither stored.

A test link is not an invitation token: it is a signed, expiring note of the survey
it belongs to (itsdangerous, under a key derived from the secret key), so it needs
no row, cannot be counted with real answers, and answers given through it are
thrown away unread. It names no round, so it works before any round opens.
"""

from __future__ import annotations

from email.message import EmailMessage

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock
from speakup.mail import Mailer, MailError, build_message
from speakup.settings import Settings
from surveys.invitations import token_key
from surveys.models import Survey

TRIAL_LINK_DAYS = 7
_SALT = "surveys.test-link"


class TrialLinkError(ValueError):
    """The test link is forged, expired or names a survey that no longer exists."""


def _signer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(token_key(settings), salt=_SALT)


def trial_token(settings: Settings, survey_id: int) -> str:
    return str(_signer(settings).dumps({"survey": survey_id}))


def survey_for_trial_link(session: Session, settings: Settings, signed: str) -> Survey:
    """The survey a test link was made for; TrialLinkError if it is not a valid one."""
    try:
        data = _signer(settings).loads(signed, max_age=TRIAL_LINK_DAYS * 86400)
    except BadSignature as exc:  # SignatureExpired is a BadSignature
        raise TrialLinkError("This test link is not valid or has expired.") from exc
    survey = session.get(Survey, int(data.get("survey", 0))) if isinstance(data, dict) else None
    if survey is None:
        raise TrialLinkError("This test link is not valid or has expired.")
    return survey


def trial_link_url(settings: Settings, survey_id: int) -> str:
    return f"{settings.base_url}/s/test/{trial_token(settings, survey_id)}"


def trial_invitation(settings: Settings, survey: Survey, to: str) -> EmailMessage:
    """What an invitation looks like, marked as a test, with a link whose answers are discarded."""
    body = f"""Hello,

This is a TEST of the invitation to "{survey.title}", sent at your request.
Staff get the same kind of message, with a personal link that works once.

Your test link (it works for {TRIAL_LINK_DAYS} days and as often as you like):

    {trial_link_url(settings, survey.id)}

Answers sent through this link are thrown away: they are never stored and never
counted in any result.
"""
    return build_message(settings, to, f"[Test] {survey.title}: your personal survey link", body)


def send_test_invitation(session: Session, clock: Clock, settings: Settings, mailer: Mailer,
                         survey: Survey, *, to: str, actor: str) -> None:
    """Mail a test invitation to the admin's own address (audited; raises MailError).

    Whatever goes wrong while writing or sending the message comes out as a MailError
    with a sentence the admin can act on, never as a server error (issue 18).
    """
    try:
        mailer.send(trial_invitation(settings, survey, to), label=f"test-survey-{survey.id}")
    except MailError:
        raise
    except (ValueError, LookupError) as exc:  # header checks, encodings (UnicodeError too)
        raise MailError(f"The message could not be written ({exc}). Check the survey's "
                        "title and your own e-mail address, then try again.") from exc
    audit.record(session, clock, actor=actor, action="survey.test_invitation",
                 subject=f"survey {survey.id}", detail={"to": "own address"})
