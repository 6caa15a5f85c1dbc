"""The `speakup` command: set-up, migrations, accounts, audit and the local server."""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from speakup import (
    accounts,
    audit,
    db_copy,
    migrate,
    publication_log,
    signing,
    totp_seal,
    verify_report,
)
from speakup.app import create_app
from speakup.clock import SystemClock
from speakup.db import DatabaseUnavailableError, make_engine, make_session_factory
from speakup.demo import current_code, seed_demo
from speakup.derived_keys import session_keys
from speakup.devserver import base_url_for, serve
from speakup.instance import secure_instance
from speakup.logs import configure_logging
from speakup.readiness import check_before_serving, database_problems
from speakup.scheduler import run_scheduler
from speakup.settings import Settings, SettingsError
from speakup.web import services


def _create_app() -> Flask:
    """Build the app, turning a configuration mistake into a one-line error, not a trace."""
    try:
        return create_app()
    except SettingsError as exc:
        raise click.ClickException(f"Speak Up cannot start: {exc}") from exc


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """Speak Up: anonymous concerns, pulse surveys and aggregated review."""
    # Whatever a command creates (database, -wal, outbox, key file) is owner-only.
    os.umask(0o077)


@main.command("init", with_appcontext=False)
def init_command() -> None:
    """Create the instance folder and a secret key (once; never overwritten)."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    # Owner-only: the folder holds the SQLite database, the secret key and the outbox.
    for path in secure_instance(settings.instance_path):
        click.echo(f"Made {path} owner-only.")
    _make_secret_key(settings)
    # The signing key lives (sealed) in the database: made here when the database is
    # already migrated, else by `speakup db upgrade`.
    if _database_ready(settings):
        _init_signing_key(settings)
    else:
        click.echo("The signing key is made by `speakup db upgrade`.")


def _make_secret_key(settings: Settings) -> None:
    if settings.secret_key:
        click.echo("SPEAKUP_SECRET_KEY is set; no key file needed.")
        return
    path = settings.secret_key_file
    if path.exists():
        click.echo(f"Secret key already present at {path}.")
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    click.echo(f"Created secret key at {path} (mode 0600). Back it up: receipts depend on it.")


def _database_ready(settings: Settings) -> bool:
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            return not database_problems(session, settings.database_url)
    finally:
        engine.dispose()


def _keyed_session(settings: Settings):  # type: ignore[no-untyped-def]
    """A session carrying the keys derived from the secret, as the app's do."""
    engine = make_engine(settings.database_url)
    return engine, make_session_factory(engine, session_keys(settings.resolved_secret_key()))()


def _init_signing_key(settings: Settings) -> None:
    engine, session = _keyed_session(settings)
    try:
        with session:
            row = publication_log.init_signing_key(session, SystemClock())
            session.commit()
            row = row or signing.active_key(session)
    finally:
        engine.dispose()
    assert row is not None
    click.echo(f"Signing key fingerprint: {signing.grouped(row.fingerprint)}")


def _require_database() -> None:
    """Stop with one clear line if the database is missing, read-only or not migrated."""
    try:
        check_before_serving(services().settings)
    except DatabaseUnavailableError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group("db")
def db_group() -> None:
    """Apply or inspect database migrations."""


def _database_url() -> str:
    try:
        return Settings.from_env().database_url
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@db_group.command("upgrade", with_appcontext=False)
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Bring the database schema up to date."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    url = settings.database_url
    before, after = migrate.upgrade(url, revision)  # creates a missing SQLite file, owner-only
    if revision == "head":
        _seal_totp_secrets(settings)
        try:
            _init_signing_key(settings)
        except SettingsError:
            click.echo("No secret key yet: run `speakup init` to make it and the signing key.")
    for path in secure_instance(settings.instance_path):
        click.echo(f"Made {path} owner-only.")
    click.echo(migrate.upgrade_message(before, after))


