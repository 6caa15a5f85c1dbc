# ruff: noqa: F811 - the imported fixtures are pytest arguments here
"""Sign-out after a provider sign-in ends the provider's session too (RP-initiated logout)."""

from __future__ import annotations

import urllib.parse

from conftest import PASSWORD, csrf_token_from, post_form
from oidc_provider import CLIENT_ID, follow_authorize
from test_oidc_signin import (  # noqa: F401 - the provider and settings fixtures
    REVIEWER_GROUP,
    provider,
    settings,
    signed_in_as,
    via_provider,
)


def sign_out(client):  # type: ignore[no-untyped-def]
    page = client.get("/staff").get_data(as_text=True)
    return client.post("/logout", data={"csrf_token": csrf_token_from(page)})


def test_sign_out_after_a_provider_sign_in_goes_through_the_provider(app, client, provider,
                                                                      settings):
    via_provider(client, provider, email="ann@example.org", groups=[REVIEWER_GROUP])
    assert signed_in_as(client)
    response = sign_out(client)
    assert signed_in_as(client) is None  # Speak Up's own session ended first
    location = response.headers["Location"]
    assert response.status_code == 302 and location.startswith(provider.issuer + "/logout?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query == {"client_id": CLIENT_ID, "post_logout_redirect_uri": settings.base_url + "/"}
    # The provider ends its session and sends the browser back to the public home page.
    assert follow_authorize(location) == settings.base_url + "/"
    assert provider.logouts == [query]


def test_sign_out_after_a_password_sign_in_stays_here(app, client, provider, make_user):
    reviewer = make_user("reviewer", with_totp=False)
    post_form(client, "/login", {"email": reviewer.user.email, "password": PASSWORD})
    response = sign_out(client)
    assert response.headers["Location"] == "/"
    assert provider.logouts == []


def test_a_provider_without_an_end_session_endpoint_leaves_sign_out_as_it_was(
        app, client, provider):
    provider.end_session = False
    via_provider(client, provider, email="ann@example.org", groups=[REVIEWER_GROUP])
    response = sign_out(client)
    assert response.headers["Location"] == "/"
    assert signed_in_as(client) is None
