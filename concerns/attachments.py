"""Files attached to a concern: checked, stripped of metadata, then sealed in chunks.

What is kept is only the cleaned copy. What "cleaned" means per kind:

- images (JPEG, PNG, WebP, and HEIC/HEIF through pillow-heif): orientation applied, then
  re-encoded from the pixels alone, so EXIF (camera, time, GPS), XMP and IPTC are gone;
- PDF (pikepdf): the document information dictionary (author, creator, dates…) and the
  XMP metadata stream are removed;
- Office Open XML (DOCX, XLSX, PPTX; a zip of XML parts): core, app and custom
  properties are replaced by empty ones, and comment and tracked-change authors and
  initials are reset to "Author";
- plain text (UTF-8): carries no metadata; kept as it is.

Anything else is refused with a message saying what is accepted. What is *visible* in a
file (a face, a letterhead, a name in the text) can still identify the reporter: the
page says so.
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO

import pikepdf
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from concerns import spool

# Decompression bombs: Pillow refuses (raises) images over this many pixels.
MAX_IMAGE_PIXELS = 40_000_000
# An Office file whose parts unpack to more than this is refused (zip bomb).
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_ZIP_MEMBERS = 5_000

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ACCEPTED = ("photos (JPEG, PNG, WebP, HEIC), PDF, Word, Excel and PowerPoint files, and plain "
            "text")

_EMPTY_CORE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
    b'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"/>'
)
_EMPTY_APP = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'extended-properties"/>'
)
_EMPTY_CUSTOM = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'custom-properties"/>'
)
# Who wrote a comment or a tracked change, per format and part (narrow on purpose: a
# broader pattern would rename sheets, fonts or bookmarks and break the document).
_WORD_AUTHORS = re.compile(rb'\b(w:author|w:initials)="[^"]*"')
_XLSX_AUTHOR = re.compile(rb"<author>[^<]*</author>")
_XLSX_PERSON = re.compile(rb'\b(displayName|userId)="[^"]*"')
_PPT_AUTHOR = re.compile(rb'\b(name|initials)="[^"]*"')


def _reset_authors(name: str, data: bytes) -> bytes:
    """Replace the names of comment and change authors in one part of an Office file."""
    if not name.endswith(".xml"):
        return data
    if name.startswith("word/"):
        return _WORD_AUTHORS.sub(lambda m: m.group(1) + b'="Author"', data)
    if name.startswith("xl/comments"):
        return _XLSX_AUTHOR.sub(b"<author>Author</author>", data)
    if name.startswith("xl/persons/"):
        return _XLSX_PERSON.sub(lambda m: m.group(1) + b'="Author"', data)
    if name == "ppt/commentAuthors.xml":
        return _PPT_AUTHOR.sub(lambda m: m.group(1) + b'="Author"', data)
    return data


class AttachmentRefusedError(ValueError):
    """The file cannot be accepted; the message says why and what is accepted."""


@dataclass
class CleanedFile:
    """A cleaned copy (in an encrypted temporary file the caller closes) and what was
    removed."""

    content_type: str
    extension: str
    file: BinaryIO
    size: int
    removed: list[str] = field(default_factory=list)

    def __enter__(self) -> CleanedFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.file.close()


# The brands of HEIF files (ISO/IEC 23008-12) that hold HEVC photos, as phones write them.
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def _kind(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n") or (
            head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "office"
    return "text"


def clean(src: BinaryIO, filename: str) -> CleanedFile:
    """Check a file by its content (not its name), remove its metadata, return the copy."""
    head = src.read(16)
    src.seek(0)
    kind = _kind(head)
    # Never a plain temporary file: the copy is the reporter's evidence (see spool.py).
    out = spool.spooled()
    try:
        if kind == "image":
            return _clean_image(src, out)
        if kind == "pdf":
            return _clean_pdf(src, out)
        if kind == "office":
            return _clean_office(src, out)
        return _check_text(src, out)
    except AttachmentRefusedError:
        out.close()
        raise
    except Exception as exc:  # a damaged file of an accepted kind
        out.close()
        raise AttachmentRefusedError(
            f"“{filename}” could not be read as the kind of file it looks like. Attach "
            f"{ACCEPTED}.") from exc


def _clean_image(src: BinaryIO, out: BinaryIO) -> CleanedFile:
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    # Teaches Pillow to open HEIC/HEIF (registering again is harmless); it reads them
    # with their EXIF, which goes like any other image's below.
    pillow_heif.register_heif_opener()
    try:
        original = Image.open(src)
    except UnidentifiedImageError as exc:
        raise AttachmentRefusedError(
            f"This image format cannot be read here. Attach {ACCEPTED}.") from exc
    fmt = original.format
    removed = []
    if original.getexif():
        removed.append("camera and location data (EXIF, including GPS)")
    if any(key in original.info for key in ("xmp", "XML:com.adobe.xmp", "photoshop", "iptc")):
        removed.append("XMP and IPTC data")
    upright = ImageOps.exif_transpose(original)  # turn it the way the camera meant first
    # A new image from the pixels alone: nothing of the original's info travels with it.
    pixels = Image.new(upright.mode, upright.size)
    pixels.paste(upright)
    if fmt == "PNG":
        pixels.save(out, format="PNG", optimize=False)
        content_type, extension = "image/png", ".png"
    elif fmt == "WEBP":
        pixels.save(out, format="WEBP", quality=90)
        content_type, extension = "image/webp", ".webp"
    else:  # JPEG, and HEIC/HEIF (which few can open): kept as JPEG
        if pixels.mode not in ("RGB", "L"):
            pixels = pixels.convert("RGB")
        pixels.save(out, format="JPEG", quality=90)
        content_type, extension = "image/jpeg", ".jpg"
    return _done(out, content_type, extension, removed)


def _clean_pdf(src: BinaryIO, out: BinaryIO) -> CleanedFile:
    removed = []
    with pikepdf.open(src) as pdf:
        if "/Info" in pdf.trailer:
            if len(pdf.trailer.Info.keys()):
                removed.append("document properties (author, creator, dates)")
            del pdf.trailer.Info
        if "/Metadata" in pdf.Root:
            removed.append("XMP metadata")
            del pdf.Root.Metadata
        for page in pdf.pages:
            if "/Metadata" in page.obj:
                del page.obj.Metadata
        pdf.save(out, deterministic_id=True)
    return _done(out, "application/pdf", ".pdf", removed)


def _clean_office(src: BinaryIO, out: BinaryIO) -> CleanedFile:
    removed: set[str] = set()
    with zipfile.ZipFile(src) as archive:
        members = archive.infolist()
        names = {m.filename for m in members}
        if "[Content_Types].xml" not in names:
            raise AttachmentRefusedError(f"This zip file is not an Office document. Attach "
                                         f"{ACCEPTED}.")
        if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > \
                MAX_UNPACKED_BYTES:
            raise AttachmentRefusedError("This Office file unpacks to far too much data.")
        if any(n.startswith("word/") for n in names):
            content_type, extension = DOCX, ".docx"
        elif any(n.startswith("xl/") for n in names):
            content_type, extension = XLSX, ".xlsx"
        elif any(n.startswith("ppt/") for n in names):
            content_type, extension = PPTX, ".pptx"
        else:
            raise AttachmentRefusedError(f"This Office file type is not accepted. Attach "
                                         f"{ACCEPTED}.")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as cleaned:
            for member in members:
                data = archive.read(member)
                name = member.filename
                if name == "docProps/core.xml":
                    data, _ = _EMPTY_CORE, removed.add("document properties (author, dates)")
                elif name == "docProps/app.xml":
                    data, _ = _EMPTY_APP, removed.add("application properties (company)")
                elif name == "docProps/custom.xml":
                    data, _ = _EMPTY_CUSTOM, removed.add("custom properties")
                else:
                    reset = _reset_authors(name, data)
                    if reset != data:
                        removed.add("names of comment and change authors")
                    data = reset
                # A fixed date in the zip entries too: their times say when it was edited.
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                cleaned.writestr(info, data)
    return _done(out, content_type, extension, sorted(removed))


def _check_text(src: BinaryIO, out: BinaryIO) -> CleanedFile:
    decoder = io.TextIOWrapper(src, encoding="utf-8", errors="strict", newline="")
    try:
        while chunk := decoder.read(64 * 1024):
            if "\x00" in chunk:
                raise AttachmentRefusedError(
                    f"This kind of file is not accepted. Attach {ACCEPTED}.")
    except UnicodeDecodeError as exc:
        raise AttachmentRefusedError(
            f"This kind of file is not accepted (or the text is not UTF-8). Attach "
            f"{ACCEPTED}.") from exc
    finally:
        decoder.detach()
    src.seek(0)
    shutil.copyfileobj(src, out, 64 * 1024)
    return _done(out, "text/plain; charset=utf-8", ".txt", [])


def _done(out: BinaryIO, content_type: str, extension: str,
          removed: list[str]) -> CleanedFile:
    size = out.tell()
    out.seek(0)
    return CleanedFile(content_type, extension, out, size, removed)
