"""HEIC photos (as iPhones take them) are read and re-encoded without their metadata."""

from __future__ import annotations

import io

import pillow_heif
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from PIL import Image
from sqlalchemy import select
from test_concerns_attachments import NAME, _dump, _post_with_files

from concerns import attachments
from concerns.models import Concern


def _heic_with_gps() -> bytes:
    pillow_heif.register_heif_opener()
    image = Image.new("RGB", (40, 20), (30, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x013B] = NAME  # artist
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)
    out = io.BytesIO()
    image.save(out, format="HEIF", exif=exif.tobytes(), quality=90)
    data = out.getvalue()
    assert data[4:12] == b"ftypheic" and b"PhoneMaker" in data
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # GPS was there
    return data


def test_heic_loses_gps_and_camera_data_and_becomes_a_jpeg():
    with attachments.clean(io.BytesIO(_heic_with_gps()), "IMG_0001.HEIC") as cleaned:
        data = cleaned.file.read()
        assert cleaned.content_type == "image/jpeg" and cleaned.extension == ".jpg"
        assert any("GPS" in r for r in cleaned.removed)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (40, 20)
    assert not image.getexif() and "exif" not in image.info
    assert b"PhoneMaker" not in data and NAME.encode() not in data
    r, g, b = image.getpixel((20, 10))
    assert abs(r - 30) < 12 and abs(g - 120) < 12 and abs(b - 200) < 12  # the pixels stay


def test_a_heic_upload_is_stored_clean(client, session, recovery_key, make_handler):
    make_handler()
    response = _post_with_files(client, [("IMG_0001.HEIC", _heic_with_gps())])
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert ("attachment-1.jpg: re-encoded from its pixels alone; camera and location data "
            "(EXIF, including GPS) removed.") in html
    assert session.scalar(select(Concern.id)) is not None
    dump = _dump(session)
    assert b"PhoneMaker" not in dump and NAME.encode() not in dump


def test_a_damaged_heic_is_refused_with_what_is_accepted():
    broken = _heic_with_gps()[:60]
    with pytest.raises(attachments.AttachmentRefusedError, match="JPEG, PNG, WebP, HEIC"):
        attachments.clean(io.BytesIO(broken), "IMG_0002.HEIC")
