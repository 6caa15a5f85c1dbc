"""Passkeys and security keys: the ceremonies (no HTTP), with a software authenticator."""

from __future__ import annotations

import json

import pytest
from soft_authenticator import SoftKey
from sqlalchemy import select

from speakup import accounts, passkeys
from speakup.models import AuditEntry, StaffSession, WebAuthnCredential

RP = passkeys.RelyingParty.from_base_url("http://localhost:5000")


def actions(session, subject):  # type: ignore[no-untyped-def]
    return list(session.scalars(select(AuditEntry.action).where(
        AuditEntry.subject == subject).order_by(AuditEntry.id)))


def challenge_for(purpose, user, clock):  # type: ignore[no-untyped-def]
    challenge = passkeys.Challenge.new(purpose, user.id, clock.now())
    raw = passkeys.Challenge.taken(challenge.as_dict(), purpose, user.id, clock.now())
    return challenge, raw


def register(session, clock, user, key=None, name="laptop"):  # type: ignore[no-untyped-def]
    key = key or SoftKey(RP.id)
    challenge, raw = challenge_for("create", user, clock)
    options = json.loads(passkeys.registration_options(session, RP, user, challenge))
    stored = passkeys.register(session, clock, RP, user, challenge=raw,
                               response=key.register(options, RP.origin), name=name)
    session.commit()
    return key, stored


def assertion(session, clock, user, key, **kwargs):  # type: ignore[no-untyped-def]
    challenge, raw = challenge_for("login", user, clock)
    options = json.loads(passkeys.authentication_options(session, RP, user, challenge))
    return raw, key.assert_(options, RP.origin, **kwargs), options


def test_relying_party_comes_from_the_base_url():
    rp = passkeys.RelyingParty.from_base_url("https://speakup.example.org")
    assert (rp.id, rp.origin) == ("speakup.example.org", "https://speakup.example.org")
    rp = passkeys.RelyingParty.from_base_url("http://localhost:8123")
    assert (rp.id, rp.origin) == ("localhost", "http://localhost:8123")


def test_a_registered_key_signs_and_its_counter_and_use_are_kept(session, clock, make_user):
    user = make_user("admin").user
    key, stored = register(session, clock, user)
    assert stored.name == "laptop" and stored.credential_id == key.credential_id
    # Only the public key is stored, and the options ask for user verification.
    assert b"PRIVATE" not in stored.public_key
    raw, response, options = assertion(session, clock, user, key)
    assert options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [
        passkeys._b64(key.credential_id)]
    used = passkeys.verify(session, clock, RP, user, challenge=raw, response=response)
    assert used.id == stored.id and used.sign_count == 1 and used.last_used_at is not None
    assert "passkey.register" in actions(session, user.email)


def test_adding_a_key_ends_every_session_of_the_account(session, clock, make_user):
    user = make_user("reviewer").user
    accounts.start_session(session, clock, user)
    old_token = user.session_token
    session.commit()
    register(session, clock, user)
    assert session.scalars(select(StaffSession).where(StaffSession.user_id == user.id)).all() \
        == []
    assert user.session_token != old_token


def test_several_keys_per_account_each_sign(session, clock, make_user):
    user = make_user("handler").user
    first, _ = register(session, clock, user, name="laptop")
    second, _ = register(session, clock, user, name="blue key")
    assert [k.name for k in passkeys.keys_of(session, user)] == ["laptop", "blue key"]
    for key in (second, first):
        raw, response, _ = assertion(session, clock, user, key)
        passkeys.verify(session, clock, RP, user, challenge=raw, response=response)


def test_registration_from_another_origin_is_refused(session, clock, make_user):
    user = make_user("admin").user
    challenge, raw = challenge_for("create", user, clock)
    options = json.loads(passkeys.registration_options(session, RP, user, challenge))
    response = SoftKey(RP.id).register(options, "http://localhost.evil.example:5000")
    with pytest.raises(passkeys.PasskeyError):
        passkeys.register(session, clock, RP, user, challenge=raw, response=response, name="x")
    assert session.scalars(select(WebAuthnCredential)).all() == []
    assert "passkey.register_failed" in actions(session, user.email)


def test_an_assertion_from_another_origin_or_rp_is_refused(session, clock, make_user):
    user = make_user("admin").user
    key, stored = register(session, clock, user)
    challenge, raw = challenge_for("login", user, clock)
    options = json.loads(passkeys.authentication_options(session, RP, user, challenge))
    with pytest.raises(passkeys.PasskeyError):
        passkeys.verify(session, clock, RP, user, challenge=raw,
                        response=key.assert_(options, "https://phish.example"))
    with pytest.raises(passkeys.PasskeyError):
        passkeys.verify(session, clock, RP, user, challenge=raw,
                        response=key.assert_(options, RP.origin, rp_id="phish.example"))
    assert "passkey.failed" in actions(session, user.email)


