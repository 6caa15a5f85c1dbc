"""Handlers attach files to their replies; the reporter downloads them with the receipt."""

from __future__ import annotations

import io
import json

import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields
from PIL import Image
from sqlalchemy import func, select
from test_concerns_attachments import NAME, _dump, _jpeg_with_gps, _pdf_with_author

from concerns import conflicts, services
from concerns.models import ConcernAttachmentChunk, ConcernMessage
from speakup.models import AuditEntry
from speakup.web import services as app_services

TEXT = "Someone wrote a slur on the rota board."
REPLY = "Here is the policy and a photo of the board after it was cleaned."
MARKER = b"handler-evidence-marker-5T"
# Seven chunks: read one by one while the response is sent, on either engine.
LOG = b"".join(b"line %06d of the log\n" % n for n in range(19_000))


@pytest.fixture
def concern(session, clock, concern_config, recovery_key, make_handler):
    """A concern for Kim but kept away from Sam; returns (receipt, id, Kim, Sam)."""
    kim, sam = make_handler(), make_handler()
    conflicts.set_display_name(session, clock, sam.user.id, "Sam Doe", actor="test")
    receipt, concern_id = services.submit_concern(session, clock, concern_config, category_id=1,
                                                  what_happened=TEXT,
                                                  excluded=[str(sam.user.id)])
    session.commit()
    return receipt, concern_id, kim, sam


def _reply(client, concern_id, text, files, fields=None):
    page = f"/handle/{concern_id}"
    fields = fields or hidden_fields(client.get(page).get_data(as_text=True))
    return client.post(f"{page}/reply", content_type="multipart/form-data", data={
        **fields, "reply-text": text,
        "reply-attachments": [(io.BytesIO(content), name) for name, content in files]})


def _conversation(reporter, receipt):
    token = hidden_fields(reporter.get("/concerns/check").get_data(as_text=True))["csrf_token"]
    return reporter.post("/concerns/check", data={"csrf_token": token, "receipt": receipt}
                         ).get_data(as_text=True)


def _download(reporter, page, seq, number, **changes):
    fields = {**hidden_fields(page), "seq": str(seq), "number": str(number), **changes}
    return reporter.post("/concerns/file", data=fields)


def test_handler_reply_carries_cleaned_files_the_reporter_downloads(
        app, client, session, clock, concern_config, recovery_key, login_as, make_handler,
        concern):
    receipt, concern_id, kim, sam = concern
    handler = login_as("handler")
    services.recover_access(session, clock, concern_config, recovery_key, handler.user.email,
                            actor="test")
    session.commit()
    # The reply form takes files without JavaScript: a multipart form with a file input.
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="reply-attachments"' in page

    sent = _reply(client, concern_id, REPLY, [("IMG_9 Jane Reporter.jpg", _jpeg_with_gps()),
                                              ("policy.pdf", _pdf_with_author()),
                                              ("steps.txt", MARKER + b"\n"),
                                              ("log.txt", LOG)])
    assert sent.status_code == 302, sent.get_data(as_text=True)
    seq = session.scalar(select(ConcernMessage.seq).where(ConcernMessage.kind == "handler_reply"))
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)
                          .where(ConcernAttachmentChunk.seq == seq)) == 3 + 7
    dump = _dump(session)
    assert MARKER not in dump and NAME.encode() not in dump and b"PhoneMaker" not in dump
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "concern.reply")).one()
    assert entry.actor == handler.user.email and json.loads(entry.detail) == {"seq": seq,
                                                                            "files": 4}

    # The handler's own page lists them for download, like the reporter's files.
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert f"/handle/{concern_id}/files/{seq}/1" in page
    assert client.get(f"/handle/{concern_id}/files/{seq}/3").get_data() == MARKER + b"\n"
    assert client.get(f"/handle/{concern_id}/files/{seq}/4").get_data() == LOG

    # The reporter sees the reply's files and downloads each through a POSTed form.
    reporter = app.test_client()
    conversation = _conversation(reporter, receipt)
    assert REPLY in conversation and "Download attachment-1.jpg" in conversation
    photo = _download(reporter, conversation, seq, 1)
    assert photo.status_code == 200
    assert photo.headers["Content-Disposition"] == (
        f'attachment; filename="speakup-{seq}-attachment-1.jpg"')
    assert photo.mimetype == "image/jpeg"
    assert photo.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(photo.get_data()))
    assert not image.getexif() and image.size == (20, 40)
    text = _download(reporter, conversation, seq, 3)
    assert text.get_data() == MARKER + b"\n" and text.mimetype == "text/plain"
    assert NAME.encode() not in _download(reporter, conversation, seq, 2).get_data()
    assert _download(reporter, conversation, seq, 4).get_data() == LOG
    # No such file, another message, a forged receipt: the same "not found" answer.
    for seq_, number, changes in ((seq, 9, {}), (1, 1, {}), ("x", "1", {}),
                                  (seq, 1, {"receipt": "ABCD-EFGH-JKMN-PQRS-TVWX"})):
        refused = _download(reporter, conversation, seq_, number, **changes)
        assert refused.status_code == 404 and "could not find that file" in refused.get_data(
            as_text=True)

    # Every reader of the reply opens its files: the colleague it was wrapped to, and a
    # handler granted it later with the recovery key; the handler kept out cannot.
    info, chunks = services.open_attachment(session, clock, concern_config, kim.user,
                                            concern_id, seq, 3, kim.private_key)
    assert b"".join(chunks) == MARKER + b"\n" and info.name == "attachment-3.txt"
    late = make_handler()
    services.recover_access(session, clock, concern_config, recovery_key, late.user.email,
                            actor="test")
    _, chunks = services.open_attachment(session, clock, concern_config, late.user,
                                         concern_id, seq, 3, late.private_key)
    assert b"".join(chunks) == MARKER + b"\n"
    with pytest.raises(services.ConcernNotFoundError):
        services.open_attachment(session, clock, concern_config, sam.user, concern_id, seq, 3,
                                 sam.private_key)


