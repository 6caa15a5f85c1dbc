"""`speakup keys …`, `speakup concerns purge`, the purge job and the demo seeder."""

from __future__ import annotations

import datetime as dt
import stat

from concern_fixtures import *  # noqa: F403 - pytest fixtures
from sqlalchemy import func, select

from concerns import crypto, keys, services
from concerns.demo import seed_demo_concerns
from concerns.models import Concern, RecoveryKey
from concerns.stats import published_stats
from concerns.wiring import PURGE_JOB_ID
from speakup.jobs import registered_jobs
from speakup.web import services as app_services


def test_keys_init_writes_the_private_half_once(app, runner, session, tmp_path):
    out = tmp_path / "recovery.pem"
    result = runner.invoke(args=["keys", "init", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    private = crypto.load_recovery_private_key(out.read_bytes())
    stored = session.scalar(select(RecoveryKey))
    assert stored.public_key == crypto.public_key_to_raw(private.public_key())
    assert keys.fingerprint(stored.public_key) in result.output
    assert out.read_bytes() not in b"".join(str(v).encode() for v in vars(stored).values())

    again = runner.invoke(args=["keys", "init", "--out", str(tmp_path / "second.pem")])
    assert again.exit_code != 0 and "already exists" in again.output
    assert not (tmp_path / "second.pem").exists()
    existing = runner.invoke(args=["keys", "init", "--out", str(out)])
    assert existing.exit_code != 0 and session.scalar(
        select(func.count()).select_from(RecoveryKey)) == 1


def test_keys_init_with_a_passphrase_and_recover(app, runner, session, clock, make_handler,
                                                 concern_config, tmp_path):
    out = tmp_path / "recovery.pem"
    result = runner.invoke(args=["keys", "init", "--out", str(out), "--passphrase"],
                           input="correct horse staple\n")
    assert result.exit_code == 0, result.output
    assert b"ENCRYPTED" in out.read_bytes()
    first = make_handler()
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened="needs recovering")
    first.user.disabled = True  # the only handler who could read it has left
    session.commit()
    successor = make_handler()
    wrong = runner.invoke(args=["keys", "recover", "--key", str(out), "--handler",
                                successor.user.email], input="wrong passphrase\n")
    assert wrong.exit_code != 0 and "passphrase" in wrong.output
    result = runner.invoke(args=["keys", "recover", "--key", str(out), "--handler",
                                 successor.user.email], input="correct horse staple\n")
    assert result.exit_code == 0, result.output
    assert "1 messages in 1 concerns" in result.output
    view = services.read_concern(session, clock, concern_config, successor.user, concern_id,
                                 successor.private_key)
    assert view.conversation.messages[0].body["what_happened"] == "needs recovering"


def test_keys_status_lists_handlers(app, runner, recovery_key, make_handler, make_user):
    with_key = make_handler()
    without = make_user("handler")
    result = runner.invoke(args=["keys", "status"])
    assert result.exit_code == 0
    assert f"{with_key.user.email}: key pair" in result.output
    assert f"{without.user.email}: no key pair yet" in result.output


def test_purge_command_and_job(app, runner, session, clock, concern_config, recovery_key,
                               make_handler):
    handler = make_handler()
    _, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                            what_happened="old")
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved", expected_status="new")
    session.commit()
    clock.advance(days=400)
    result = runner.invoke(args=["concerns", "purge"])
    assert result.exit_code == 0 and "Purged 1 concerns" in result.output
    job = next(j for j in registered_jobs(app) if j.id == PURGE_JOB_ID)
    job.run(app_services(app))  # idempotent: nothing left to do
    assert session.get(Concern, concern_id).purged_on is not None


def test_demo_seeder_makes_statistics_worth_showing(app, session, make_handler):
    make_handler()  # as `speakup demo` does: a handler with keys, so concerns are taken
    svc = app_services(app)
    said = []
    seed_demo_concerns(session, svc, said.append)
    count = session.scalar(select(func.count()).select_from(Concern))
    assert count >= 30
    assert (svc.settings.instance_path / "demo-recovery-key.pem").exists()
    assert any("receipt to try" in line for line in said)
    # The demo publishes its due quarters, as the scheduler would.
    assert any(line.startswith("Published concern statistics for") for line in said)
    stats = published_stats(session, 5, svc.extras["concerns"].today(svc.clock))
    shown = [q for q in stats.quarters if q.received is not None]
    assert len(shown) >= 3 and not stats.quarters[-1].published
    assert any(q.median_days_to_acknowledge is not None for q in shown)
    statuses = set(session.scalars(select(Concern.status)))
    assert statuses >= {"acknowledged", "in_progress", "closed"}
    first = session.scalar(select(func.min(Concern.received_on)))
    assert first >= svc.extras["concerns"].today(svc.clock) - dt.timedelta(days=5 * 92)
    seed_demo_concerns(session, svc, said.append)  # safe to run twice
    assert session.scalar(select(func.count()).select_from(Concern)) == count


def test_recover_for_a_handler_the_reporter_kept_out_says_to_choose_another(
        app, runner, session, clock, concern_config, make_handler, tmp_path):
    """`keys recover` never gives a concern to a handler its reporter kept out; it says
    that concerns still wait and what to do, and `keys status` shows the count."""
    from concerns import conflicts

    out = tmp_path / "recovery.pem"
    assert runner.invoke(args=["keys", "init", "--out", str(out)]).exit_code == 0
    only, kept_out, other = make_handler(), make_handler(), make_handler()
    for number, handler in enumerate((only, kept_out, other)):
        conflicts.set_display_name(session, clock, handler.user.id, f"Handler {number}",
                                   actor="admin@example.org")
    session.commit()
    services.submit_concern(
        session, clock, concern_config.with_changes(exclusions_offered=True), category_id=1,
        what_happened="about a colleague", excluded=[str(kept_out.user.id)])
    only.user.disabled = True  # the one other reader has left
    other.user.disabled = True
    session.commit()
    status = runner.invoke(args=["keys", "status"])
    assert "Concerns waiting for a reader (no active handler can read them): 1" in status.output

    refused = runner.invoke(args=["keys", "recover", "--key", str(out), "--handler",
                                  kept_out.user.email])
    assert refused.exit_code == 0, refused.output
    assert "0 messages in 0 concerns" in refused.output
    assert "1 concern(s) still wait for a reader" in refused.output
    assert "run this again for another case handler" in refused.output

    newcomer = make_handler()  # signed in after the concern came: no wrap of their own
    granted = runner.invoke(args=["keys", "recover", "--key", str(out), "--handler",
                                  newcomer.user.email])
    assert "1 messages in 1 concerns" in granted.output
    assert "still wait" not in granted.output
    status = runner.invoke(args=["keys", "status"])
    assert "Concerns waiting for a reader (no active handler can read them): 0" in status.output