def _seal_totp_secrets(settings: Settings) -> None:
    """Seal second-factor secrets stored before sealing existed (issue 13)."""
    try:
        secret = settings.resolved_secret_key()
    except SettingsError:
        return  # no key yet (before `speakup init`): no account can exist either
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine, session_keys(secret))() as session:
            sealed = totp_seal.seal_legacy_secrets(session)
            session.commit()
    finally:
        engine.dispose()
    if sealed:
        click.echo(f"Sealed {sealed} second-factor secrets stored in plain text.")


@db_group.command("downgrade", with_appcontext=False)
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Step the schema back to REVISION (e.g. -1 or base)."""
    migrate.downgrade(_database_url(), revision)


@db_group.command("copy", with_appcontext=False)
@click.option("--to", "target_url", required=True, metavar="URL",
              help="An empty PostgreSQL database: postgresql+psycopg://user@host/database")
def db_copy_command(target_url: str) -> None:
    """Copy the configured database (e.g. SQLite) into an empty PostgreSQL database."""
    settings = _settings()
    try:
        keys = session_keys(settings.resolved_secret_key())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    shown = make_url(target_url).render_as_string(hide_password=True)
    click.echo(f"Copying into {shown} (one transaction: all or nothing).")
    try:
        report = db_copy.copy_database(settings.database_url, target_url, keys, click.echo)
    except db_copy.CopyError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report.lines():
        click.echo(line)
    click.echo("Next: set SPEAKUP_DATABASE_URL to the new database on every host, start "
               "the service, then erase the old file (README: Moving from SQLite to "
               "PostgreSQL).")


@db_group.command("current", with_appcontext=False)
def db_current() -> None:
    """Show the revision the database is at."""
    migrate.current_heads(_database_url())


@main.command("create-user", with_appcontext=False)
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "handler", "reviewer"]))
@click.option("--totp/--no-totp", "with_totp", default=None,
              help="Reviewers may opt in; admins and handlers always have it.")
@with_appcontext
def create_user_command(email: str, role: str, with_totp: bool | None) -> None:
    """Create a staff account, reading the password from standard input."""
    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    svc = services(current_app)
    with svc.session_factory() as session:
        try:
            user = accounts.create_user(
                session, svc.clock, email=email, role=role, password=password,
                actor="cli", with_totp=with_totp,
            )
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
        click.echo(f"Created {role} account {user.email}.")
        uri = accounts.totp_uri(user)
        if uri:
            click.echo("Add this to an authenticator app now; it is not shown again:")
            click.echo(uri)


@main.group("audit")
def audit_group() -> None:
    """Check the audit log."""


@audit_group.command("verify", with_appcontext=False)
@click.option("--head", "exported_head", default=None, metavar="ID:HASH",
              help="A head printed earlier by `speakup audit head`: the chain must still "
                   "run through it.")
@with_appcontext
def audit_verify(exported_head: str | None) -> None:
    """Verify the HMAC chain; exit 1 naming the first broken entry."""
    with services(current_app).session_factory() as session:
        try:
            result = audit.verify(session, exported_head)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    if result.ok:
        click.echo(f"Audit log intact: {result.checked} entries verified"
                   + (f", through the exported head {exported_head.split(':')[0]}"
                      if exported_head else "") + ".")
        if result.unkeyed:
            click.echo(f"{result.unkeyed} early entries predate the keyed chain (plain "
                       "SHA-256): only an exported head protects them.")
        return
    where = f"entry {result.first_broken_id}" if result.first_broken_id else "the chain head"
    click.echo(f"Audit log BROKEN at {where}: {result.reason}.", err=True)
    sys.exit(1)


@audit_group.command("head", with_appcontext=False)
@with_appcontext
def audit_head() -> None:
    """Print the chain's head; keep it outside the database (e.g. a signed ticket)."""
    with services(current_app).session_factory() as session:
        click.echo(audit.head(session))


@main.command("demo", with_appcontext=False)
@with_appcontext
def demo_command() -> None:
    """Create demo accounts (admin, two handlers, reviewer) and data; safe to run twice."""
    seed_demo(current_app, click.echo)


@main.command("serve", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--with-scheduler/--without-scheduler", default=True, show_default=True,
              help="Run the scheduler in this process (only for a single local server).")
