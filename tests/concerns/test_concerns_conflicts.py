"""Conflicts of interest: handlers a reporter keeps out, recusal, display names."""

from __future__ import annotations

import json

import pyotp
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from, submit
from sqlalchemy import select

from concerns import conflicts, digest, services
from concerns.models import ConcernExclusion, ConcernKeyWrap, Reader
from speakup.models import AuditEntry

TEXT = "The handler Sam Doe made the remark about my hair."


@pytest.fixture
def trio(session, clock, recovery_key, make_handler):
    """Three handlers with key pairs; two have names reporters can pick."""
    alex, sam, kim = make_handler(), make_handler(), make_handler()
    conflicts.set_display_name(session, clock, alex.user.id, "Alex Smith", actor="admin@x")
    conflicts.set_display_name(session, clock, sam.user.id, " Sam   Doe ", actor="admin@x")
    session.commit()
    return alex, sam, kim


def _handler_readers(session, concern_id):
    return set(session.scalars(select(ConcernKeyWrap.reader_id).where(
        ConcernKeyWrap.concern_id == concern_id,
        ConcernKeyWrap.reader_kind == Reader.HANDLER.value)))


def _actions(session, action):
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_offered_handlers_are_named_ones_only(session, trio):
    alex, sam, _ = trio
    assert conflicts.offered_handlers(session) == [(alex.user.id, "Alex Smith"),
                                                   (sam.user.id, "Sam Doe")]


def test_an_excluded_handler_gets_no_key_and_never_the_concern(session, clock, concern_config,
                                                                trio, recovery_key):
    alex, sam, kim = trio
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT, excluded=[str(sam.user.id)])
    session.commit()
    assert _handler_readers(session, concern_id) == {alex.user.id, kim.user.id}
    # Not listed, not openable (the same answer as a reference that does not exist).
    assert concern_id not in [r.summary.id for r in
                              services.inbox(session, clock, concern_config, sam.user)]
    with pytest.raises(services.ConcernNotFoundError):
        services.read_concern(session, clock, concern_config, sam.user, concern_id,
                              sam.private_key)
    # Nobody can share it with them.
    assert sam.user.id not in dict(services.share_candidates(session, concern_config,
                                                             concern_id))
    with pytest.raises(services.ShareError):
        services.share_concern(session, clock, concern_config, alex.user, alex.private_key,
                               concern_id, str(sam.user.id))
    # Recovery grants them everything else, never this one; the recovery key still reads it.
    _, other_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                          what_happened="Another matter.")
    session.execute(ConcernKeyWrap.__table__.delete().where(
        ConcernKeyWrap.concern_id == other_id, ConcernKeyWrap.reader_id == sam.user.id,
        ConcernKeyWrap.reader_kind == Reader.HANDLER.value))
    granted = services.recover_access(session, clock, concern_config, recovery_key,
                                      sam.user.email, actor="cli")
    assert granted == {other_id: 1}
    assert sam.user.id not in _handler_readers(session, concern_id)
    # Their daily summary does not count it.
    assert digest.handler_counts(session, clock.today(), sam.user.id).awaiting_acknowledgement \
        == 1
    # Audited by count only: no handler is named.
    entry = _actions(session, "concern.exclude_handlers")[0]
    assert (entry.subject, json.loads(entry.detail)) == (concern_id, {"handlers": 1})
    assert sam.user.email not in str(entry.detail) and "Sam" not in str(entry.detail)
    # The stored marker says nothing without the server key.
    markers = session.scalars(select(ConcernExclusion.marker)).all()
    assert markers == [conflicts.marker(concern_config, concern_id, sam.user.id)]


@pytest.mark.parametrize("choice", ["unnamed", "everyone", "junk"])
def test_refused_exclusions_say_why(session, clock, concern_config, trio, choice):
    alex, sam, kim = trio
    excluded = {"unnamed": [str(kim.user.id)], "junk": ["1; drop"],
                "everyone": [str(alex.user.id), str(sam.user.id)]}[choice]
    if choice == "everyone":
        kim.user.disabled = True  # the two named handlers are then the only readers
        session.commit()
    with pytest.raises(services.FieldError) as caught:
        services.submit_concern(session, clock, concern_config, category_id=1,
                                what_happened=TEXT, excluded=excluded)
    assert caught.value.field == "excluded"
    session.rollback()


def test_exclusions_can_be_switched_off(session, clock, concern_config, trio):
    _, sam, _ = trio
    with pytest.raises(services.FieldError, match="switched off"):
        services.submit_concern(session, clock, concern_config.with_changes(
            exclusions_offered=False), category_id=1, what_happened=TEXT,
            excluded=[str(sam.user.id)])