def test_an_answer_to_another_challenge_is_refused(session, clock, make_user):
    user = make_user("admin").user
    key, _ = register(session, clock, user)
    _, response, _ = assertion(session, clock, user, key)
    _, other_raw = challenge_for("login", user, clock)
    with pytest.raises(passkeys.PasskeyError):
        passkeys.verify(session, clock, RP, user, challenge=other_raw, response=response)


def test_a_challenge_is_for_one_purpose_one_person_and_a_few_minutes(clock, make_user):
    user = make_user("admin").user
    challenge = passkeys.Challenge.new("login", user.id, clock.now())
    raw = challenge.as_dict()
    with pytest.raises(passkeys.PasskeyError):
        passkeys.Challenge.taken(raw, "create", user.id, clock.now())
    with pytest.raises(passkeys.PasskeyError):
        passkeys.Challenge.taken(raw, "login", user.id + 1, clock.now())
    with pytest.raises(passkeys.PasskeyError):
        passkeys.Challenge.taken(None, "login", user.id, clock.now())
    clock.advance(seconds=passkeys.CHALLENGE_SECONDS + 1)
    with pytest.raises(passkeys.PasskeyError):
        passkeys.Challenge.taken(raw, "login", user.id, clock.now())


def test_a_counter_that_goes_backwards_is_refused_and_audited(session, clock, make_user):
    user = make_user("handler").user
    key, stored = register(session, clock, user)
    raw, response, _ = assertion(session, clock, user, key, count=7)
    passkeys.verify(session, clock, RP, user, challenge=raw, response=response)
    # A copy of the key, used elsewhere, answers with an older count.
    raw, response, _ = assertion(session, clock, user, key, count=5)
    with pytest.raises(passkeys.PasskeyError, match="copied"):
        passkeys.verify(session, clock, RP, user, challenge=raw, response=response)
    assert stored.sign_count == 7
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "passkey.counter_backwards")).one()
    assert json.loads(entry.detail) == {"key": stored.id, "stored": 7, "sent": 5}
    # An equal count is no better than a lower one.
    raw, response, _ = assertion(session, clock, user, key, count=7)
    with pytest.raises(passkeys.PasskeyError):
        passkeys.verify(session, clock, RP, user, challenge=raw, response=response)


def test_keys_that_keep_no_counter_still_sign(session, clock, make_user):
    # Synced passkeys report 0 every time: nothing to compare, nothing refused.
    user = make_user("admin").user
    key, stored = register(session, clock, user)
    for _ in range(2):
        raw, response, _ = assertion(session, clock, user, key, count=0)
        passkeys.verify(session, clock, RP, user, challenge=raw, response=response)
    assert stored.sign_count == 0


def test_a_removed_key_is_refused(session, clock, make_user):
    user = make_user("admin").user
    key, stored = register(session, clock, user)
    assert passkeys.remove(session, clock, user, stored.id) == "laptop"
    raw, response, _ = assertion(session, clock, user, key)
    with pytest.raises(passkeys.PasskeyError):
        passkeys.verify(session, clock, RP, user, challenge=raw, response=response)
    assert actions(session, user.email)[-2:] == ["passkey.remove", "passkey.failed"]


def test_another_accounts_key_is_refused_and_cannot_be_removed(session, clock, make_user):
    owner = make_user("admin").user
    other = make_user("admin").user
    key, stored = register(session, clock, owner)
    raw, response, _ = assertion(session, clock, other, key)
    with pytest.raises(passkeys.PasskeyError):
        passkeys.verify(session, clock, RP, other, challenge=raw, response=response)
    with pytest.raises(passkeys.PasskeyError):
        passkeys.remove(session, clock, other, stored.id)
    assert session.get(WebAuthnCredential, stored.id) is not None


def test_the_same_key_cannot_be_registered_twice(session, clock, make_user):
    user = make_user("admin").user
    key, _ = register(session, clock, user)
    with pytest.raises(passkeys.PasskeyError, match="already"):
        register(session, clock, user, key=key)


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_a_key_needs_a_short_name(session, clock, make_user, name):
    user = make_user("admin").user
    with pytest.raises(passkeys.PasskeyError):
        register(session, clock, user, name=name)


@pytest.mark.parametrize("response", ["", "not json", "[]", "{}", '{"rawId": "!!"}'])
def test_garbage_answers_are_refused_not_crashed_on(session, clock, make_user, response):
    user = make_user("admin").user
    register(session, clock, user)
    _, raw = challenge_for("login", user, clock)
    with pytest.raises(passkeys.PasskeyError):
        passkeys.verify(session, clock, RP, user, challenge=raw, response=response)


def test_an_account_has_at_most_ten_keys(session, clock, make_user):
    user = make_user("admin").user
    for number in range(passkeys.MAX_KEYS):
        register(session, clock, user, name=f"key {number}")
    with pytest.raises(passkeys.PasskeyError, match="at most 10"):
        register(session, clock, user, name="one too many")
