"""Outgoing e-mail: SMTP from `SPEAKUP_SMTP_URL`, or `.eml` files in the outbox folder.

A mailer is passed to whatever sends mail (never a module-level singleton), so tests
can hand in a real SMTP server on a free port or a recording double.
"""

from __future__ import annotations

import os
import re
import secrets
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from speakup.settings import Settings, SettingsError

DEFAULT_TIMEOUT_SECONDS = 30


class MailError(RuntimeError):
    """A message could not be handed over; nothing says it was delivered."""


class Mailer(Protocol):
    """Hands one message over for delivery; raises MailError if it could not.

    `label` names a set of messages that is erased together later (a survey round's
    invitations hold its links): the outbox starts their file names with it, so
    `erase_outbox` can find them; a mail server never sees it.
    """

    def send(self, message: EmailMessage, *, label: str | None = None) -> None: ...

    def close(self) -> None: ...


def build_message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    """Return a plain-text message from the configured sender."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = one_line(subject)
    domain = settings.mail_from.rpartition("@")[2].rstrip(">").strip() or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    return message


def one_line(text: str) -> str:
    """`text` with every run of whitespace or control characters made one space.

    A subject holds a survey title: titles are checked to be one line when saved, but
    one stored before that check must still make a valid header, not a ValueError.
    """
    return " ".join("".join(" " if unicodedata.category(c) in _BREAKS else c
                            for c in text).split())


_BREAKS = ("Cc", "Zl", "Zp")  # control characters, line and paragraph separators


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    implicit_tls: bool
    timeout: float

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse `smtp://user:pass@host:port?starttls=1` (or `smtps://…` for implicit TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise SettingsError(
                "SPEAKUP_SMTP_URL must look like smtp://user:password@host:587?starttls=1 "
                "(or smtps://… for TLS from the start)."
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if implicit else 25)
            timeout = float(query.get("timeout", DEFAULT_TIMEOUT_SECONDS))
        except ValueError as exc:
            raise SettingsError(f"SPEAKUP_SMTP_URL has a bad port or timeout: {exc}.") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", "0").lower() in {"1", "true", "yes", "on"},
            implicit_tls=implicit,
            timeout=timeout,
        )


class SmtpMailer:
    """Sends through one SMTP connection, opened on first use and reopened if dropped."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        if cfg.implicit_tls:
            conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.starttls:
                conn.starttls(context=context)
        if cfg.username:
            conn.login(cfg.username, cfg.password or "")
        return conn

    def send(self, message: EmailMessage, *, label: str | None = None) -> None:
        try:
            if self._conn is None:
                self._conn = self._connect()
            refused = self._conn.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise MailError(f"The mail server did not accept the message: {exc}") from exc
        if refused:
            raise MailError("The mail server refused the recipient.")

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


LABEL_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# "<label>-<24 hex>.eml", or ".<label>-<24 hex>.tmp" while it is being written.
_LABELLED = re.compile(r"\.?([a-z0-9]+(?:-[a-z0-9]+)*)-[0-9a-f]{24}\.(?:eml|tmp)")


class OutboxMailer:
    """Writes each message to `<instance>/outbox/[<label>-]<random>.eml` (no SMTP server needed)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage, *, label: str | None = None) -> None:
        if label is not None and not LABEL_RE.fullmatch(label):
            raise ValueError(f"Not a usable outbox label: {label!r}")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Random names: the folder listing says nothing about who was mailed when
            # (the label says only which set, e.g. which survey round, a message is in).
            name = secrets.token_hex(12) if label is None else f"{label}-{secrets.token_hex(12)}"
            partial = self.folder / f".{name}.tmp"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            partial.replace(self.folder / f"{name}.eml")
        except OSError as exc:
            raise MailError(f"Could not write to the outbox {self.folder}: {exc}") from exc

    def close(self) -> None:
        return None


def outbox_labels(folder: Path) -> set[str]:
    """The labels of the messages (and half-written ones) in an outbox folder."""
    if not folder.is_dir():
        return set()
    return {label for path in folder.iterdir() if (label := _label_of(path.name))}


def _label_of(name: str) -> str | None:
    match = _LABELLED.fullmatch(name)
    return match.group(1) if match else None


def erase_outbox(folder: Path, label: str) -> int:
    """Overwrite and delete the outbox files written with `label`; return how many went.

    Best effort at erasing: on a journalling or copy-on-write file system (or an SSD)
    the old blocks may survive the overwrite; deleting the file is what is promised.
    """
    if not LABEL_RE.fullmatch(label):
        raise ValueError(f"Not a usable outbox label: {label!r}")
    if not folder.is_dir():
        return 0
    erased = 0
    for path in [p for p in folder.iterdir() if _label_of(p.name) == label]:
        try:
            size = path.stat().st_size
            with path.open("r+b") as handle:
                handle.write(b"\0" * size)
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            continue  # erased by someone else meanwhile
        except OSError as exc:
            raise MailError(f"Could not delete {path} from the outbox: {exc}") from exc
        erased += 1
    return erased


def make_mailer(settings: Settings) -> Mailer:
    """Return an SMTP mailer if `SPEAKUP_SMTP_URL` is set, else the outbox mailer."""
    if settings.smtp_url:
        return SmtpMailer(SmtpConfig.from_url(settings.smtp_url))
    return OutboxMailer(settings.outbox_path)


def mailer_for(services: Any) -> Mailer:
    """The mailer a job should use: one set in `services.extras["mailer"]`, else from settings.

    Tests and embedders put a mailer (or a zero-argument factory) there; production
    leaves it unset.
    """
    override = services.extras.get("mailer")
    if override is None:
        return make_mailer(services.settings)
    return override() if callable(override) and not hasattr(override, "send") else override
