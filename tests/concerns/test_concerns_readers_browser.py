"""The refusal page shown instead of the concern form, in Chromium with JavaScript off.

Issue 19, finding 2: the whole form used to be offered, and the refusal came only after
pressing Send. Now no form is shown until a concern sent could be read by someone.
"""

from __future__ import annotations

import pytest
from conftest import TEST_SECRET
from playwright.sync_api import sync_playwright
from test_concerns_browser import CHROMIUM_ARGS, PageChecks

from concerns import keys
from concerns.config import ConcernConfig
from speakup import accounts
from speakup.clock import SystemClock
from speakup.db import make_engine, make_session_factory
from speakup.settings import Settings

PASSWORD = "handler password for the browser"


@pytest.mark.browser
def test_reporter_sees_why_there_is_no_form_until_someone_can_read_it(
        live_server, fresh_database_url, tmp_path):
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key=TEST_SECRET)
    config = ConcernConfig.from_settings(settings)
    engine = make_engine(fresh_database_url)
    factory = make_session_factory(engine)
    server = live_server()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        reporter = browser.new_context(java_script_enabled=False).new_page()
        checks = PageChecks(browser, server.url)

        def form_page() -> int:
            response = reporter.goto(server.url + "/concerns/new")
            assert response is not None
            return response.status

        # No recovery key yet: the reason, and nothing to fill in.
        assert form_page() == 503
        assert reporter.get_by_role("heading", name="Raise a concern").is_visible()
        assert "its recovery key has not been set up" in \
            reporter.get_by_role("alert").inner_text()
        assert reporter.locator("textarea, input[type=file]").count() == 0
        assert not reporter.get_by_role("button", name="Send my concern").is_visible()
        checks.check("refused-no-recovery-key", reporter.content())

        # A recovery key and a handler who never signed in: still no form.
        with factory() as session:
            keys.create_recovery_key(session, SystemClock(), config, actor="test")
            handler = accounts.create_user(session, SystemClock(), email="h@example.org",
                                           role="handler", password=PASSWORD, actor="test")
            session.commit()
        assert form_page() == 503
        assert "no case handler has signed in for the first time" in \
            reporter.get_by_role("alert").inner_text()
        assert reporter.locator("textarea").count() == 0
        checks.check("refused-no-reader", reporter.content())

        # Once the handler has signed in (their key pair exists), the form is there.
        with factory() as session:
            keys.unlock_handler_key(session, SystemClock(), config,
                                    session.merge(handler), PASSWORD)
            session.commit()
        assert form_page() == 200
        assert reporter.get_by_label("What happened?").is_visible()
        browser.close()
    engine.dispose()
    assert checks.problems == []
