"""Fuzz every form of a live Speak Up under gunicorn; print server errors and header share.

    .venv/bin/python bench/fuzz.py [--cases 1000] [--seed 13]

Sets up a private instance in a temporary folder (SQLite, `speakup db upgrade`, a
recovery key, the demo accounts and data), starts gunicorn on 127.0.0.1 with the
shipped gunicorn.conf.py, signs in as each role, and finds every form the pages of
each role show (following links). Then, for each form, sends `--cases` generated
submissions: each field kept, dropped or replaced by an odd value (huge and negative
numbers, unicode digits, NUL bytes, invalid UTF-8, markup, path tricks, very long
text), forged extra fields, and now and then a malformed Host, Content-Type or cookie.
The CSRF token is the real one, so the requests reach the form's own validation.

Prints, per form and in total: requests, status counts, server errors (5xx) and the
share of responses that carry the security headers. Exits 1 on any server error.
Loopback only; bounded by --cases. The sign-out form is left out (it would end the
session every case relies on); a lost session is signed in again.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pyotp
from _common import REPO, VENV_BIN, start_gunicorn

ODD = [
    "9223372036854775808", "-9223372036854775809", "2147483648", "-1", "0", "²", "①", "١٢٣",
    "\x00", "a\x00b", "a..b", "%00", "../../etc/passwd", "<script>alert(1)</script>",
    "' OR 1=1 --", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "9" * 40, "x" * 30000, "", " ", "\ufeff", "csv", "on",
    "ABCDE-FGHJK-LMNPQ-RSTVW-XYZ23", "1e400", "NaN", "\r\nSet-Cookie: x=y", "İ", "ß" * 300,
]
BAD_HOSTS = ["a" * 64 + ".example.org", "a..b", "-", "[::1", "exa mple", "ü.example", ""]
BAD_TYPES = ["text/plain", "application/json", "multipart/form-data; boundary=",
             "application/x-www-form-urlencoded; charset=utf-16"]
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy",
                    "x-frame-options")


class FormParser(HTMLParser):
    """Forms (action, method, fields with their first value) and links of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self.links: set[str] = set()
        self._form: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("/"):
            self.links.add(a["href"].split("#")[0])
        elif tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get"),
                          "fields": {}}
            self.forms.append(self._form)
        elif tag in ("input", "textarea", "select", "option") and self._form is not None:
            fields = self._form["fields"]
            assert isinstance(fields, dict)
            if tag == "option" and fields:
                last = list(fields)[-1]
                fields[last] = fields[last] or a.get("value", "")
            elif a.get("name"):
                fields.setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


@dataclass
class Browser:
    """One keep-alive connection with its own session cookie."""

    host: str
    port: int
    cookie: str = ""
    conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        all_headers = {"Cookie": self.cookie} if self.cookie else {}
        all_headers.update(headers or {})
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if "Host" in all_headers:
                    self.conn.putrequest(method, path, skip_host=True,
                                         skip_accept_encoding=True)
                    for name, value in all_headers.items():
                        self.conn.putheader(name, value)
                    if body is not None:
                        self.conn.putheader("Content-Length", str(len(body)))
                    self.conn.endheaders(body)
                else:
                    self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                found = {k.lower(): v for k, v in response.getheaders()}
                match = re.search(r"speakup_session=([^;]*)", found.get("set-cookie", ""))
                if match is not None:
                    self.cookie = f"speakup_session={match.group(1)}"
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, found, text
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    with_headers: int = 0
    server_errors: list[str] = field(default_factory=list)
    # Responses without the headers, by whether gunicorn itself refused the request
    # (a Host or request line it cannot parse never reaches the app).
    bare: Counter[str] = field(default_factory=Counter)

    def add(self, status: int, headers: dict[str, str], what: str) -> None:
        self.requests += 1
        self.statuses[status] += 1
        if all(h in headers for h in SECURITY_HEADERS) and "no-store" in headers.get(
                "cache-control", ""):
            self.with_headers += 1
        else:
            missing = [h for h in (*SECURITY_HEADERS, "cache-control") if h not in headers]
            self.bare[f"{status} without {', '.join(missing) or 'no-store'}"] += 1
        if status >= 500:
            self.server_errors.append(f"{status} {what}")


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                  r'type="hidden" name="csrf_token" value="([^"]+)"|'
                  r'name="csrf_token" value="([^"]+)"')


