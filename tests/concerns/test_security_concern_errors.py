"""Issue 13, finding 2 on the concerns pages: forged numbers keep the text, never a 500."""

from __future__ import annotations

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, post_form, receipt_from, submit
from sqlalchemy import func, select

from concerns.models import Concern, ConcernCategory, ConcernMessage

HUGE = "9223372036854775808"  # 2**63: one more than SQLite's largest integer
TEXT = "My manager mocks my name in meetings."


def _check(client, receipt):  # type: ignore[no-untyped-def]
    html = client.get("/concerns/check").get_data(as_text=True)
    return client.post("/concerns/check", data={"csrf_token": hidden_fields(html)["csrf_token"],
                                                "receipt": receipt})


@pytest.mark.parametrize("seen", [HUGE, "-" + HUGE, "1e400", "²"])
def test_reporter_reply_with_a_forged_seen_seq_keeps_the_text(client, session, recovery_key,
                                                                seen):
    receipt = receipt_from(submit(client).get_data(as_text=True))
    fields = hidden_fields(_check(client, receipt).get_data(as_text=True))
    response = client.post("/concerns/reply", data={**fields, "seen_seq": seen,
                                                    "text": "Keep me please"})
    assert response.status_code == 409
    assert "Keep me please" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ConcernMessage)) == 1


@pytest.fixture
def handler_page(client, login_as, session, recovery_key):  # type: ignore[no-untyped-def]
    login_as("handler")
    submit(client.application.test_client(), text=TEXT)
    concern_id = session.scalar(select(Concern.id))
    return f"/handle/{concern_id}"


@pytest.mark.parametrize("kind", ["reply", "note"])
def test_handler_reply_and_note_with_a_huge_seen_seq_keep_the_text(client, handler_page, kind):
    fields = hidden_fields(client.get(handler_page).get_data(as_text=True))
    response = client.post(f"{handler_page}/{kind}", data={
        **fields, f"{kind}-seen_seq": HUGE, f"{kind}-text": "Kept handler text"})
    assert response.status_code in (400, 409)
    assert "Kept handler text" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["²", "①", HUGE, "٣"])
def test_share_with_unicode_or_huge_handler_ids_is_a_plain_refusal(client, handler_page,
                                                                     target):
    fields = hidden_fields(client.get(handler_page).get_data(as_text=True))
    response = client.post(f"{handler_page}/share", data={**fields, "share-handler": target})
    assert response.status_code == 400


def test_category_differing_only_in_non_ascii_case_is_refused(client, session, login_as):
    login_as("admin")
    assert post_form(client, "/admin/concern-categories/", {"label": "Énergie"}
                     ).status_code == 302
    for label in ("Énergie", "éNERGIE", "ÉNERGIE"):
        response = post_form(client, "/admin/concern-categories/", {"label": label})
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert "already exists" in html and label in html
    assert session.scalar(select(func.count()).select_from(ConcernCategory).where(
        ConcernCategory.label.like("%NERGIE") | ConcernCategory.label.like("%nergie"))) == 1
