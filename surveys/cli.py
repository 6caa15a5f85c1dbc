"""`speakup surveys …` and `speakup rounds …`: the same services as the admin pages."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from speakup.mail import mailer_for
from speakup.web import Services, services
from surveys import admin_services, audience, confirm, rounds
from surveys.invitations import send_pending_mail, token_key
from surveys.models import Round, Survey
from surveys.publish import PublicationError
from surveys.round_keys import RoundKeyFolder

ACTOR = "cli"


def _svc() -> Services:
    return services(current_app)


def _load_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path} is not valid JSON: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path} is not valid YAML: {exc}") from exc


@click.group("surveys")
def surveys_group() -> None:
    """Create, list and export surveys; set their audience."""


@surveys_group.command("create")
@click.option("--from", "source", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A YAML or JSON survey definition (see `speakup surveys export`).")
@click.option("--audience", "audience_csv", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Optionally, a CSV or .xlsx of the staff addresses to invite.")
@with_appcontext
def create_command(source: Path, audience_csv: Path | None) -> None:
    """Create a survey from a definition file and plan its first rounds."""
    svc = _svc()
    raw = _load_file(source)
    try:
        spec = admin_services.check_spec(raw or {}, svc.settings, now=svc.clock.now())
    except admin_services.SurveySpecError as exc:
        for name, message in exc.problems:
            click.echo(f"{name}: {message}", err=True)
        raise click.ClickException(f"{source} was not saved.") from exc
    parsed = _read_audience(audience_csv, svc.settings.languages) if audience_csv else None
    with svc.session_factory() as session:
        survey = admin_services.create_survey(session, svc.clock, spec, actor=ACTOR)
        if parsed is not None:
            audience.replace_audience(session, svc.clock, survey, parsed.addresses, actor=ACTOR,
                                      languages=parsed.languages)
        planned = rounds.plan_survey_rounds(session, survey, svc.clock)
        session.commit()
        click.echo(f"Created survey {survey.id}: {survey.title}")
        click.echo(f"Schedule: {rounds.describe_schedule(survey)}")
        if parsed is not None:
            click.echo(f"Audience: {len(parsed.addresses)} address(es).")
        for round_ in planned:
            click.echo(f"Planned round {round_.id}: opens "
                       f"{rounds.local_time(round_.opens_at, survey.timezone)}")


def _read_audience(path: Path, languages: tuple[str, ...]) -> audience.AudienceFile:
    parsed = audience.parse_audience_file(path.read_bytes(), path.name, languages)
    for problem in parsed.problems:
        where = f"line {problem.line}" if problem.line else str(path)
        click.echo(f"{where}: {problem.message}", err=True)
    if not parsed.ok:
        raise click.ClickException(
            f"{audience.problems_sentence(parsed)} Nothing from {path} was saved.")
    for dup in parsed.duplicates:
        click.echo(f"line {dup.line}: {dup.address} repeats line {dup.first_line}; merged.")
    return parsed


@surveys_group.command("audience")
@click.argument("survey_id", type=int)
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def audience_command(survey_id: int, csv_file: Path) -> None:
    """Replace a survey's audience with the addresses in CSV_FILE (CSV or Excel .xlsx)."""
    svc = _svc()
    parsed = _read_audience(csv_file, svc.settings.languages)
    with svc.session_factory() as session:
        survey = session.get(Survey, survey_id)
        if survey is None:
            raise click.ClickException(f"There is no survey {survey_id}.")
        count = audience.replace_audience(session, svc.clock, survey, parsed.addresses,
                                          actor=ACTOR, languages=parsed.languages)
        session.commit()
    click.echo(f"Survey {survey_id} now has {count} address(es) in its audience.")


@surveys_group.command("export")
@click.argument("survey_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True)
@with_appcontext
def export_command(survey_id: int, fmt: str) -> None:
    """Print a survey's definition (without its audience), ready for `create --from`."""
    with _svc().session_factory() as session:
        survey = session.get(Survey, survey_id)
        if survey is None:
            raise click.ClickException(f"There is no survey {survey_id}.")
        spec = admin_services.export_spec(survey)
    if fmt == "json":
        click.echo(json.dumps(spec, indent=2, ensure_ascii=False))
    else:
        click.echo(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), nl=False)


@surveys_group.command("list")
@with_appcontext
def list_command() -> None:
    """List surveys with their schedule and audience size."""
    with _svc().session_factory() as session:
        for survey in admin_services.list_surveys(session):
            state = "active" if survey.active else "paused"
            size = audience.audience_size(session, survey.id)
            click.echo(f"{survey.id}\t{state}\t{size} invited\t{survey.title}\t"
                       f"{rounds.describe_schedule(survey)}")


@click.group("rounds")
def rounds_group() -> None:
    """List rounds; open, close or publish one by hand."""


