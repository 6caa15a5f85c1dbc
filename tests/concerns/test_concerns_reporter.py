"""Reporter pages through the test client: raise, receipt, check, reply; bad input."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from concerns.models import Concern, ConcernKeyWrap, ConcernMessage
from concern_helpers import hidden_fields, receipt_from, submit


def test_submit_shows_receipt_once_and_stores_only_ciphertext(client, session, recovery_key):
    response = submit(client, text="The charge nurse called me a slur.")
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    receipt = receipt_from(html)
    assert re.fullmatch(r"([0-9A-Z]{4}-){4}[0-9A-Z]{4}", receipt)
    assert session.scalar(select(func.count()).select_from(Concern)) == 1
    message = session.scalar(select(ConcernMessage))
    assert b"slur" not in message.ciphertext
    kinds = {w.reader_kind for w in session.scalars(select(ConcernKeyWrap))}
    assert kinds == {"reporter", "recovery"}


def test_check_and_reply(client, recovery_key):
    receipt = receipt_from(submit(client, text="First message").get_data(as_text=True))
    html = client.get("/concerns/check").get_data(as_text=True)
    response = client.post("/concerns/check", data={
        "csrf_token": hidden_fields(html)["csrf_token"], "receipt": receipt.lower()})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "First message" in page
    fields = hidden_fields(page)
    assert fields["receipt"] == receipt
    response = client.post("/concerns/reply", data={**fields, "text": "More detail"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "More detail" in page and "Your reply has been sent" in page
