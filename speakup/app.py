"""The application factory: config → database → CSRF → login → blueprints → errors → CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, session
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import InternalError, OperationalError
from werkzeug.exceptions import HTTPException

import concerns.wiring
import review.wiring
import surveys.wiring
from review import results_views
from speakup import (
    accounts,
    admin_views,
    auth_views,
    i18n,
    main_views,
    oidc_views,
    passkey_views,
)
from speakup.clock import SystemClock
from speakup.db import (
    DATABASE_FAULTS,
    DatabaseUnavailableError,
    begin_writing,
    make_engine,
    make_session_factory,
)
from speakup.derived_keys import session_keys
from speakup.models import User
from speakup.settings import Settings
from speakup.translatable import N_
from speakup.web import (
    ANY_STAFF,
    IntegerConverter,
    Services,
    StripIdentifyingMetadata,
    apply_security_headers,
    close_db,
    db,
    refuse_bad_host,
    services,
)

ROOT = Path(__file__).resolve().parent.parent


def _resource_folder(name: str) -> Path:
    """templates/ or static/: inside the package when installed from a wheel (pyproject's
    package-dir ships them there), else beside the packages, as in a checkout."""
    packaged = Path(__file__).resolve().parent / name
    return packaged if packaged.is_dir() else ROOT / name


ERROR_TITLES = {
    400: _l("The request could not be understood"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("That action is not allowed here"),
    413: _l("What you sent is too large"),
    429: _l("Too many requests"),
    500: _l("Something went wrong on our side"),
    503: _l("Speak Up cannot store anything right now"),
}


def create_app(settings: Settings | None = None) -> Flask:
    """Build a configured app; starts nothing and writes nothing."""
    settings = settings or Settings.from_env()
    app = Flask(
        __name__,
        template_folder=str(_resource_folder("templates")),
        static_folder=str(_resource_folder("static")),
        instance_path=str(settings.instance_path),
    )
    # Before any blueprint adds a route: every `<int:…>` is bounded (see web.py).
    app.url_map.converters["int"] = IntegerConverter
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_NAME="speakup_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.idle_timeout_minutes),
        WTF_CSRF_TIME_LIMIT=None,  # the session's own idle timeout bounds a token's life
        # Flask-WTF's HTTPS check wants a Referer header, which our no-referrer policy
        # (rightly) stops browsers from sending: the token and SameSite cookies remain.
        WTF_CSRF_SSL_STRICT=False,
        TESTING=settings.testing,
    )
    engine = make_engine(settings.database_url)
    app.extensions["speakup"] = Services(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine, session_keys(settings.resolved_secret_key())),
        clock=SystemClock(),
    )
    app.teardown_appcontext(close_db)
    app.before_request(refuse_bad_host)
    CSRFProtect(app)
    i18n.init_app(app, settings.languages, settings.secure_cookies)
    _init_login(app)
    for blueprint in (main_views.bp, auth_views.bp, passkey_views.bp, admin_views.bp):
        app.register_blueprint(blueprint)
    oidc_views.init_app(app)
    # Each package registers its own blueprints, commands, hooks and navigation links.
    for package in (concerns.wiring, surveys.wiring, review.wiring):
        package.init_app(app)
    app.register_blueprint(results_views.bp)
    _init_errors(app)
    _init_templates(app)
    app.after_request(apply_security_headers)
    app.wsgi_app = StripIdentifyingMetadata(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _init_templates(app: Flask) -> None:
    extras = services(app).extras
    # Packages have appended their links already; the core ones go first.
    extras.setdefault("nav_links", [])[:0] = [
        ("main.staff", N_("Home"), ANY_STAFF),
        ("admin.index", N_("Administration"), ("admin",)),
    ]
    extras.setdefault("public_links", [])

    @app.context_processor
    def navigation() -> dict[str, Any]:
        def nav_links() -> list[tuple[str, str]]:
            role = getattr(current_user, "role", None)
            return [(e, label) for e, label, roles in extras["nav_links"] if role in roles]

        def public_links() -> list[tuple[str, str]]:
            return list(extras["public_links"])

        def url_exists(endpoint: str) -> bool:
            return endpoint in app.view_functions

        return {"nav_links": nav_links, "public_links": public_links, "url_exists": url_exists}


def _init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in to see that page."
    manager.login_message_category = "info"
    # Flask-Login's session protection hashes the client's address and user agent into
    # the session (DESIGN.md rule 1 forbids reading either). Idle timeout, rotating
    # session tokens and Secure/HttpOnly/SameSite cookies protect sessions instead.
    manager.session_protection = None
    manager._session_identifier_generator = lambda: ""  # type: ignore[method-assign]

    @manager.user_loader
    def load_user(alternative_id: str) -> User | None:
        # The cookie is only a pointer: the session row decides (issue 13, finding 1), so
        # sign-out, idle timeout and the absolute lifetime hold even for a copied cookie.
        user_id, _, token = alternative_id.partition(":")
        svc = services()
        try:
            # A GET's session only reads (speakup/web.py): this transaction writes.
            begin_writing(db())
            user = accounts.resume_session(
                db(), svc.clock, session.get(auth_views.SESSION_KEY),
                idle_minutes=svc.settings.idle_timeout_minutes,
                max_hours=svc.settings.session_max_hours,
            )
            db().commit()  # keep the last-seen time, or the deletion of an expired row
        except DATABASE_FAULTS:
            # The error page asks who is signed in too: with no database, nobody is.
            db().rollback()
            return None
        if user is None or str(user.id) != user_id or user.session_token != token:
            return None
        return user


def _init_errors(app: Flask) -> None:
    def render_error(code: int, message: str | None = None) -> tuple[str, int]:
        return render_template(
            "errors/error.html", code=code, title=ERROR_TITLES.get(code, _l("Error")),
            message=message,
        ), code

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        return render_error(400, _l(
            "This form had expired or was sent twice. Go back, reload the page and try again."
        ))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code is None or exc.code < 400:
            return exc
        return render_error(exc.code)

    @app.errorhandler(DatabaseUnavailableError)
    @app.errorhandler(InternalError)
    @app.errorhandler(OperationalError)
    def database_fault(exc: Exception) -> tuple[str, int]:
        app.logger.error("Database fault: %s", str(exc).splitlines()[0])
        if "db_session" in g:
            g.db_session.rollback()
        return render_error(503)

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> tuple[str, int]:
        app.logger.exception("Unhandled error")
        # The failed request's transaction may be unusable; the error page needs a clean one.
        if "db_session" in g:
            g.db_session.rollback()
        return render_error(500)
