"""PDFs rebuilt from their pages: a new document that holds only what draws the pages.

An allow-list, not a list of things to remove. The new document gets a catalog with
its pages and nothing else — no document information, XMP, bookmarks, named trees
(embedded files, JavaScript), forms, open actions, structure tree or page labels.
Each page keeps only its boxes, rotation, transparency group, resources and content;
every object those reach is copied afresh:

- every image is decoded and written again from its pixels (JPEG and JPEG 2000
  through concerns/image_clean.py, so EXIF, XMP and ICC data inside them go; raw
  pixel data cut to exactly width × height); black-and-white scan codecs (CCITT,
  JBIG2), which hold nothing but pixels, are copied as they are;
- every other stream (page content, fonts, forms) is decoded within a byte ceiling and
  compressed again, so nothing hides in a filter or after its end;
- ICC colour profiles (which can name a device) become the plain colour space with the
  same number of components;
- a dictionary keeps its keys except those that carry metadata or act (XMP, page-piece
  data, actions, scripts, embedded files, links to the structure tree);
- annotations are kept only if they draw on the page (notes, highlights, shapes), with
  their drawing and text but without who wrote them or when; links, form fields, file
  attachments and media are dropped.

The file ID is a fresh random value, never derived from the original or the time.

Bombs: a stream is inflated step by step with a ceiling per stream and for the whole
document, checked as the bytes come out (a doubly compressed stream of 2 KB that would
unpack to gigabytes stops at the ceiling); pictures are checked for their pixel count
before they are decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import secrets
import zlib
from dataclasses import dataclass, field

import pikepdf
from pikepdf import Name

from concerns import image_clean
from concerns.cleaning_words import IMAGES, PAGES, SCANS, counted
from concerns.errors import N_

MAX_STREAM_BYTES = 64 * 1024 * 1024  # one decoded stream
MAX_DECODED_BYTES = 400 * 1024 * 1024  # all decoded streams of one document
MAX_OBJECTS = 500_000

# Keys that are dropped wherever they sit: metadata, actions, scripts, embedded files,
# links back to the structure tree or up the page tree.
_DENIED = {
    "/Metadata", "/PieceInfo", "/LastModified", "/AA", "/A", "/JS", "/JavaScript",
    "/OpenAction", "/EF", "/EmbeddedFile", "/EmbeddedFiles", "/FS", "/URI", "/Parent",
    "/P", "/StructParent", "/StructParents", "/ID", "/Info", "/Names", "/Outlines",
    "/Threads", "/B", "/T", "/TU", "/TM", "/M", "/CreationDate", "/ModDate", "/NM",
    "/Author", "/Creator", "/Producer", "/Popup", "/IRT", "/RC", "/Subj", "/OC", "/Dests",
    "/AcroForm", "/Perms", "/Collection", "/SpiderInfo", "/URLS",
}
_PAGE_KEYS = ("/MediaBox", "/CropBox", "/BleedBox", "/TrimBox", "/ArtBox", "/Rotate",
              "/UserUnit", "/Group")
_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
_ANNOT_SUBTYPES = {"/Text", "/FreeText", "/Line", "/Square", "/Circle", "/Polygon",
                   "/PolyLine", "/Highlight", "/Underline", "/Squiggly", "/StrikeOut",
                   "/Stamp", "/Caret", "/Ink"}
_ANNOT_KEYS = {"/Type", "/Subtype", "/Rect", "/Contents", "/QuadPoints", "/C", "/IC",
               "/Border", "/BS", "/BE", "/F", "/AP", "/AS", "/InkList", "/Vertices", "/L",
               "/LE", "/DA", "/Q", "/Name", "/CA", "/RD"}
_IMAGE_KEYS = ("/Width", "/Height", "/BitsPerComponent", "/Decode", "/ImageMask",
               "/Interpolate", "/Intent", "/ColorSpace", "/Mask", "/SMask", "/SMaskInData")
_FORM_KEYS = ("/BBox", "/Matrix", "/Resources", "/Group", "/FormType")
_PIXEL_CODECS = {"/DCTDecode", "/DCT", "/JPXDecode"}
_SCAN_CODECS = {"/CCITTFaxDecode", "/CCF", "/JBIG2Decode"}
_COMPONENTS = {"/DeviceGray": 1, "/G": 1, "/CalGray": 1, "/DeviceRGB": 3, "/RGB": 3,
               "/CalRGB": 3, "/Lab": 3, "/DeviceCMYK": 4, "/CMYK": 4, "/Indexed": 1,
               "/I": 1, "/Separation": 1, "/Pattern": 1}


_DEVICE_SPACES = {1: Name.DeviceGray, 3: Name.DeviceRGB, 4: Name.DeviceCMYK}


class PdfRefusedError(ValueError):
    """The PDF cannot be rebuilt (damaged, locked, or over a ceiling)."""


@dataclass
class PdfReport:
    """What the rebuild found and left out, for the words the reporter is shown."""

    pages: int = 0
    images: int = 0
    scans: int = 0
    found: set[str] = field(default_factory=set)

    def statements(self) -> list[str]:
        said = [counted(PAGES, self.pages)]
        if self.images:
            said.append(counted(IMAGES, self.images))
        if self.scans:
            said.append(counted(SCANS, self.scans))
        words = {
            "info": N_("document properties (author, creator, dates) removed"),
            "xmp": N_("XMP metadata removed"),
            "photo-metadata": N_("camera and location data inside images removed"),
            "authors": N_("comments' author names and dates removed"),
            "embedded": N_("embedded files removed"),
            "scripts": N_("scripts and actions removed"),
            "links": N_("links removed"),
            "outlines": N_("bookmarks removed"),
            "forms": N_("form fields removed"),
            "id": N_("original document ID replaced"),
            "icc": N_("colour profiles replaced by plain colour spaces"),
        }
        said += [text for key, text in words.items() if key in self.found]
        return said


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_DECODED_BYTES

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise PdfRefusedError(N_("its contents unpack to far too much data"))


def _names(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, pikepdf.Array):
        return [str(v) for v in value]
    return [str(value)]


def _inflate(data: bytes) -> bytes:
    """Inflate within the ceiling, stopping as soon as the output passes it."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_STREAM_BYTES + 1)
    except zlib.error:
        # Viewers read what inflates before damage; qpdf does too. Measure that much.
        inflater = zlib.decompressobj()
        out = b""
        for start in range(0, len(data), 4096):
            try:
                out += inflater.decompress(data[start:start + 4096],
                                           MAX_STREAM_BYTES + 1 - len(out))
            except zlib.error:
                break
            if len(out) > MAX_STREAM_BYTES:
                break
    if len(out) > MAX_STREAM_BYTES:
        raise PdfRefusedError(N_("a part of it unpacks to far too much data"))
    return out


