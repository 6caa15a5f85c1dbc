"""`speakup keys …` (recovery key, handler access), `speakup concerns purge|publish-stats`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from concerns import crypto, keys, publication, readers, services
from concerns.models import HandlerKey
from concerns.stats import last_quarters, quarter_label, snapshot_date
from speakup.models import Role, User
from speakup.web import services as app_services


@click.group("keys")
def keys_group() -> None:
    """Manage the recovery key and handlers' access to concerns."""


def _secret(prompt: str, confirm: bool) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def write_private_file(path: Path, data: bytes) -> None:
    """Write `data` to a new file readable by its owner only; never overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@keys_group.command("init")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private half (created with mode 0600; must not exist).")
@click.option("--passphrase/--no-passphrase", default=False, show_default=True,
              help="Encrypt the private half with a passphrase (read from standard input).")
@with_appcontext
def keys_init(out: Path, passphrase: bool) -> None:
    """Create the organisation's recovery key; only its public half stays in the database.

    Every concern message is also encrypted to this key, so whoever holds the private
    half can give a new case handler access after every handler has left. Keep it
    offline (an encrypted USB stick in a safe, or printed), never on the server.
    """
    if out.exists():
        raise click.ClickException(f"{out} already exists; choose a new file name.")
    secret = _secret("Passphrase for the recovery key", True) if passphrase else None
    svc = app_services(current_app)
    with svc.session_factory() as session:
        try:
            pem, key = keys.create_recovery_key(session, svc.clock, svc.extras["concerns"],
                                                actor="cli", passphrase=secret)
        except keys.KeyManagementError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            write_private_file(out, pem)
        except OSError as exc:
            raise click.ClickException(f"Could not write {out}: {exc}") from exc
        try:
            session.commit()
        except Exception:
            out.unlink(missing_ok=True)
            raise
        click.echo(f"Recovery key created. Private half written to {out} (mode 0600).")
        click.echo(f"Fingerprint: {keys.fingerprint(key.public_key)}")
        click.echo("Move that file off this server now and keep it offline; it is not shown again.")


@keys_group.command("recover")
@click.option("--key", "key_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--handler", "email", required=True, help="The case handler to grant access to.")
@with_appcontext
def keys_recover(key_file: Path, email: str) -> None:
    """Give a case handler access to every concern, using the recovery key."""
    data = key_file.read_bytes()
    secret = _secret("Passphrase", False) if b"ENCRYPTED" in data else None
    try:
        private = crypto.load_recovery_private_key(data, secret)
    except crypto.KeyFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    svc = app_services(current_app)
    with svc.session_factory() as session:
        try:
            counts = services.recover_access(session, svc.clock, svc.extras["concerns"],
                                             private, email, actor="cli (recovery key)")
        except (keys.KeyManagementError, services.ConcernError) as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
        waiting = readers.count_waiting_for_a_reader(session)
    click.echo(f"Granted {email} access to {sum(counts.values())} messages "
               f"in {len(counts)} concerns.")
    if waiting:
        # Never how many kept this handler out: that would tell who was kept out of what.
        click.echo(f"{waiting} concern(s) still wait for a reader. A concern whose reporter "
                   f"kept {email} out is never given to them: run this again for another "
                   "case handler.")


@keys_group.command("status")
@with_appcontext
def keys_status() -> None:
    """Show the recovery key's fingerprint and which handlers have key pairs."""
    svc = app_services(current_app)
    with svc.session_factory() as session:
        recovery = keys.active_recovery_key(session)
        if recovery is None:
            click.echo("No recovery key: run `speakup keys init --out FILE` before going live.")
        else:
            click.echo(f"Recovery key {keys.fingerprint(recovery.public_key)} "
                       f"(created {recovery.created_on.isoformat()})")
        handlers = session.scalars(
            select(User).where(User.role == Role.HANDLER.value).order_by(User.email)
        )
        for user in handlers:
            has_key = session.get(HandlerKey, user.id) is not None
            state = "disabled" if user.disabled else ("key pair" if has_key else
                                                      "no key pair yet (has not signed in)")
            click.echo(f"  {user.email}: {state}")
        waiting = readers.count_waiting_for_a_reader(session)
        click.echo(f"Concerns waiting for a reader (no active handler can read them): {waiting}")


@click.group("concerns")
def concerns_group() -> None:
    """Look after stored concerns."""


@concerns_group.command("purge")
@with_appcontext
def concerns_purge() -> None:
    """Delete content and keys of concerns closed longer than the retention period."""
    svc = app_services(current_app)
    config = svc.extras["concerns"]
    with svc.session_factory() as session:
        count = services.purge_expired(session, svc.clock, config, actor="cli")
        session.commit()
    click.echo(f"Purged {count} concerns closed more than {config.retention_days} days ago.")


@concerns_group.command("publish-stats")
@with_appcontext
def concerns_publish_stats() -> None:
    """Publish every due, unpublished quarter's concern statistics (safe to run again)."""
    svc = app_services(current_app)
    config = svc.extras["concerns"]
    today = config.today(svc.clock)
    with svc.session_factory() as session:
        try:
            done = publication.publish_due_quarters(
                session, svc.clock, today, k=svc.settings.min_group_size,
                grace_days=config.stats_grace_days, actor="cli",
            )
        except publication.StatsPublicationError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    for item in done:
        extra = f"; the audit hid {', '.join(item.hidden_by_audit)}" if item.hidden_by_audit else ""
        click.echo(f"Published {item.quarter} (figures as of {item.snapshot_date.isoformat()}"
                   f"{extra}).")
    if not done:
        click.echo("Nothing to publish: every due quarter is already published.")
    following = next(q for q in last_quarters(today, 2)
                     if snapshot_date(*q, config.stats_grace_days) > today)
    due = snapshot_date(*following, config.stats_grace_days)
    click.echo(f"Next: {quarter_label(*following)} on {due.isoformat()}.")
