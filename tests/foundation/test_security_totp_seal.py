"""Issue 13, finding 7: TOTP secrets are sealed at rest under a derived key."""

from __future__ import annotations

import pyotp
import pytest
from click.testing import CliRunner
from conftest import PASSWORD, TEST_SECRET, post_form
from sqlalchemy import text

from speakup import accounts, migrate, totp_seal
from speakup.cli import main
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.derived_keys import session_keys
from speakup.models import User


def _stored(session, user_id: int) -> str:  # type: ignore[no-untyped-def]
    return session.execute(text("SELECT totp_sealed FROM users WHERE id = :i"),
                           {"i": user_id}).scalar()


def test_the_database_holds_no_plain_totp_secret(make_user, session):
    account = make_user("handler")
    stored = _stored(session, account.user.id)
    assert stored.startswith("v1:") and account.user.totp_secret not in stored
    session.expire_all()
    again = session.get(User, account.user.id)
    assert again.totp_secret == account.user.totp_secret, "the app still reads it"


def test_sign_in_works_with_a_sealed_secret(client, make_user, clock):
    account = make_user("admin")
    response = post_form(client, "/login", {"email": account.user.email, "password": PASSWORD,
                                            "totp": account.totp_now(clock)})
    assert response.status_code == 302


def test_a_sealed_secret_cannot_be_moved_to_another_account(make_user, session):
    victim, attacker = make_user("admin"), make_user("handler")
    session.execute(text("UPDATE users SET totp_sealed = :s WHERE id = :i"),
                    {"s": _stored(session, attacker.user.id), "i": victim.user.id})
    session.expire_all()
    with pytest.raises(totp_seal.SealError):
        session.get(User, victim.user.id).totp_secret  # noqa: B018


def test_another_secret_key_cannot_open_it(make_user, session):
    account = make_user("admin")
    stored = _stored(session, account.user.id)
    other = session_keys("a different secret key " + "y" * 30)["totp_key"]
    with pytest.raises(totp_seal.SealError):
        totp_seal.unseal(other, account.user.email, stored)


def test_db_upgrade_seals_secrets_stored_in_plain_text(tmp_path):
    url = f"sqlite:///{tmp_path / 'speakup.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:  # no key: the old, plain format
            user = accounts.create_user(session, SystemClock(), email="old@example.org",
                                        role="admin", password=PASSWORD, actor="test")
            session.commit()
            plain = user.totp_secret
            assert _stored(session, user.id) == plain
        env = {"SPEAKUP_INSTANCE_PATH": str(tmp_path / "instance"),
               "SPEAKUP_SECRET_KEY": TEST_SECRET, "SPEAKUP_DATABASE_URL": url}
        result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
        assert result.exit_code == 0, result.output
        assert "Sealed 1 second-factor secrets" in result.output
        with make_session_factory(engine, session_keys(TEST_SECRET))() as session:
            assert _stored(session, user.id).startswith("v1:")
            loaded = session.get(User, user.id)
            assert loaded.totp_secret == plain
            assert pyotp.TOTP(loaded.totp_secret).now()
    finally:
        engine.dispose()
