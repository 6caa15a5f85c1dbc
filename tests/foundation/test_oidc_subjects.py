# ruff: noqa: F811 - the imported fixtures are pytest arguments here
"""Accounts are matched by the provider's (issuer, sub), not only by e-mail address."""

from __future__ import annotations

from conftest import post_form
from sqlalchemy import select
from test_oidc_signin import (  # noqa: F401 - the provider and settings fixtures
    ADMIN_GROUP,
    REVIEWER_GROUP,
    provider,
    refusals,
    settings,
    signed_in_as,
    via_provider,
)

from speakup.models import OidcSubject, User


def subjects(session) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return [(s.user_id, s.issuer, s.subject) for s in session.scalars(select(OidcSubject))]


def test_the_first_sign_in_stores_issuer_and_subject(app, client, provider, session):
    via_provider(client, provider, email="ann@example.org", sub="ann-1",
                 groups=[REVIEWER_GROUP])
    user = session.scalar(select(User).where(User.email == "ann@example.org"))
    assert subjects(session) == [(user.id, provider.issuer, "ann-1")]


def test_a_later_sign_in_is_matched_by_subject_when_the_address_changed(app, client,
                                                                         provider, session):
    via_provider(client, provider, email="ann@example.org", sub="ann-1",
                 groups=[REVIEWER_GROUP])
    other = app.test_client()
    response = via_provider(other, provider, email="ann.married@example.org", sub="ann-1",
                            groups=[REVIEWER_GROUP])
    assert response.status_code == 302
    assert "ann@example.org" in (signed_in_as(other) or "")
    session.expire_all()
    # No second account for the new address.
    assert session.scalar(select(User).where(User.email == "ann.married@example.org")) is None


def test_a_reused_address_with_another_subject_is_refused(app, client, provider, session):
    # Ann signed in once; she left, and her address was given to someone else.
    via_provider(client, provider, email="ann@example.org", sub="ann-1",
                 groups=[REVIEWER_GROUP])
    newcomer = app.test_client()
    response = via_provider(newcomer, provider, email="ann@example.org", sub="bob-2",
                            groups=[REVIEWER_GROUP])
    assert response.status_code == 403
    assert "different account" in response.get_data(as_text=True)
    assert signed_in_as(newcomer) is None
    assert refusals(session, "subject_mismatch")
    # Nor can the newcomer's lack of groups disable Ann's account.
    via_provider(app.test_client(), provider, email="ann@example.org", sub="bob-2",
                 groups=["staff"])
    session.expire_all()
    ann = session.scalar(select(User).where(User.email == "ann@example.org"))
    assert not ann.disabled
    assert len(refusals(session, "subject_mismatch")) == 2


def test_a_subject_whose_address_now_reaches_another_account_is_refused(
        app, client, provider, session, make_user):
    via_provider(client, provider, email="ann@example.org", sub="ann-1",
                 groups=[REVIEWER_GROUP])
    make_user("reviewer", email="carol@example.org", with_totp=False)
    # The provider now gives Ann's subject Carol's address.
    other = app.test_client()
    response = via_provider(other, provider, email="carol@example.org", sub="ann-1",
                            groups=[REVIEWER_GROUP])
    assert response.status_code == 403
    assert signed_in_as(other) is None
    assert refusals(session, "subject_mismatch")


def test_the_subject_is_linked_only_once_the_code_was_right(app, client, provider, session,
                                                          make_user, clock):
    admin = make_user("admin")
    via_provider(client, provider, email=admin.user.email, sub="admin-1", groups=[ADMIN_GROUP])
    wrong = "000000" if admin.totp_now(clock) != "000000" else "111111"
    assert post_form(client, "/login/idp/code", {"totp": wrong}).status_code == 401
    assert subjects(session) == []
    # Someone else with the address and no code got nowhere; the owner then signs in.
    owner = app.test_client()
    via_provider(owner, provider, email=admin.user.email, sub="admin-9", groups=[ADMIN_GROUP])
    assert post_form(owner, "/login/idp/code", {"totp": admin.totp_now(clock)}
                     ).status_code == 302
    assert subjects(session) == [(admin.user.id, provider.issuer, "admin-9")]
