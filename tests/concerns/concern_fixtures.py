"""Fixtures for the concerns tests: cheap Argon2, a recovery key, handlers with keys.

Imported by name into each test module (a conftest.py here would shadow the root one
for modules that `from conftest import …`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from flask import Flask
from sqlalchemy.orm import Session

from concerns import crypto, keys
from concerns.config import ConcernConfig
from speakup import accounts
from speakup.clock import FrozenClock
from speakup.settings import Settings
from speakup.web import services

__all__ = ["app", "concern_config", "make_handler", "make_standby_reader", "recovery_key"]

# The cheapest Argon2id parameters, so handler sign-ins stay fast in tests;
# production uses crypto.HANDLER_KEY_ARGON2 (checked in test_concerns_keys).
CHEAP_ARGON2 = crypto.Argon2Params(memory_kib=8, iterations=1, lanes=1)


@pytest.fixture
def concern_config(settings: Settings) -> ConcernConfig:
    return ConcernConfig.from_settings(settings).with_changes(argon2=CHEAP_ARGON2)


@pytest.fixture
def app(app: Flask, concern_config: ConcernConfig) -> Flask:  # type: ignore[override]
    services(app).extras["concerns"] = concern_config
    return app


STANDBY_READER = "standby-reader@example.org"


@pytest.fixture
def recovery_key(request: pytest.FixtureRequest, session: Session, clock: FrozenClock,
                 concern_config: ConcernConfig) -> X25519PrivateKey:
    """The organisation's recovery key, set up as `speakup keys init` would.

    Concerns are refused until an active handler has a key pair (issue 19), so a test
    that makes no handlers of its own also gets a standby handler who signed in once;
    one that uses `make_handler` makes its readers itself.
    """
    pem, _ = keys.create_recovery_key(session, clock, concern_config, actor="test")
    session.commit()
    if "make_handler" not in request.fixturenames:
        make_standby_reader(session, clock, concern_config)
    return crypto.load_recovery_private_key(pem)


def make_standby_reader(session: Session, clock: FrozenClock,
                        config: ConcernConfig) -> object:
    """A handler account with a key pair, as after their first sign-in."""
    user = accounts.create_user(session, clock, email=STANDBY_READER, role="handler",
                                password="standby reader password", actor="test")
    keys.unlock_handler_key(session, clock, config, user, "standby reader password")
    session.commit()
    return user


@dataclass
class Handler:
    user: object
    password: str
    private_key: X25519PrivateKey


@pytest.fixture
def make_handler(make_user: Callable[..., object], session: Session, clock: FrozenClock,
                 concern_config: ConcernConfig) -> Callable[..., Handler]:
    """A handler account whose key pair exists (as after their first sign-in)."""

    def make(**kwargs: object) -> Handler:
        account = make_user("handler", **kwargs)
        private = keys.unlock_handler_key(session, clock, concern_config, account.user,
                                          account.password)
        session.commit()
        assert private is not None
        return Handler(account.user, account.password, private)

    return make
