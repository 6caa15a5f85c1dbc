"""The floor: the least a Flask form endpoint can do on this stack, to compare against.

One page with a three-field form and a CSRF token (Flask-WTF, as in Speak Up); one
POST that validates the three fields and inserts one row. Same database engine
settings (`speakup.db.make_engine`), same gunicorn configuration. No encryption, no
rate limit, no templates beyond a few lines.

    python -c 'from bench.floor import create_schema; create_schema("sqlite:////tmp/f.db")'
    FLOOR_DATABASE_URL=sqlite:////tmp/f.db \\
        gunicorn -c gunicorn.conf.py 'bench.floor:create_app()'
"""

from __future__ import annotations

import datetime as dt
import os

from flask import Flask, render_template_string, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Column, Date, Integer, MetaData, String, Table, Text, insert

from speakup.db import create_sqlite_file, make_engine

metadata = MetaData()
floor_reports = Table(
    "floor_reports", metadata,
    Column("id", Integer, primary_key=True),
    Column("category", String(20), nullable=False),
    Column("what_happened", Text, nullable=False),
    Column("what_wanted", Text, nullable=False),
    Column("received_on", Date, nullable=False),
)
CATEGORIES = {"1", "2", "3", "4"}
FORM = """<!doctype html><title>Floor</title>
<form method="post" enctype="multipart/form-data">
<input name="csrf_token" type="hidden" value="{{ csrf_token() }}">
<input name="category"><textarea name="what_happened"></textarea>
<textarea name="what_wanted"></textarea><button>Send</button></form>"""


def create_schema(database_url: str) -> None:
    """Create the floor's one table (once, before the workers start: they would race)."""
    create_sqlite_file(database_url)  # make_engine never creates one (mode=rw)
    engine = make_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=os.environ.get("FLOOR_SECRET_KEY", "floor-" + "x" * 40),
                      WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=False,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    CSRFProtect(app)
    engine = make_engine(os.environ["FLOOR_DATABASE_URL"])

    @app.get("/new")
    def form() -> str:
        return render_template_string(FORM)

    @app.post("/new")
    def submit() -> tuple[str, int]:
        category = request.form.get("category", "")
        happened = request.form.get("what_happened", "").strip()
        wanted = request.form.get("what_wanted", "").strip()
        if category not in CATEGORIES or not happened or len(happened) > 20_000 or len(
            wanted
        ) > 5_000:
            return "invalid", 400
        with engine.begin() as conn:
            conn.execute(insert(floor_reports).values(
                category=category, what_happened=happened, what_wanted=wanted,
                received_on=dt.date.today()))
        return '<p id="receipt">stored</p>', 200

    return app
