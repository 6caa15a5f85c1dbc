"""Staff sign-in through an OpenID Connect provider: a real one, over HTTP, in this process."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSWORD, post_form
from flask import Flask
from flask.testing import FlaskClient
from oidc_provider import CLIENT_ID, CLIENT_SECRET, ROLE_MAP, Provider, follow_authorize
from sqlalchemy import select

from concerns.handler_views import KEY_SESSION
from concerns.models import HandlerKey, HandlerKeySession
from speakup import accounts, oidc, oidc_views
from speakup.clock import FrozenClock
from speakup.models import AuditEntry, StaffSession, User
from speakup.settings import Settings, SettingsError
from speakup.web import services

ADMIN_GROUP, HANDLER_GROUP, REVIEWER_GROUP = (
    "speakup-admins", "speakup-handlers", "speakup-reviewers")


@pytest.fixture
def provider(clock: FrozenClock) -> Iterator[Provider]:
    # The app's clock is frozen: the provider dates its tokens by the same clock.
    with Provider(now=lambda: clock.now().timestamp()) as running:
        yield running


@pytest.fixture
def settings(settings: Settings, provider: Provider, tmp_path: Path) -> Settings:
    secret = tmp_path / "client_secret"
    secret.write_text(CLIENT_SECRET + "\n")
    return settings.with_changes(
        oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID,
        oidc_client_secret_file=secret, oidc_role_map=ROLE_MAP,
    )


def require_mfa(app: Flask, amr: str = "mfa") -> None:
    client = services(app).extras["oidc"]
    client.config = dataclasses.replace(client.config, required_amr=frozenset({amr}))


def via_provider(client: FlaskClient, provider: Provider, **user: object):  # type: ignore[no-untyped-def]
    """Start at our sign-in link, pass the provider, and come back with its answer."""
    if user:
        provider.user = dict(user)
    start = client.get("/login/idp")
    assert start.status_code == 302
    location = start.headers["Location"]
    assert location.startswith(provider.issuer + "/authorize?")
    back = urllib.parse.urlsplit(follow_authorize(location))
    return client.get(f"{back.path}?{back.query}")


def refusals(session, reason: str | None = None) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "login.idp_refused"))
    return [r for r in rows if reason is None or json.loads(r.detail)["reason"] == reason]


def signed_in_as(client: FlaskClient) -> str | None:
    response = client.get("/staff")
    if response.status_code != 200:
        return None
    return response.get_data(as_text=True)


def test_existing_admin_passes_provider_then_local_code(app, client, provider, make_user,
                                                         clock, session):
    admin = make_user("admin")
    response = via_provider(client, provider, email=admin.user.email, groups=[ADMIN_GROUP])
    assert response.status_code == 302 and response.headers["Location"] == "/login/idp/code"
    assert signed_in_as(client) is None  # not before the code
    answer = post_form(client, "/login/idp/code", {"totp": "000000"}
                       if admin.totp_now(clock) != "000000" else {"totp": "111111"})
    assert answer.status_code == 401
    assert "That code is not right" in answer.get_data(as_text=True)
    done = post_form(client, "/login/idp/code", {"totp": admin.totp_now(clock)})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/"
    assert signed_in_as(client) is not None
    session.expire_all()
    logins = session.scalars(select(AuditEntry).where(AuditEntry.action == "login")).all()
    assert json.loads(logins[-1].detail) == {"via": "identity provider"}
    # PKCE, state and nonce went to the provider; the nonce came back in the token.
    assert provider.issued[-1]["nonce"]


def test_provider_mfa_replaces_the_local_code_when_required(app, client, provider,
                                                            make_user):
    require_mfa(app)
    admin = make_user("admin")
    response = via_provider(client, provider, email=admin.user.email, groups=[ADMIN_GROUP],
                            amr=["pwd", "mfa"])
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_reviewer_account_is_created_at_first_sign_in(app, client, provider, session):
    response = via_provider(client, provider, email="New.Reviewer@example.org",
                            groups=["other", REVIEWER_GROUP])
    assert response.status_code == 302
    session.expire_all()
    user = session.scalar(select(User).where(User.email == "new.reviewer@example.org"))
    assert user is not None and user.role == "reviewer" and user.totp_secret is None
    created = session.scalar(select(AuditEntry).where(AuditEntry.action == "account.create"))
    assert created.actor == "identity provider"
    assert signed_in_as(client) is not None


def test_unmapped_groups_create_nothing(app, client, provider, session):
    response = via_provider(client, provider, email="someone@example.org", groups=["staff"])
    assert response.status_code == 403
    assert "not in a group that may use Speak Up" in response.get_data(as_text=True)
    assert session.scalar(select(User).where(User.email == "someone@example.org")) is None
    assert refusals(session, "no_role")


def test_an_address_the_provider_has_not_verified_is_refused(app, client, provider,
                                                            make_user, session):
    reviewer = make_user("reviewer", with_totp=False)
    response = via_provider(client, provider, email=reviewer.user.email,
                            groups=[REVIEWER_GROUP], email_verified=False)
    assert response.status_code == 403
    assert "did not give a verified e-mail address" in response.get_data(as_text=True)
    assert refusals(session, "no_email")
    assert signed_in_as(client) is None


def test_new_admin_needs_provider_mfa_or_a_local_account(app, client, provider, session):
    response = via_provider(client, provider, email="boss@example.org", groups=[ADMIN_GROUP])
    assert response.status_code == 403
    assert "ask an administrator to create your" in response.get_data(as_text=True)
    assert refusals(session, "needs_local_account")
    require_mfa(app)
    ok = via_provider(client, provider, email="boss@example.org", groups=[ADMIN_GROUP],
                      amr=["mfa"])
    assert ok.status_code == 302 and ok.headers["Location"] == "/admin/"


def test_handlers_are_never_created_by_the_provider(app, client, provider, session):
    response = via_provider(client, provider, email="h@example.org", groups=[HANDLER_GROUP])
    assert response.status_code == 403
    assert "with a Speak Up password" in response.get_data(as_text=True)
    assert session.scalar(select(User).where(User.email == "h@example.org")) is None
    assert refusals(session, "handler_needs_account")


def test_handler_key_opens_only_with_the_speakup_password(app, client, provider, make_user,
                                                         clock, session):
    handler = make_user("handler")
    via_provider(client, provider, email=handler.user.email, groups=[HANDLER_GROUP])
    page = post_form(client, "/login/idp/code", {"totp": handler.totp_now(clock)},
                     follow_redirects=True)
    assert "asked for your Speak Up password once" in page.get_data(as_text=True)
    # Signed in, but the provider's answer unlocked nothing: no key session exists.
    with client.session_transaction() as flask_session:
        assert KEY_SESSION not in flask_session
    session.expire_all()
    assert session.scalar(select(HandlerKeySession)) is None
    assert session.scalar(select(HandlerKey).where(HandlerKey.user_id == handler.user.id)) \
        is None
    # The Speak Up password does: the key pair is made and locked under it.
    post_form(client, "/handle/unlock", {"password": PASSWORD}, page="/account/password")
    with client.session_transaction() as flask_session:
        assert KEY_SESSION in flask_session
    session.expire_all()
    assert session.scalar(select(HandlerKey).where(HandlerKey.user_id == handler.user.id))


def test_role_follows_the_groups_at_every_sign_in(app, client, provider, make_user, clock,
                                                  session):
    require_mfa(app)
    admin = make_user("admin")
    via_provider(client, provider, email=admin.user.email, groups=[ADMIN_GROUP], amr=["mfa"])
    assert client.get("/admin/").status_code == 200
    other = app.test_client()
    response = via_provider(other, provider, email=admin.user.email,
                            groups=[REVIEWER_GROUP], amr=["mfa"])
    assert response.status_code == 302 and response.headers["Location"] == "/review/"
    session.expire_all()
    assert session.get(User, admin.user.id).role == "reviewer"
    assert other.get("/admin/").status_code == 403
    # The session opened as admin in the first browser has ended.
    assert signed_in_as(client) is None


def test_removed_from_every_group_disables_and_ends_sessions(app, client, provider,
                                                             make_user, session, clock):
    require_mfa(app)
    reviewer = make_user("reviewer", with_totp=False)
    via_provider(client, provider, email=reviewer.user.email, groups=[REVIEWER_GROUP],
                 amr=["mfa"])
    assert signed_in_as(client) is not None
    other = app.test_client()
    response = via_provider(other, provider, email=reviewer.user.email, groups=[],
                            amr=["mfa"])
    assert response.status_code == 403
    assert "your account here is disabled" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, reviewer.user.id).disabled
    assert session.scalar(select(StaffSession).where(
        StaffSession.user_id == reviewer.user.id)) is None
    assert signed_in_as(client) is None
    assert refusals(session, "no_role")[-1].subject == reviewer.user.email
    # Back in the group, the account stays disabled until an administrator restores it.
    again = via_provider(other, provider, email=reviewer.user.email,
                         groups=[REVIEWER_GROUP], amr=["mfa"])
    assert again.status_code == 403 and refusals(session, "disabled")
    # An administrator re-enables it (the Accounts page calls this); then it signs in.
    restorer = make_user("admin")
    accounts.update_account(session, clock, session.get(User, reviewer.user.id),
                            role="reviewer", disabled=False, actor=restorer.user)
    session.commit()
    assert via_provider(other, provider, email=reviewer.user.email, groups=[REVIEWER_GROUP],
                        amr=["mfa"]).status_code == 302


def test_local_break_glass_admin_still_signs_in(app, client, provider, make_user, clock):
    admin = make_user("admin")
    response = post_form(client, "/login", {"email": admin.user.email, "password": PASSWORD,
                                            "totp": admin.totp_now(clock)})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert provider.fetches["token"] == 0


def test_keys_are_cached_and_rotation_costs_one_fetch(app, client, provider, make_user):
    require_mfa(app)
    reviewer = make_user("reviewer", with_totp=False)
    for _ in range(2):
        assert via_provider(app.test_client(), provider, email=reviewer.user.email,
                            groups=[REVIEWER_GROUP], amr=["mfa"]).status_code == 302
    assert provider.fetches["discovery"] == 1 and provider.fetches["jwks"] == 1
    provider.rotate("ES256")  # the old RS256 key is withdrawn
    assert via_provider(app.test_client(), provider, email=reviewer.user.email,
                        groups=[REVIEWER_GROUP], amr=["mfa"]).status_code == 302
    assert provider.fetches["jwks"] == 2


def _forged(provider: Provider) -> None:
    # A key the provider never published, presented under the provider's own key id.
    forger = oidc_provider_key(provider.signing_key.alg, provider.signing_key.kid)
    provider.sign_with = forger


def oidc_provider_key(alg: str, kid: str):  # type: ignore[no-untyped-def]
    from oidc_provider import new_key
    key = new_key(alg)
    return type(key).import_key(key.as_dict(private=True) | {"kid": kid})


REFUSALS = {
    "forged signature": (_forged, "bad_signature"),
    "wrong issuer": (lambda p: p.overrides.update(iss="http://127.0.0.1:1/evil"),
                     "wrong_issuer"),
    "wrong audience": (lambda p: p.overrides.update(aud="another-client"), "wrong_audience"),
    "expired token": (lambda p: p.overrides.update(exp=int(p.now()) - 3600), "expired"),
    "unknown key id": (lambda p: setattr(p, "sign_with", oidc_provider_key("ES256", "nope")),
                       "unknown_key"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_untrustworthy_tokens_are_refused(app, client, provider, make_user, session, case):
    require_mfa(app)
    reviewer = make_user("reviewer", with_totp=False)
    tamper, reason = REFUSALS[case]
    tamper(provider)
    jwks_before = provider.fetches["jwks"]
    response = via_provider(client, provider, email=reviewer.user.email,
                            groups=[REVIEWER_GROUP], amr=["mfa"])
    assert response.status_code == 403
    assert "could not be trusted" in response.get_data(as_text=True) or reason == "expired"
    assert refusals(session, reason), case
    assert signed_in_as(client) is None
    if reason == "unknown_key":  # first the cached set, then exactly one refetch
        assert provider.fetches["jwks"] - jwks_before == 2


def test_expired_token_page_says_so(app, client, provider, make_user, session):
    reviewer = make_user("reviewer", with_totp=False)
    provider.overrides["exp"] = int(provider.now()) - 3600
    response = via_provider(client, provider, email=reviewer.user.email,
                            groups=[REVIEWER_GROUP])
    assert "has expired" in response.get_data(as_text=True)


def test_replayed_nonce_is_refused(app, client, provider, make_user, session):
    require_mfa(app)
    reviewer = make_user("reviewer", with_totp=False)
    assert via_provider(app.test_client(), provider, email=reviewer.user.email,
                        groups=[REVIEWER_GROUP], amr=["mfa"]).status_code == 302
    provider.nonce_from = provider.issued[-1]["nonce"]  # an earlier sign-in's token
    response = via_provider(client, provider)
    assert response.status_code == 403
    assert refusals(session, "nonce_mismatch")
    assert signed_in_as(client) is None


def test_missing_or_mismatched_state_is_refused(app, client, provider, make_user, session):
    require_mfa(app)
    reviewer = make_user("reviewer", with_totp=False)
    provider.user = {"email": reviewer.user.email, "groups": [REVIEWER_GROUP], "amr": ["mfa"]}
    # No sign-in started in this browser: the provider's answer belongs to someone else.
    stranger = app.test_client()
    location = stranger.get("/login/idp").headers["Location"]
    back = urllib.parse.urlsplit(follow_authorize(location))
    response = client.get(f"{back.path}?{back.query}")
    assert response.status_code == 400
    assert "Start again from the sign-in page" in response.get_data(as_text=True)
    # Started here, but the state that comes back is not ours.
    location = client.get("/login/idp").headers["Location"]
    back = urllib.parse.urlsplit(follow_authorize(location))
    query = dict(urllib.parse.parse_qsl(back.query)) | {"state": "forged"}
    response = client.get(f"{back.path}?{urllib.parse.urlencode(query)}")
    assert response.status_code == 400
    assert [json.loads(r.detail)["why"] for r in refusals(session, "state_mismatch")] == [
        "missing", "differs"]
    assert provider.fetches["token"] == 0  # no code was ever spent
    assert signed_in_as(client) is None


def test_role_claim_removed_is_refused(app, client, provider, make_user, session):
    require_mfa(app)
    reviewer = make_user("reviewer", with_totp=False)
    provider.overrides["groups"] = None  # the claim is not there at all
    response = via_provider(client, provider, email=reviewer.user.email,
                            groups=[REVIEWER_GROUP], amr=["mfa"])
    assert response.status_code == 403
    assert refusals(session, "no_role")
    session.expire_all()
    assert session.get(User, reviewer.user.id).disabled


def test_amr_without_mfa_is_refused_when_required(app, client, provider, make_user, session):
    require_mfa(app)
    reviewer = make_user("reviewer", with_totp=False)
    response = via_provider(client, provider, email=reviewer.user.email,
                            groups=[REVIEWER_GROUP], amr=["pwd"])
    assert response.status_code == 403
    assert "did not use a second factor" in response.get_data(as_text=True)
    assert refusals(session, "no_mfa")
    assert signed_in_as(client) is None


REPORTER_PAGES = ["/", "/privacy", "/concerns/new", "/concerns/check", "/s/thanks",
                  "/s/not-a-real-token", "/code"]


def test_reporter_and_respondent_pages_never_touch_the_provider(app, client, provider,
                                                                settings, session_factory,
                                                                clock):
    from speakup.app import create_app
    plain = create_app(dataclasses.replace(settings, oidc_issuer=""))
    services(plain).session_factory = session_factory
    services(plain).clock = clock
    plain_client = plain.test_client()
    for path in REPORTER_PAGES:
        with_idp, without = client.get(path), plain_client.get(path)
        assert with_idp.status_code == without.status_code, path
        body = with_idp.get_data(as_text=True)
        assert provider.issuer not in body and "/login/idp" not in body, path
        names = {c.split("=", 1)[0] for c in with_idp.headers.getlist("Set-Cookie")}
        assert names == {c.split("=", 1)[0] for c in without.headers.getlist("Set-Cookie")}
        with client.session_transaction() as flask_session:
            assert not any(k.startswith("oidc") for k in flask_session), path
    assert sum(provider.fetches.values()) == 0  # not even discovery
    services(plain).engine.dispose()


def test_sign_in_page_offers_the_provider_only_when_configured(app, client):
    assert "/login/idp" in client.get("/login").get_data(as_text=True)


def test_half_done_configuration_is_refused(tmp_path):
    base = Settings(instance_path=tmp_path, secret_key="x" * 40,
                    oidc_issuer="https://id.example.org")
    with pytest.raises(SettingsError, match="SPEAKUP_OIDC_CLIENT_ID"):
        oidc.config_from(base)
    with pytest.raises(SettingsError, match="SPEAKUP_OIDC_CLIENT_SECRET_FILE"):
        oidc.config_from(base.with_changes(oidc_client_id="c"))
    with pytest.raises(SettingsError, match="cannot be read"):
        oidc.config_from(base.with_changes(oidc_client_id="c",
                                           oidc_client_secret_file=tmp_path / "none"))
    (tmp_path / "s").write_text("secret")
    ok = base.with_changes(oidc_client_id="c", oidc_client_secret_file=tmp_path / "s")
    with pytest.raises(SettingsError, match="group=role"):
        oidc.config_from(ok.with_changes(oidc_role_map="staff=superuser"))
    with pytest.raises(SettingsError, match="https"):
        oidc.config_from(ok.with_changes(oidc_issuer="http://id.example.org",
                                         oidc_role_map="a=admin"))
    config = oidc.config_from(ok.with_changes(oidc_role_map=ROLE_MAP))
    assert config is not None and config.role_for([REVIEWER_GROUP, ADMIN_GROUP]) == "admin"
    env = Settings.from_env({"SPEAKUP_OIDC_ISSUER": "https://id.example.org/",
                             "SPEAKUP_OIDC_ROLE_MAP": ROLE_MAP,
                             "SPEAKUP_OIDC_REQUIRED_AMR": "mfa, hwk"})
    assert env.oidc_issuer == "https://id.example.org" and env.oidc_role_claim == "groups"


def test_without_configuration_the_provider_pages_do_not_exist(settings, tmp_path):
    from speakup.app import create_app
    plain = create_app(dataclasses.replace(settings, oidc_issuer=""))
    try:
        assert plain.test_client().get("/login/idp").status_code == 404
        assert "/login/idp" not in plain.test_client().get("/login").get_data(as_text=True)
    finally:
        services(plain).engine.dispose()


def test_second_factor_page_needs_a_pending_sign_in(app, client, session):
    response = client.get("/login/idp/code")
    assert response.status_code == 400
    assert refusals(session, "state_mismatch")
    assert oidc_views.SECOND_FACTOR_KEY == "oidc_second_factor"


def test_unreachable_provider_gets_a_clear_page(app, client, provider, session):
    config = services(app).extras["oidc"].config
    dead = oidc.ProviderClient(dataclasses.replace(config, issuer="http://127.0.0.1:1"))
    services(app).extras["oidc"] = dead
    response = client.get("/login/idp")
    assert response.status_code == 502
    assert "could not be reached" in response.get_data(as_text=True)
    assert refusals(session, "provider_unreachable")
    # Password sign-in, offered on the same page, does not depend on the provider.
    assert client.get("/login").status_code == 200
