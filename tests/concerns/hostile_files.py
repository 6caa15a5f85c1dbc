"""Hostile files, built by code (never downloaded), for the attachment tests (issue 18).

Each builder hides identifying details one level down — in a photo inside a document,
in a part the old cleaning copied unchanged, in a differently cased part name — or is a
decompression bomb of a few kilobytes. `everything_in` unpacks a cleaned file the way an
attacker would (every PDF stream decoded, every zip part, zips inside zips) so a test
can search all of it.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
import zlib

import pikepdf
from PIL import Image

NAME = "Jane Reporter"
EMAIL = "jane.reporter@example.org"
PATH = r"C:\Users\jreporter\Documents"
MAKE = "PhoneMaker"
SECRETS = (NAME.encode(), EMAIL.encode(), b"jreporter", MAKE.encode(),
           NAME.encode("utf-16-le"), b"app.alert")

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
OXML = "application/vnd.openxmlformats-officedocument."
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


def photo(size: tuple[int, int] = (40, 20)) -> bytes:
    """A JPEG whose EXIF holds GPS, the camera make and the artist, and XMP a creator."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = MAKE
    exif[0x013B] = NAME  # artist
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 12.5)
    gps[3], gps[4] = "W", (0.0, 7.0, 39.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif,
               xmp=f'<x:xmpmeta><dc:creator>{NAME}</dc:creator></x:xmpmeta>'.encode())
    return out.getvalue()


def _save(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def pdf_with_photo() -> bytes:
    """A PDF whose one page draws a JPEG that carries GPS, make, artist and XMP."""
    pdf = pikepdf.new()
    jpeg = pikepdf.Stream(pdf, photo())
    jpeg.Type, jpeg.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    jpeg.Width, jpeg.Height, jpeg.BitsPerComponent = 40, 20, 8
    jpeg.ColorSpace, jpeg.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
    meta = pikepdf.Stream(pdf, f"<x:xmpmeta>{NAME}</x:xmpmeta>".encode())
    jpeg.Metadata = pdf.make_indirect(meta)
    page = pdf.add_blank_page(page_size=(200, 100))
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=jpeg))
    page.obj.Contents = pdf.make_stream(b"q 40 0 0 20 10 10 cm /Im0 Do Q")
    return _save(pdf)


ORIGINAL_ID = b"0123456789abcdef"