def token_of(html: str) -> str:
    match = CSRF.search(html)
    return next((g for g in match.groups() if g), "") if match else ""


def sign_in(browser: Browser, email: str, password: str, secret: str | None) -> bool:
    browser.cookie = ""
    _, _, html = browser.request("GET", "/login")
    fields = {"csrf_token": token_of(html), "email": email, "password": password}
    if secret:
        time.sleep(max(0.0, 30 - time.time() % 30) if _used_step(secret) else 0)
        fields["totp"] = pyotp.TOTP(secret).now()
    status, _, _ = browser.request("POST", "/login", urllib.parse.urlencode(fields).encode(),
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    return status == 302


_STEPS: dict[str, int] = {}
_STEPS_LOCK = threading.Lock()


def _used_step(secret: str) -> bool:
    """A TOTP code works once: wait for the next step if this one was used."""
    step = int(time.time() // 30)
    with _STEPS_LOCK:
        used = _STEPS.get(secret) == step
        _STEPS[secret] = step + 1 if used else step
    return used


def crawl(browser: Browser, start: list[str], limit: int = 60) -> dict[str, dict]:
    """Forms reachable from `start`, keyed by action path with ids replaced by {id}."""
    seen, queue, forms = set(), list(start), {}
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen or path.startswith(("/static/", "/logout")) or ".csv" in path \
                or ".json" in path:
            continue
        seen.add(path)
        status, headers, html = browser.request("GET", path)
        if status != 200 or "text/html" not in headers.get("content-type", ""):
            continue
        parser = FormParser()
        parser.feed(html)
        queue.extend(sorted(parser.links - seen))
        for form in parser.forms:
            action = str(form["action"]) or path
            if str(form["method"]).lower() != "post" or action.startswith("/logout"):
                continue
            key = re.sub(r"/(?:[A-Z0-9]{5}-[A-Z0-9]{5}|\d+)(?=/|$|\.)", "/{id}", action)
            forms.setdefault(key, {"page": path, "action": action, "fields": form["fields"]})
    return forms


def odd(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(ODD)
    return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x2FFF),
                                   rng.randrange(0x1F300, 0x1F6FF)]))
                   for _ in range(rng.randrange(0, 80)))


def one_case(rng: random.Random, form: dict, token: str) -> tuple[bytes, dict[str, str]]:
    fields: dict[str, str] = {}
    for name, value in form["fields"].items():
        roll = rng.random()
        if name == "csrf_token":
            fields[name] = token
        elif roll < 0.15:
            continue
        elif roll < 0.5:
            fields[name] = str(value)
        else:
            fields[name] = odd(rng)
    for _ in range(rng.choice([0, 0, 1, 2])):
        fields[rng.choice(["seen_seq", "round_id", "_method", "id", odd(rng)[:20]])] = odd(rng)
    body = urllib.parse.urlencode(fields).encode()
    if rng.random() < 0.05:
        body += b"&text=%FF%FE%00invalid"  # invalid UTF-8 after decoding
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    roll = rng.random()
    if roll < 0.05:
        headers["Host"] = rng.choice(BAD_HOSTS)
    elif roll < 0.08:
        headers["Content-Type"] = rng.choice(BAD_TYPES)
    return body, headers