def _check_size(stream: pikepdf.Stream, budget: _Budget) -> None:
    """Prove that decoding `stream` stays under the ceiling, before qpdf decodes it.

    The generic filters are undone here with bounded steps (a predictor only shrinks
    data); image codecs at the end are left to the pixel check.
    """
    data = stream.read_raw_bytes()
    for name in _names(stream.get("/Filter")):
        if name in ("/FlateDecode", "/Fl"):
            data = _inflate(data)
        elif name in ("/ASCIIHexDecode", "/AHx", "/ASCII85Decode", "/A85"):
            continue  # output is smaller than input
        elif name in ("/RunLengthDecode", "/RL", "/LZWDecode", "/LZW"):
            # At most 128 (run length) or 4096 (LZW) bytes come out of each input byte
            # or code: refused unless even that is under the ceiling.
            if len(data) * 4096 > MAX_STREAM_BYTES:
                raise PdfRefusedError(N_("it uses an old compression that cannot be checked"))
        elif name in _PIXEL_CODECS or name in _SCAN_CODECS:
            break
        else:
            raise PdfRefusedError(f"it uses an unknown compression ({name})")
    budget.take(len(data))


def _decoded(stream: pikepdf.Stream, budget: _Budget) -> bytes:
    _check_size(stream, budget)
    try:
        return stream.read_bytes(pikepdf.StreamDecodeLevel.generalized)
    except pikepdf.PdfError as exc:
        raise PdfRefusedError(N_("a part of it is damaged")) from exc


def _codec_data(stream: pikepdf.Stream, filters: list[str], budget: _Budget) -> bytes:
    """An image's codec data (JPEG, JPEG 2000, CCITT, JBIG2) with any filters before the
    codec undone within the ceiling."""
    data = stream.read_raw_bytes()
    for name in filters[:-1]:
        if name in ("/FlateDecode", "/Fl"):
            data = _inflate(data)
        elif name in ("/ASCIIHexDecode", "/AHx"):
            data = binascii.unhexlify(b"".join(data.split()).rstrip(b">").ljust(2, b"0"))
        elif name in ("/ASCII85Decode", "/A85"):
            data = base64.a85decode(data.strip().removesuffix(b"~>"), ignorechars=b" \t\r\n")
        else:
            raise PdfRefusedError(f"an image in it uses an unknown compression ({name})")
    budget.take(len(data))
    return data


