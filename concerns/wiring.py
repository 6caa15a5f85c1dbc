"""Connect the concerns package to the app: blueprints, CLI, hooks, links, job, demo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO

from flask import Flask, Request, g, has_request_context, request, session
from flask_login import user_logged_in, user_logged_out
from sqlalchemy.orm import Session

from concerns import (
    admin_views,
    digest,
    evidence,
    handler_views,
    keys,
    publication,
    readers,
    services,
    spool,
    views,
)
from concerns.cli import concerns_group, keys_group
from concerns.config import ConcernConfig
from concerns.demo import seed_demo_concerns
from speakup.auth_views import HOME_BY_ROLE
from speakup.jobs import Job, register_job
from speakup.mail import mailer_for
from speakup.models import User
from speakup.translatable import N_
from speakup.web import Services, db
from speakup.web import services as app_services

PURGE_JOB_ID = "concerns.purge"
PUBLISH_STATS_JOB_ID = "concerns.publish-stats"
DIGEST_JOB_ID = "concerns.handler-digest"
UNREAD_ALERT_JOB_ID = "concerns.unread-alert"
# The forms that may carry files (and so a larger body): reporters' and handlers' alike.
FILE_ENDPOINTS = ("concerns.new", "concerns.reply", "handling.reply")


def init_app(app: Flask) -> None:
    """Register this package's blueprints, commands, hooks, links, job and demo data."""
    svc = app_services(app)
    svc.extras["concerns"] = ConcernConfig.from_settings(svc.settings)
    svc.extras["concern_category_choices"] = views.CategoryChoices()
    svc.extras["concern_readers_hint"] = services.ReadersHint()
    for blueprint in (views.bp, handler_views.bp, admin_views.bp, admin_views.handlers_bp,
                      admin_views.themes_bp, admin_views.groups_bp):
        app.register_blueprint(blueprint)
    app.cli.add_command(keys_group)
    app.cli.add_command(concerns_group)
    _init_key_hooks(app)
    _init_upload_limit(app)
    app.add_template_filter(evidence.listed, "attachments")
    app.add_template_filter(views.translated, "translated")
    extras = svc.extras
    extras.setdefault("nav_links", []).append(("handling.inbox", N_("Inbox"), ("handler",)))
    extras.setdefault("public_links", []).extend(
        [("concerns.new", N_("Raise a concern")), ("concerns.check", N_("Check a concern"))]
    )
    extras.setdefault("admin_links", []).extend([
        ("concern_admin.categories", N_("Concern categories")),
        ("concern_handlers_admin.handlers", N_("Case handlers' names")),
        ("concern_themes_admin.theme_list", N_("Themes for the quarterly return")),
        ("concern_handlers_admin.readers_status", N_("Concerns nobody can read")),
        ("concern_groups_admin.group_list", N_("Professional groups")),
    ])
    extras.setdefault("health_details", []).append(readers.health_detail)
    extras.setdefault("account_watchers", []).append(_readers_watcher(svc))
    extras.setdefault("staff_links", []).append(
        ("handling.inbox", N_("Concerns inbox"), ("handler",))
    )
    extras.setdefault("demo_seeders", []).append(seed_demo_concerns)
    # A handler signs in to what waits for them (the inbox's summary), not a menu.
    extras["home_by_role"] = {**extras.get("home_by_role", HOME_BY_ROLE),
                              "handler": "handling.inbox"}
    register_job(app, Job(PURGE_JOB_ID, run_purge, every_minutes=60))
    register_job(app, Job(PUBLISH_STATS_JOB_ID, run_publish_stats, every_minutes=60))
    # Every 5 minutes: the summary leaves within minutes of SPEAKUP_HANDLER_DIGEST_AT.
    register_job(app, Job(DIGEST_JOB_ID, run_digest, every_minutes=5))
    # The admins' daily "nobody can read these" mail, at the same hour as the summary.
    register_job(app, Job(UNREAD_ALERT_JOB_ID, run_unread_alert, every_minutes=5))


def run_unread_alert(svc: Services) -> int:
    """Mail admins, once a day at the summary hour, if concerns wait for a reader."""
    mailer = mailer_for(svc)
    try:
        with svc.session_factory() as session:
            return readers.send_daily_alert(session, svc.clock, svc.extras["concerns"],
                                            svc.settings, mailer)
    finally:
        mailer.close()


