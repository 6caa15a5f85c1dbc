"""The audit log: a hash chain that notices any edit, deletion or reordering."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import PASSWORD, post_form
from sqlalchemy import delete, select, update

from speakup import accounts, audit
from speakup.cli import main
from speakup.models import AuditEntry, AuditHead

# A new value for each column of an entry (the id is moved out of sequence).
EDITS = {
    "id": lambda e: e.id + 1000,
    "occurred_at": lambda e: e.occurred_at + dt.timedelta(hours=1),
    "actor": lambda e: "someone-else@example.org",
    "action": lambda e: "nothing.happened",
    "subject": lambda e: "another-subject",
    "detail": lambda e: '{"edited": true}',
    "prev_hash": lambda e: "f" * 64,
    "entry_hash": lambda e: "e" * 64,
}


@pytest.fixture
def chain(session, clock):
    """Six entries, oldest first, a minute apart (cheap: no password hashing)."""
    for n in range(6):
        audit.record(session, clock, actor=f"admin{n}@example.org", action="account.update",
                     subject=f"user{n}@example.org", detail={"n": n, "role": ["a", "b"]})
        clock.advance(minutes=1)
    session.commit()
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


@pytest.fixture
def activity_chain(session, clock, make_user):
    """Entries written by real account activity, oldest first."""
    admin = make_user("admin")
    reviewer = make_user("reviewer")
    policy = accounts.LockoutPolicy()
    with pytest.raises(accounts.LoginError):
        accounts.authenticate(session, clock, policy, email=reviewer.user.email,
                              password="wrong password here")
    accounts.authenticate(session, clock, policy, email=reviewer.user.email, password=PASSWORD)
    accounts.update_account(session, clock, reviewer.user, role="reviewer", disabled=True,
                            actor=admin.user)
    session.commit()
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert len(entries) >= 5
    return entries


def verify_cli(runner) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    result = runner.invoke(main, ["audit", "verify"])
    return result.exit_code, result.output


def test_chain_verifies_after_activity(activity_chain, session, runner):
    chain = activity_chain
    result = audit.verify(session)
    assert result.ok and result.checked == len(chain)
    assert [e.action for e in chain][:2] == ["account.create", "account.create"]
    assert {"login.failed", "login", "account.update"} <= {e.action for e in chain}
    code, output = verify_cli(runner)
    assert code == 0
    assert f"{len(chain)} entries verified" in output


def test_entries_record_actor_action_subject_and_time(activity_chain, clock):
    update_entry = next(e for e in activity_chain if e.action == "account.update")
    assert update_entry.actor.startswith("admin-")
    assert update_entry.subject.startswith("reviewer-")
    assert '"disabled"' in update_entry.detail
    assert update_entry.occurred_at.replace(tzinfo=dt.UTC) == clock.now().replace(microsecond=0)


def test_empty_log_verifies(session):
    assert audit.verify(session).ok


@pytest.mark.parametrize("column", sorted(EDITS))
def test_editing_any_column_of_a_middle_entry_is_detected(chain, session, runner, column):
    target, target_id = chain[2], chain[2].id
    session.execute(update(AuditEntry).where(AuditEntry.id == target_id)
                    .values({column: EDITS[column](target)}))
    session.commit()
    result = audit.verify(session)
    assert not result.ok
    assert result.first_broken_id == target_id
    code, output = verify_cli(runner)
    assert code == 1
    assert f"BROKEN at entry {target_id}" in output


@pytest.mark.parametrize("column", ["actor", "detail", "entry_hash"])
def test_editing_the_first_or_last_entry_is_detected(chain, session, column):
    for target in (chain[0], chain[-1]):
        original = getattr(target, column)
        session.execute(update(AuditEntry).where(AuditEntry.id == target.id)
                        .values({column: EDITS[column](target)}))
        result = audit.verify(session)
        assert not result.ok and result.first_broken_id == target.id
        session.execute(update(AuditEntry).where(AuditEntry.id == target.id)
                        .values({column: original}))
        assert audit.verify(session).ok


def test_deleting_a_middle_entry_is_detected(chain, session, runner):
    session.execute(delete(AuditEntry).where(AuditEntry.id == chain[2].id))
    session.commit()
    assert audit.verify(session).first_broken_id == chain[2].id
    code, output = verify_cli(runner)
    assert code == 1 and f"entry {chain[2].id}" in output


def test_deleting_the_first_entry_is_detected(chain, session):
    session.execute(delete(AuditEntry).where(AuditEntry.id == chain[0].id))
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == chain[0].id


def test_deleting_the_last_entry_is_detected(chain, session, runner):
    session.execute(delete(AuditEntry).where(AuditEntry.id == chain[-1].id))
    session.commit()
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == chain[-1].id
    code, output = verify_cli(runner)
    assert code == 1 and f"entry {chain[-1].id}" in output


def test_deleting_the_last_entry_and_moving_the_head_back_is_detected(chain, session):
    # Someone tidies up the head too, but the chain hashes still do not match it.
    last, before = chain[-1], chain[-2]
    session.execute(delete(AuditEntry).where(AuditEntry.id == last.id))
    session.execute(update(AuditHead).values(last_id=before.id, last_hash="0" * 64))
    assert not audit.verify(session).ok


def test_reordering_entries_is_detected(chain, session, runner):
    a, b = chain[1], chain[2]
    columns = ["occurred_at", "actor", "action", "subject", "detail", "prev_hash", "entry_hash"]
    values_a = {c: getattr(a, c) for c in columns}
    values_b = {c: getattr(b, c) for c in columns}
    # entry_hash is unique: park one row's hash while swapping.
    session.execute(update(AuditEntry).where(AuditEntry.id == a.id).values(entry_hash="tmp"))
    session.execute(update(AuditEntry).where(AuditEntry.id == b.id).values(values_a))
    session.execute(update(AuditEntry).where(AuditEntry.id == a.id).values(values_b))
    session.commit()
    result = audit.verify(session)
    assert not result.ok and result.first_broken_id == a.id
    code, output = verify_cli(runner)
    assert code == 1 and f"entry {a.id}" in output


def test_deleting_the_head_is_detected(chain, session):
    session.execute(delete(AuditHead))
    assert not audit.verify(session).ok


def test_web_activity_is_audited(login_as, client, session):
    admin = login_as("admin")
    post_form(client, "/admin/accounts/new",
              {"email": "new.person@example.org", "role": "reviewer", "password": PASSWORD})
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.actor, e.action, e.subject) for e in entries[-2:]] == [
        (admin.user.email, "login", admin.user.email),
        (admin.user.email, "account.create", "new.person@example.org"),
    ]
    assert audit.verify(session).ok