_INLINE_IMAGE = re.compile(rb"(?:^|[\s\]>)}])BI[\s/]")


def _check_inline_images(pdf: pikepdf.Pdf, content: bytes) -> None:
    """Refuse a content stream drawing an inline JPEG or JPEG 2000 image: those can hold
    EXIF, and an inline image cannot be re-encoded in place here. (Inline images of
    raw pixels hold nothing else and are kept.)"""
    if not _INLINE_IMAGE.search(content):
        return
    try:
        instructions = pikepdf.parse_content_stream(pikepdf.Stream(pdf, content))
    except pikepdf.PdfError as exc:
        raise PdfRefusedError(N_("a page of it cannot be read")) from exc
    for instruction in instructions:
        if isinstance(instruction, pikepdf.ContentStreamInlineImage):
            filters = instruction.iimage.obj.get("/Filter")
            if any(name in _PIXEL_CODECS for name in _names(filters)):
                raise PdfRefusedError(N_("it draws a photo stored in a way that cannot be "
                                         "cleaned (an inline JPEG)"))


class _Rebuilder:
    def __init__(self, src: pikepdf.Pdf, dst: pikepdf.Pdf) -> None:
        self.src, self.dst = src, dst
        self.memo: dict[tuple[int, int], object] = {}
        self.budget = _Budget()
        self.report = PdfReport()

    # -- values

    def value(self, obj: object, role: str = "") -> object:
        if isinstance(obj, pikepdf.Stream):
            return self._indirect(obj, lambda: self.stream(obj, role))
        if isinstance(obj, pikepdf.Dictionary):
            if obj.is_indirect:
                key = obj.objgen
                if key in self.memo:
                    return self.memo[key]
                made = self.dst.make_indirect(pikepdf.Dictionary())
                self.memo[key] = made
                self._fill(made, obj, role)
                return made
            made = pikepdf.Dictionary()
            self._fill(made, obj, role)
            return made
        if isinstance(obj, pikepdf.Array):
            if len(obj) == 2 and obj[0] == Name.ICCBased:
                # An ICC profile can name the device that made it: the plain colour
                # space with the same number of components replaces it.
                self.report.found.add("icc")
                return _DEVICE_SPACES.get(_components(obj), Name.DeviceRGB)
            if obj.is_indirect and obj.objgen in self.memo:
                return self.memo[obj.objgen]
            items = pikepdf.Array()
            if obj.is_indirect:
                items = self.dst.make_indirect(items)
                self.memo[obj.objgen] = items
            for item in obj:
                items.append(self.value(item, role))
            return items
        if isinstance(obj, pikepdf.String):
            return pikepdf.String(bytes(obj))
        if isinstance(obj, pikepdf.Name):
            return pikepdf.Name(str(obj))
        return obj  # numbers, booleans, null

    def _indirect(self, obj: pikepdf.Stream, make) -> object:  # type: ignore[no-untyped-def]
        key = obj.objgen
        if key not in self.memo:
            self.memo[key] = None  # a stream reached again while it is built: a loop
            self.memo[key] = make()
        if self.memo[key] is None:
            raise PdfRefusedError(N_("its objects refer to themselves in a loop"))
        return self.memo[key]

    def _fill(self, made: pikepdf.Dictionary, obj: pikepdf.Dictionary, role: str) -> None:
        for key in list(obj.keys()):
            if key in _DENIED:
                self._note_denied(key)
                continue
            made[key] = self.value(obj[key], self._child_role(role, key))

    @staticmethod
    def _child_role(role: str, key: str) -> str:
        if role == "resources" and key == "/XObject":
            return "xobjects"
        if role == "xobjects":
            return "xobject"
        if key == "/Resources":
            return "resources"
        return ""

    def _note_denied(self, key: str) -> None:
        if key in ("/Metadata", "/PieceInfo", "/LastModified"):
            self.report.found.add("xmp")
        elif key in ("/AA", "/A", "/JS", "/JavaScript", "/OpenAction", "/URI"):
            self.report.found.add("scripts")
        elif key in ("/EF", "/EmbeddedFile", "/EmbeddedFiles", "/FS"):
            self.report.found.add("embedded")

    # -- streams

    def stream(self, obj: pikepdf.Stream, role: str) -> pikepdf.Stream:
        subtype = str(obj.get("/Subtype", ""))
        if subtype == "/Image" or role == "smask":
            return self.image(obj)
        if "/Metadata" in obj or "/PieceInfo" in obj:
            self.report.found.add("xmp")
        keys = _FORM_KEYS if subtype == "/Form" else None
        data = _decoded(obj, self.budget)
        if subtype == "/Form" or "/Resources" in obj:
            _check_inline_images(self.dst, data)
        made = pikepdf.Stream(self.dst, zlib.compress(data, 6))
        made.Filter = Name.FlateDecode
        for key in list(obj.keys()):
            if key in ("/Length", "/Filter", "/DecodeParms", "/DL", "/F", "/FFilter",
                       "/FDecodeParms"):
                continue
            if key in _DENIED or (keys is not None and key not in keys and key not in
                                  ("/Type", "/Subtype")):
                self._note_denied(key)
                continue
            made[key] = self.value(obj[key], self._child_role("", key))
        return made

    def image(self, obj: pikepdf.Stream) -> pikepdf.Stream:
        width, height = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
        if width <= 0 or height <= 0 or width * height > image_clean.MAX_IMAGE_PIXELS:
            raise PdfRefusedError(N_("an image in it is too large or has no size"))
        if "/Metadata" in obj:
            self.report.found.add("xmp")
        filters = _names(obj.get("/Filter"))
        codec = filters[-1] if filters else ""
        keep = {k: obj[k] for k in _IMAGE_KEYS if k in obj}
        if codec in _PIXEL_CODECS:
            data = _codec_data(obj, filters, self.budget)
            try:
                clean = image_clean.clean_image(data, keep_format="JPEG")
            except image_clean.ImageRefusedError as exc:
                raise PdfRefusedError(N_("an image in it cannot be read")) from exc
            if clean.had_exif or clean.had_xmp or b"Exif" in data[:65536]:
                self.report.found.add("photo-metadata")
            made = pikepdf.Stream(self.dst, clean.data)
            made.Filter = Name.DCTDecode
            keep = {k: v for k, v in keep.items() if k in ("/Interpolate", "/SMask", "/Mask",
                                                            "/Intent")}
            keep["/Width"], keep["/Height"] = clean.size
            keep["/ColorSpace"] = Name.DeviceGray if clean.mode == "L" else Name.DeviceRGB
            keep["/BitsPerComponent"] = 8
            self.report.images += 1
        elif codec in _SCAN_CODECS:
            data = _codec_data(obj, filters, self.budget)
            made = pikepdf.Stream(self.dst, data)
            made.Filter = Name(codec)
            parms = obj.get("/DecodeParms")
            if isinstance(parms, pikepdf.Array):
                parms = parms[len(filters) - 1]
            if parms is not None:
                made.DecodeParms = self.value(parms)
            self.report.scans += 1
        else:
            data = _decoded(obj, self.budget)
            bits = int(obj.get("/BitsPerComponent", 1 if obj.get("/ImageMask") else 8))
            components = 1 if obj.get("/ImageMask") else _components(obj.get("/ColorSpace"))
            if components:
                expected = (width * components * bits + 7) // 8 * height
                data = data[:expected].ljust(expected, b"\0")
            made = pikepdf.Stream(self.dst, zlib.compress(data, 6))
            made.Filter = Name.FlateDecode
            self.report.images += 1
        made.Type, made.Subtype = Name.XObject, Name.Image
        for key, value in keep.items():
            role = "smask" if key in ("/SMask", "/Mask") else ""
            made[key] = self.value(value, role)
        return made

    # -- pages and annotations

    def page(self, page: pikepdf.Dictionary) -> pikepdf.Dictionary:
        made = pikepdf.Dictionary(Type=Name.Page)
        for key in _PAGE_KEYS + _INHERITED:
            value = _inherited(page, key)
            if value is not None and key not in made:
                made[key] = self.value(value, "resources" if key == "/Resources" else "")
        if "/MediaBox" not in made:
            made.MediaBox = pikepdf.Array([0, 0, 612, 792])
        contents = page.get("/Contents")
        parts = contents if isinstance(contents, pikepdf.Array) else \
            ([contents] if contents is not None else [])
        data = b"\n".join(_decoded(p, self.budget) for p in parts
                          if isinstance(p, pikepdf.Stream))
        _check_inline_images(self.dst, data)
        made.Contents = self.dst.make_indirect(pikepdf.Stream(self.dst, zlib.compress(data, 6)))
        made.Contents.Filter = Name.FlateDecode
        annots = pikepdf.Array()
        for annot in page.get("/Annots", pikepdf.Array()):
            kept = self.annotation(annot)
            if kept is not None:
                annots.append(kept)
        if len(annots):
            made.Annots = annots
        self.report.pages += 1
        return made

    def annotation(self, annot: object) -> object | None:
        if not isinstance(annot, pikepdf.Dictionary):
            return None
        subtype = str(annot.get("/Subtype", ""))
        if "/T" in annot or "/M" in annot or "/CreationDate" in annot:
            self.report.found.add("authors")
        if subtype not in _ANNOT_SUBTYPES:
            self.report.found.add({"/Link": "links", "/Widget": "forms",
                                   "/FileAttachment": "embedded"}.get(subtype, "scripts"))
            return None
        made = pikepdf.Dictionary()
        for key in list(annot.keys()):
            if key in _ANNOT_KEYS:
                made[key] = self.value(annot[key])
            else:
                self._note_denied(key)
        return self.dst.make_indirect(made)