def serve_command(host: str, port: int, with_scheduler: bool) -> None:
    """Serve locally without logging client addresses (production: gunicorn)."""
    configure_logging()  # before the app exists: Flask's own handler would stamp the time
    # Links in invitations must reach this server: unless the operator chose a base URL,
    # take it from the host and port served.
    try:
        settings = Settings.from_env()
        if not os.environ.get("SPEAKUP_BASE_URL"):
            settings = dataclasses.replace(settings, base_url=base_url_for(host, port))
        app = create_app(settings)
    except SettingsError as exc:
        raise click.ClickException(f"Speak Up cannot start: {exc}") from exc
    try:
        check_before_serving(app.extensions["speakup"].settings)
    except DatabaseUnavailableError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Links in e-mails point to {app.extensions['speakup'].settings.base_url}")
    serve(app, host, port, with_scheduler)


@main.command("scheduler", with_appcontext=False)
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduled jobs; only one scheduler is ever active (others wait)."""
    _require_database()
    configure_logging()  # dates only, never a time of day (DESIGN.md rule 1)
    run_scheduler(current_app._get_current_object(), click.echo)  # type: ignore[attr-defined]


@main.command("totp-code", with_appcontext=False)
@click.argument("secret")
def totp_code_command(secret: str) -> None:
    """Print the current code for a TOTP SECRET (for the local demo accounts)."""
    try:
        click.echo(current_code(secret))
    except (ValueError, TypeError) as exc:
        raise click.ClickException("That is not a valid TOTP secret.") from exc


class _KeysGroup(AppGroup):
    """`speakup keys`: the signing-key commands here, and the app's own `keys` commands
    (the concerns' recovery key: init, recover, status) found through the app, which a
    group of the same name here would otherwise hide."""

    def _app_keys(self, ctx: click.Context) -> click.Group | None:
        info = ctx.find_object(ScriptInfo)
        if info is None:
            return None
        group = info.load_app().cli.get_command(ctx, "keys")
        return group if isinstance(group, click.Group) and group is not self else None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and (app_keys := self._app_keys(ctx)) is not None:
            command = app_keys.get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        try:
            app_keys = self._app_keys(ctx)
        except Exception:  # noqa: BLE001 - a broken set-up still lists the signing commands
            app_keys = None
        if app_keys is not None:
            names.update(app_keys.list_commands(ctx))
        return sorted(names)


@main.group("keys", cls=_KeysGroup)
def keys_group() -> None:
    """The recovery key, handlers' access to concerns, and the signing key."""


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@keys_group.command("init-signing", with_appcontext=False)
def keys_init_signing() -> None:
    """Make the signing key if there is none; print its fingerprint either way."""
    try:
        _init_signing_key(_settings())
    except (SettingsError, signing.SigningError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Publish this fingerprint somewhere the server is not (annual report, "
               "intranet): readers check signatures against it.")


@keys_group.command("rotate-signing", with_appcontext=False)
def keys_rotate_signing() -> None:
    """Make a new signing key, endorsed in the publication log by the current one."""
    try:
        engine, session = _keyed_session(_settings())
        try:
            with session:
                old = signing.active_key(session)
                new = publication_log.rotate_signing_key(session, SystemClock())
                session.commit()
        finally:
            engine.dispose()
    except (SettingsError, signing.SigningError, publication_log.LogError) as exc:
        raise click.ClickException(str(exc)) from exc
    assert old is not None
    click.echo(f"Old signing key: {signing.grouped(old.fingerprint)}")
    click.echo(f"New signing key: {signing.grouped(new.fingerprint)}")
    click.echo("The log records the change, signed by the old key. Publish the new "
               "fingerprint where you published the old one.")


@main.command("verify", with_appcontext=False,
              context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def verify_command(args: tuple[str, ...]) -> None:
    """Check a signed publication or log offline: FILE [--key FP] [--log LOG] [--results PAGE].

    The same checks as tools/verify_report.py, which needs nothing but `cryptography`.
    """
    sys.exit(verify_report.run(list(args)))
