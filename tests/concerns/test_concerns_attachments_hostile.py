"""Hostile files (issue 18): nothing identifying survives in any part of any file, bombs
are refused by the cleaning process, and the pages say exactly what was done.

Every file is built by code in tests/concerns/hostile_files.py. Each test asserts on
the bytes that come back, unpacked the way an attacker would (`everything_in`).
"""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import zipfile

import pikepdf
import pytest
from concern_fixtures import *  # noqa: F403 - pytest fixtures
from concern_helpers import hidden_fields, submit
from hostile_files import (
    EMAIL,
    MAKE,
    NAME,
    ORIGINAL_ID,
    PATH,
    SECRETS,
    docx_bomb,
    docx_with_people,
    everything_in,
    exif_free,
    pdf_bomb,
    pdf_with_hidden_people,
    pdf_with_photo,
    photo,
    png_bomb,
    presentation_with_people,
    workbook_with_people,
)
from lxml import etree
from PIL import Image
from sqlalchemy import func, select

from concerns import attachments, cleaning, office_clean, pdf_clean
from concerns.models import Concern, ConcernAttachmentChunk
from speakup.web import services as app_services


def _clean(data: bytes, name: str = "file") -> tuple[bytes, attachments.CleanedFile]:
    with attachments.clean(io.BytesIO(data), name) as cleaned:
        return cleaned.file.read(), cleaned


def _no_secrets(data: bytes) -> None:
    seen = everything_in(data)
    for secret in SECRETS + (PATH.encode(), b"Users/jreporter"):
        assert secret not in seen, secret


# ----------------------------------------------------------- finding 1: photos inside


def test_the_builders_really_hide_what_the_tests_look_for():
    # The corpus's own check: the secrets are there before cleaning.
    for data in (pdf_with_photo(), pdf_with_hidden_people(), docx_with_people(),
                 workbook_with_people(), presentation_with_people()):
        assert any(secret in everything_in(data) for secret in SECRETS)
    assert not exif_free(photo())


def test_a_photo_inside_a_pdf_loses_gps_camera_and_xmp():
    data, cleaned = _clean(pdf_with_photo())
    _no_secrets(data)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        images = [obj for obj in pdf.objects if isinstance(obj, pikepdf.Stream)
                  and obj.get("/Subtype") == "/Image"]
        assert len(images) == 1 and "/Metadata" not in images[0]
        jpeg = images[0].read_raw_bytes()
        assert exif_free(jpeg) and b"Exif" not in jpeg
        assert Image.open(io.BytesIO(jpeg)).size == (40, 20)  # the picture itself stays
        assert b"/Im0 Do" in pdf.pages[0].Contents.read_bytes()
    assert cleaned.removed == ["rebuilt from its 1 page", "1 image re-encoded from its pixels",
                               "XMP metadata removed",
                               "camera and location data inside images removed",
                               "original document ID replaced"]


def test_pictures_and_the_thumbnail_inside_a_docx_lose_their_exif():
    data, cleaned = _clean(docx_with_people())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in ("word/media/image1.jpeg", "docProps/thumbnail.jpeg"):
            assert exif_free(z.read(name)) and b"Exif" not in z.read(name)
    assert "2 pictures re-encoded from their pixels" in cleaned.removed


# ----------------------------------------------------- finding 2: names one level down


def test_pdf_annotation_authors_attachments_scripts_and_id_are_gone():
    original = pdf_with_hidden_people()
    assert ORIGINAL_ID.hex().encode() in original
    data, cleaned = _clean(original)
    _no_secrets(data)
    assert ORIGINAL_ID.hex().encode() not in data.lower()
    seen = everything_in(data)
    for word in (b"/JavaScript", b"/JS", b"/OpenAction", b"/EmbeddedFile", b"/Names",
                 b"/Outlines", b"/FileAttachment", b"minutes"):
        assert word not in seen, word
    with pikepdf.open(io.BytesIO(data)) as pdf:
        (note,) = pdf.pages[0].Annots  # the highlight stays, without who or when
        assert note.Subtype == "/Highlight" and str(note.Contents) == "this is the sentence"
        assert "/T" not in note and "/M" not in note and "/NM" not in note
        assert b"It happened on Monday." in pdf.pages[0].Contents.read_bytes()
    assert cleaned.removed == [
        "rebuilt from its 1 page", "comments' author names and dates removed",
        "embedded files removed", "scripts and actions removed", "links removed",
        "bookmarks removed", "original document ID replaced"]