def _components(space: object) -> int:
    if isinstance(space, pikepdf.Array) and len(space):
        family = str(space[0])
        if family == "/ICCBased":
            return int(space[1].get("/N", 0))
        if family == "/DeviceN":
            return len(space[1])
        return _COMPONENTS.get(family, 0)
    return _COMPONENTS.get(str(space), 0) if space is not None else 0


def _inherited(page: pikepdf.Dictionary, key: str) -> object | None:
    node, depth = page, 0
    while node is not None and depth < 64:
        if key in node:
            return node[key]
        if key not in _INHERITED:
            return None
        node, depth = node.get("/Parent"), depth + 1
    return None


def _survey(pdf: pikepdf.Pdf, report: PdfReport) -> None:
    """Note what the catalog held that the rebuild leaves out (for the words shown)."""
    if "/Info" in pdf.trailer and len(pdf.trailer.Info.keys()):
        report.found.add("info")
    if "/ID" in pdf.trailer:
        report.found.add("id")
    root = pdf.Root
    if "/Metadata" in root:
        report.found.add("xmp")
    if "/Outlines" in root:
        report.found.add("outlines")
    if "/AcroForm" in root:
        report.found.add("forms")
    if "/OpenAction" in root or "/AA" in root:
        report.found.add("scripts")
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        if "/EmbeddedFiles" in names:
            report.found.add("embedded")
        if "/JavaScript" in names:
            report.found.add("scripts")


