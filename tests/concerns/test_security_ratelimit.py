"""Issue 13, finding 3: one client flooding receipt checks cannot lock out a reporter."""

from __future__ import annotations

from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from, submit

from concerns import crypto
from speakup.web import services as app_services


def _check(client, receipt):  # type: ignore[no-untyped-def]
    html = client.get("/concerns/check").get_data(as_text=True)
    return client.post("/concerns/check", data={"csrf_token": hidden_fields(html)["csrf_token"],
                                                "receipt": receipt})


def test_a_flood_of_made_up_receipts_does_not_lock_out_a_real_one(app, client, recovery_key):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(receipt_checks_per_minute=5)
    receipt = receipt_from(submit(client).get_data(as_text=True))
    flooder = app.test_client()
    statuses = [_check(flooder, crypto.new_receipt()).status_code for _ in range(8)]
    assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}, "guesses are limited"
    # The reporter, in the same minute, still gets in: a real receipt is not counted in
    # the bucket the flooder filled.
    assert _check(client, receipt).status_code == 200


def test_a_real_receipt_keeps_its_own_limit(app, client, recovery_key):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(
        checks_per_receipt_per_minute=2)
    receipt = receipt_from(submit(client).get_data(as_text=True))
    assert [_check(client, receipt).status_code for _ in range(3)] == [200, 200, 429]
