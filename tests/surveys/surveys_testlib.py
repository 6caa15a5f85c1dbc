"""Helpers for the surveys tests (plain functions: fixtures live in the root conftest)."""

from __future__ import annotations

import email
import html as htmllib
import re
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import post_form
from sqlalchemy import select
from sqlalchemy.orm import Session

from speakup.clock import Clock
from speakup.db import Base
from speakup.mail import MailError
from speakup.settings import Settings
from speakup.web import services
from surveys import admin_services, audience, rounds
from surveys.invitations import issue_tokens, token_key
from surveys.models import Round, Survey
from surveys.publication_jobs import run_publications
from surveys.round_keys import RoundKeyFolder
from surveys.sealed_answers import OpenedResponse, read_round_responses

SPEC: dict[str, Any] = {
    "title": "Pulse check",
    "instruments": ["psafe", "speak", "wres"],
    "demographics": [
        {
            "id": "ethnicity",
            "label": "Which ethnicity group do you identify with?",
            "options": [
                {"id": "global_majority", "label": "Global Majority"},
                {"id": "white", "label": "White"},
            ],
        },
        {"id": "team", "label": "Which team?", "options": ["Nursing", "Estates"]},
    ],
    "comment_question": "Anything else?",
    "schedule": "weekly, Monday 09:00",
    "timezone": "Europe/London",
    "open_days": 3,
    "reminder_offsets_days": [1, 2],
    "min_group_size": 3,
}

LINK_RE = re.compile(r"/s/([A-Za-z0-9_-]{32})")


def make_survey(session: Session, clock: Clock, settings: Settings,
                addresses: Iterable[str] = (), **overrides: Any) -> Survey:
    spec = admin_services.check_spec({**SPEC, **overrides}, settings, now=clock.now())
    survey = admin_services.create_survey(session, clock, spec, actor="test")
    addresses = list(addresses)
    if addresses:
        audience.replace_audience(session, clock, survey, addresses, actor="test")
    session.flush()
    return survey


def open_round_now(session: Session, clock: Clock, survey: Survey, settings: Settings) -> Round:
    """Add a round opening now and open it (invitations queued, nothing sent).

    Its private key goes to `settings`' round key folder, where publication looks.
    """
    round_ = rounds.add_round(session, survey, clock.now())
    assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
    return round_


def opened(session: Session, settings: Settings, round_: Round) -> list[OpenedResponse]:
    """The round's responses, opened with its key from `settings`' round key folder."""
    return list(read_round_responses(session, round_.id, RoundKeyFolder.of(settings)))


def tokens_for(session: Session, settings: Settings, round_: Round, n: int) -> list[str]:
    return issue_tokens(session, round_.id, n, token_key(settings))


def addresses(n: int, domain: str = "example.org") -> list[str]:
    return [f"person{i:03d}@{domain}" for i in range(n)]


@dataclass
class RecordingMailer:
    """Keeps messages in memory; can fail (like a dropped SMTP connection) after N sends."""

    fail_after: int | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    closed: int = 0
    labels: list[str | None] = field(default_factory=list)

    def send(self, message: EmailMessage, *, label: str | None = None) -> None:
        if self.fail_after is not None and len(self.messages) >= self.fail_after:
            raise MailError("connection dropped (simulated)")
        self.messages.append(message)
        self.labels.append(label)

    def close(self) -> None:
        self.closed += 1


class _Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted"


@dataclass
class SmtpServer:
    url: str
    sink: _Sink

    @property
    def messages(self) -> list[Message]:
        return self.sink.messages


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free port in this process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(f"smtp://127.0.0.1:{port}", sink)
    finally:
        controller.stop()


def body_of(message: Message) -> str:
    if message.is_multipart():
        return "".join(body_of(part) for part in message.get_payload())  # type: ignore[union-attr]
    payload = message.get_payload(decode=True)
    return payload.decode(message.get_content_charset() or "utf-8") if payload else ""


def every_row(session: Session) -> list[tuple[str, dict[str, Any]]]:
    """Every row of every table the app knows, as (table name, column -> value)."""
    rows = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            rows.append((table.name, dict(row)))
    return rows


def row_text(row: dict[str, Any]) -> str:
    parts = []
    for value in row.values():
        if isinstance(value, bytes | bytearray | memoryview):
            parts.append(bytes(value).hex())
        else:
            parts.append(str(value))
    return "\x00".join(parts)


def publish_as_admin(client: Any, app: Any, round_id: int) -> Any:
    """Press Publish on the confirmation page, then let the scheduler's job run it.

    Publication runs in the background (surveys.publication_jobs): the request only
    queues it. Returns the status page the admin is sent to, after the job ran.
    """
    queued = post_form(client, f"/admin/surveys/rounds/{round_id}/publish",
                       {"confirmed": "yes", "understood": "y"})
    assert queued.status_code == 302, queued.get_data(as_text=True)
    run_publications(services(app))
    return client.get(queued.headers["Location"])


def problems_of(raw: dict[str, Any], settings: Settings) -> dict[str, str]:
    """The problems `check_spec` finds in a survey definition, by field."""
    with pytest.raises(admin_services.SurveySpecError) as caught:
        admin_services.check_spec(raw, settings)
    return {name: str(message) for name, message in caught.value.problems}


def page_text(page: str) -> str:
    """A page's text with entities read and runs of white space made one space."""
    return htmllib.unescape(re.sub(r"\s+", " ", page))