def fuzz_role(port: int, role: str, account: tuple[str, str, str | None] | None,
              cases: int, seed: int, results: dict[str, Tally]) -> None:
    browser = Browser("127.0.0.1", port)

    alive = [account is not None]

    def ensure_signed_in() -> None:
        # A form may have ended this account's session for good (the admin's own
        # account forms): then the rest runs signed out, and is still counted.
        if alive[0] and account is not None:
            alive[0] = sign_in(browser, *account)

    ensure_signed_in()
    start = ["/", "/concerns/new", "/concerns/check", "/login", "/privacy"] if account is None \
        else ["/staff", "/account/password"]
    forms = crawl(browser, start)
    for key, form in sorted(forms.items()):
        rng = random.Random(f"{seed}:{role}:{key}")
        tally = results.setdefault(f"{role:9} POST {key}", Tally())
        for case in range(cases):
            if case % 50 == 0:  # a fresh page (and token) now and then, as a person would
                status, got, html = browser.request("GET", form["page"])
                if alive[0] and status == 302 and "/login" in got.get("location", ""):
                    ensure_signed_in()
                    _, _, html = browser.request("GET", form["page"])
                token = token_of(html)
            body, headers = one_case(rng, form, token)
            status, got, _ = browser.request("POST", form["action"], body, headers)
            tally.add(status, got, f"{form['action']} {body[:120]!r} {headers}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per form")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="speakup-fuzz-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
        env.update(SPEAKUP_INSTANCE_PATH=str(work / "instance"),
                   SPEAKUP_SECRET_KEY=secrets.token_urlsafe(48),
                   SPEAKUP_SECURE_COOKIES="false",
                   # Limits high enough that the cases reach each form's validation.
                   SPEAKUP_CONCERNS_PER_MINUTE="1000000",
                   SPEAKUP_RECEIPT_CHECKS_PER_MINUTE="1000000",
                   SPEAKUP_CHECKS_PER_RECEIPT_PER_MINUTE="1000000",
                   SPEAKUP_LOCKOUT_THRESHOLD="1000000")
        speakup = str(VENV_BIN / "speakup")
        subprocess.run([speakup, "db", "upgrade"], env=env, check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        subprocess.run([speakup, "keys", "init", "--out", str(work / "recovery.pem")], env=env,
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        demo = subprocess.run([speakup, "demo"], env=env, check=True, cwd=REPO,
                              capture_output=True, text=True).stdout
        accounts: dict[str, tuple[str, str, str | None]] = {}
        for match in re.finditer(r"(\w+)\s+(\S+@\S+)\s+password: (\S+)(?:\n\s+TOTP secret "
                                 r"(\w+))?", demo):
            accounts[match.group(1)] = (match.group(2), match.group(3), match.group(4))
        server = start_gunicorn("speakup.app:create_app()", env, work)
        port = server.port
        try:
            results: dict[str, Tally] = {}
            started = time.monotonic()
            # One role after another, the admin last: its forms may disable or re-role
            # the other demo accounts, which would end their sessions mid-run.
            for role in ("anonymous", "reviewer", "handler", "admin"):
                fuzz_role(port, role, accounts.get(role), args.cases, args.seed, results)
            wall = time.monotonic() - started
        finally:
            server.stop()
        server_log = server.log.read_text(errors="replace")
    total = Tally()
    print(f"Speak Up fuzz: {args.cases} cases per form, seed {args.seed}, gunicorn "
          f"(gunicorn.conf.py), SQLite, {wall:.0f} s\n")
    print(f"{'form':58} {'requests':>8} {'5xx':>4} {'headers':>8}  statuses")
    for name, tally in sorted(results.items()):
        share = 100 * tally.with_headers / max(tally.requests, 1)
        statuses = " ".join(f"{s}:{n}" for s, n in sorted(tally.statuses.items()))
        print(f"{name:58} {tally.requests:8} {len(tally.server_errors):4} {share:7.1f}%  "
              f"{statuses}")
        total.requests += tally.requests
        total.with_headers += tally.with_headers
        total.statuses.update(tally.statuses)
        total.server_errors += tally.server_errors
        total.bare.update(tally.bare)
    share = 100 * total.with_headers / max(total.requests, 1)
    print(f"\n{len(results)} forms, {total.requests} requests, {len(total.server_errors)} "
          f"server errors, security headers on {share:.2f} % of responses")
    # A response missing every header is gunicorn's own refusal of a request its HTTP
    # parser rejects (e.g. an empty or non-ASCII Host): it never reached the app.
    print(f"Responses without the headers: {dict(total.bare)}")
    for sample in total.server_errors[:10]:
        print("  ", sample[:300])
    tracebacks = server_log.count("Traceback")
    print(f"Tracebacks in the server log: {tracebacks}")
    sys.exit(1 if total.server_errors or tracebacks else 0)


if __name__ == "__main__":
    main()
