"""How a genuine reporter fares while one abusive local client floods the service.

    .venv/bin/python bench/ratelimit_flood.py [--seconds 60] [--flooders 4]

Starts Speak Up under gunicorn on 127.0.0.1 (fresh SQLite instance, default limits),
raises one concern to get a real receipt, then for `--seconds` runs `--flooders`
threads of one abusive client: half send receipt checks with made-up receipts as fast
as they can, half send new concerns. Meanwhile a genuine reporter checks their real
receipt every 10 s and a genuine colleague raises a new concern every 5 s. Prints the
share of the genuine requests that succeeded, and what the flooder got. Loopback
only, bounded by --seconds.

Over the global limit a new concern gets a "please wait" page with a stamp (issue 13,
finding 3); the colleague does what the page says (waits, presses "Send now") and
counts as served when that ends in a receipt. With --no-wait the colleague gives up
at the first refusal (how it was measured before). With --hoarder the new-concern
flooders are smarter: each collects wait stamps from fresh sessions without pause and
spends every one the moment its page says the wait is over (issue 18: before, they
collected for the length of the wait and then spent them all at once; spending each
as it matures is at least as strong, since stamps no longer all mature together).
Prints how often the colleague pressed "Send now" per concern and the longest wait.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from _common import REPO, VENV_BIN, start_gunicorn
from fuzz import Browser, token_of

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# As concerns/crypto.py writes them (bench/concerns.py shadows that package here).
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def made_up_receipt() -> str:
    """Well-formed, so it reaches the rate limit (a malformed one is refused before)."""
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(20))
    return "-".join(raw[i:i + 4] for i in range(0, 20, 4))


def check(browser: Browser, receipt: str) -> int:
    _, _, html = browser.request("GET", "/concerns/check")
    body = urllib.parse.urlencode({"csrf_token": token_of(html), "receipt": receipt}).encode()
    return browser.request("POST", "/concerns/check", body, FORM)[0]


def submit(browser: Browser, text: str) -> tuple[int, str]:
    _, _, html = browser.request("GET", "/concerns/new")
    body = urllib.parse.urlencode({"csrf_token": token_of(html), "category": "1",
                                   "what_happened": text}).encode()
    status, _, page = browser.request("POST", "/concerns/new", body, FORM)
    return status, page


STAMP = re.compile(r'name="stamp" value="([^"]+)"')
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')
TEXTAREA = re.compile(r'<textarea[^>]*name="([^"]+)"[^>]*>\r?\n?(.*?)</textarea>', re.S)
WAIT = re.compile(r"Please wait (\d+) seconds")


def kept_form(page: str) -> tuple[dict[str, str], int] | None:
    """What "Send now" on a wait page posts, and how long the page says to wait."""
    if not STAMP.search(page):
        return None
    fields = {}
    for tag in HIDDEN.findall(page):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name is not None:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    fields.update({name: html.unescape(value) for name, value in TEXTAREA.findall(page)})
    wait = WAIT.search(page)
    return fields, int(wait.group(1)) if wait else 15


def send_now(browser: Browser, fields: dict[str, str]) -> tuple[int, str]:
    body = urllib.parse.urlencode(fields).encode()
    status, _, page = browser.request("POST", "/concerns/new", body, FORM)
    return status, page


def submit_patiently(browser: Browser, text: str, stop: float) -> tuple[int, float, int]:
    """Submit as a person following the wait page would.

    Returns (final status, seconds waited, times "Send now" was pressed).
    """
    status, page = submit(browser, text)
    waited, presses = 0.0, 0
    while status == 429 and (kept := kept_form(page)) is not None:
        fields, wait = kept
        if time.monotonic() + wait > stop + 240:  # do not outlive the bench for long
            break
        time.sleep(wait + 0.5)
        waited += wait + 0.5
        presses += 1
        status, page = send_now(browser, fields)
    return status, waited, presses


# A handler who has "signed in once": their key pair made, as the login hook would.
READER_SCRIPT = """
from concerns import keys
from speakup import accounts
from speakup.app import create_app
from speakup.web import services
svc = services(create_app())
with svc.session_factory() as session:
    user = accounts.create_user(session, svc.clock, email="reader@bench.example",
                                role="handler", password="bench reader pw", actor="bench")
    keys.unlock_handler_key(session, svc.clock, svc.extras["concerns"], user, "bench reader pw")
    session.commit()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--flooders", type=int, default=4)
    parser.add_argument("--no-wait", action="store_true",
                        help="the colleague gives up at the first refusal")
    parser.add_argument("--hoarder", action="store_true",
                        help="new-concern flooders hoard wait stamps and spend them at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="speakup-flood-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
        env.update(SPEAKUP_INSTANCE_PATH=str(work / "instance"),
                   SPEAKUP_SECRET_KEY=secrets.token_urlsafe(48), SPEAKUP_SECURE_COOKIES="false")
        speakup = str(VENV_BIN / "speakup")
        subprocess.run([speakup, "db", "upgrade"], env=env, check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        subprocess.run([speakup, "keys", "init", "--out", str(work / "recovery.pem")], env=env,
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        # Concerns are taken only once an active handler has a key pair (issue 19).
        subprocess.run([str(VENV_BIN / "python"), "-c", READER_SCRIPT], env=env, check=True,
                       cwd=REPO, stdout=subprocess.DEVNULL)
        server = start_gunicorn("speakup.app:create_app()", env, work)
        port = server.port
        try:
            status, page = submit(Browser("127.0.0.1", port), "The first, genuine concern.")
            # The receipt may be split into spans: read the element's text, tags dropped.
            found = re.search(r'id="receipt"[^>]*>(.*?)</p>', page, re.S)
            if found is None:
                sys.exit(f"the first concern was not accepted ({status})")
            receipt = re.sub(r"<[^>]+>", "", found.group(1)).strip()
            stop = time.monotonic() + args.seconds
            flood: Counter[str] = Counter()
            lock = threading.Lock()

            def hoarder() -> None:
                pending: list[tuple[float, Browser, dict[str, str]]] = []
                while time.monotonic() < stop:
                    # A fresh session each time: a success spends the session's token.
                    browser = Browser("127.0.0.1", port)
                    code, page = submit(browser, "spam " + secrets.token_hex(8))
                    kept = kept_form(page) if code == 429 else None
                    if kept is not None:
                        pending.append((time.monotonic() + kept[1] + 0.2, browser, kept[0]))
                    with lock:
                        flood[f"new {code}"] += 1
                    now = time.monotonic()
                    for item in [p for p in pending if p[0] <= now]:
                        pending.remove(item)
                        code = send_now(item[1], item[2])[0]
                        with lock:
                            flood[f"stamped {code}"] += 1

            def flooder(kind: str) -> None:
                if kind == "new" and args.hoarder:
                    hoarder()
                    return
                browser = Browser("127.0.0.1", port)
                while time.monotonic() < stop:
                    code = (check(browser, made_up_receipt()) if kind == "check"
                            else submit(browser, "spam " + secrets.token_hex(8))[0])
                    with lock:
                        flood[f"{kind} {code}"] += 1

            genuine: Counter[str] = Counter()
            waits: list[float] = []
            presses: list[int] = []

            def reporter() -> None:
                browser = Browser("127.0.0.1", port)
                while time.monotonic() < stop:
                    genuine[f"check {check(browser, receipt)}"] += 1
                    time.sleep(10)  # within their own per-receipt limit (10 a minute)

            def colleague() -> None:
                browser = Browser("127.0.0.1", port)
                while time.monotonic() < stop:
                    if args.no_wait:
                        genuine[f"new {submit(browser, 'A genuine concern.')[0]}"] += 1
                    else:
                        code, waited, pressed = submit_patiently(browser, "A genuine concern.",
                                                                 stop)
                        genuine[f"new {code}"] += 1
                        waits.append(waited)
                        presses.append(pressed)
                    time.sleep(5)

            threads = [threading.Thread(target=flooder, args=("check" if i % 2 == 0 else "new",))
                       for i in range(args.flooders)]
            threads += [threading.Thread(target=reporter), threading.Thread(target=colleague)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.stop()

    def share(kind: str) -> str:
        total = sum(n for k, n in genuine.items() if k.startswith(kind))
        ok = genuine.get(f"{kind} 200", 0)
        return f"{ok}/{total} = {100 * ok / max(total, 1):.0f} %"

    print(f"Speak Up under one abusive local client: {args.flooders} flooding threads for "
          f"{args.seconds:.0f} s, default limits (SPEAKUP_RECEIPT_CHECKS_PER_MINUTE=120, "
          "SPEAKUP_CONCERNS_PER_MINUTE=30), gunicorn.conf.py, SQLite")
    print(f"  flooder's answers: {dict(sorted(flood.items()))}")
    print(f"  genuine reporter checking a real receipt every 10 s: {share('check')} succeeded")
    how = "giving up at the first refusal" if args.no_wait else "following the wait page"
    print(f"  genuine colleague raising a new concern every 5 s, {how}: {share('new')} "
          "succeeded")
    if waits:
        print(f"    waited on average {sum(waits) / len(waits):.1f} s per concern "
              f"(longest {max(waits):.1f} s); pressed \"Send now\" at most {max(presses)} "
              f"time(s) for one concern")
    stored = flood.get("new 200", 0) + flood.get("stamped 200", 0)
    print(f"  flooder stored {stored} concerns")
    print(f"  flooder mode: {'hoarding wait stamps' if args.hoarder else 'plain'}")


if __name__ == "__main__":
    main()
