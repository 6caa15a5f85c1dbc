"""Invitation tokens travel in URLs: they must never reach a log line."""

import urllib.error
import urllib.request

from speakup.logredact import redact_request_line

TOKEN = "tok3nSh0uldNeverBeLogged"


def test_redaction_keeps_the_route_but_not_the_token():
    assert redact_request_line(f'"GET /s/{TOKEN} HTTP/1.1" 404') == '"GET /s/- HTTP/1.1" 404'
    assert redact_request_line(f"POST /s/{TOKEN}?a=1") == "POST /s/-?a=1"
    assert redact_request_line("GET /concerns/new") == "GET /concerns/new"


def test_gunicorn_access_log_has_no_token(live_server):
    server = live_server(workers=1, threads=2)
    try:
        urllib.request.urlopen(f"{server.url}/s/{TOKEN}", timeout=10)  # noqa: S310
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    server.process.terminate()
    server.process.wait(timeout=10)
    log = server.log()
    assert "/s/-" in log  # the request was logged …
    assert TOKEN not in log  # … without its token