def test_recusal_deletes_the_wraps_for_good(session, clock, concern_config, trio):
    alex, sam, kim = trio
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT)
    services.handler_message(session, clock, concern_config, alex.user, concern_id,
                             text="Received, thank you.", seen_seq=1, note=False)
    session.commit()
    deleted = services.recuse(session, clock, concern_config, sam.user, concern_id)
    session.commit()
    assert deleted == 2  # the report and the reply
    assert _handler_readers(session, concern_id) == {alex.user.id, kim.user.id}
    assert concern_id not in [r.summary.id for r in
                              services.inbox(session, clock, concern_config, sam.user)]
    with pytest.raises(services.ShareError):
        services.share_concern(session, clock, concern_config, alex.user, alex.private_key,
                               concern_id, str(sam.user.id))
    entry = _actions(session, "concern.recuse")[0]
    assert (entry.actor, entry.subject) == (sam.user.email, concern_id)
    # The last handler who can read it may not leave it unanswerable.
    services.recuse(session, clock, concern_config, kim.user, concern_id)
    with pytest.raises(services.RecusalError):
        services.recuse(session, clock, concern_config, alex.user, concern_id)


def test_display_names_are_checked_and_audited(session, clock, trio, make_user):
    alex, sam, kim = trio
    with pytest.raises(conflicts.DisplayNameError, match="Another handler"):
        conflicts.set_display_name(session, clock, kim.user.id, "Alex Smith", actor="a@x")
    with pytest.raises(conflicts.DisplayNameError):
        conflicts.set_display_name(session, clock, kim.user.id, "x" * 81, actor="a@x")
    with pytest.raises(conflicts.DisplayNameError, match="not a case handler"):
        conflicts.set_display_name(session, clock, make_user("admin").user.id, "Ann",
                                   actor="a@x")
    assert conflicts.set_display_name(session, clock, sam.user.id, "  ", actor="a@x") is None
    assert [u for u, _ in conflicts.offered_handlers(session)] == [alex.user.id]
    names = [json.loads(e.detail)["display_name"]
             for e in _actions(session, "handler.display_name")]
    assert names == ["Alex Smith", "Sam Doe", None]


# --------------------------------------------------------------------------- pages


def test_reporter_keeps_a_handler_out_without_javascript(app, session, clock, trio):
    alex, sam, _ = trio
    reporter = app.test_client()
    page = reporter.get("/concerns/new").get_data(as_text=True)
    assert 'type="checkbox"' in page and "Sam Doe" in page and "Alex Smith" in page
    response = submit(reporter, text=TEXT, extra={"excluded": str(sam.user.id)})
    assert response.status_code == 200
    receipt_from(response.get_data(as_text=True))
    concern_id = session.scalar(select(ConcernExclusion.concern_id))
    # Sam signs in: the inbox does not list it and its address answers 404.
    staff = app.test_client()
    token = hidden_fields(staff.get("/login").get_data(as_text=True))["csrf_token"]
    data = {"csrf_token": token, "email": sam.user.email, "password": sam.password}
    if sam.user.totp_secret:
        data["totp"] = pyotp.TOTP(sam.user.totp_secret).at(clock.now())
    assert staff.post("/login", data=data).status_code == 302
    assert concern_id not in staff.get("/handle/").get_data(as_text=True)
    assert staff.get(f"/handle/{concern_id}").status_code == 404


def test_all_named_handlers_excluded_keeps_the_text(app, session, clock, trio):
    alex, sam, kim = trio
    kim.user.disabled = True
    session.commit()
    reporter = app.test_client()
    response = submit(reporter, text=TEXT, wanted="An apology.",
                      extra={"excluded": [str(alex.user.id), str(sam.user.id)]})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert TEXT in html and "An apology." in html and "Leave at least one handler" in html
    assert html.count("checked") == 3  # the category and both ticks are kept


def test_handler_recuses_from_the_concern_page(client, login_as, session, clock,
                                               concern_config, recovery_key, make_handler):
    make_handler()  # a colleague who can still read it
    account = login_as("handler")
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened=TEXT)
    session.commit()
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    fields = {k: v for k, v in hidden_fields(page).items() if k.startswith("recuse-")}
    refused = client.post(f"/handle/{concern_id}/recuse", data=fields)
    assert refused.status_code == 400 and "Tick the box" in refused.get_data(as_text=True)
    done = client.post(f"/handle/{concern_id}/recuse", data={**fields, "recuse-confirm": "y"})
    assert done.status_code == 302 and done.location.endswith("/handle/")
    assert client.get(f"/handle/{concern_id}").status_code == 404
    assert _actions(session, "concern.recuse")[0].actor == account.user.email


def test_admin_names_handlers(client, login_as, session, make_handler):
    handler = make_handler()
    login_as("admin")
    page = client.get("/admin/concern-handlers/").get_data(as_text=True)
    assert handler.user.email in page
    prefix = f"u{handler.user.id}-"
    fields = {k: v for k, v in hidden_fields(page).items() if k.startswith(prefix)}
    response = client.post(f"/admin/concern-handlers/{handler.user.id}",
                           data={**fields, f"{prefix}display_name": "Jo Bloggs"})
    assert response.status_code == 302
    assert conflicts.offered_handlers(session) == [(handler.user.id, "Jo Bloggs")]
    too_long = client.post(f"/admin/concern-handlers/{handler.user.id}",
                           data={**fields, f"{prefix}display_name": "J" * 81})
    assert too_long.status_code == 400 and "J" * 81 in too_long.get_data(as_text=True)
