"""Attachments' metadata removal and chunked encryption (no database needed)."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile

import hostile_files
import pikepdf
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, receipt_from
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select

from concerns import attachments, crypto, services
from concerns.models import Concern, ConcernAttachmentChunk
from speakup.db import Base
from speakup.models import AuditEntry

NAME = "Jane Reporter"


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)  # latitude
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)  # longitude
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, xmp=b"<x:xmpmeta>" + NAME.encode() +
               b"</x:xmpmeta>")
    return out.getvalue()


def _pdf_with_author() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = NAME
    pdf.docinfo["/Creator"] = "Word for " + NAME
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [NAME]
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _docx_with_creator() -> bytes:
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml."
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", hostile_files._types({
            "word/document.xml": word + "document.main+xml",
            "word/comments.xml": word + "comments+xml",
            "docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
            "docProps/app.xml": "application/vnd.openxmlformats-officedocument.extended-"
                                "properties+xml",
            "docProps/custom.xml": "application/vnd.openxmlformats-officedocument.custom-"
                                   "properties+xml"}))
        z.writestr("_rels/.rels", hostile_files._rels((rel + "officeDocument",
                                                       "word/document.xml", "")))
        z.writestr("word/_rels/document.xml.rels", hostile_files._rels(
            (rel + "comments", "comments.xml", "")))
        z.writestr("docProps/core.xml", f'<cp:coreProperties xmlns:cp="urn:cp" '
                   f'xmlns:dc="urn:dc"><dc:creator>{NAME}</dc:creator>'
                   f"<cp:lastModifiedBy>{NAME}</cp:lastModifiedBy></cp:coreProperties>")
        z.writestr("docProps/app.xml", "<Properties><Company>Acme Ward 7</Company></Properties>")
        z.writestr("docProps/custom.xml", f"<Properties><p>{NAME}</p></Properties>")
        z.writestr("word/document.xml", f"<w:document {w}><w:body><w:ins w:author=\"" + NAME +
                   '"><w:r><w:t>It happened on Monday.</w:t></w:r></w:ins>'
                   '<w:bookmarkStart w:name="keep_me"/></w:body></w:document>')
        z.writestr("word/comments.xml", f'<w:comments {w}><w:comment w:author="{NAME}" '
                   'w:initials="JR"><w:p/></w:comment></w:comments>')
    return out.getvalue()


class Cleaned:
    """What came out of cleaning: the bytes, type and what was removed (file closed)."""

    def __init__(self, data: bytes, name: str) -> None:
        with attachments.clean(io.BytesIO(data), name) as cleaned:
            self.data = cleaned.file.read()
            self.content_type = cleaned.content_type
            self.removed = cleaned.removed
            self.file = io.BytesIO(self.data)


def _clean(data: bytes, name: str = "file") -> Cleaned:
    return Cleaned(data, name)


def test_jpeg_loses_gps_and_camera_data_and_is_turned_upright():
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # GPS was there
    cleaned = _clean(original)
    data = cleaned.file.read()
    image = Image.open(io.BytesIO(data))
    assert cleaned.content_type == "image/jpeg"
    assert not image.getexif() and "xmp" not in image.info and "exif" not in image.info
    assert b"PhoneMaker" not in data and NAME.encode() not in data
    assert image.size == (20, 40)  # orientation 6 applied before the data went
    assert any("GPS" in r for r in cleaned.removed)


def test_png_keeps_its_format_and_loses_text_chunks():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", NAME)
    out = io.BytesIO()
    Image.new("RGBA", (5, 5)).save(out, format="PNG", pnginfo=info)
    cleaned = _clean(out.getvalue())
    data = cleaned.file.read()
    assert cleaned.content_type == "image/png" and NAME.encode() not in data
    assert Image.open(io.BytesIO(data)).mode == "RGBA"


def test_pdf_loses_author_and_xmp():
    cleaned = _clean(_pdf_with_author())
    data = cleaned.file.read()
    assert NAME.encode() not in data
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert "/Info" not in pdf.trailer or not len(pdf.trailer.Info.keys())
        assert "/Metadata" not in pdf.Root
        assert len(pdf.pages) == 1
    assert cleaned.removed == ["rebuilt from its 1 page",
                               "document properties (author, creator, dates) removed",
                               "XMP metadata removed", "original document ID replaced"]


def test_docx_loses_creator_properties_and_comment_authors():
    cleaned = _clean(_docx_with_creator())
    assert cleaned.content_type == attachments.DOCX
    with zipfile.ZipFile(cleaned.file) as z:
        everything = b"".join(z.read(n) for n in z.namelist())
        assert NAME.encode() not in everything and b"Acme" not in everything
        assert b'w:initials="A"' in z.read("word/comments.xml")
        assert b'w:author="Author"' in z.read("word/comments.xml")
        assert b"It happened on Monday." in z.read("word/document.xml")
        assert b'w:name="keep_me"' in z.read("word/document.xml")  # not an author: kept
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00 an executable",
    b"\x00\x01\x02 binary junk",
    b"caf\xe9 in Latin-1",
    b"PK\x03\x04 not really a zip",
])
def test_other_files_are_refused_with_what_is_accepted(data):
    with pytest.raises(attachments.AttachmentRefusedError, match="PDF, Word"):
        _clean(data, "thing.bin")


def test_plain_text_is_kept_as_it_is():
    text = "Notes from Monday: ça suffit.\n".encode()
    cleaned = _clean(text)
    assert cleaned.file.read() == text and cleaned.content_type.startswith("text/plain")


# --------------------------------------------------------------------------- sealing


def _seal(data: bytes, key: bytes, aad: bytes = b"c1:2:1") -> list[bytes]:
    return list(crypto.seal_chunks(io.BytesIO(data).read, key, aad))


def test_chunked_sealing_round_trips_and_detects_tampering():
    key = crypto.new_file_key()
    data = os.urandom(crypto.FILE_CHUNK_BYTES * 2 + 10)
    chunks = _seal(data, key)
    assert len(chunks) == 3
    assert b"".join(crypto.open_chunks(chunks, key, b"c1:2:1")) == data
    for broken in (chunks[:2], chunks[::-1], [chunks[0], chunks[0], chunks[2]],
                   chunks + [chunks[2]]):
        with pytest.raises(crypto.DecryptionError):
            b"".join(crypto.open_chunks(broken, key, b"c1:2:1"))
    with pytest.raises(crypto.DecryptionError):  # another file's place
        b"".join(crypto.open_chunks(chunks, key, b"c1:2:2"))
    assert b"".join(crypto.open_chunks(_seal(b"", key, b"x"), key, b"x")) == b""


def test_a_10_mb_file_is_sealed_in_flat_memory(tmp_path):
    path = tmp_path / "big.txt"
    with path.open("wb") as handle:
        for _ in range(160):
            handle.write(b"All work and no play. " * 2979)  # about 64 KB a time, 10 MB
    key = crypto.new_file_key()
    sealed_bytes = 0
    tracemalloc.start()
    try:
        with path.open("rb") as source, attachments.clean(source, "big.txt") as cleaned:
            for chunk in crypto.seal_chunks(cleaned.file.read, key, b"aad"):
                sealed_bytes += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sealed_bytes > 10_000_000
    # Ceiling: a few chunks at a time, never the file (10 MB) or a large part of it.
    assert peak < 1_000_000


# --------------------------------------------------------------------------- end to end

MARKER = b"needle-in-the-evidence-7Q"


def _dump(session) -> bytes:
    """Every value of every table, as a copy of the database would hold them."""
    out = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            for value in row:
                out.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(out)


def _post_with_files(client, files, text="Photo of the note left on my locker."):
    page = client.get("/concerns/new").get_data(as_text=True)
    data = {"csrf_token": hidden_fields(page)["csrf_token"], "category": "1",
            "what_happened": text, "what_wanted": "",
            "attachments": [(io.BytesIO(content), name) for name, content in files]}
    return client.post("/concerns/new", data=data, content_type="multipart/form-data")


def test_reporter_attaches_files_and_handler_downloads_them_clean(
        client, session, clock, concern_config, recovery_key, make_handler, login_as):
    make_handler()
    response = _post_with_files(client, [
        ("IMG_2041 Jane Reporter.jpg", _jpeg_with_gps()),
        ("notes.txt", b"Dates and times: " + MARKER + b"\n"),
        ("statement.docx", _docx_with_creator()),
    ])
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert ("attachment-1.jpg: re-encoded from its pixels alone; camera and location data "
            "(EXIF, including GPS) removed; XMP and IPTC data removed.") in html
    assert "can still identify you" in html
    assert 'type="file"' in client.get("/concerns/new").get_data(as_text=True)
    dump = _dump(session)
    assert MARKER not in dump and NAME.encode() not in dump and b"PhoneMaker" not in dump
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)) == 3

    # A handler who signs in only now is granted it with the recovery key (file keys
    # travel inside the messages, so no extra step is needed for the files).
    handler = login_as("handler")
    concern_id = session.scalar(select(Concern.id))
    services.recover_access(session, clock, concern_config, recovery_key, handler.user.email,
                            actor="test")
    session.commit()
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert "attachment-1.jpg" in page and "attachment-3.docx" in page
    download = client.get(f"/handle/{concern_id}/files/1/1")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.mimetype == "image/jpeg"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    image = Image.open(io.BytesIO(download.get_data()))
    assert not image.getexif() and image.size == (20, 40)
    text = client.get(f"/handle/{concern_id}/files/1/2").get_data()
    assert MARKER in text
    assert client.get(f"/handle/{concern_id}/files/1/9").status_code == 404
    downloads = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "concern.download")).all()
    assert [d.actor for d in downloads] == [handler.user.email] * 2


def test_refused_files_keep_the_text_and_say_why(client, session, recovery_key, make_handler):
    make_handler()
    response = _post_with_files(client, [("run-me.exe", b"MZ\x90\x00 program")],
                                text="Please keep these words.")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Please keep these words." in html and "choose the file again" in html
    assert "You had chosen 1 file (“run-me.exe”)" in html
    too_many = _post_with_files(client, [(f"{n}.txt", b"x") for n in range(6)])
    assert too_many.status_code == 400 and "at most 5 files" in too_many.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Concern)) == 0


def test_purge_deletes_the_files(client, session, clock, concern_config, recovery_key,
                                 make_handler):
    handler = make_handler()
    assert _post_with_files(client, [("notes.txt", MARKER)]).status_code == 200
    concern_id = session.scalar(select(Concern.id))
    services.change_status(session, clock, concern_config, handler.user, concern_id,
                           new_status="closed", outcome="resolved", expected_status="new")
    session.commit()
    clock.advance(days=concern_config.retention_days + 1)
    assert services.purge_expired(session, clock, concern_config, actor="test") == 1
    session.commit()
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)) == 0


def test_reporter_reply_carries_a_cleaned_file(client, session, recovery_key, make_handler):
    make_handler()
    response = _post_with_files(client, [])
    receipt = receipt_from(response.get_data(as_text=True))
    page = client.post("/concerns/check", data={
        "csrf_token": hidden_fields(client.get("/concerns/check").get_data(as_text=True))[
            "csrf_token"], "receipt": receipt}).get_data(as_text=True)
    assert 'type="file"' in page
    fields = hidden_fields(page)
    refused = client.post("/concerns/reply", content_type="multipart/form-data", data={
        **fields, "text": "Here is the photo.",
        "attachments": [(io.BytesIO(b"MZ\x90 program"), "x.exe")]})
    assert refused.status_code == 400
    assert "Here is the photo." in refused.get_data(as_text=True)
    sent = client.post("/concerns/reply", content_type="multipart/form-data", data={
        **fields, "text": "Here is the photo.",
        "attachments": [(io.BytesIO(_pdf_with_author()), "Jane's scan.pdf")]})
    html = sent.get_data(as_text=True)
    assert sent.status_code == 200, html
    assert "attachment-1.pdf" in html
    chunks = session.scalars(select(ConcernAttachmentChunk.seq)).all()
    assert chunks == [2]
    assert NAME.encode() not in _dump(session)
