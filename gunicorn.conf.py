"""gunicorn settings for Speak Up.

Production: `gunicorn -c gunicorn.conf.py 'speakup.app:create_app()'` (gunicorn also reads
this file by itself when started from the project folder).
"""

import datetime as dt
import os
import re
import sys
from collections.abc import Mapping

from gunicorn.glogging import Logger

from speakup.db import DatabaseUnavailableError
from speakup.logredact import redact_request_line
from speakup.logs import configure_logging, without_times
from speakup.readiness import check_before_serving
from speakup.settings import Settings, SettingsError

# Files the server creates (SQLite's -wal and -shm, outbox messages) are owner-only.
os.umask(0o077)

# Rule 1 of DESIGN.md: no log line holds a client address, a user agent, a referrer or
# the time of day of a request (dates only). gunicorn's default access format starts with
# %(h)s (the remote address); this one leaves it out, and the user agent and referrer too.
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'
accesslog = "-"
errorlog = "-"
# Never "debug": gunicorn's debug messages name client addresses.
loglevel = "info"
bind = "127.0.0.1:8000"
workers = 2
threads = 4
worker_class = "gthread"
# Behind a reverse proxy gunicorn must not turn X-Forwarded-For into REMOTE_ADDR.
forwarded_allow_ips = ""
proxy_allow_ips = ""
timeout = 60
graceful_timeout = 30
limit_request_line = 8190
# gunicorn 27's control socket defaults to one fixed path per user, which a second
# instance on the same host (or a test server) would take over; Speak Up does not use it.
control_socket_disable = True

# gunicorn's own "Invalid request from ip=…" warning for malformed requests.
_CLIENT_ADDRESS = re.compile(r"\bip=\S+")


class AnonymousLogger(Logger):
    """gunicorn's logger, minus client addresses, user agents, referrers and times of day.

    A second line of defence: even if someone puts %(h)s or %({user-agent}i)s back into
    the format, they log "-".
    """

    datefmt = "[%Y-%m-%d]"

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)
        # Flask's app.logger, APScheduler and Speak Up's own loggers reach the error log
        # through the root logger: date only there too (Flask's default handler, added
        # when no root handler exists, stamps the time of day; issue 18).
        configure_logging()

    def now(self) -> str:
        return f"[{dt.date.today().isoformat()}]"

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        atoms = super().atoms(resp, req, environ, request_time)
        atoms.update(h="-", a="-", f="-")
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_request_line(atoms[key])
        for key in [k for k in atoms if k.startswith("{")]:
            del atoms[key]  # request headers and environ values: SafeAtoms shows "-"
        return atoms

    # gunicorn's own messages can quote a request: "Invalid request from ip=…: Invalid
    # HTTP request line: 'GET /s/<token> …'", "Error handling request /s/<token>".
    def critical(self, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().critical(_clean(msg, args), **kwargs)

    def error(self, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().error(_clean(msg, args), **kwargs)

    def warning(self, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().warning(_clean(msg, args), **kwargs)

    def info(self, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().info(_clean(msg, args), **kwargs)

    def debug(self, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().debug(_clean(msg, args), **kwargs)

    def exception(self, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().exception(_clean(msg, args), **kwargs)

    def log(self, lvl, msg, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().log(lvl, _clean(msg, args), **kwargs)


def _clean(msg: object, args: tuple[object, ...]) -> str:
    """Format a log message, then take client addresses and invitation tokens out of it."""
    if len(args) == 1 and isinstance(args[0], Mapping):
        text = str(msg) % args[0]  # as logging itself does for "%(name)s" messages
    else:
        text = str(msg) % args if args else str(msg)
    # Passed on without arguments, so logging never reads a "%" in it as a placeholder.
    return without_times(redact_request_line(_CLIENT_ADDRESS.sub("ip=-", text)))


logger_class = AnonymousLogger


def on_starting(server):  # type: ignore[no-untyped-def]
    """Refuse to start on a missing, read-only or un-migrated database (issue 13)."""
    try:
        check_before_serving(Settings.from_env())
    except (DatabaseUnavailableError, SettingsError) as exc:
        print(str(exc), file=sys.stderr)  # noqa: T201 - the operator's one clear line
        sys.exit(1)


# A thread back from the database waits for the GIL until the thread holding it is
# made to let go: 5 ms by default, per query. Under load the answering paths (several
# queries each, some holding SQLite's write lock meanwhile) spent more time waiting
# there than working (issue 23); 1 ms costs the CPU-bound threads little.
SWITCH_INTERVAL_SECONDS = 0.001


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
