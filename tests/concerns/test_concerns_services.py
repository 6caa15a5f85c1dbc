"""Concern services without HTTP: round trip, keys, tampering, limits, retention, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from sqlalchemy import func, select, update

from concerns import crypto, keys, ratelimit, services
from concerns.models import (
    Concern,
    ConcernCategory,
    ConcernKeyWrap,
    ConcernMessage,
    HandlerKey,
    RateLimitWindow,
    Status,
)
from speakup import accounts, audit
from speakup.models import AuditEntry

REPORT = "My line manager keeps calling me by another Black colleague's name."
WANTED = "Training for the team, and an apology."


def _submit(session, clock, config, text=REPORT, category=1, wanted=WANTED):
    receipt, concern_id = services.submit_concern(
        session, clock, config, category_id=category, what_happened=text, what_wanted=wanted
    )
    session.commit()
    return receipt, concern_id


def _read(session, clock, handler, concern_id, config):
    return services.read_concern(session, clock, config, handler.user, concern_id,
                                 handler.private_key)


def _texts(view):
    return [m.body for m in view.conversation.messages]


def _reporter_view(session, config, receipt):
    return services.open_conversation(session, services.receipt_keys(config, receipt))


def _actions(session):
    return [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# --------------------------------------------------------------------------- round trip


def test_round_trip_between_reporter_and_handler(session, clock, concern_config, recovery_key,
                                                 make_handler):
    handler = make_handler()
    receipt, concern_id = _submit(session, clock, concern_config)

    view = _read(session, clock, handler, concern_id, concern_config)
    assert view.can_read
    assert _texts(view) == [{"what_happened": REPORT, "what_wanted": WANTED}]

    clock.advance(days=2)
    services.handler_message(session, clock, concern_config, handler.user, concern_id,
                             text="Thank you. Which ward?", seen_seq=1, note=False)
    services.handler_message(session, clock, concern_config, handler.user, concern_id,
                             text="Manager is on leave until Monday.", seen_seq=2, note=True)
    session.commit()

    mine = _reporter_view(session, concern_config, receipt.lower().replace("-", " "))
    assert [m.body for m in mine.messages] == [
        {"what_happened": REPORT, "what_wanted": WANTED}, {"text": "Thank you. Which ward?"},
    ]  # the internal note is not there
    assert mine.concern.status == Status.ACKNOWLEDGED
    assert mine.concern.acknowledged_on == mine.concern.first_replied_on == clock.today()

    keys_ = services.receipt_keys(concern_config, receipt)
    services.reporter_reply(session, clock, concern_config, keys_, text="Ward 7, nights.",
                            seen_seq=mine.concern.last_seq)
    session.commit()
    view = _read(session, clock, handler, concern_id, concern_config)
    assert [m.kind for m in view.conversation.messages] == [
        "report", "handler_reply", "note", "reporter_reply"]
    assert _texts(view)[-1] == {"text": "Ward 7, nights."}


def test_wrong_receipts_all_get_the_same_answer(session, clock, concern_config, recovery_key):
    receipt, _ = _submit(session, clock, concern_config)
    answers = set()
    for _ in range(5):
        wrong = crypto.new_receipt()
        with pytest.raises(services.ReceiptNotFoundError) as caught:
            _reporter_view(session, concern_config, wrong)
        answers.add((type(caught.value), str(caught.value)))
    assert len(answers) == 1
    # One symbol changed is just another wrong receipt.
    near = ("1" if receipt[0] != "1" else "2") + receipt[1:]
    with pytest.raises(services.ReceiptNotFoundError) as caught:
        _reporter_view(session, concern_config, near)
    assert (type(caught.value), str(caught.value)) in answers


def test_wrong_receipt_does_the_same_work_as_a_right_one(concern_config, monkeypatch):
    # "Same timing": every well-formed receipt costs one lookup HMAC, one rate-limit
    # HMAC and one key derivation, before anyone knows whether it exists.
    calls = []
    monkeypatch.setattr(crypto, "reporter_private_key",
                        lambda r, k, f=crypto.reporter_private_key: calls.append("key") or f(r, k))
    for receipt in (crypto.new_receipt(), crypto.new_receipt()):
        derived = services.receipt_keys(concern_config, receipt)
        assert len(derived.lookup) == 32 and derived.bucket.startswith("receipt:")
    assert calls == ["key", "key"]


def test_malformed_receipt_is_told_apart_from_wrong_without_lookup(concern_config):
    for typed in ("", "hello", "ABCD-EFGH", "Ü" * 20, None, 42):
        with pytest.raises(services.MalformedReceiptError):
            services.receipt_keys(concern_config, typed)


def test_receipt_is_stored_nowhere_and_not_derivable(session, clock, concern_config,
                                                     recovery_key):
    receipt, concern_id = _submit(session, clock, concern_config)
    concern = session.get(Concern, concern_id)
    assert concern.receipt_hash == crypto.receipt_lookup_key(receipt, concern_config.lookup_key)
    assert receipt.encode() not in concern.receipt_hash
    assert concern_id.replace("-", "") not in receipt.replace("-", "")


def test_concern_ids_are_random_not_sequential(session, clock, concern_config, recovery_key):
    ids = [_submit(session, clock, concern_config)[1] for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(len(i) == 11 and i[5] == "-" for i in ids)
    assert sorted(ids) != ids or sorted(ids, reverse=True) != ids


# --------------------------------------------------------------------------- key management


def test_new_concern_is_wrapped_to_active_handlers_reporter_and_recovery(
    session, clock, concern_config, recovery_key, make_handler
):
    first, second = make_handler(), make_handler()
    _, concern_id = _submit(session, clock, concern_config)
    readers = set(session.execute(
        select(ConcernKeyWrap.reader_kind, ConcernKeyWrap.reader_id)
        .where(ConcernKeyWrap.concern_id == concern_id)).all())
    recovery_id = keys.active_recovery_key(session).id
    assert readers == {("handler", first.user.id), ("handler", second.user.id),
                       ("reporter", 0), ("recovery", recovery_id)}


def test_a_stale_readers_hint_never_decides_who_can_read(session, clock, concern_config,
                                                        recovery_key, make_handler, make_user):
    stays, leaves = make_handler(), make_handler()
    hint = services.ReadersHint()
    services.submit_concern(session, clock, concern_config, category_id=1,
                            what_happened="first", hint=hint)
    assert f"handler:{leaves.user.id}" in hint.readers
    accounts.update_account(session, clock, leaves.user, role="handler", disabled=True,
                            actor=make_user("admin").user)
    newcomer = make_handler()
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened="second", hint=hint)
    readers = set(session.execute(
        select(ConcernKeyWrap.reader_kind, ConcernKeyWrap.reader_id)
        .where(ConcernKeyWrap.concern_id == concern_id)).all())
    assert ("handler", leaves.user.id) not in readers
    assert {("handler", stays.user.id), ("handler", newcomer.user.id)} <= readers
    assert f"handler:{leaves.user.id}" not in hint.readers
    view = _read(session, clock, newcomer, concern_id, concern_config)
    assert _texts(view)[0]["what_happened"] == "second"


def test_password_change_keeps_access(session, clock, concern_config, recovery_key,
                                      make_handler):
    handler = make_handler()
    _, concern_id = _submit(session, clock, concern_config)
    hooks = [lambda s, u, old, new: keys.relock_handler_key(s, concern_config, u, old, new)]
    accounts.change_password(session, clock, handler.user, current=handler.password,
                             new="a brand new long password", hooks=hooks)
    session.commit()
    locked = session.get(HandlerKey, handler.user.id).locked_private_key
    with pytest.raises(crypto.DecryptionError):
        crypto.unlock_private_key(locked, handler.password)
    unlocked = keys.unlock_handler_key(session, clock, concern_config, handler.user,
                                       "a brand new long password")
    view = services.read_concern(session, clock, concern_config, handler.user, concern_id, unlocked)
    assert _texts(view)[0]["what_happened"] == REPORT
    assert "handler_key.replace" not in _actions(session)


def test_new_handler_gains_access_only_by_sharing(session, clock, concern_config, recovery_key,
                                                  make_handler):
    first = make_handler()
    receipt, concern_id = _submit(session, clock, concern_config)
    services.handler_message(session, clock, concern_config, first.user, concern_id,
                             text="note for handlers", seen_seq=1, note=True)
    newcomer = make_handler()

    # A later message on an old concern does not silently reach the newcomer either.
    keys_ = services.receipt_keys(concern_config, receipt)
    services.reporter_reply(session, clock, concern_config, keys_, text="more", seen_seq=2)
    session.commit()
    view = _read(session, clock, newcomer, concern_id, concern_config)
    assert not view.can_read and all(m.body is None for m in view.conversation.messages)
    with pytest.raises(services.NoAccessError):
        services.handler_message(session, clock, concern_config, newcomer.user, concern_id,
                                 text="hi", seen_seq=3, note=False)
    with pytest.raises(services.NoAccessError):
        services.share_concern(session, clock, concern_config, newcomer.user,
                               newcomer.private_key, concern_id, str(first.user.id))

    assert services.share_candidates(session, concern_config, concern_id) == [(newcomer.user.id,
                                                               newcomer.user.email)]
    shared = services.share_concern(session, clock, concern_config, first.user,
                                    first.private_key, concern_id, str(newcomer.user.id))
    session.commit()
    assert shared == 3
    assert _texts(_read(session, clock, newcomer, concern_id, concern_config)) == [
        {"what_happened": REPORT, "what_wanted": WANTED}, {"text": "note for handlers"},
        {"text": "more"}]
    assert "concern.share" in _actions(session)
    with pytest.raises(services.ShareError):  # already shared
        services.share_concern(session, clock, concern_config, first.user, first.private_key,
                               concern_id, str(newcomer.user.id))


def test_disabled_handler_gets_no_new_wraps(session, clock, concern_config, recovery_key,
                                           make_handler, make_user):
    stays, leaves = make_handler(), make_handler()
    receipt, old_concern = _submit(session, clock, concern_config)
    admin = make_user("admin").user
    accounts.update_account(session, clock, leaves.user, role="handler", disabled=True,
                            actor=admin)
    session.commit()
    _, new_concern = _submit(session, clock, concern_config)
    keys_ = services.receipt_keys(concern_config, receipt)
    services.reporter_reply(session, clock, concern_config, keys_, text="again", seen_seq=1)
    session.commit()

    def wrapped_to(user, concern_id, seq):
        return session.get(ConcernKeyWrap, (concern_id, seq, "handler", user.id)) is not None

    assert wrapped_to(leaves.user, old_concern, 1)  # made while they were active
    assert not wrapped_to(leaves.user, old_concern, 2)
    assert not wrapped_to(leaves.user, new_concern, 1)
    assert wrapped_to(stays.user, old_concern, 2) and wrapped_to(stays.user, new_concern, 1)


def test_recovery_key_restores_access_after_every_handler_is_gone(
    session, clock, concern_config, recovery_key, make_handler, make_user
):
    gone = make_handler()
    receipt, concern_id = _submit(session, clock, concern_config)
    services.handler_message(session, clock, concern_config, gone.user, concern_id,
                             text="we are on it", seen_seq=1, note=False)
    admin = make_user("admin").user
    accounts.update_account(session, clock, gone.user, role="handler", disabled=True,
                            actor=admin)
    session.commit()
    # With no handler left, messages still reach the reporter and the recovery key.
    keys_ = services.receipt_keys(concern_config, receipt)
    services.reporter_reply(session, clock, concern_config, keys_, text="hello?", seen_seq=2)
    session.commit()
    # A new concern is refused meanwhile: nobody could read it (issue 19).
    with pytest.raises(services.NotReadyError):
        _submit(session, clock, concern_config, text="Nobody can read me yet")
    session.rollback()
    successor = make_handler()
    assert not _read(session, clock, successor, concern_id, concern_config).can_read

    counts = services.recover_access(session, clock, concern_config, recovery_key,
                                     successor.user.email, actor="cli (recovery key)")
    session.commit()
    assert counts == {concern_id: 3}
    assert _texts(_read(session, clock, successor, concern_id, concern_config)) == [
        {"what_happened": REPORT, "what_wanted": WANTED}, {"text": "we are on it"},
        {"text": "hello?"}]
    assert _actions(session).count("concern.recover") == 1
    # Running it again grants nothing new.
    assert services.recover_access(session, clock, concern_config, recovery_key,
                                   successor.user.email, actor="cli") == {}


def test_recovery_refuses_a_foreign_key_and_keyless_handlers(session, clock, concern_config,
                                                             recovery_key, make_user):
    handler = make_user("handler")
    with pytest.raises(keys.RecoveryKeyMismatchError):
        services.recover_access(session, clock, concern_config, crypto.new_keypair()[0],
                                handler.user.email, actor="cli")
    with pytest.raises(keys.NoHandlerKeyError):  # never signed in
        services.recover_access(session, clock, concern_config, recovery_key,
                                handler.user.email, actor="cli")
    with pytest.raises(services.ShareError):
        services.recover_access(session, clock, concern_config, recovery_key,
                                "nobody@example.org", actor="cli")


def test_recovery_key_is_made_once(session, clock, concern_config, recovery_key):
    with pytest.raises(keys.RecoveryKeyExistsError):
        keys.create_recovery_key(session, clock, concern_config, actor="test")


def test_without_a_recovery_key_nothing_is_stored(session, clock, concern_config):
    with pytest.raises(services.NotReadyError):
        services.submit_concern(session, clock, concern_config, category_id=1,
                                what_happened="text")
    assert session.scalar(select(func.count()).select_from(Concern)) == 0


def test_first_sign_in_creates_a_key_locked_with_the_password(session, clock, concern_config,
                                                              make_user):
    account = make_user("handler")
    assert keys.handler_key(session, account.user.id) is None
    private = keys.unlock_handler_key(session, clock, concern_config, account.user,
                                      account.password)
    stored = keys.handler_key(session, account.user.id)
    assert stored.public_key == crypto.public_key_to_raw(private.public_key())
    assert private.private_bytes_raw() not in stored.locked_private_key
    again = keys.unlock_handler_key(session, clock, concern_config, account.user,
                                    account.password)
    assert again.private_bytes_raw() == private.private_bytes_raw()
    assert "handler_key.create" in _actions(session)
    reviewer = make_user("reviewer")
    assert keys.unlock_handler_key(session, clock, concern_config, reviewer.user,
                                   reviewer.password) is None


def test_production_argon2_parameters_are_memory_hard():
    assert crypto.HANDLER_KEY_ARGON2.memory_kib >= 64 * 1024
    assert crypto.HANDLER_KEY_ARGON2.iterations >= 3


def test_key_session_needs_both_halves(session, clock, concern_config, make_handler):
    handler = make_handler()
    value = keys.open_key_session(session, clock, concern_config, handler.user,
                                  handler.private_key)
    row_id, session_key = value.split(".")
    loaded = keys.load_key_session(session, clock, handler.user, value)
    assert loaded.private_bytes_raw() == handler.private_key.private_bytes_raw()
    other_key = keys.open_key_session(session, clock, concern_config, handler.user,
                                      handler.private_key).split(".")[1]
    assert keys.load_key_session(session, clock, handler.user, f"{row_id}.{other_key}") is None
    assert keys.load_key_session(session, clock, handler.user, "garbage") is None
    clock.advance(hours=concern_config.key_session_hours, seconds=1)
    assert keys.load_key_session(session, clock, handler.user, value) is None
    keys.purge_key_sessions(session, clock)
    clock.advance(hours=-concern_config.key_session_hours - 1)
    assert keys.load_key_session(session, clock, handler.user, value) is None  # row is gone


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("target", ["ciphertext", "nonce", "wrap-ephemeral", "wrap-nonce",
                                    "wrap-body", "swap-wrap", "swap-kind"])
def test_tampering_is_detected_not_garbled(session, clock, concern_config, recovery_key,
                                           make_handler, target):
    handler = make_handler()
    receipt, concern_id = _submit(session, clock, concern_config)
    services.handler_message(session, clock, concern_config, handler.user, concern_id,
                             text="reply", seen_seq=1, note=False)
    session.commit()
    message = session.get(ConcernMessage, (concern_id, 1))
    wrap = session.get(ConcernKeyWrap, (concern_id, 1, "handler", handler.user.id))
    reporter_wrap = session.get(ConcernKeyWrap, (concern_id, 1, "reporter", 0))

    def flip(data: bytes, index: int) -> bytes:
        return data[:index] + bytes([data[index] ^ 1]) + data[index + 1:]

    if target == "ciphertext":
        message.ciphertext = flip(message.ciphertext, 40)
    elif target == "nonce":
        message.ciphertext = flip(message.ciphertext, 3)
    elif target.startswith("wrap-"):
        index = {"wrap-ephemeral": 5, "wrap-nonce": 35, "wrap-body": 60}[target]
        wrap.wrap = flip(wrap.wrap, index)
        reporter_wrap.wrap = flip(reporter_wrap.wrap, index)
    elif target == "swap-wrap":  # a wrap moved from the reply onto the report
        reply_wrap = session.get(ConcernKeyWrap, (concern_id, 2, "handler", handler.user.id))
        wrap.wrap = reply_wrap.wrap
        reporter_wrap.wrap = session.get(ConcernKeyWrap, (concern_id, 2, "reporter", 0)).wrap
    else:  # the report relabelled as an internal note
        message.kind = "note"
    session.flush()

    with pytest.raises(crypto.DecryptionError):
        _read(session, clock, handler, concern_id, concern_config)
    if target != "swap-kind":  # a "note" is not shown to the reporter at all
        with pytest.raises(crypto.DecryptionError):
            _reporter_view(session, concern_config, receipt)


def test_padding_hides_message_length(session, clock, concern_config, recovery_key):
    _, short = _submit(session, clock, concern_config, text="x", wanted="")
    _, longer = _submit(session, clock, concern_config, text="y" * 900, wanted="z" * 50)
    sizes = {len(session.get(ConcernMessage, (i, 1)).ciphertext) for i in (short, longer)}
    assert sizes == {12 + 1024 + 16}


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("typed", "problem"), [
    ("", "cannot be empty"),
    ("   \n ", "cannot be empty"),
    ("bad \ufffd bytes", "could not be read"),
    ("bell\x07", "control characters"),
    ("nul\x00", "control characters"),
    ("x" * (services.MAX_WHAT_HAPPENED + 1), "at most 20,000"),
])
def test_report_text_is_checked(session, concern_config, recovery_key, typed, problem):
    with pytest.raises(services.FieldError) as caught:
        services.validate_report(category_id=1, what_happened=typed, what_wanted="")
    assert caught.value.field == "what_happened" and problem in str(caught.value)


def test_text_keeps_line_breaks_and_unicode(session, clock, concern_config, recovery_key,
                                            make_handler):
    handler = make_handler()
    text = "Line one\r\nLíne twö — ✊🏾\tend"
    _, concern_id = _submit(session, clock, concern_config, text=text,
                            wanted="x" * services.MAX_WHAT_WANTED)
    body = _texts(_read(session, clock, handler, concern_id, concern_config))[0]
    assert body["what_happened"] == "Line one\nLíne twö — ✊🏾\tend"


@pytest.mark.parametrize("category", [999, "abc", "", None, "1 OR 1=1", -1, True, "٣"])
def test_unknown_categories_are_refused(session, concern_config, recovery_key, category):
    with pytest.raises(services.FieldError) as caught:
        services.new_concern_readers(session, services.validate_report(
            category_id=category, what_happened="x", what_wanted=""))
    assert caught.value.field == "category"


def test_closed_categories_are_refused_but_kept(session, clock, concern_config, recovery_key):
    services.update_category(session, clock, 4, label="Other", active=False, actor="admin@x.org")
    with pytest.raises(services.FieldError):
        services.new_concern_readers(session, services.validate_report(
            category_id=4, what_happened="x", what_wanted=""))
    assert [c.label for c in services.list_categories(session)] == [
        "Racism or discrimination", "Bullying or harassment", "Patient or service-user safety"]
    assert len(services.list_categories(session, active_only=False)) == 4


def test_category_changes_are_audited_and_checked(session, clock):
    category = services.add_category(session, clock, label="  Pay and grading ", actor="a@x.org")
    assert category.label == "Pay and grading"
    with pytest.raises(services.FieldError):
        services.add_category(session, clock, label="pay and GRADING", actor="a@x.org")
    with pytest.raises(services.FieldError):
        services.add_category(session, clock, label="two\nlines", actor="a@x.org")
    services.update_category(session, clock, category.id, label="Pay", active=True,
                             actor="a@x.org")
    for other in services.list_categories(session):
        if other.id != category.id:
            services.update_category(session, clock, other.id, label=other.label, active=False,
                                     actor="a@x.org")
    with pytest.raises(services.FieldError):  # the last open one stays open
        services.update_category(session, clock, category.id, label="Pay", active=False,
                                 actor="a@x.org")
    assert _actions(session).count("category.create") == 1
    assert _actions(session).count("category.update") == 5  # a rename, four closings


# --------------------------------------------------------------------------- workflow


def test_status_moves_forward_with_dates_and_audit(session, clock, concern_config, recovery_key,
                                                   make_handler):
    handler = make_handler()
    _, concern_id = _submit(session, clock, concern_config)
    received = clock.today()
    clock.advance(days=3)
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="in_progress", outcome=None, expected_status="new")
    concern = session.get(Concern, concern_id)
    assert concern.acknowledged_on == received + dt.timedelta(days=3)
    with pytest.raises(services.StatusChangeError):
        services.change_status(session, clock, concern_config, handler.user, concern_id,
                               new_status="acknowledged", outcome=None,
                               expected_status="in_progress")
    with pytest.raises(services.StatusChangeError):
        services.change_status(session, clock, concern_config, handler.user, concern_id,
                               new_status="closed", outcome=None, expected_status="in_progress")
    with pytest.raises(services.StatusChangeError):
        services.change_status(session, clock, concern_config, handler.user, concern_id,
                               new_status="closed", outcome="spam", expected_status="in_progress")
    with pytest.raises(services.ConversationMovedOnError):
        services.change_status(session, clock, concern_config, handler.user, concern_id,
                               new_status="closed", outcome="resolved", expected_status="new")
    clock.advance(days=10)
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved",
                           expected_status="in_progress")
    assert (concern.status, concern.outcome, concern.closed_on) == (
        "closed", "resolved", received + dt.timedelta(days=13))
    with pytest.raises(services.ConcernClosedError):
        services.handler_message(session, clock, concern_config, handler.user, concern_id,
                                 text="late", seen_seq=1, note=False)
    services.handler_message(session, clock, concern_config, handler.user, concern_id,
                             text="closing note", seen_seq=1, note=True)
    assert _actions(session).count("concern.status") == 2


def test_spam_closes_and_is_marked(session, clock, concern_config, recovery_key, make_handler):
    handler = make_handler()
    receipt, concern_id = _submit(session, clock, concern_config)
    with pytest.raises(services.StatusChangeError):
        services.mark_excluded(session, clock, concern_config, handler.user, concern_id,
                               reason="resolved", expected_status="new")
    services.mark_excluded(session, clock, concern_config, handler.user, concern_id,
                           reason="duplicate", expected_status="new")
    concern = session.get(Concern, concern_id)
    assert (concern.status, concern.outcome) == ("closed", "duplicate")
    keys_ = services.receipt_keys(concern_config, receipt)
    with pytest.raises(services.ConcernClosedError):
        services.reporter_reply(session, clock, concern_config, keys_, text="x", seen_seq=1)


def test_a_stale_reply_is_refused_and_leaves_nothing(session, clock, concern_config,
                                                     recovery_key, make_handler):
    handler = make_handler()
    receipt, concern_id = _submit(session, clock, concern_config)
    services.handler_message(session, clock, concern_config, handler.user, concern_id,
                             text="first", seen_seq=1, note=False)
    session.commit()
    keys_ = services.receipt_keys(concern_config, receipt)
    for stale in (1, "1", "", "abc", None, 99):
        with pytest.raises(services.ConversationMovedOnError):
            services.reporter_reply(session, clock, concern_config, keys_, text="x",
                                    seen_seq=stale)
        session.rollback()
    assert session.scalar(select(func.count()).select_from(ConcernMessage)) == 2
    assert session.get(Concern, concern_id).last_seq == 2


def test_inbox_flags_sorts_and_filters(session, clock, concern_config, recovery_key,
                                       make_handler):
    handler = make_handler()
    _, old = _submit(session, clock, concern_config, category=2)
    clock.advance(days=8)
    _, recent = _submit(session, clock, concern_config, category=1)
    rows = {r.summary.id: r for r in services.inbox(session, clock, concern_config, handler.user)}
    assert rows[old].acknowledgement_overdue and not rows[old].feedback_overdue
    assert not rows[recent].acknowledgement_overdue
    assert (rows[old].days_open, rows[recent].days_open) == (8, 0)
    assert rows[old].can_read

    clock.advance(days=85)
    rows = {r.summary.id: r for r in services.inbox(session, clock, concern_config, handler.user)}
    assert rows[old].feedback_overdue and not rows[recent].feedback_overdue

    def order(**kwargs):
        return [r.summary.id for r in services.inbox(session, clock, concern_config,
                                                     handler.user, **kwargs)]

    assert order(sort="received") == [old, recent]
    assert order(sort="days_open", descending=True) == [old, recent]
    assert order(sort="category") == [old, recent]  # "Bullying…" before "Racism…"
    services.change_status(session, clock, concern_config, handler.user, recent,
                           new_status="closed", outcome="resolved", expected_status="new")
    assert order() == [old]
    assert order(status="closed") == [recent]
    assert order(status="all", sort="status") == [old, recent]
    closed_row = services.inbox(session, clock, concern_config, handler.user, status="closed")[0]
    assert closed_row.days_open == 85 and not closed_row.feedback_overdue


def test_reading_is_audited_per_decryption(session, clock, concern_config, recovery_key,
                                           make_handler):
    handler = make_handler()
    _, concern_id = _submit(session, clock, concern_config)
    _read(session, clock, handler, concern_id, concern_config)
    _read(session, clock, handler, concern_id, concern_config)
    # Locked: no decryption.
    services.read_concern(session, clock, concern_config, handler.user, concern_id, None)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "concern.read")).all()
    assert [(e.actor, e.subject) for e in entries] == [(handler.user.email, concern_id)] * 2
    assert audit.verify(session).ok


# --------------------------------------------------------------------------- rate limits


def test_submissions_are_limited_globally(session, clock, concern_config, recovery_key):
    config = concern_config.with_changes(concerns_per_minute=2)
    clock.set(dt.datetime(2026, 3, 2, 9, 0, 10, tzinfo=dt.UTC))
    _submit(session, clock, config)
    _submit(session, clock, config)
    with pytest.raises(services.RateLimitedError):
        services.submit_concern(session, clock, config, category_id=1, what_happened="third")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Concern)) == 2
    clock.advance(minutes=1)
    _submit(session, clock, config)
    assert session.scalar(select(func.count()).select_from(Concern)) == 3


def test_receipt_checks_are_limited_per_receipt_and_globally(session, clock, concern_config,
                                                             recovery_key):
    config = concern_config.with_changes(checks_per_receipt_per_minute=2,
                                         receipt_checks_per_minute=5)
    clock.set(dt.datetime(2026, 3, 2, 9, 0, 10, tzinfo=dt.UTC))
    mine = services.receipt_keys(config, crypto.new_receipt())
    for _ in range(2):
        services.count_receipt_use(session, clock, config, mine)
    with pytest.raises(services.RateLimitedError):
        services.count_receipt_use(session, clock, config, mine)
    for _ in range(2):  # other receipts still pass, until the global limit
        services.count_receipt_use(session, clock, config,
                                   services.receipt_keys(config, crypto.new_receipt()))
    with pytest.raises(services.RateLimitedError):
        services.count_receipt_use(session, clock, config,
                                   services.receipt_keys(config, crypto.new_receipt()))
    clock.advance(minutes=1)
    services.count_receipt_use(session, clock, config, mine)


def test_rate_limit_rows_say_nothing_about_when(session, clock, concern_config):
    key = concern_config.rate_limit_key
    clock.set(dt.datetime(2026, 3, 2, 14, 32, 5, tzinfo=dt.UTC))
    assert ratelimit.hit(session, "b", 3, clock.now(), key, forget_all=True)
    assert ratelimit.hit(session, "c", 3, clock.now(), key)
    rows = session.scalars(select(RateLimitWindow)).all()
    minute = str(int(clock.now().timestamp()) // 60)
    assert all(minute not in row.window and "14" not in row.window[:0] for row in rows)
    assert {row.window for row in rows} == {ratelimit.window_tag(clock.now(), key)}
    clock.advance(minutes=1)
    assert ratelimit.hit(session, "b", 3, clock.now(), key, forget_all=True)
    assert len(session.scalars(select(RateLimitWindow)).all()) == 1  # the past is forgotten


# --------------------------------------------------------------------------- retention


def test_purge_deletes_content_after_retention_and_keeps_dates(session, clock, concern_config,
                                                               recovery_key, make_handler):
    handler = make_handler()
    receipt, expired = _submit(session, clock, concern_config)
    _, recent = _submit(session, clock, concern_config)
    _, still_open = _submit(session, clock, concern_config)
    for concern_id in (expired, recent):
        services.change_status(session, clock, concern_config, handler.user, concern_id,
                               new_status="closed", outcome="resolved", expected_status="new")
    session.execute(update(Concern).where(Concern.id == recent)
                    .values(closed_on=clock.today() + dt.timedelta(days=2)))
    session.commit()
    clock.advance(days=concern_config.retention_days + 1)
    assert services.purge_expired(session, clock, concern_config, actor="test") == 1
    assert services.purge_expired(session, clock, concern_config, actor="test") == 0
    concern = session.get(Concern, expired)
    assert concern.purged_on == concern_config.today(clock)
    assert (concern.receipt_hash, concern.reporter_public_key) == (None, None)
    assert concern.received_on and concern.closed_on and concern.outcome == "resolved"
    remaining = set(session.scalars(select(ConcernMessage.concern_id)))
    assert remaining == {recent, still_open}
    assert set(session.scalars(select(ConcernKeyWrap.concern_id))) == {recent, still_open}
    with pytest.raises(services.ReceiptNotFoundError):
        _reporter_view(session, concern_config, receipt)
    view = _read(session, clock, handler, expired, concern_config)
    assert view.conversation.concern.purged and view.conversation.messages == []
    assert _actions(session).count("concerns.purge") == 1


def test_categories_table_starts_with_the_defaults(session):
    labels = session.scalars(select(ConcernCategory.label).order_by(ConcernCategory.position))
    assert list(labels) == ["Racism or discrimination", "Bullying or harassment",
                            "Patient or service-user safety", "Other"]
