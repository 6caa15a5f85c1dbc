"""A real browser signs in through a real OpenID Connect provider to a real gunicorn."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from conftest import free_port
from oidc_provider import CLIENT_ID, CLIENT_SECRET, ROLE_MAP, Provider
from playwright.sync_api import Page
from test_foundation_browser import EMAIL, page, seed_admin  # noqa: F401 - the page fixture


@pytest.mark.browser
def test_admin_signs_in_through_the_provider(live_server, fresh_database_url, page: Page,  # noqa: F811
                                             tmp_path: Path):
    secret = seed_admin(fresh_database_url)
    secret_file = tmp_path / "client_secret"
    secret_file.write_text(CLIENT_SECRET)
    with Provider() as provider:
        provider.user = {"email": EMAIL, "groups": ["speakup-admins"], "amr": ["pwd"]}
        port = free_port()
        server = live_server(
            workers=1, threads=2, port=port, SPEAKUP_BASE_URL=f"http://127.0.0.1:{port}",
            SPEAKUP_OIDC_ISSUER=provider.issuer, SPEAKUP_OIDC_CLIENT_ID=CLIENT_ID,
            SPEAKUP_OIDC_CLIENT_SECRET_FILE=str(secret_file), SPEAKUP_OIDC_ROLE_MAP=ROLE_MAP,
        )
        page.goto(server.url + "/login")
        page.get_by_role("link", name="Sign in with your organisation's account").click()
        # The browser went to the provider and came back with its answer: now our code.
        assert page.url == server.url + "/login/idp/code"
        assert provider.fetches["token"] == 1
        page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Sign in").click()
        assert page.url == server.url + "/admin/"
        assert page.get_by_role("button", name="Sign out").count() == 1
        # The provider's state and nonce did not outlive the sign-in.
        cookies = {c["name"] for c in page.context.cookies()}
        assert cookies == {"speakup_session"}
