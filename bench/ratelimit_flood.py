"""How a genuine reporter fares while one abusive local client floods the service.

    .venv/bin/python bench/ratelimit_flood.py [--seconds 60] [--flooders 4]

Starts Speak Up under gunicorn on 127.0.0.1 (fresh SQLite instance, default limits),
raises one concern to get a real receipt, then for `--seconds` runs `--flooders`
threads of one abusive client: half send receipt checks with made-up receipts as fast
as they can, half send new concerns. Meanwhile a genuine reporter checks their real
receipt every 10 s and a genuine colleague raises a new concern every 5 s. Prints the
share of the genuine requests that succeeded, and what the flooder got. Loopback
only, bounded by --seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from fuzz import Browser, token_of

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--flooders", type=int, default=4)
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
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(REPO / "gunicorn.conf.py"), "--bind",
             f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "speakup.app:create_app()"],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(150):
                try:
                    if Browser("127.0.0.1", port).request("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            status, page = submit(Browser("127.0.0.1", port), "The first, genuine concern.")
            receipt = re.search(r'id="receipt"[^>]*>([^<]+)<', page).group(1).strip()
            stop = time.monotonic() + args.seconds
            flood: Counter[str] = Counter()
            lock = threading.Lock()

            def flooder(kind: str) -> None:
                browser = Browser("127.0.0.1", port)
                while time.monotonic() < stop:
                    code = (check(browser, made_up_receipt()) if kind == "check"
                            else submit(browser, "spam " + secrets.token_hex(8))[0])
                    with lock:
                        flood[f"{kind} {code}"] += 1

            genuine: Counter[str] = Counter()

            def reporter() -> None:
                browser = Browser("127.0.0.1", port)
                while time.monotonic() < stop:
                    genuine[f"check {check(browser, receipt)}"] += 1
                    time.sleep(10)  # within their own per-receipt limit (10 a minute)

            def colleague() -> None:
                browser = Browser("127.0.0.1", port)
                while time.monotonic() < stop:
                    genuine[f"new {submit(browser, 'A genuine concern.')[0]}"] += 1
                    time.sleep(5)

            threads = [threading.Thread(target=flooder, args=("check" if i % 2 == 0 else "new",))
                       for i in range(args.flooders)]
            threads += [threading.Thread(target=reporter), threading.Thread(target=colleague)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.terminate()
            server.wait(timeout=20)

    def share(kind: str) -> str:
        total = sum(n for k, n in genuine.items() if k.startswith(kind))
        ok = genuine.get(f"{kind} 200", 0)
        return f"{ok}/{total} = {100 * ok / max(total, 1):.0f} %"

    print(f"Speak Up under one abusive local client: {args.flooders} flooding threads for "
          f"{args.seconds:.0f} s, default limits (SPEAKUP_RECEIPT_CHECKS_PER_MINUTE=120, "
          "SPEAKUP_CONCERNS_PER_MINUTE=30), gunicorn.conf.py, SQLite")
    print(f"  flooder's answers: {dict(sorted(flood.items()))}")
    print(f"  genuine reporter checking a real receipt every 10 s: {share('check')} succeeded")
    print(f"  genuine colleague raising a new concern every 5 s:   {share('new')} succeeded")


if __name__ == "__main__":
    main()
