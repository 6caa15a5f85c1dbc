"""Many simultaneous submissions of the same links through gunicorn: one response per link."""

from __future__ import annotations

import http.cookiejar
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

from conftest import TEST_SECRET, csrf_token_from
from sqlalchemy import func, select
from surveys_testlib import make_survey, open_round_now, opened, tokens_for

from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings
from surveys.models import Response, TokenHash

LINKS = 4
THREADS_PER_LINK = 8


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def test_concurrent_double_submissions_save_exactly_one_response_per_link(
    fresh_database_url, live_server, tmp_path
):
    # Given an open round with a few personal links, in a real database
    settings = Settings(secret_key=TEST_SECRET, database_url=fresh_database_url,
                        instance_path=tmp_path / "instance")
    engine = make_engine(fresh_database_url)
    clock = SystemClock()
    with make_session_factory(engine)() as session:
        survey = make_survey(session, clock, settings, ["a@example.org"])
        round_ = open_round_now(session, clock, survey, settings)
        tokens = tokens_for(session, settings, round_, LINKS)
        session.commit()
    server = live_server(workers=2, threads=8)

    # When every link is sent many times at the same moment, each from its own browser
    barrier = threading.Barrier(LINKS * THREADS_PER_LINK)
    results: Counter[tuple[str, int]] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def submit(token: str, value: int) -> None:
        try:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                                 _NoRedirect)
            url = f"{server.url}/s/{token}"
            with opener.open(url, timeout=30) as page:
                csrf = csrf_token_from(page.read().decode())
            data = urllib.parse.urlencode({"csrf_token": csrf, "item-psafe_1": str(value),
                                           "item-speak_1": "4", "send_anyway": "1"}).encode()
            barrier.wait(timeout=60)
            try:
                with opener.open(url, data=data, timeout=60) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
                exc.close()
            with lock:
                results[token, status] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=submit, args=(token, 1 + i % 7))
               for token in tokens for i in range(THREADS_PER_LINK)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then each link saved exactly one response; every other attempt was told it was used
    assert errors == [], errors
    for token in tokens:
        assert results[token, 302] == 1, results
        assert results[token, 409] == THREADS_PER_LINK - 1, results
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Response)) == LINKS
        responses = opened(session, settings, round_)
        assert sum(len(r.answers) for r in responses) == 2 * LINKS
        # Each worker process sealed with one key of its own (two workers), not one per answer.
        sealers = {bytes(blob)[1:33] for blob in session.scalars(select(Response.sealed))}
        assert 1 <= len(sealers) <= 2
        assert session.scalar(select(func.count()).select_from(TokenHash)
                              .where(TokenHash.used.is_(True))) == LINKS
    engine.dispose()
    assert " 500 " not in server.log()