def clean_pdf(data: bytes) -> tuple[bytes, list[str]]:
    """Rebuild a PDF from its pages; return the new file and what was done."""
    try:
        src = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError as exc:
        raise PdfRefusedError(N_("it is locked with a password")) from exc
    except pikepdf.PdfError as exc:
        raise PdfRefusedError(N_("it is damaged")) from exc
    with src:
        if len(src.objects) > MAX_OBJECTS:
            raise PdfRefusedError(N_("it holds far too many objects"))
        dst = pikepdf.new()
        rebuild = _Rebuilder(src, dst)
        _survey(src, rebuild.report)
        for page in src.pages:
            dst.pages.append(pikepdf.Page(dst.make_indirect(rebuild.page(page.obj))))
        out = io.BytesIO()
        dst.save(out, static_id=True, compress_streams=False,
                 stream_decode_level=pikepdf.StreamDecodeLevel.none,
                 object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return _fresh_id(out.getvalue()), rebuild.report.statements()


# qpdf's fixed ID for reproducible output; it is replaced by random bytes, so the ID
# says nothing of the original file or of the time it was cleaned.
_STATIC_ID = b"<31415926535897932384626433832795>"


def _fresh_id(data: bytes) -> bytes:
    trailer = data.rfind(b"trailer")
    head, tail = data[:trailer], data[trailer:]
    if tail.count(_STATIC_ID) != 2:
        raise PdfRefusedError(N_("its rebuilt copy could not be finished"))
    fresh = b"<" + secrets.token_hex(16).encode() + b">"
    return head + tail.replace(_STATIC_ID, fresh)
