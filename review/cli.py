"""`speakup publications …`: sign the progress report, and publications made before signing."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from concerns.publication import sign_unlogged_quarters
from review import peers, progress_report
from speakup import publication_log, signing
from speakup.web import services
from surveys.publish import sign_unlogged_rounds


@click.group("publications")
def publications_group() -> None:
    """Signed publications: the progress report and the publication log."""


@publications_group.command("publish-report")
@with_appcontext
def publish_report_command() -> None:
    """Sign today's progress report (a second one today corrects the first)."""
    svc = services(current_app)
    with svc.session_factory() as session:
        try:
            entry = progress_report.publish_report(session, svc.settings.min_group_size,
                                                   svc.clock.today())
        except (progress_report.ReportError, publication_log.LogError,
                signing.SigningError) as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    assert entry is not None  # the app's sessions always carry the seal key
    click.echo(f"Signed the progress report as entry {entry.seq} of the publication log.")


@publications_group.command("sign-past")
@with_appcontext
def sign_past_command() -> None:
    """Sign every survey round and concern quarter published before signing existed."""
    svc = services(current_app)
    with svc.session_factory() as session:
        try:
            rounds = sign_unlogged_rounds(session)
            quarters = sign_unlogged_quarters(session)
        except (publication_log.LogError, signing.SigningError) as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"Signed {rounds} survey rounds and {quarters} concern quarters published "
               "before signing.")


@publications_group.command("import-peer")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--organisation", required=True, help="The peer's name, as reviewers will read it.")
@with_appcontext
def import_peer_command(file: Path, organisation: str) -> None:
    """Import another organisation's signed progress report (its key pinned on first import)."""
    svc = services(current_app)
    with svc.session_factory() as session:
        try:
            report = peers.import_report(session, svc.clock, organisation=organisation,
                                         text=file.read_text(encoding="utf-8"), actor="cli")
        except peers.PeerImportError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"Imported {organisation}'s signed report (entry {report.seq}).")