def test_refused_files_keep_the_reply_text_and_say_why(app, client, session, concern_config,
                                                       login_as, recovery_key, concern, clock):
    _, concern_id, _, _ = concern
    handler = login_as("handler")
    services.recover_access(session, clock, concern_config, recovery_key, handler.user.email,
                            actor="test")
    session.commit()
    # A low limit keeps the test's body small (werkzeug's test client spools large ones).
    app_services(app).extras["concerns"] = concern_config.with_changes(
        attachment_max_bytes=200 * 1024)
    cases = [
        ([("run-me.exe", b"MZ\x90\x00 program")], "PDF, Word"),
        ([(f"{n}.txt", b"x") for n in range(6)], "Attach at most 5 files (you chose 6)."),
        ([("big.txt", b"a" * (200 * 1024 + 1))], "“big.txt” is larger than 200 KB."),
    ]
    for files, reason in cases:
        refused = _reply(client, concern_id, "Please keep every word of this.", files)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 400, html
        assert reason in html and "choose the files again" in html
        assert "\nPlease keep every word of this.</textarea>" in html
    # The text's own problem is shown at the same time as the files'.
    both = _reply(client, concern_id, "", [("run-me.exe", b"MZ\x90\x00 program")])
    html = both.get_data(as_text=True)
    assert both.status_code == 400 and "PDF, Word" in html and "This cannot be empty." in html
    assert session.scalar(select(func.count()).select_from(ConcernMessage)) == 1
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)) == 0


def test_purge_deletes_handler_reply_files(client, session, clock, concern_config, login_as,
                                           recovery_key, concern):
    _, concern_id, _, _ = concern
    handler = login_as("handler")
    services.recover_access(session, clock, concern_config, recovery_key, handler.user.email,
                            actor="test")
    session.commit()
    assert _reply(client, concern_id, REPLY, [("steps.txt", MARKER)]).status_code == 302
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)) == 1
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved",
                           expected_status="acknowledged")
    session.commit()
    clock.advance(days=concern_config.retention_days + 1)
    assert services.purge_expired(session, clock, concern_config, actor="test") == 1
    session.commit()
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)) == 0


def test_an_expired_download_form_gives_the_receipt_back(app, concern):
    receipt = concern[0]
    reporter = app.test_client()
    reporter.get("/concerns/check")
    expired = reporter.post("/concerns/file", data={"csrf_token": "stale", "receipt": receipt,
                                                    "seq": "1", "number": "1"})
    html = expired.get_data(as_text=True)
    assert expired.status_code == 400 and f'value="{receipt}"' in html
    assert "press the button again" in html
