"""Files attached to a concern: checked by their content, cleaned, then sealed in chunks.

What is kept is only the cleaned copy, and the reporter and the handler are told, per
file, exactly what was done (`CleanedFile.removed`, a list of short statements).

- images (JPEG, PNG, WebP, and HEIC/HEIF through pillow-heif): turned upright and
  re-encoded from their pixels alone (concerns/image_clean.py);
- PDF: rebuilt from its pages by an allow-list, every image re-encoded
  (concerns/pdf_clean.py);
- Office Open XML (DOCX, XLSX, PPTX): rebuilt from the parts a reader needs by an
  allow-list, every picture re-encoded, names, accounts and paths removed
  (concerns/office_clean.py);
- plain text (UTF-8): carries no hidden properties; checked and kept as it is.

Images, PDFs and Office files are opened only in a separate, limited process
(concerns/cleaning.py, concerns/cleaner.py): a file that cannot be cleaned within its
limits is refused with a message saying so, never stored as it came. Anything else is
refused with a message saying what is accepted. What is *visible* in a file (a face, a
letterhead, a name in the text) can still identify the reporter: the page says so.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from typing import BinaryIO

from concerns import cleaning, office_clean, spool
from concerns.errors import N_, Phrase, TranslatableError

# The largest file the cleaning process accepts on its stdin (the form's own limit,
# SPEAKUP_ATTACHMENT_MAX_MB, is lower; this guards callers that skip it).
MAX_INPUT_BYTES = 64 * 1024 * 1024

DOCX, XLSX, PPTX = office_clean.DOCX, office_clean.XLSX, office_clean.PPTX
TEXT_DONE = N_("plain text, kept as it is (a text file has no hidden properties)")


class AttachmentRefusedError(TranslatableError, ValueError):
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
    """Check a file by its content (not its name), clean it, return the cleaned copy."""
    head = src.read(16)
    src.seek(0)
    kind = _kind(head)
    # Never a plain temporary file: the copy is the reporter's evidence (see spool.py).
    out = spool.spooled()
    try:
        if kind == "text":
            return _check_text(src, out)
        try:
            result = cleaning.clean(kind, src, out, max_input=MAX_INPUT_BYTES)
        except cleaning.CleaningFailedError as exc:
            raise AttachmentRefusedError(
                N_("“%(name)s” could not be cleaned, so it was not stored (%(why)s). Attach "
                   "photos (JPEG, PNG, WebP, HEIC), PDF, Word, Excel and PowerPoint files, "
                   "and plain text, or a copy saved again or printed to PDF."),
                name=filename, why=Phrase(exc)) from exc
        return _done(out, result.content_type, result.extension, result.done)
    except BaseException:
        out.close()
        raise


def _check_text(src: BinaryIO, out: BinaryIO) -> CleanedFile:
    decoder = io.TextIOWrapper(src, encoding="utf-8", errors="strict", newline="")
    try:
        while chunk := decoder.read(64 * 1024):
            if "\x00" in chunk:
                raise AttachmentRefusedError(N_(
                    "This kind of file is not accepted. Attach photos (JPEG, PNG, WebP, "
                    "HEIC), PDF, Word, Excel and PowerPoint files, and plain text."))
    except UnicodeDecodeError as exc:
        raise AttachmentRefusedError(N_(
            "This kind of file is not accepted (or the text is not UTF-8). Attach photos "
            "(JPEG, PNG, WebP, HEIC), PDF, Word, Excel and PowerPoint files, and plain "
            "text.")) from exc
    finally:
        decoder.detach()
    src.seek(0)
    shutil.copyfileobj(src, out, 64 * 1024)
    return _done(out, "text/plain; charset=utf-8", ".txt", [TEXT_DONE])


def _done(out: BinaryIO, content_type: str, extension: str,
          removed: list[str]) -> CleanedFile:
    size = out.tell()
    out.seek(0)
    return CleanedFile(content_type, extension, out, size, removed)
