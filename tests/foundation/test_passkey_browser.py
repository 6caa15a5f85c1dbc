"""A real Chromium with a virtual authenticator: add a passkey, then sign in with it."""

from __future__ import annotations

import pyotp
import pytest
from conftest import PASSWORD, free_port
from playwright.sync_api import sync_playwright
from sqlalchemy import select
from test_foundation_browser import CHROMIUM_ARGS, EMAIL, seed_admin

from speakup.db import make_engine, make_session_factory
from speakup.models import AuditEntry, WebAuthnCredential


def stored(url: str) -> tuple[list[tuple[str, int]], list[str]]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            keys = [(k.name, k.sign_count) for k in session.scalars(select(WebAuthnCredential))]
            logins = [e.detail for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "login").order_by(AuditEntry.id))]
            return keys, logins
    finally:
        engine.dispose()


@pytest.mark.browser
def test_add_a_passkey_and_sign_in_with_it(live_server, fresh_database_url):
    secret = seed_admin(fresh_database_url)
    port = free_port()
    # WebAuthn needs a real domain as relying party: "localhost" is one, an IP is not.
    base = f"http://localhost:{port}"
    live_server(workers=1, threads=2, port=port, SPEAKUP_BASE_URL=base)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context()
        try:
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
                "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                "hasUserVerification": True, "isUserVerified": True,
            }})["authenticatorId"]

            # Signed in with the authenticator code, the admin adds a passkey.
            page.goto(base + "/login")
            page.get_by_label("E-mail address").fill(EMAIL)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.goto(base + "/account/security")
            page.get_by_label("Name for this key").fill("virtual key")
            page.get_by_role("button", name="Add a key").click()
            # The script submits the form once the authenticator has answered.
            page.get_by_text("has been added").wait_for()
            assert page.get_by_role("cell", name="virtual key", exact=True).count() == 1
            credentials = cdp.send("WebAuthn.getCredentials",
                                   {"authenticatorId": authenticator})["credentials"]
            assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"

            # Signed out, the admin signs in with password and passkey (no code).
            page.get_by_role("button", name="Sign out").click()
            page.goto(base + "/login")
            page.get_by_label("E-mail address").fill(EMAIL)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Use a passkey or security key instead").click()
            assert page.url == base + "/login/key"
            page.get_by_role("button", name="Use my key").click()
            page.wait_for_url(base + "/admin/")
            assert page.get_by_role("button", name="Sign out").count() == 1
        finally:
            context.close()
            browser.close()
    keys, logins = stored(fresh_database_url)
    assert keys[0][0] == "virtual key" and keys[0][1] >= 1  # the counter was kept
    assert '"via": "passkey"' in logins[-1]