def _readers_watcher(svc: Services) -> Callable[[Session], Callable[[Session], str | None]]:
    """Count concerns without a reader before an admin's account change; after it, mail
    the admins at once and warn on the page if the change left more of them."""

    def watch(session: Session) -> Callable[[Session], str | None]:
        before = readers.count_waiting_for_a_reader(session)

        def after(session_: Session) -> str | None:
            mailer = mailer_for(svc)
            try:
                now = readers.alert_after_account_change(session_, svc.settings, mailer,
                                                         before)
            finally:
                mailer.close()
                session_.rollback()
            return readers.account_change_warning(now) if now > before else None

        return after

    return watch


def run_purge(svc: Services) -> None:
    """The scheduled retention purge (idempotent; see services.purge_expired)."""
    with svc.session_factory() as session:
        services.purge_expired(session, svc.clock, svc.extras["concerns"], actor="scheduler")
        session.commit()


def run_digest(svc: Services) -> int:
    """Send the handlers' daily summaries that are due (idempotent: one a handler a day)."""
    mailer = mailer_for(svc)
    try:
        with svc.session_factory() as session:
            return digest.send_due_digests(session, svc.clock, svc.extras["concerns"],
                                           svc.settings, mailer)
    finally:
        mailer.close()


def run_publish_stats(svc: Services) -> list[publication.PublishedQuarter]:
    """Publish every due quarter's concern statistics (idempotent; catches up after downtime)."""
    config: ConcernConfig = svc.extras["concerns"]
    with svc.session_factory() as session:
        done = publication.publish_due_quarters(
            session, svc.clock, config.today(svc.clock), k=svc.settings.min_group_size,
            grace_days=config.stats_grace_days, actor="scheduler",
        )
        session.commit()
    return done


class EncryptedUploadsRequest(Request):
    """A request whose uploaded files are spooled encrypted, never as plain temp files.

    Werkzeug's default writes any file part of a body over 500 KB to a plain temporary
    file, where the reporter's original (GPS data and all) could be read back from the
    disk long after it is deleted.
    """

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None,
                         content_length: int | None = None) -> BinaryIO:
        return spool.spooled()


def _init_upload_limit(app: Flask) -> None:
    """Let a new report carry its files: raise the body limit for that one endpoint.

    CSRFProtect reads the form in the first app-level before_request, which is when the
    body limit applies; so this runs before it (a hook in create_app would be tidier).
    Everything else keeps SPEAKUP_MAX_REQUEST_BYTES.
    """
    svc = app_services(app)
    app.request_class = EncryptedUploadsRequest

    def allow_files() -> None:
        # Only multipart bodies: werkzeug limits each typed field of those to
        # max_form_memory_size, but reads a URL-encoded body whole.
        if (request.method == "POST" and request.endpoint in FILE_ENDPOINTS
                and request.mimetype == "multipart/form-data"):
            config: ConcernConfig = svc.extras["concerns"]
            request.max_content_length = (svc.settings.max_request_bytes
                                          + config.attachments_max * config.attachment_max_bytes)
            # The typed fields stay under the usual limit; only files may be larger.
            request.max_form_memory_size = svc.settings.max_request_bytes

    app.before_request_funcs.setdefault(None, []).insert(0, allow_files)


def _init_key_hooks(app: Flask) -> None:
    """Unlock a handler's key at sign-in, re-lock it on password change, drop it at sign-out.

    The login hook runs inside `accounts.authenticate`, before the sign-in view clears
    and refills the Flask session; so it parks the key session's cookie value on `g`,
    and Flask-Login's `user_logged_in` signal (sent once the new session exists) moves
    it into the session cookie.
    """
    svc = app_services(app)

    def on_login(session_: Session, user: User, password: str) -> None:
        config: ConcernConfig = svc.extras["concerns"]
        private = keys.unlock_handler_key(session_, svc.clock, config, user, password)
        if private is not None and has_request_context():
            g.concern_key_session = keys.open_key_session(session_, svc.clock, config, user,
                                                          private)

    def on_password_change(session_: Session, user: User, old: str, new: str) -> None:
        keys.relock_handler_key(session_, svc.extras["concerns"], user, old, new)

    def store_key_session(_sender: Any, **_extra: Any) -> None:
        value = g.pop("concern_key_session", None)
        if value is not None:
            session[handler_views.KEY_SESSION] = value

    def end_key_session(_sender: Any, **_extra: Any) -> None:
        value = session.pop(handler_views.KEY_SESSION, None)
        if value is not None:
            keys.end_key_session(db(), value)
            db().commit()

    svc.login_hooks.append(on_login)
    svc.password_hooks.append(on_password_change)
    # weak=False: blinker would otherwise drop these closures as soon as we return.
    user_logged_in.connect(store_key_session, app, weak=False)
    user_logged_out.connect(end_key_session, app, weak=False)
