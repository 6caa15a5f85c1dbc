"""Demo accounts and data for `make run`, so a fresh install shows something real."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pyotp
from flask import Flask

from speakup import accounts
from speakup.web import services

# Two handlers, so that a reporter can keep one out, a handler can recuse, and sharing
# has someone to share with (`concerns.demo` gives each a display name, in this order).
DEMO_HANDLERS = ("handler@demo.speakup.local", "handler2@demo.speakup.local")
DEMO_ACCOUNTS = (
    ("admin@demo.speakup.local", "admin"),
    *((email, "handler") for email in DEMO_HANDLERS),
    ("reviewer@demo.speakup.local", "reviewer"),
)


def seed_demo(app: Flask, say: Callable[[str], None]) -> None:
    """Create the demo accounts (printing credentials once), then run the demo seeders."""
    svc = services(app)
    created = []
    with svc.session_factory() as session:
        for email, role in DEMO_ACCOUNTS:
            if accounts.find_user(session, email) is not None:
                continue
            password = secrets.token_urlsafe(12)
            user = accounts.create_user(
                session, svc.clock, email=email, role=role, password=password, actor="demo"
            )
            # As if each account had signed in once: a handler gets its key pair now,
            # so the demo concerns below are encrypted to it and readable at once.
            for hook in svc.login_hooks:
                hook(session, user, password)
            created.append((user, password))
        # Each package adds its demo data here (wired by the app factory).
        for seeder in svc.extras.get("demo_seeders", []):
            seeder(session, svc, say)
        session.commit()
    if not created:
        say("Demo accounts already exist (their passwords were shown when they were made).")
        return
    say("")
    say("Demo accounts (shown once; this is a local demo, not for real use):")
    for user, password in created:
        say(f"  {user.role:<9} {user.email}  password: {password}")
        if user.totp_secret:
            say(f"            TOTP secret {user.totp_secret} — add to an authenticator app,")
            say(f"            or get a code with: .venv/bin/speakup totp-code {user.totp_secret}")
    say("")


def current_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()
