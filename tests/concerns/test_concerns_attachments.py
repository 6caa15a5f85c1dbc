"""Attachments' metadata removal and chunked encryption (no database needed)."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile

import pikepdf
import pytest
from PIL import Image, PngImagePlugin

from concerns import attachments, crypto

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
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("docProps/core.xml", f'<cp:coreProperties><dc:creator>{NAME}</dc:creator>'
                   f"<cp:lastModifiedBy>{NAME}</cp:lastModifiedBy></cp:coreProperties>")
        z.writestr("docProps/app.xml", "<Properties><Company>Acme Ward 7</Company></Properties>")
        z.writestr("docProps/custom.xml", f"<Properties><p>{NAME}</p></Properties>")
        z.writestr("word/document.xml", '<w:document><w:body><w:ins w:author="' + NAME +
                   '"><w:r><w:t>It happened on Monday.</w:t></w:r></w:ins>'
                   '<w:bookmarkStart w:name="keep_me"/></w:body></w:document>')
        z.writestr("word/comments.xml", f'<w:comments><w:comment w:author="{NAME}" '
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
    assert cleaned.removed == ["document properties (author, creator, dates)", "XMP metadata"]


def test_docx_loses_creator_properties_and_comment_authors():
    cleaned = _clean(_docx_with_creator())
    assert cleaned.content_type == attachments.DOCX
    with zipfile.ZipFile(cleaned.file) as z:
        everything = b"".join(z.read(n) for n in z.namelist())
        assert NAME.encode() not in everything and b"Acme" not in everything
        assert b'w:initials="Author"' in z.read("word/comments.xml")
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