def pdf_with_hidden_people() -> bytes:
    """Annotation authors, an attached file with a Windows path, scripts, an ID."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(200, 100))
    page.obj.Contents = pdf.make_stream(b"BT /F1 12 Tf 10 50 Td (It happened on Monday.) Tj ET")
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)))
    attached = pikepdf.Stream(pdf, f"minutes written by {NAME}".encode())
    attached.Type = pikepdf.Name.EmbeddedFile
    spec = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Filespec, F=PATH + r"\minutes.txt", UF=PATH + r"\minutes.txt",
        EF=pikepdf.Dictionary(F=attached)))
    note = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Highlight, Rect=[10, 45, 120, 65],
        QuadPoints=[10, 65, 120, 65, 10, 45, 120, 45], Contents="this is the sentence",
        T=NAME, M="D:20261207031500Z", NM="jreporter-1")
    clip = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.FileAttachment,
                              Rect=[150, 10, 170, 30], FS=spec, T=NAME)
    link = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link,
                              Rect=[0, 0, 10, 10], A=pikepdf.Dictionary(
                                  S=pikepdf.Name.JavaScript, JS="app.alert('" + EMAIL + "')"))
    page.obj.Annots = pdf.make_indirect(pikepdf.Array([
        pdf.make_indirect(note), pdf.make_indirect(clip), pdf.make_indirect(link)]))
    script = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript,
                                                  JS="app.alert('" + NAME + "')"))
    pdf.Root.OpenAction = script
    pdf.Root.Names = pikepdf.Dictionary(
        JavaScript=pikepdf.Dictionary(Names=["hello", script]),
        EmbeddedFiles=pikepdf.Dictionary(Names=["minutes.txt", spec]))
    pdf.Root.Outlines = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Outlines))
    pdf.trailer.ID = pikepdf.Array([pikepdf.String(ORIGINAL_ID), pikepdf.String(ORIGINAL_ID)])
    out = io.BytesIO()
    pdf.save(out, static_id=False)
    data = out.getvalue()
    return data


def _zeros_deflated(size: int) -> bytes:
    packer = zlib.compressobj(9)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + packer.flush()


def pdf_bomb(unpacked: int = 1024 * 1024 * 1024) -> bytes:
    """A few kilobytes of PDF: a content stream compressed twice over a gigabyte of zeros."""
    pdf = pikepdf.new()
    page = pdf.add_blank_page()
    twice = zlib.compress(_zeros_deflated(unpacked), 9)
    stream = pikepdf.Stream(pdf, twice)
    stream.Filter = pikepdf.Array([pikepdf.Name.FlateDecode, pikepdf.Name.FlateDecode])
    page.obj.Contents = pdf.make_indirect(stream)
    out = io.BytesIO()
    pdf.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.none, compress_streams=False)
    return out.getvalue()


def png_bomb(side: int = 8900) -> bytes:
    """A PNG of a few hundred kilobytes that declares side × side pixels."""
    out = io.BytesIO()
    Image.new("L", (side, side)).save(out, format="PNG", optimize=True)
    return out.getvalue()


# ------------------------------------------------------------------- Office files


def _types(overrides: dict[str, str], defaults: dict[str, str] | None = None) -> str:
    defaults = {"rels": "application/vnd.openxmlformats-package.relationships+xml",
                "xml": "application/xml", "jpeg": "image/jpeg", **(defaults or {})}
    return (f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{CT}">' + "".join(
        f'<Default Extension="{e}" ContentType="{t}"/>' for e, t in defaults.items()) +
        "".join(f'<Override PartName="/{n}" ContentType="{t}"/>' for n, t in overrides.items())
        + "</Types>")


def _rels(*rels: tuple[str, str, str] | tuple[str, str, str, str]) -> str:
    out = []
    for n, rel in enumerate(rels, start=1):
        kind, target = rel[0], rel[1]
        mode = f' TargetMode="{rel[3]}"' if len(rel) > 3 else ""
        out.append(f'<Relationship Id="rId{n}" Type="{kind}" Target="{target}"{mode}/>')
    return f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">' + \
        "".join(out) + "</Relationships>"


def _zip(parts: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in parts.items():
            z.writestr(name, content)
    return out.getvalue()


CORE = ('<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>' + NAME +
        "</dc:creator></cp:coreProperties>")


def workbook_with_people() -> bytes:
    """An XLSX: creator, absPath, comment author, a person with an account, refreshedBy."""
    x15ac = "http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac"
    sheet = OXML + "spreadsheetml."
    return _zip({
        "[Content_Types].xml": _types({
            "xl/workbook.xml": sheet + "sheet.main+xml",
            "xl/worksheets/sheet1.xml": sheet + "worksheet+xml",
            "xl/comments1.xml": sheet + "comments+xml",
            "xl/persons/person.xml": "application/vnd.ms-excel.person+xml",
            "xl/pivotCache/pivotCacheDefinition1.xml": sheet + "pivotCacheDefinition+xml",
            "docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
        }),
        "_rels/.rels": _rels((REL + "officeDocument", "xl/workbook.xml", ""),
                             (REL.replace("officeDocument/2006", "package/2006") +
                              "metadata/core-properties", "docProps/core.xml", "")),
        "docProps/core.xml": CORE,
        "xl/workbook.xml": (
            f'<workbook xmlns="{W.replace("wordprocessingml", "spreadsheetml")}" '
            f'xmlns:r="{R}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/'
            f'2006" xmlns:x15ac="{x15ac}"><mc:AlternateContent><mc:Choice Requires="x15">'
            f'<x15ac:absPath url="{PATH}\\"/></mc:Choice></mc:AlternateContent>'
            '<sheets><sheet name="Rota" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": _rels(
            (REL + "worksheet", "worksheets/sheet1.xml", ""),
            ("http://schemas.microsoft.com/office/2017/10/relationships/person",
             "persons/person.xml", ""),
            (REL + "pivotCacheDefinition", "pivotCache/pivotCacheDefinition1.xml", "")),
        "xl/worksheets/sheet1.xml": '<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr">'
                                    "<is><t>Night shift rota</t></is></c></row></sheetData>"
                                    "</worksheet>",
        "xl/worksheets/_rels/sheet1.xml.rels": _rels((REL + "comments", "../comments1.xml", "")),
        "xl/comments1.xml": f"<comments><authors><author>{NAME}</author></authors>"
                            "<commentList/></comments>",
        "xl/persons/person.xml": f'<personList><person displayName="{NAME}" id="{{1}}" '
                                 f'userId="{EMAIL}" providerId="AD"/></personList>',
        "xl/pivotCache/pivotCacheDefinition1.xml":
            f'<pivotCacheDefinition refreshedBy="{NAME}" refreshedDate="46000.1"/>',
    })


def docx_with_people(*, core_name: str = "docProps/core.xml") -> bytes:
    """A DOCX hiding people one level down (see the issue's finding 1 and 2)."""
    word = OXML + "wordprocessingml."
    w15 = "http://schemas.microsoft.com/office/word/2012/wordml"
    return _zip({
        "[Content_Types].xml": _types({
            "word/document.xml": word + "document.main+xml",
            "word/settings.xml": word + "settings+xml",
            "word/comments.xml": word + "comments+xml",
            "word/people.xml": "application/vnd.ms-word.people+xml",
            "docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
            "word/embeddings/Microsoft_Excel_Worksheet.xlsx": OXML + "spreadsheetml.sheet",
            "word/vbaProject.bin": "application/vnd.ms-office.vbaProject",
            "customXml/item1.xml": "application/xml",
        }),
        "_rels/.rels": _rels(
            (REL + "officeDocument", "word/document.xml", ""),
            (REL.replace("officeDocument/2006", "package/2006") + "metadata/core-properties",
             core_name, ""),
            (REL.replace("officeDocument/2006", "package/2006") + "metadata/thumbnail",
             "docProps/thumbnail.jpeg", "")),
        core_name: CORE,
        "docProps/thumbnail.jpeg": photo((30, 30)),
        "word/document.xml": (
            f'<w:document xmlns:w="{W}" xmlns:r="{R}"><w:body><w:p w:rsidR="00A1B2C3">'
            f'<w:ins w:id="1" w:author="{NAME}" w:date="2026-12-07T03:15:00Z"><w:r>'
            "<w:t>It happened on Monday.</w:t></w:r></w:ins></w:p>"
            '<w:bookmarkStart w:id="0" w:name="keep_me"/></w:body></w:document>'),
        "word/_rels/document.xml.rels": _rels(
            (REL + "image", "media/image1.jpeg", ""),
            (REL + "settings", "settings.xml", ""),
            (REL + "comments", "comments.xml", ""),
            ("http://schemas.microsoft.com/office/2011/relationships/people", "people.xml", ""),
            (REL + "package", "embeddings/Microsoft_Excel_Worksheet.xlsx", ""),
            ("http://schemas.microsoft.com/office/2006/relationships/vbaProject",
             "vbaProject.bin", ""),
            (REL + "hyperlink", "https://example.org/policy", "", "External"),
            (REL + "hyperlink", "file:///" + PATH.replace("\\", "/") + "/diary.docx", "",
             "External")),
        "word/media/image1.jpeg": photo(),
        "word/settings.xml": (f'<w:settings xmlns:w="{W}" xmlns:r="{R}">'
                              '<w:attachedTemplate r:id="rId1"/><w:rsids>'
                              '<w:rsidRoot w:val="00A1B2C3"/></w:rsids></w:settings>'),
        "word/_rels/settings.xml.rels": _rels(
            (REL + "attachedTemplate", "file:///" + PATH.replace("\\", "/") +
             "/Templates/Normal.dotm", "", "External")),
        "word/comments.xml": (f'<w:comments xmlns:w="{W}"><w:comment w:id="0" w:author="{NAME}"'
                              ' w:initials="JR" w:date="2026-12-07T03:15:00Z"><w:p/></w:comment>'
                              "</w:comments>"),
        "word/people.xml": (f'<w15:people xmlns:w15="{w15}"><w15:person w15:author="{NAME}">'
                            f'<w15:presenceInfo w15:providerId="AD" w15:userId="{EMAIL}"/>'
                            "</w15:person></w15:people>"),
        "word/embeddings/Microsoft_Excel_Worksheet.xlsx": workbook_with_people(),
        "word/vbaProject.bin": b"\xd0\xcf\x11\xe0 macro by " + NAME.encode(),
        "customXml/item1.xml": f"<owner>{EMAIL}</owner>",
    })


def presentation_with_people() -> bytes:
    """A PPTX with modern and classic comment authors (names, initials, accounts)."""
    pml = OXML + "presentationml."
    return _zip({
        "[Content_Types].xml": _types({
            "ppt/presentation.xml": pml + "presentation.main+xml",
            "ppt/slides/slide1.xml": pml + "slide+xml",
            "ppt/authors.xml": "application/vnd.ms-powerpoint.authors+xml",
            "ppt/commentAuthors.xml": pml + "commentAuthors+xml",
        }),
        "_rels/.rels": _rels((REL + "officeDocument", "ppt/presentation.xml", "")),
        "ppt/presentation.xml": "<p:presentation xmlns:p='http://schemas.openxmlformats.org/"
                                "presentationml/2006/main'/>",
        "ppt/_rels/presentation.xml.rels": _rels(
            (REL + "slide", "slides/slide1.xml", ""),
            ("http://schemas.microsoft.com/office/2018/10/relationships/authors", "authors.xml",
             ""),
            (REL + "commentAuthors", "commentAuthors.xml", "")),
        "ppt/slides/slide1.xml": "<p:sld xmlns:p='http://schemas.openxmlformats.org/"
                                 "presentationml/2006/main'><p:cSld/></p:sld>",
        "ppt/authors.xml": (f'<p188:authorLst xmlns:p188="http://schemas.microsoft.com/office/'
                            f'powerpoint/2018/8/main"><p188:author id="{{1}}" name="{NAME}" '
                            f'initials="JR" userId="{EMAIL}" providerId="AD"/></p188:authorLst>'),
        "ppt/commentAuthors.xml": (f'<p:cmAuthorLst xmlns:p="http://schemas.openxmlformats.org/'
                                   f'presentationml/2006/main"><p:cmAuthor id="0" name="{NAME}" '
                                   'initials="JR" lastIdx="1" clrIdx="0"/></p:cmAuthorLst>'),
    })


def docx_bomb(unpacked: int = 190 * 1024 * 1024) -> bytes:
    """A DOCX of about 190 KB whose document part inflates to 190 MB: under the old
    ceiling on the sum of declared sizes (200 MB), so it was read whole into memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _types(
            {"word/document.xml": OXML + "wordprocessingml.document.main+xml"}))
        z.writestr("_rels/.rels", _rels((REL + "officeDocument", "word/document.xml", "")))
        with z.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(b"<w:document>")
            block = b" " * (1024 * 1024)
            for _ in range(unpacked // len(block)):
                part.write(block)
            part.write(b"</w:document>")
    return out.getvalue()


# --------------------------------------------------------------- what an attacker sees


def everything_in(data: bytes, depth: int = 0) -> bytes:
    """Every byte a reader could get at in `data`: raw, decoded streams, zip parts."""
    found = [data]
    if data.startswith(b"%PDF"):
        with pikepdf.open(io.BytesIO(data)) as pdf:
            found.append(repr(pdf.trailer).encode())
            for obj in pdf.objects:
                if isinstance(obj, pikepdf.Stream):
                    found.append(obj.read_raw_bytes())
                    with contextlib.suppress(pikepdf.PdfError):
                        found.append(obj.read_bytes(pikepdf.StreamDecodeLevel.generalized))
                found.append(repr(obj).encode())
    elif data.startswith(b"PK") and depth < 3:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                found.append(name.encode())
                found.append(everything_in(z.read(name), depth + 1))
    return b"\n".join(found)


def exif_free(jpeg: bytes) -> bool:
    image = Image.open(io.BytesIO(jpeg))
    return not image.getexif() and "exif" not in image.info and "xmp" not in image.info