@rounds_group.command("list")
@click.option("--survey", "survey_id", type=int, default=None)
@with_appcontext
def rounds_list(survey_id: int | None) -> None:
    """List rounds (newest first) with status, times and live response count."""
    with _svc().session_factory() as session:
        query = select(Survey).order_by(Survey.id)
        if survey_id is not None:
            query = query.where(Survey.id == survey_id)
        for survey in session.scalars(query):
            for view in rounds.round_overviews(session, survey):
                live = view.live
                if view.round.status == "scheduled":
                    count = "not open yet"
                elif live.shown:
                    count = f"{live.responses} responses"
                else:
                    count = f"fewer than {live.k} responses so far"
                click.echo(f"{view.round.id}\tsurvey {survey.id}\t{view.label}\t"
                           f"{view.round.status}\t"
                           f"{view.opens} → {view.closes}\t{view.round.invited_count} invited"
                           f"\t{count}")


def describe_preview(preview: confirm.RoundActionPreview) -> list[str]:
    """The confirmation page's facts, as lines for the terminal."""
    lines = [f"{preview.action.capitalize()} {preview.label} of “{preview.survey.title}”."]
    if preview.action == "open":
        lines.append(f"Invitations go to {preview.audience} address(es); k is fixed at "
                     f"{preview.k}; the round closes {preview.closes}.")
        return lines
    live = preview.live
    lines.append(f"Responses: {live.responses}." if live.shown
                 else f"Responses: fewer than {preview.k} so far.")
    if preview.suppression_problem:
        lines.append(preview.suppression_problem)
    elif preview.everything_hidden:
        lines.append(f"Hidden: everything (fewer than {preview.k} responses).")
    elif preview.hidden:
        for hidden in preview.hidden:
            lines.append(f"Hidden: {hidden.dimension}: {', '.join(hidden.groups)}.")
    else:
        lines.append("Hidden: no group.")
    when = (f"{preview.raw_retention_days} day(s) after publication"
            if preview.raw_retention_days else "at publication")
    lines.append(f"The raw answers are deleted for good {when}.")
    return lines


def _confirm(round_id: int, action: str, yes: bool) -> None:
    """Show what the action will do and ask, unless --yes was given."""
    svc = _svc()
    with svc.session_factory() as session:
        round_ = session.get(Round, round_id)
        if round_ is None:
            raise click.ClickException(f"There is no round {round_id}.")
        preview = confirm.preview_round_action(session, round_, action, svc.settings, svc.clock)
    if preview.blocked:
        raise click.ClickException(preview.blocked)
    for line in describe_preview(preview):
        click.echo(line)
    if not yes:
        click.confirm(f"{action.capitalize()} this round?", abort=True)


def _with_round(round_id: int, work: Any) -> None:
    svc = _svc()
    with svc.session_factory() as session:
        round_ = session.get(Round, round_id)
        if round_ is None:
            raise click.ClickException(f"There is no round {round_id}.")
        try:
            message = work(svc, session, round_)
        except (rounds.RoundError, PublicationError) as exc:
            session.rollback()
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(message)


@rounds_group.command("open")
@click.argument("round_id", type=int)
@click.option("--send/--no-send", default=True, show_default=True,
              help="Send the invitations now (otherwise the scheduler sends them).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def rounds_open(round_id: int, send: bool, yes: bool) -> None:
    """Open a scheduled round now and queue its invitations."""
    _confirm(round_id, "open", yes)
    _with_round(round_id, lambda svc, s, r: (
        rounds.open_round(s, r, svc.clock, keys=RoundKeyFolder.of(svc.settings), actor=ACTOR)
        and f"Opened round {r.id}: {r.invited_count} invitation(s) queued."
    ))
    if send:
        svc = _svc()
        report = send_pending_mail(svc.session_factory, mailer_for(svc), svc.settings, svc.clock,
                                   key=token_key(svc.settings), round_id=round_id,
                                   progress=click.echo)
        if report.error:
            click.echo(f"Stopped: {report.error}. The rest stay queued.", err=True)
            sys.exit(1)


@rounds_group.command("close")
@click.argument("round_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def rounds_close(round_id: int, yes: bool) -> None:
    """Close an open round now (it is then published at the scheduler's next run)."""
    _confirm(round_id, "close", yes)
    _with_round(round_id, lambda svc, s, r: (
        rounds.close_round(s, r, svc.clock, actor=ACTOR) and f"Closed round {r.id}."
    ))


@rounds_group.command("publish")
@click.argument("round_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def rounds_publish(round_id: int, yes: bool) -> None:
    """Publish a closed round (aggregates stored, raw answers and link records deleted)."""
    _confirm(round_id, "publish", yes)
    def work(svc: Services, session: Any, round_: Round) -> str:
        result = rounds.publish(session, round_, svc.settings, svc.clock, actor=ACTOR)
        shown = result.responses if result.responses is not None else f"fewer than {result.k}"
        return f"Published round {round_.id}: {shown} responses of {result.invited} invited."

    _with_round(round_id, work)


@rounds_group.command("send-mail")
@with_appcontext
def rounds_send_mail() -> None:
    """Send every queued invitation and reminder now (the scheduler does this every minute)."""
    svc = _svc()
    report = send_pending_mail(svc.session_factory, mailer_for(svc), svc.settings, svc.clock,
                               key=token_key(svc.settings), progress=click.echo)
    if not report.total_sent and not report.error:
        click.echo("Nothing to send.")
    if report.error:
        raise click.ClickException(f"Stopped: {report.error}. The rest stay queued.")