def test_two_cleanings_give_different_random_ids():
    first, _ = _clean(pdf_with_photo())
    second, _ = _clean(pdf_with_photo())
    ids = []
    for data in (first, second):
        with pikepdf.open(io.BytesIO(data)) as pdf:
            ids.append(bytes(pdf.trailer.ID[0]))
    assert ids[0] != ids[1] and b"\x31\x41\x59\x26" not in ids[0]


def test_docx_people_template_path_embedded_workbook_macros_are_gone():
    data, cleaned = _clean(docx_with_people())
    _no_secrets(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        assert "word/people.xml" not in names and "word/vbaProject.bin" not in names
        assert not any(n.lower().startswith("customxml") for n in names)
        document = z.read("word/document.xml")
        assert b"It happened on Monday." in document and b'w:name="keep_me"' in document
        assert b"rsid" not in document and b"03:15" not in everything_in(data)
        assert b"attachedTemplate" not in z.read("word/settings.xml")
        rels = z.read("word/_rels/document.xml.rels")
        assert b"https://example.org/policy" in rels  # a web link is content: kept
        assert b"people.xml" not in rels and b"vbaProject" not in rels
        # The embedded workbook is cleaned by the same rules, and still opens.
        inner = z.read("word/embeddings/Microsoft_Excel_Worksheet.xlsx")
        with zipfile.ZipFile(io.BytesIO(inner)) as workbook:
            assert b"Night shift rota" in workbook.read("xl/worksheets/sheet1.xml")
        for name in names - {"docProps/thumbnail.jpeg", "word/media/image1.jpeg"} - {
                n for n in names if n.endswith(".xlsx")}:
            etree.fromstring(z.read(name))  # every XML part is well-formed
    assert cleaned.removed == [
        "rebuilt from the parts a reader needs", "2 pictures re-encoded from their pixels",
        "document properties (author, company, dates) removed", "custom properties removed",
        "camera and location data inside pictures removed",
        "comments' and changes' author names, accounts and dates removed",
        "the list of people who edited it removed", "file paths and template links removed",
        "embedded Office files cleaned by the same rules", "macros removed",
        "links to other files removed"]


def test_xlsx_abspath_refreshedby_person_accounts_and_comment_authors_are_gone():
    data, cleaned = _clean(workbook_with_people())
    _no_secrets(data)
    assert cleaned.content_type == attachments.XLSX
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"absPath" not in z.read("xl/workbook.xml")
        assert b"<author>Author</author>" in z.read("xl/comments1.xml")
        assert b"refreshedBy" not in z.read("xl/pivotCache/pivotCacheDefinition1.xml")
        assert b'displayName="Author"' in z.read("xl/persons/person.xml")


def test_a_real_spreadsheet_still_opens_after_cleaning():
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.properties.creator = NAME
    book.active["A1"] = "Night shift rota"
    book.active["A1"].comment = openpyxl.comments.Comment("said on Monday", NAME)
    out = io.BytesIO()
    book.save(out)
    data, _ = _clean(out.getvalue())
    _no_secrets(data)
    reopened = openpyxl.load_workbook(io.BytesIO(data))
    assert reopened.active["A1"].value == "Night shift rota"
    assert reopened.active["A1"].comment.text.startswith("said on Monday")


def test_pptx_authors_and_comment_authors_are_gone():
    data, cleaned = _clean(presentation_with_people())
    _no_secrets(data)
    assert cleaned.content_type == attachments.PPTX
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b'name="Author"' in z.read("ppt/authors.xml")
        assert b'name="Author"' in z.read("ppt/commentAuthors.xml")


def test_part_names_are_matched_whatever_their_case():
    data, cleaned = _clean(docx_with_people(core_name="docProps/Core.xml"))
    _no_secrets(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"creator" not in z.read("docProps/Core.xml")


def test_two_parts_named_alike_but_for_case_are_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
        z.writestr("word/Document.xml", f"<w:document>{NAME}</w:document>")
    with pytest.raises(attachments.AttachmentRefusedError,
                       match="could not be cleaned, so it was not stored"):
        _clean(out.getvalue(), "report.docx")


TYPES = ('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
         '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
         'officedocument.wordprocessingml.document.main+xml"/></Types>')


def test_an_office_file_without_a_document_part_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/unknown.xml", f"<x>{NAME}</x>")
    with pytest.raises(attachments.AttachmentRefusedError, match="no document in it"):
        _clean(out.getvalue(), "empty.docx")


def test_an_xml_part_with_a_dtd_is_refused():
    laughs = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">'
              '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><w:document>&b;</w:document>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", TYPES)
        z.writestr("word/document.xml", laughs)
    with pytest.raises(attachments.AttachmentRefusedError, match="declares a DTD"):
        _clean(out.getvalue(), "laughs.docx")


def test_a_pdf_that_cannot_be_read_is_refused_not_stored_as_it_is():
    broken = pdf_with_photo()[:200] + b"garbage" * 10
    with pytest.raises(attachments.AttachmentRefusedError,
                       match="could not be cleaned, so it was not stored"):
        _clean(broken, "scan.pdf")


# ------------------------------------------------------------ finding 3: bombs


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize(("build", "reason"), [
    (png_bomb, "megapixels"),
    (docx_bomb, "unpacks to far too much data"),
    (pdf_bomb, "unpacks to far too much data"),
])
def test_bombs_are_refused_by_the_cleaning_process_not_this_one(build, reason):
    bomb = build()
    assert len(bomb) < 2_000_000
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(attachments.AttachmentRefusedError, match=reason):
        _clean(bomb, "bomb")
    # This process only piped the file: its peak memory did not move by 100 MB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - own_peak < 100_000


def test_the_pdf_bomb_would_really_unpack_past_the_ceiling():
    with pikepdf.open(io.BytesIO(pdf_bomb(128 * 1024 * 1024))) as pdf:
        stream = pdf.pages[0].obj.Contents
        assert len(stream.read_raw_bytes()) < 20_000
        once = pdf_clean._inflate(stream.read_raw_bytes())
        with pytest.raises(pdf_clean.PdfRefusedError):
            pdf_clean._inflate(once)


def test_a_cleaning_over_its_wall_time_is_killed_and_refused():
    with pytest.raises(cleaning.CleaningFailedError, match="took longer than 0 seconds"):
        cleaning.clean("pdf", io.BytesIO(pdf_with_photo()), io.BytesIO(), max_input=10**7,
                       wall_seconds=0.01)


def test_the_cleaning_process_cannot_write_a_file_or_open_a_socket(tmp_path):
    # What the cleaning process is under once it has limited itself: a write to any
    # file ends it (SIGXFSZ, RLIMIT_FSIZE 0), so no plain copy can reach the disk; a
    # socket is refused.
    target = tmp_path / "plain"
    probe = (
        "import os, socket\n"
        "from concerns import cleaner\n"
        "cleaner._limit_self()\n"
        "try:\n"
        "    socket.socket()\n"
        "    print('socket', flush=True)\n"
        "except OSError:\n"
        "    print('no network', flush=True)\n"
        f"fd = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)\n"
        "os.write(fd, b'the reporter file')\n"
        "print('wrote', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=False, cwd=os.getcwd())
    assert done.stdout.split() == ["no", "network"], done.stderr
    assert done.returncode == -signal.SIGXFSZ
    assert target.stat().st_size == 0


def test_a_full_office_ceiling_is_a_clear_refusal():
    assert office_clean.MAX_PART_BYTES < 1024 * 1024 * 1024  # the bomb is over it


# ----------------------------------------------------------------- the pages' words


def test_the_receipt_and_the_handler_page_say_what_was_done_to_each_file(
        client, session, clock, concern_config, recovery_key, make_handler, login_as):
    make_handler()
    page = client.get("/concerns/new").get_data(as_text=True)
    response = client.post("/concerns/new", content_type="multipart/form-data", data={
        "csrf_token": hidden_fields(page)["csrf_token"], "category": "1",
        "what_happened": "The scan and the notes.", "what_wanted": "",
        "attachments": [(io.BytesIO(pdf_with_photo()), f"{NAME} scan.pdf"),
                        (io.BytesIO(docx_with_people()), "notes.docx"),
                        (io.BytesIO(b"plain notes\n"), "notes.txt")]})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert ("attachment-1.pdf: rebuilt from its 1 page; 1 image re-encoded from its pixels; "
            "XMP metadata removed; camera and location data inside images removed; original "
            "document ID replaced.") in html
    assert ("attachment-2.docx: rebuilt from the parts a reader needs; 2 pictures re-encoded "
            "from their pixels; document properties (author, company, dates) removed;") in html
    assert ("attachment-3.txt: plain text, kept as it is (a text file has no hidden "
            "properties).") in html
    assert "no hidden details found" not in html
    handler = login_as("handler")
    concern_id = session.scalar(select(Concern.id))
    from concerns import services
    services.recover_access(session, clock, concern_config, recovery_key, handler.user.email,
                            actor="test")
    session.commit()
    page = client.get(f"/handle/{concern_id}").get_data(as_text=True)
    assert ("rebuilt from its 1 page; 1 image re-encoded from its pixels; XMP metadata "
            "removed; camera and location data inside images removed; original document ID "
            "replaced)") in page
    for number in (1, 2):
        _no_secrets(client.get(f"/handle/{concern_id}/files/1/{number}").get_data())


def test_a_file_that_cannot_be_cleaned_is_refused_with_the_text_kept(client, session,
                                                                    recovery_key,
                                                                    make_handler):
    make_handler()
    page = client.get("/concerns/new").get_data(as_text=True)
    response = client.post("/concerns/new", content_type="multipart/form-data", data={
        "csrf_token": hidden_fields(page)["csrf_token"], "category": "1",
        "what_happened": "Please keep these words.", "what_wanted": "",
        "attachments": [(io.BytesIO(png_bomb()), "photo.png")]})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "could not be cleaned, so it was not stored" in html
    assert "Please keep these words." in html
    assert session.scalar(select(func.count()).select_from(Concern)) == 0
    assert session.scalar(select(func.count()).select_from(ConcernAttachmentChunk)) == 0


def test_a_full_rate_limit_turns_files_away_before_any_cleaning(client, app, session,
                                                                recovery_key, monkeypatch):
    svc = app_services(app)
    svc.extras["concerns"] = svc.extras["concerns"].with_changes(concerns_per_minute=1)
    assert submit(client, text="first").status_code == 200
    started = []
    monkeypatch.setattr(cleaning, "clean", lambda *a, **k: started.append(a))
    page = client.get("/concerns/new").get_data(as_text=True)
    response = client.post("/concerns/new", content_type="multipart/form-data", data={
        "csrf_token": hidden_fields(page)["csrf_token"], "category": "1",
        "what_happened": "Second, with a bomb.", "what_wanted": "",
        "attachments": [(io.BytesIO(pdf_bomb(64 * 1024 * 1024)), "scan.pdf")]})
    assert response.status_code == 429
    assert "Second, with a bomb." in response.get_data(as_text=True)
    assert started == []  # no cleaning process was started
    assert session.scalar(select(func.count()).select_from(Concern)) == 1


def test_an_email_or_path_in_a_hyperlink_to_a_file_is_dropped():
    data, _ = _clean(docx_with_people())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"file:///" not in z.read("word/_rels/document.xml.rels")
    assert EMAIL.encode() not in everything_in(data)


# ------------------------------------------------------- the limits the README states


def test_the_cleaning_process_limits_its_memory_cpu_and_processes():
    # RLIMIT_NPROC is set here; the kernel applies it only to a user other than root.
    probe = ("import resource\nfrom concerns import cleaner\ncleaner._limit_self()\n"
             "print(resource.getrlimit(resource.RLIMIT_AS)[0], "
             "resource.getrlimit(resource.RLIMIT_CPU)[0], "
             "resource.getrlimit(resource.RLIMIT_NPROC)[0])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=os.getcwd())
    assert done.stdout.split() == [str(1024 ** 3), "30", "0"]


def test_a_picture_just_over_50_megapixels_is_refused_from_its_header():
    from concerns import image_clean

    out = io.BytesIO()
    Image.new("1", (7072, 7072)).save(out, format="PNG")  # 50.01 megapixels
    # Pillow alone would decode it (its own guard is at twice its limit).
    pixels = 7072 * 7072
    assert image_clean.MAX_IMAGE_PIXELS < pixels < 2 * image_clean.MAX_IMAGE_PIXELS
    with pytest.raises(image_clean.ImageRefusedError, match="50 megapixels"):
        image_clean.open_checked(out.getvalue())


def test_at_most_two_cleanings_run_at_once_in_a_worker():
    assert cleaning.CONCURRENT == 2
    for _ in range(cleaning.CONCURRENT):
        assert cleaning._slots.acquire(timeout=1)
    try:
        with pytest.raises(cleaning.CleaningFailedError, match="too many files"):
            cleaning.clean("pdf", io.BytesIO(pdf_with_photo()), io.BytesIO(),
                           max_input=10**7, wall_seconds=0.2)
    finally:
        for _ in range(cleaning.CONCURRENT):
            cleaning._slots.release()


def test_no_more_than_the_output_ceiling_is_read_back(monkeypatch):
    monkeypatch.setattr(cleaning, "MAX_OUTPUT_BYTES", 100)
    with pytest.raises(cleaning.CleaningFailedError, match="far too large"):
        cleaning.clean("pdf", io.BytesIO(pdf_with_photo()), io.BytesIO(), max_input=10**7)


def test_comments_in_an_office_part_are_dropped_with_the_part_rewritten():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", TYPES)
        z.writestr("word/document.xml", f'<w:document xmlns:w="urn:w"><!-- typed by {NAME} -->'
                   "<w:body>Text</w:body></w:document>")
    data, _ = _clean(out.getvalue(), "commented.docx")
    _no_secrets(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"<w:body>Text</w:body>" in z.read("word/document.xml")


def test_a_pdf_drawing_an_inline_jpeg_is_refused_and_raw_inline_pixels_are_kept():
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(100, 100))
    page.obj.Contents = pdf.make_stream(b"q 40 0 0 20 0 0 cm BI /W 40 /H 20 /CS /RGB /BPC 8 "
                                        b"/F /DCT ID " + photo() + b" EI Q")
    out = io.BytesIO()
    pdf.save(out)
    with pytest.raises(attachments.AttachmentRefusedError, match="an inline JPEG"):
        _clean(out.getvalue(), "inline.pdf")
    raw = pikepdf.new()
    page = raw.add_blank_page(page_size=(100, 100))
    page.obj.Contents = raw.make_stream(b"q 2 0 0 2 0 0 cm BI /W 2 /H 2 /CS /G /BPC 8 ID "
                                        b"\x00\xff\xff\x00 EI Q")
    out = io.BytesIO()
    raw.save(out)
    data, _ = _clean(out.getvalue(), "raw.pdf")
    with pikepdf.open(io.BytesIO(data)) as cleaned:
        assert b"BI" in cleaned.pages[0].Contents.read_bytes()


def test_references_to_parts_left_out_are_removed_with_them():
    # A sheet pointing at printer settings (a binary part naming the printer) and an
    # OLE object: both parts are left out, and nothing in the sheet points at them.
    from hostile_files import OXML, REL, _rels, _types, _zip

    sheet = OXML + "spreadsheetml."
    r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    data, cleaned = _clean(_zip({
        "[Content_Types].xml": _types({
            "xl/workbook.xml": sheet + "sheet.main+xml",
            "xl/worksheets/sheet1.xml": sheet + "worksheet+xml",
            "xl/printerSettings/printerSettings1.bin": sheet + "printerSettings",
            "xl/embeddings/oleObject1.bin": OXML + "oleObject"}),
        "_rels/.rels": _rels((REL + "officeDocument", "xl/workbook.xml", "")),
        "xl/workbook.xml": f'<workbook xmlns:r="{r}"><sheets><sheet name="A" sheetId="1" '
                           'r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": _rels((REL + "worksheet", "worksheets/sheet1.xml", "")),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns:r="{r}"><pageSetup orientation="portrait"'
                                    ' r:id="rId1"/><oleObjects><oleObject progId="Word" '
                                    'r:id="rId2"/></oleObjects></worksheet>',
        "xl/worksheets/_rels/sheet1.xml.rels": _rels(
            (REL + "printerSettings", "../printerSettings/printerSettings1.bin", ""),
            (REL + "oleObject", "../embeddings/oleObject1.bin", "")),
        "xl/printerSettings/printerSettings1.bin": f"\\\\PRINTSRV\\{NAME}'s printer".encode(),
        "xl/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0" + EMAIL.encode(),
    }), "book.xlsx")
    _no_secrets(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert not any(n.endswith(".bin") for n in z.namelist())
        worksheet = z.read("xl/worksheets/sheet1.xml")
        assert b'orientation="portrait"' in worksheet and b"r:id" not in worksheet
        assert b"oleObject " not in worksheet
    assert "embedded objects removed" in cleaned.removed


@pytest.mark.parametrize("part", [
    '<w:document xmlns:w="urn:w"><w:p w:rsidRDefault="00A1"/></w:document>',
    '<w:document xmlns:w="urn:w"><w:ins w:author = "x"/></w:document>',
    '<workbook xmlns:x15ac="urn:x"><x15ac:absPath url="C:\\\\"/></workbook>',
    '<workbook><absPath\nurl="C:\\\\"/></workbook>',
    '<comments><authors><author>x</author></authors></comments>',
    '<?xml version="1.0"?><a><?mso-application progid="Word"?></a>',
    "<a><!-- x --></a>",
])
def test_a_part_with_anything_to_scrub_is_never_taken_as_clean(part):
    assert not office_clean._nothing_to_scrub(part.encode(), "x")


def test_a_part_with_nothing_to_scrub_is_kept_byte_for_byte():
    sheet = b'<?xml version="1.0"?><worksheet><cols><col width="9"/></cols><c r="A1" t="s">' \
            b"<v>1</v></c><c><v>date dt author</v></c></worksheet>"
    assert office_clean._nothing_to_scrub(sheet, "x")


def test_an_icc_profile_naming_a_device_becomes_a_plain_colour_space():
    pdf = pikepdf.new()
    profile = pikepdf.Stream(pdf, b"\0" * 128 + f"desc {MAKE} of {NAME}".encode())
    profile.N = 3
    image = pikepdf.Stream(pdf, bytes(4 * 4 * 3))
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width = image.Height = 4
    image.BitsPerComponent = 8
    image.ColorSpace = pikepdf.Array([pikepdf.Name.ICCBased, pdf.make_indirect(profile)])
    page = pdf.add_blank_page(page_size=(100, 100))
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.obj.Contents = pdf.make_stream(b"q 4 0 0 4 0 0 cm /Im0 Do Q")
    out = io.BytesIO()
    pdf.save(out)
    data, cleaned = _clean(out.getvalue(), "profile.pdf")
    _no_secrets(data)
    with pikepdf.open(io.BytesIO(data)) as result:
        assert result.pages[0].Resources.XObject.Im0.ColorSpace == "/DeviceRGB"
    assert "colour profiles replaced by plain colour spaces" in cleaned.removed
