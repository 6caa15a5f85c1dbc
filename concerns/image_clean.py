"""Pictures re-encoded from their pixels alone: whatever the original carried beside them
(EXIF with GPS and camera, XMP, IPTC, ICC profiles naming a device, text chunks) is
never copied, because nothing but the pixels is read into the new picture.

Used for uploaded photos and for every picture found inside a PDF or an Office file
(concerns/pdf_clean.py, concerns/office_clean.py). Runs in the cleaning process
(concerns/cleaner.py), never in the web worker.

The pixel ceiling is checked from the header, before any pixel is decoded: a picture of
a few hundred kilobytes can declare 80 megapixels (a decompression bomb), and Pillow's
own guard only raises at twice `Image.MAX_IMAGE_PIXELS`.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from concerns.cleaning_words import TOO_MANY_PIXELS, counted
from concerns.errors import N_

# 50 megapixels: an 8000 × 6000 photo (a 48-megapixel phone's) fits; decoded as RGB it
# is 150 MB, held at most twice while it is turned upright and copied.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
pillow_heif.register_heif_opener()

SAVE_AS = {"JPEG": "JPEG", "MPO": "JPEG", "HEIF": "JPEG", "PNG": "PNG", "WEBP": "WEBP",
           "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF", "JPEG2000": "JPEG"}


class ImageRefusedError(ValueError):
    """The picture cannot be read or is over the pixel ceiling.

    Its message is a catalogue phrase (concerns/cleaning_words.py), never Pillow's own
    English, so the reporter's page can say it in their language.
    """


NOT_A_PICTURE = N_("it is not a picture that can be read")
DAMAGED = N_("the picture is damaged and cannot be read")
FORMAT_NOT_ACCEPTED = N_("pictures in this format are not accepted")


@dataclass
class CleanImage:
    data: bytes
    format: str  # Pillow's name of the format written: JPEG, PNG, WEBP, GIF, BMP, TIFF
    mode: str
    size: tuple[int, int]
    had_exif: bool
    had_xmp: bool


def open_checked(data: bytes) -> Image.Image:
    """Open a picture's header and refuse it before decoding if it has too many pixels."""
    try:
        with warnings.catch_warnings():
            # Pillow warns from 1× its limit; the check below refuses there instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageRefusedError(counted(TOO_MANY_PIXELS, MAX_IMAGE_PIXELS // 1_000_000)) from exc
    except UnidentifiedImageError as exc:
        raise ImageRefusedError(NOT_A_PICTURE) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # a header Pillow cannot finish
        raise ImageRefusedError(DAMAGED) from exc
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageRefusedError(counted(TOO_MANY_PIXELS, MAX_IMAGE_PIXELS // 1_000_000))
    return image


def pixels_only(image: Image.Image, *, turn_upright: bool = True) -> Image.Image:
    """A new image holding only the pixels of `image` (turned as the camera meant)."""
    image.load()
    upright = ImageOps.exif_transpose(image) if turn_upright else image
    if upright is not image:
        image.close()
    mode = upright.mode
    if mode == "P":
        # A palette travels with the pixels (it is what they mean), transparency too.
        upright = upright.convert("RGBA" if "transparency" in upright.info else "RGB")
        mode = upright.mode
    fresh = Image.new(mode, upright.size)
    fresh.paste(upright)
    upright.close()
    return fresh


def clean_image(data: bytes, *, keep_format: str | None = None) -> CleanImage:
    """Re-encode a picture from its pixels; `keep_format` forces the format written."""
    image = open_checked(data)
    fmt = keep_format or SAVE_AS.get(image.format or "", "")
    if not fmt:
        raise ImageRefusedError(FORMAT_NOT_ACCEPTED)
    try:
        # Reading the EXIF block can already meet a damaged file.
        had_exif = bool(image.getexif())
        had_xmp = any(key in image.info for key in ("xmp", "XML:com.adobe.xmp", "photoshop",
                                                     "iptc"))
        pixels = pixels_only(image)
    except (OSError, ValueError, SyntaxError) as exc:  # a damaged picture
        raise ImageRefusedError(DAMAGED) from exc
    out = io.BytesIO()
    if fmt == "JPEG":
        if pixels.mode not in ("RGB", "L"):
            pixels = pixels.convert("RGB")
        pixels.save(out, format="JPEG", quality=90)
    elif fmt == "WEBP":
        pixels.save(out, format="WEBP", quality=90)
    elif fmt == "GIF" or fmt == "BMP":
        if pixels.mode not in ("RGB", "L", "P", "1"):
            pixels = pixels.convert("RGB")
        pixels.save(out, format=fmt)
    else:
        pixels.save(out, format=fmt)
    return CleanImage(out.getvalue(), fmt, pixels.mode, pixels.size, had_exif, had_xmp)
