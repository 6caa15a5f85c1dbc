"""The shipped deployment works as README "Deploying behind nginx" says.

nginx (Debian's package) runs the shipped `deploy/nginx/speakup.conf` itself — only its
placeholders (name, ports, certificate, log paths, upstream) are replaced — over TLS in
front of a live gunicorn with the shipped `gunicorn.conf.py`. Requests come from
127.0.0.1; afterwards neither nginx's logs, gunicorn's log, the database nor the instance
folder holds that address (DESIGN.md rule 1). The systemd units pass `systemd-analyze
verify`.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, TEST_SECRET, VENV_BIN, add_concern_reader, free_port, stop_server
from test_foundation_anonymity import dump_database

from concerns import keys
from concerns.config import ConcernConfig
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings

SHIPPED = REPO / "deploy" / "nginx" / "speakup.conf"
UNITS = REPO / "deploy" / "systemd"
NAME = "speakup.example.org"
CLIENT = "127.0.0.1"
# Values a client sends that must not reach a log or the database either.
CANARIES = ("203.0.113.77", "CanaryBrowser/7.7", "jane-canary")
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
MARKER = b"nginxneedle-" + secrets.token_hex(6).encode()


@dataclass
class Proxy:
    https_port: int
    http_port: int
    prefix: Path
    cert: Path
    process: subprocess.Popen[bytes]

    def logs(self) -> dict[str, str]:
        return {p.name: p.read_text(errors="replace") for p in (self.prefix / "logs").iterdir()}


def render(text: str, prefix: Path, cert: Path, key: Path, https_port: int, http_port: int,
           upstream_port: int, error_level: str = "crit") -> str:
    """The shipped file with its placeholders replaced; each must be there to replace."""
    swaps = [
        ("listen 443 ssl", f"listen {CLIENT}:{https_port} ssl"),
        ("listen 80 default_server", f"listen {CLIENT}:{http_port} default_server"),
        ("/etc/ssl/speakup/fullchain.pem", str(cert)),
        ("/etc/ssl/speakup/privkey.pem", str(key)),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
        ("/var/log/nginx/speakup-", f"{prefix}/logs/speakup-"),
        ("speakup-error.log crit;", f"speakup-error.log {error_level};"),
    ]
    for old, new in swaps:
        assert old in text, f"the shipped config no longer has {old!r}"
        text = text.replace(old, new)
    return text


def main_conf(prefix: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf does around the site, with paths in `prefix`:
    its own main error log and http-level access log (combined format) included."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"{kind}_temp_path {prefix}/temp/{kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/main-error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        "include /etc/nginx/mime.types;\ndefault_type application/octet-stream;\n"
        f"access_log {prefix}/logs/main-access.log;\ngzip on;\n{temps}"
        f"include {site};\n}}\n"
    )


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection((CLIENT, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nginx did not listen")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={NAME}",
         "-addext", f"subjectAltName=DNS:{NAME}"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def start_nginx(tmp_path: Path, certificate: tuple[Path, Path]) -> Iterator:
    started: list[Proxy] = []

    def start(upstream_port: int, error_level: str = "crit") -> Proxy:
        prefix = tmp_path / f"nginx-{len(started)}"
        for folder in ("logs", "temp"):
            (prefix / folder).mkdir(parents=True)
        https_port, http_port = free_port(), free_port()
        site = prefix / "speakup.conf"
        site.write_text(render(SHIPPED.read_text(), prefix, *certificate, https_port,
                               http_port, upstream_port, error_level))
        conf = prefix / "nginx.conf"
        conf.write_text(main_conf(prefix, site))
        startup = prefix / "logs" / "startup.log"
        proc = subprocess.Popen(
            [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(prefix), "-c", str(conf),
             "-e", str(startup), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        proxy = Proxy(https_port, http_port, prefix, certificate[0], proc)
        started.append(proxy)
        wait_for_port(https_port, proc, startup)
        return proxy

    yield start
    for proxy in started:
        proxy.process.terminate()
        proxy.process.wait(timeout=10)


@pytest.fixture
def gunicorn(live_server, fresh_database_url: str, tmp_path: Path):
    """A live gunicorn on a database with a recovery key and a reader, so reports are taken."""
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET)
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        config = ConcernConfig.from_settings(settings)
        keys.create_recovery_key(session, SystemClock(), config, actor="test")
        add_concern_reader(session, SystemClock(), config)
    engine.dispose()
    return live_server(workers=1, threads=4)


def https(proxy: Proxy, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None, tls: ssl.TLSVersion | None = None,
          ) -> tuple[http.client.HTTPResponse, bytes, str]:
    """One request over TLS (the chain checked against the test's certificate)."""
    context = ssl.create_default_context(cafile=str(proxy.cert))
    context.check_hostname = False  # connected by address; the Host header names the site
    if tls is not None:
        context.maximum_version = tls
    conn = http.client.HTTPSConnection(CLIENT, proxy.https_port, context=context, timeout=120)
    sent = {"Host": NAME, "X-Forwarded-For": CANARIES[0], "User-Agent": CANARIES[1],
            "Referer": f"https://intranet.example/{CANARIES[2]}", **(headers or {})}
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    data = response.read()
    version = conn.sock.version() if conn.sock else ""
    conn.close()
    return response, data, version


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "----speakup" + secrets.token_hex(8)
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  f"{value}\r\n".encode())
    for filename, content in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
                  f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'.encode())
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def notes(size: int) -> bytes:
    line = b"Tuesday, ward 4: " + MARKER + b" said it again in front of everyone.\n"
    return (line * (size // len(line) + 1))[:size]


def report(proxy: Proxy, files: list[tuple[str, bytes]]) -> tuple[int, str]:
    """Send a new concern with `files` through nginx, as a reporter's browser would."""
    response, page, _ = https(proxy, "GET", "/concerns/new")
    cookie = "; ".join(c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie"))
    token = TOKEN.search(page.decode()).group(1)
    body, content_type = multipart(
        {"csrf_token": token, "category": "1", "what_happened": "My notes are attached.",
         "what_wanted": ""}, files)
    response, page, _ = https(proxy, "POST", "/concerns/new", body,
                              {"Content-Type": content_type, "Cookie": cookie})
    return response.status, page.decode()


def no_address(text: str) -> list[str]:
    return [value for value in (CLIENT, *CANARIES) if value in text]


def test_the_shipped_body_limit_is_the_largest_body_the_application_takes():
    settings = Settings(secret_key=TEST_SECRET)  # every default, as shipped
    config = ConcernConfig.from_settings(settings)
    largest = settings.max_request_bytes + config.attachments_max * config.attachment_max_bytes
    limit = re.search(r"^\s*client_max_body_size (\d+)k;", SHIPPED.read_text(), re.M)
    assert limit and int(limit.group(1)) * 1024 == largest
    # The page nginx shows for a larger body states the same limits.
    assert (f"at most {config.attachments_max} files of "
            f"{config.attachment_max_bytes // 2**20} MB each") in SHIPPED.read_text()


def test_the_shipped_log_format_names_no_client():
    text = SHIPPED.read_text()
    formats = re.findall(r"log_format\s+(\w+)(.*?);", text, re.S)
    assert [name for name, _ in formats] == ["speakup_anonymous"]
    for variable in ("$remote_addr", "$http_x_forwarded_for", "$http_user_agent",
                     "$http_referer", "$realip_remote_addr", "$binary_remote_addr",
                     "$time_local", "$request ", "$request_uri", "$args"):
        assert variable not in formats[0][1], variable
    access_logs = re.findall(r"^\s*access_log (.*);", text, re.M)
    assert access_logs and all(line.endswith(" speakup_anonymous") for line in access_logs)
    assert re.findall(r"^\s*error_log \S+ (\w+);", text, re.M) == ["crit", "crit"]
    assert re.findall(r"^\s*ssl_protocols (.*);", text, re.M) == ["TLSv1.2 TLSv1.3"]
    # Nothing written to nginx's temporary files in plain text: uploads stream upstream.
    assert "proxy_request_buffering off;" in text and "proxy_max_temp_file_size 0;" in text


def test_nginx_in_front_of_gunicorn_logs_no_client_address(gunicorn, start_nginx,
                                                            fresh_database_url, tmp_path):
    proxy = start_nginx(int(gunicorn.url.rsplit(":", 1)[1]))
    config = ConcernConfig.from_settings(Settings(secret_key=TEST_SECRET))

    # Plain HTTP is sent to HTTPS.
    conn = http.client.HTTPConnection(CLIENT, proxy.http_port, timeout=10)
    conn.request("GET", "/concerns/new?x=1", headers={"Host": NAME})
    redirect = conn.getresponse()
    conn.close()
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"https://{NAME}/concerns/new?x=1"

    # TLS 1.3 by default, TLS 1.2 when the client goes no higher; HSTS once.
    response, page, version = https(proxy, "GET", "/")
    assert response.status == 200 and version == "TLSv1.3"
    assert response.headers.get_all("Strict-Transport-Security") == ["max-age=31536000"]
    assert response.headers["Content-Security-Policy"]  # the application's headers pass
    assert "nginx/" not in (response.headers["Server"] or "")
    # No compression over TLS of pages that carry secrets (BREACH).
    response, page, _ = https(proxy, "GET", "/concerns/new", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200 and response.headers["Content-Encoding"] is None
    assert https(proxy, "GET", "/", tls=ssl.TLSVersion.TLSv1_2)[2] == "TLSv1.2"

    # The documented maximum: as many files as allowed, each of the largest size.
    largest = [(f"notes-{i}.txt", notes(config.attachment_max_bytes))
               for i in range(config.attachments_max)]
    status, page_text = report(proxy, largest)
    assert status == 200, page_text[:2000]
    assert all(f"attachment-{i + 1}.txt" in page_text for i in range(config.attachments_max))
    # One byte over a file's limit: the application's page says which file and why.
    status, page_text = report(proxy, [("too-big.txt", notes(config.attachment_max_bytes + 1))])
    assert status != 200 and "is larger than" in page_text, page_text[:2000]
    assert "too-big.txt" in page_text
    # A body over everything the application takes: nginx's own plain page, nothing sent on.
    response, page, _ = https(proxy, "POST", "/concerns/new", b"x" * 1024,
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "Content-Length": str(60 * 2**20)})
    assert response.status == 413
    assert b"Too much to send at once" in page and b"Nothing was stored" in page
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"

    # Errors that nginx writes to its error log with "client: <address>" below crit:
    # a survey link (token in the path), a missing page, a malformed request and an
    # upstream that is gone (502).
    assert https(proxy, "GET", "/s/" + "t" * 30)[0].status in (200, 404, 410)
    assert https(proxy, "GET", "/no-such-page")[0].status == 404
    with socket.create_connection((CLIENT, proxy.http_port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        assert b"400" in sock.recv(1024)
    stop_server(gunicorn)
    assert https(proxy, "GET", "/concerns/new")[0].status == 502

    proxy.process.terminate()  # flushes and closes every log
    proxy.process.wait(timeout=10)
    logs = proxy.logs()
    access = logs["speakup-access.log"]
    # The access log has its lines — date, request, status — and nothing else.
    today = time.strftime("%Y-%m-%d")
    assert f'{today} "POST /concerns/new HTTP/1.1" 200 ' in access
    assert f'{today} "POST /concerns/new HTTP/1.1" 413 ' in access
    assert '"GET /s/- HTTP/1.1"' in access and "t" * 30 not in access
    assert not re.search(r"\d\d:\d\d:\d\d", access)
    for name, text in logs.items():
        assert no_address(text) == [], (name, text[-2000:])
    assert logs["main-access.log"] == ""  # Debian's http-level access log: not for this site
    gunicorn_log = gunicorn.log()
    # Two reports reached gunicorn; the body over nginx's limit did not.
    assert gunicorn_log.count('"POST /concerns/new') == 2, gunicorn_log
    lines = [line for line in gunicorn_log.splitlines() if "Listening at" not in line]
    assert no_address("\n".join(lines)) == []

    # Nor the database, the instance folder, or a temporary file nginx kept (its own
    # configuration names the address it listens on).
    engine = make_engine(fresh_database_url)
    try:
        with engine.connect() as conn:
            assert no_address(dump_database(conn)) == []
    finally:
        engine.dispose()
    for folder in (tmp_path / "instance", proxy.prefix / "temp"):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert CLIENT.encode() not in data and MARKER not in data, path


def test_below_crit_nginx_would_have_logged_the_address(gunicorn, start_nginx):
    # The control for the test above: the same file at nginx's usual "error" level
    # names the client for the same refused body, so "crit" is what keeps it out.
    proxy = start_nginx(int(gunicorn.url.rsplit(":", 1)[1]), error_level="error")
    response, _, _ = https(proxy, "POST", "/concerns/new", b"x",
                           {"Content-Length": str(60 * 2**20)})
    assert response.status == 413
    proxy.process.terminate()
    proxy.process.wait(timeout=10)
    assert f"client: {CLIENT}" in proxy.logs()["speakup-error.log"]


@pytest.mark.slow  # not in `make test-quick`: systemd-analyze comes with `make deploy-deps`
@pytest.mark.parametrize("unit", ["speakup-web.service", "speakup-scheduler.service"])
def test_systemd_units_verify(unit, tmp_path):
    # The units name /opt/speakup; here it is this checkout and its virtual environment.
    text = (UNITS / unit).read_text()
    for setting in ("DynamicUser=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                    "NoNewPrivileges=yes", "ReadWritePaths=/var/lib/speakup",
                    "EnvironmentFile=/etc/speakup/speakup.env"):
        assert setting in text.splitlines(), setting
    command = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    if unit == "speakup-web.service":
        assert "-c /opt/speakup/gunicorn.conf.py" in command
    else:
        assert command.endswith("/bin/speakup scheduler")
    rendered = text.replace("/opt/speakup/.venv/bin", str(VENV_BIN)).replace(
        "/opt/speakup", str(REPO))
    (tmp_path / unit).write_text(rendered)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit)], capture_output=True, text=True,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"},
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
