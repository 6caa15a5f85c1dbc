"""Against a real gunicorn server: concurrent submissions and replies, nothing lost."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import TEST_SECRET, add_concern_reader
from sqlalchemy import func, select

from concerns import keys
from concerns.config import ConcernConfig
from concerns.models import Concern, ConcernMessage
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings

CLIENTS = 64
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# The receipt's groups are in spans (so none breaks across lines): strip the tags.
RECEIPT = re.compile(r'id="receipt"[^>]*>(.*?)</p>', re.S)
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"|'
                    r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"')


class Browser:
    """A cookie-keeping HTTP client, one per simulated person."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=60) as response:
            return response.read().decode()

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def _hidden(html: str) -> dict[str, str]:
    fields = {}
    for match in HIDDEN.finditer(html):
        name, value = (match.group(1), match.group(2)) if match.group(1) else (
            match.group(3), match.group(4))
        fields[name] = value
    return fields


@pytest.fixture
def server(live_server, fresh_database_url, tmp_path):
    """gunicorn (2 workers × 4 threads) on a fresh database with a recovery key."""
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET)
    engine = make_engine(fresh_database_url)
    with make_session_factory(engine)() as session:
        keys.create_recovery_key(session, SystemClock(), ConcernConfig.from_settings(settings),
                                 actor="test")
        add_concern_reader(session, SystemClock(), ConcernConfig.from_settings(settings))
    yield live_server(SPEAKUP_CONCERNS_PER_MINUTE="1000",
                      SPEAKUP_RECEIPT_CHECKS_PER_MINUTE="1000",
                      SPEAKUP_CHECKS_PER_RECEIPT_PER_MINUTE="100"), engine
    engine.dispose()


def _submit(base: str, n: int) -> str:
    browser = Browser(base)
    token = TOKEN.search(browser.get("/concerns/new")).group(1)
    status, html = browser.post("/concerns/new", {
        "csrf_token": token, "category": str(n % 4 + 1),
        "what_happened": f"Concurrent report number {n}", "what_wanted": ""})
    assert status == 200, html[:500]
    return re.sub(r"<[^>]+>", "", RECEIPT.search(html).group(1))


def _open(base: str, receipt: str) -> tuple[Browser, str]:
    browser = Browser(base)
    token = TOKEN.search(browser.get("/concerns/check")).group(1)
    status, html = browser.post("/concerns/check", {"csrf_token": token, "receipt": receipt})
    assert status == 200, html[:500]
    return browser, html


def test_64_concurrent_submissions_are_all_stored_and_readable(server):
    live, engine = server
    with ThreadPoolExecutor(CLIENTS) as pool:
        receipts = list(pool.map(lambda n: _submit(live.url, n), range(CLIENTS)))
    assert len(set(receipts)) == CLIENTS
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Concern)) == CLIENTS
        assert conn.scalar(select(func.count()).select_from(ConcernMessage)) == CLIENTS
    with ThreadPoolExecutor(16) as pool:
        pages = list(pool.map(lambda r: _open(live.url, r)[1], receipts))
    for n, page in enumerate(pages):
        assert f"Concurrent report number {n}" in page
    assert "Traceback" not in live.log()


def test_concurrent_replies_one_wins_the_rest_are_told(server):
    live, engine = server
    receipt = _submit(live.url, 0)
    tabs = [_open(live.url, receipt) for _ in range(8)]
    barrier = threading.Barrier(len(tabs))

    def reply(tab: tuple[Browser, str], n: int) -> int:
        browser, html = tab
        fields = _hidden(html)
        barrier.wait()
        return browser.post("/concerns/reply", {**fields, "text": f"reply {n}"})[0]

    with ThreadPoolExecutor(len(tabs)) as pool:
        statuses = list(pool.map(reply, tabs, range(len(tabs))))
    assert sorted(statuses) == [200] + [409] * (len(tabs) - 1)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ConcernMessage)) == 2
        assert conn.scalar(select(Concern.last_seq)) == 2
