"""Trying a survey out before it goes live: a preview and a test invitation, neither stored.

A test link is not an invitation token: it is a signed, expiring note of the survey
it belongs to (itsdangerous, under a key derived from the secret key), so it needs
no row, cannot be counted with real answers, and answers given through it are
thrown away unread. It names no round, so it works before any round opens.
"""

from __future__ import annotations

from email.message import EmailMessage

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock, as_utc
from speakup.mail import Mailer, MailError, build_message
from speakup.settings import Settings
from speakup.site_settings import results_page_enabled
from surveys.invitations import invitation_message, token_key
from surveys.models import Round, RoundStatus, Survey
from surveys.schedule import round_window

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


TEST_BANNER = """*** TEST — this is a test of the invitation, sent at your request. ***
The message below is exactly what staff receive, except that its link is a test link:
it works for {days} days and as often as you like, and answers sent through it are
thrown away (never stored, never counted in any result).
------------------------------------------------------------------------------

"""


def _next_round(session: Session, survey: Survey, clock: Clock) -> Round:
    """The round the real invitation would be about: the next one planned, or one opening
    now (unsaved) when none is planned, so the message shows a real close date."""
    planned = session.scalars(
        select(Round).where(Round.survey_id == survey.id,
                            Round.status.in_((RoundStatus.SCHEDULED.value,
                                              RoundStatus.OPEN.value)))
        .order_by(Round.opens_at)).first()
    if planned is not None:
        return planned
    times = round_window(as_utc(clock.now()), survey.open_days,
                         list(survey.reminder_offsets_days or []), survey.timezone)
    return Round(survey_id=survey.id, opens_at=times.opens_at, closes_at=times.closes_at,
                 min_group_size=None)


def trial_invitation(settings: Settings, survey: Survey, to: str, round_: Round,
                     results_on: bool = False, language: str | None = None) -> EmailMessage:
    """The real invitation for ``round_`` (close date, anonymity, results link) in
    ``language`` (the first offered by default), with a "test" banner on top for the admin
    and a test link whose answers are discarded."""
    language = language or settings.languages[0]
    real = invitation_message(settings, survey, round_, to,
                              f"test/{trial_token(settings, survey.id)}", results_on,
                              language=language, offered=settings.languages)
    body = TEST_BANNER.format(days=TRIAL_LINK_DAYS) + real.get_content()
    return build_message(settings, to, f"[Test] {real['Subject']}", body)


def send_test_invitation(session: Session, clock: Clock, settings: Settings, mailer: Mailer,
                         survey: Survey, *, to: str, actor: str,
                         language: str | None = None) -> None:
    """Mail a test invitation to the admin's own address (audited; raises MailError).

    Whatever goes wrong while writing or sending the message comes out as a MailError
    with a sentence the admin can act on, never as a server error (issue 18).
    """
    try:
        message = trial_invitation(settings, survey, to, _next_round(session, survey, clock),
                                   results_page_enabled(session), language)
        mailer.send(message, label=f"test-survey-{survey.id}")
    except MailError:
        raise
    except (ValueError, LookupError) as exc:  # header checks, encodings (UnicodeError too)
        raise MailError(f"The message could not be written ({exc}). Check the survey's "
                        "title and your own e-mail address, then try again.") from exc
    audit.record(session, clock, actor=actor, action="survey.test_invitation",
                 subject=f"survey {survey.id}",
                 detail={"to": "own address", "language": language or settings.languages[0]})
