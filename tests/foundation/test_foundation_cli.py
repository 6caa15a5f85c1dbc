"""The `speakup` command: init, create-user, and refusing unsafe settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner
from conftest import PASSWORD, TEST_SECRET
from sqlalchemy import select

from speakup import accounts
from speakup.app import create_app
from speakup.cli import main
from speakup.models import AuditEntry
from speakup.settings import Settings, SettingsError


def create_user(runner, email: str, role: str, password: str = PASSWORD, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(main, ["create-user", "--email", email, "--role", role, *extra],
                         input=password + "\n")


@pytest.mark.parametrize("role", ["admin", "handler"])
def test_create_user_prints_the_totp_uri_once(runner, session, clock, role):
    result = create_user(runner, "New.Person@Example.org", role)
    assert result.exit_code == 0, result.output
    assert result.output.count("otpauth://") == 1
    assert "not shown again" in result.output
    user = accounts.find_user(session, "new.person@example.org")
    assert user is not None and user.role == role
    uri = next(line for line in result.output.splitlines() if line.startswith("otpauth://"))
    totp = pyotp.parse_uri(uri)
    assert totp.secret == user.totp_secret
    assert "Speak%20Up" in uri or "Speak Up" in uri
    # The password came from standard input and works.
    code = totp.at(clock.now())
    accounts.authenticate(session, clock, accounts.LockoutPolicy(), email=user.email,
                          password=PASSWORD, totp_code=code)
    assert PASSWORD not in result.output
    actors = session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "account.create"))
    assert "cli" in set(actors)


def test_create_reviewer_has_no_totp_unless_asked(runner, session):
    result = create_user(runner, "reviewer@example.org", "reviewer")
    assert result.exit_code == 0, result.output
    assert "otpauth://" not in result.output
    assert accounts.find_user(session, "reviewer@example.org").totp_secret is None
    result = create_user(runner, "careful@example.org", "reviewer", PASSWORD, "--totp")
    assert result.output.count("otpauth://") == 1


@pytest.mark.parametrize(("password", "message"), [
    ("short", "at least 12 characters"),
    ("", "at least 12 characters"),
])
def test_create_user_refuses_weak_passwords(runner, session, password, message):
    result = create_user(runner, "weak@example.org", "handler", password)
    assert result.exit_code == 1
    assert message in result.output
    assert "otpauth://" not in result.output
    assert accounts.find_user(session, "weak@example.org") is None


def test_create_user_refuses_duplicates(runner, make_user):
    existing = make_user("reviewer")
    result = create_user(runner, existing.user.email.upper(), "admin")
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "otpauth://" not in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--email", "not-an-address", "--role", "admin"], "valid e-mail address"),
    (["--email", "a@example.org", "--role", "superuser"], "Invalid value for '--role'"),
])
def test_create_user_refuses_bad_arguments(runner, args, message):
    result = runner.invoke(main, ["create-user", *args], input=PASSWORD + "\n")
    assert result.exit_code != 0
    assert message in result.output


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str | None]:
    """An environment naming only a fresh instance folder (no secret key anywhere)."""
    return {
        "SPEAKUP_INSTANCE_PATH": str(tmp_path / "instance"),
        "SPEAKUP_SECRET_KEY": None,
        "SPEAKUP_DATABASE_URL": None,
        "SPEAKUP_MIN_GROUP_SIZE": None,
    }


def test_init_creates_a_private_secret_key_once(bare_env, tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(main, ["init"], env=bare_env)
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    key = key_file.read_text()
    assert len(key) >= 43  # at least 256 bits, URL-safe base64
    again = runner.invoke(main, ["init"], env=bare_env)
    assert again.exit_code == 0
    assert "already present" in again.output
    assert key_file.read_text() == key
    assert Settings.from_env({"SPEAKUP_INSTANCE_PATH": str(tmp_path / "instance")}
                             ).resolved_secret_key() == key


def test_init_never_overwrites_an_existing_key(bare_env, tmp_path: Path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text("my-own-key")
    result = CliRunner().invoke(main, ["init"], env=bare_env)
    assert result.exit_code == 0
    assert (instance / "secret_key").read_text() == "my-own-key"


def test_init_writes_nothing_when_the_key_is_in_the_environment(bare_env, tmp_path: Path):
    env = bare_env | {"SPEAKUP_SECRET_KEY": TEST_SECRET}
    result = CliRunner().invoke(main, ["init"], env=env)
    assert result.exit_code == 0
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_app_refuses_to_start_without_a_secret_key(bare_env):
    result = CliRunner().invoke(main, ["audit", "verify"], env=bare_env)
    assert result.exit_code == 1
    assert "No secret key" in result.output and "speakup init" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["serve"], ["audit", "verify"], ["demo"]])
def test_min_group_size_below_three_refuses_to_start(bare_env, command):
    env = bare_env | {"SPEAKUP_MIN_GROUP_SIZE": "2", "SPEAKUP_SECRET_KEY": TEST_SECRET}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1
    assert "SPEAKUP_MIN_GROUP_SIZE is 2" in result.output
    assert "can never be below 3" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["2", "0", "-5"])
def test_settings_refuse_small_groups(value):
    with pytest.raises(SettingsError, match="never be below 3"):
        Settings.from_env({"SPEAKUP_MIN_GROUP_SIZE": value})


def test_settings_accept_three_and_default_to_five():
    assert Settings.from_env({"SPEAKUP_MIN_GROUP_SIZE": "3"}).min_group_size == 3
    assert Settings.from_env({}).min_group_size == 5


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SPEAKUP_MIN_GROUP_SIZE", "five", "whole number"),
    ("SPEAKUP_SECURE_COOKIES", "maybe", "true or false"),
    ("SPEAKUP_TIMEZONE", "Mars/Olympus_Mons", "not a known time zone"),
    ("SPEAKUP_IDLE_TIMEOUT_MINUTES", "0", "at least 1"),
])
def test_settings_explain_bad_values(name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


def test_settings_defaults(tmp_path: Path):
    settings = Settings.from_env({"SPEAKUP_INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'speakup.sqlite3'}"
    assert settings.outbox_path == tmp_path / "outbox"
    assert settings.smtp_url is None
    assert settings.secure_cookies is True
    assert settings.idle_timeout_minutes == 30


def test_settings_are_frozen():
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.min_group_size = 1  # type: ignore[misc]


def test_create_app_writes_nothing_and_connects_to_nothing(tmp_path: Path):
    instance = tmp_path / "instance"
    app = create_app(Settings(instance_path=instance, secret_key=TEST_SECRET))
    try:
        assert not instance.exists(), "no folder, database or key file at boot"
        assert app.extensions["speakup"].engine.pool.checkedout() == 0
        assert "scheduler" not in app.extensions
    finally:
        app.extensions["speakup"].engine.dispose()
