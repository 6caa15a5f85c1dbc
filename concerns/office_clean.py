"""Office Open XML files (DOCX, XLSX, PPTX) rebuilt from the parts a reader needs.

An allow-list, not a list of things to remove:

- a part is kept only if its content type is one a reader needs to show the document
  (text, styles, sheets, slides, charts, drawings, comments, pictures …); everything
  else — people lists, custom properties, custom XML, printer settings, macros, OLE
  objects, links to other files, unknown parts — is left out, and so is every
  relationship that points to a part left out or to a file path outside;
- every XML part is parsed (lxml with entities, DTDs and the network off; a part with a
  DTD is refused) and written again without comments or processing instructions, and
  without the attributes and elements that name people or places: authors and
  initials (reset to "Author"), user and provider ids, dates of comments and changes,
  revision session ids, saved file paths (`absPath`), template links
  (`attachedTemplate`), mail-merge sources, document variables, pivot caches'
  `refreshedBy`;
- core and app properties are replaced by empty ones;
- every picture (media, thumbnails) is re-encoded from its pixels by
  concerns/image_clean.py; pictures that cannot be (EMF, WMF, SVG) are left out;
- an Office file embedded in another is cleaned by these same rules, one level deep;
- part names are matched without regard to case (`docProps/Core.xml` is
  `docProps/core.xml`), and two parts whose names differ only in case are refused;
- zip entries get a fixed date.

Bombs: each part is inflated in 64 KiB steps with a ceiling per part and for the whole
file, checked as the bytes come out (never `ZipFile.read` of a whole member).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from lxml import etree

from concerns import image_clean
from concerns.cleaning_words import PARTS, PICTURES, counted
from concerns.errors import N_

MAX_PART_BYTES = 64 * 1024 * 1024
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_PARTS = 5_000
MAX_DEPTH = 1  # an Office file inside an Office file is cleaned; one deeper is dropped

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

_OXML = "application/vnd.openxmlformats-officedocument."
RELS = "application/vnd.openxmlformats-package.relationships+xml"
_CORE = "application/vnd.openxmlformats-package.core-properties+xml"
_APP = _OXML + "extended-properties+xml"
# Parts a reader needs, by content type (without the prefix where it is _OXML).
_NEEDED = {_OXML + t + "+xml" for t in (
    "wordprocessingml.document.main", "wordprocessingml.template.main",
    "wordprocessingml.styles", "wordprocessingml.settings", "wordprocessingml.webSettings",
    "wordprocessingml.fontTable", "wordprocessingml.numbering", "wordprocessingml.footnotes",
    "wordprocessingml.endnotes", "wordprocessingml.header", "wordprocessingml.footer",
    "wordprocessingml.comments", "wordprocessingml.document.glossary",
    "theme", "themeOverride", "drawingml.chart", "drawingml.chartshapes",
    "drawingml.diagramData", "drawingml.diagramLayout", "drawingml.diagramStyle",
    "drawingml.diagramColors", "drawing",
    "spreadsheetml.sheet.main", "spreadsheetml.template.main", "spreadsheetml.worksheet",
    "spreadsheetml.chartsheet", "spreadsheetml.styles", "spreadsheetml.sharedStrings",
    "spreadsheetml.calcChain", "spreadsheetml.comments", "spreadsheetml.table",
    "spreadsheetml.pivotTable", "spreadsheetml.pivotCacheDefinition",
    "spreadsheetml.pivotCacheRecords", "spreadsheetml.sheetMetadata",
    "spreadsheetml.volatileDependencies", "spreadsheetml.tableSingleCells",
    "presentationml.presentation.main", "presentationml.template.main",
    "presentationml.slideshow.main", "presentationml.slide", "presentationml.slideLayout",
    "presentationml.slideMaster", "presentationml.notesSlide",
    "presentationml.notesMaster", "presentationml.handoutMaster",
    "presentationml.presProps", "presentationml.viewProps", "presentationml.tableStyles",
    "presentationml.commentAuthors", "presentationml.comments",
)} | {
    RELS, _OXML + "vmlDrawing",
    "application/vnd.ms-word.stylesWithEffects+xml", "application/vnd.ms-word.commentsExtended+xml",
    "application/vnd.ms-word.commentsIds+xml", "application/vnd.ms-excel.threadedcomments+xml",
    "application/vnd.ms-excel.person+xml", "application/vnd.ms-office.chartstyle+xml",
    "application/vnd.ms-office.chartcolorstyle+xml",
    "application/vnd.ms-office.drawingml.diagramDrawing+xml",
    "application/vnd.ms-powerpoint.comments+xml", "application/vnd.ms-powerpoint.authors+xml",
}
_PICTURES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF",
             "image/bmp": "BMP", "image/tiff": "TIFF"}
_EMBEDDED_PACKAGES = {DOCX, XLSX, PPTX}
_MACRO_MAIN = {
    "application/vnd.ms-word.document.macroEnabled.main+xml": _OXML +
    "wordprocessingml.document.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": _OXML +
    "spreadsheetml.sheet.main+xml",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": _OXML +
    "presentationml.presentation.main+xml",
}

_NEUTRAL_DATE = "2000-01-01T00:00:00Z"
# Attributes (by local name, in any namespace) that say who or when; set to a neutral
# value where the schema needs one, dropped where it does not.
_NEUTRAL = {"author": "Author", "initials": "A", "userId": "Author", "providerId": "None",
            "date": _NEUTRAL_DATE, "dateUtc": _NEUTRAL_DATE, "dT": _NEUTRAL_DATE,
            "dt": _NEUTRAL_DATE, "created": _NEUTRAL_DATE}
_DROPPED_ATTRS = {"refreshedBy", "lastClr"}
# Elements (by local name) that hold paths, people or hidden data: removed whole.
_DROPPED_ELEMENTS = {"absPath", "attachedTemplate", "rsids", "mailMerge", "docVars",
                     "externalReferences",
                     "revisionView", "fileSharing", "writeProtection", "documentProtection",
                     "revisionPtr", "docId"}
# In these parts the names of people are elements' or attributes' plain content.
_PERSON_PARTS = {"application/vnd.ms-excel.person+xml": ("displayName",),
                 _OXML + "presentationml.commentAuthors+xml": ("name",),
                 "application/vnd.ms-powerpoint.authors+xml": ("name",)}

_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                       huge_tree=False, remove_comments=True, remove_pis=True)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"

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


class OfficeRefusedError(ValueError):
    """The file cannot be rebuilt (not Office, damaged, or over a ceiling)."""


@dataclass
class OfficeReport:
    images: int = 0
    dropped_parts: int = 0
    found: set[str] = field(default_factory=set)

    def statements(self) -> list[str]:
        said = [N_("rebuilt from the parts a reader needs")]
        if self.images:
            said.append(counted(PICTURES, self.images))
        words = {
            "properties": N_("document properties (author, company, dates) removed"),
            "custom": N_("custom properties removed"),
            "photo-metadata": N_("camera and location data inside pictures removed"),
            "authors": N_("comments' and changes' author names, accounts and dates removed"),
            "people": N_("the list of people who edited it removed"),
            "paths": N_("file paths and template links removed"),
            "embedded-cleaned": N_("embedded Office files cleaned by the same rules"),
            "embedded": N_("embedded objects removed"),
            "macros": N_("macros removed"),
            "pictures": N_("pictures that cannot be checked (EMF, WMF, SVG) removed"),
            "links": N_("links to other files removed"),
        }
        said += [text for key, text in words.items() if key in self.found]
        if self.dropped_parts:
            said.append(counted(PARTS, self.dropped_parts))
        return said


class _Reader:
    """Reads zip members with a ceiling per part and for the whole file."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.left = MAX_UNPACKED_BYTES

    def read(self, info: zipfile.ZipInfo) -> bytes:
        out = bytearray()
        with self.archive.open(info) as member:
            while chunk := member.read(64 * 1024):
                out += chunk
                self.left -= len(chunk)
                if len(out) > MAX_PART_BYTES or self.left < 0:
                    raise OfficeRefusedError(N_("it unpacks to far too much data"))
        return bytes(out)


def kind_of(names: list[str]) -> tuple[str, str] | None:
    lowered = [n.lower() for n in names]
    if any(n.startswith("word/") for n in lowered):
        return DOCX, ".docx"
    if any(n.startswith("xl/") for n in lowered):
        return XLSX, ".xlsx"
    if any(n.startswith("ppt/") for n in lowered):
        return PPTX, ".pptx"
    return None


def _parse(data: bytes) -> etree._ElementTree:
    if _DOCTYPE.search(data):
        raise OfficeRefusedError(N_("a part of it declares a DTD, which Office files never do"))
    try:
        tree = etree.parse(io.BytesIO(data), _XML)
    except etree.XMLSyntaxError as exc:
        raise OfficeRefusedError(N_("a part of it is damaged")) from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise OfficeRefusedError(N_("a part of it declares a DTD, which Office files never do"))
    return tree


def _serialise(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=True)


def _local(name: object) -> str:
    return etree.QName(name).localname if isinstance(name, str) else ""


def _scrub(tree: etree._ElementTree, content_type: str, report: OfficeReport) -> None:
    person_attrs = _PERSON_PARTS.get(content_type, ())
    if person_attrs:
        report.found.add("people")
    for element in list(tree.iter()):
        if not isinstance(element.tag, str):
            continue
        local = _local(element.tag)
        parent = element.getparent()
        if local in _DROPPED_ELEMENTS and parent is not None:
            if local in ("absPath", "attachedTemplate", "mailMerge"):
                report.found.add("paths")
            parent.remove(element)
            continue
        if local == "author" and (element.text or "").strip():
            element.text = "Author"  # an Excel comment's author list: keep its place
            report.found.add("authors")
        for attr in list(element.attrib):
            name = _local(attr)
            if name in _NEUTRAL:
                element.set(attr, _NEUTRAL[name])
                report.found.add("authors")
            elif name in _DROPPED_ATTRS or name.startswith("rsid"):
                del element.attrib[attr]
                if name == "refreshedBy":
                    report.found.add("authors")
            elif name in person_attrs:
                element.set(attr, "Author")


@dataclass
class _Part:
    info: zipfile.ZipInfo
    name: str  # as in the archive
    key: str  # lower case, for matching
    content_type: str


def _content_types(data: bytes) -> tuple[dict[str, str], dict[str, str]]:
    tree = _parse(data)
    defaults, overrides = {}, {}
    for element in tree.getroot():
        if _local(element.tag) == "Default":
            defaults[element.get("Extension", "").lower()] = element.get("ContentType", "")
        elif _local(element.tag) == "Override":
            overrides[element.get("PartName", "").lstrip("/").lower()] = \
                element.get("ContentType", "")
    return defaults, overrides


def _extension(key: str) -> str:
    """A part name's extension ("rels" for "_rels/.rels" too)."""
    name = posixpath.basename(key)
    return name.rsplit(".", 1)[1] if "." in name else ""


def _rels_source(key: str) -> str:
    """The folder a relationships part's targets are relative to."""
    folder, name = posixpath.split(key)  # e.g. word/_rels, document.xml.rels
    return posixpath.join(posixpath.dirname(folder), name[: -len(".rels")])


def _target(source: str, target: str) -> str:
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/")).lower()
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target)).lower()


def _clean_rels(data: bytes, key: str, kept: set[str],
                report: OfficeReport) -> tuple[bytes, set[str]]:
    """A relationships part without links to parts left out or to paths; also the ids
    of the relationships removed (their references are removed from the source part)."""
    tree = _parse(data)
    removed: set[str] = set()
    source = _rels_source(key)
    for rel in list(tree.getroot()):
        if not isinstance(rel.tag, str):
            continue
        target = rel.get("Target", "")
        kind = rel.get("Type", "").rsplit("/", 1)[-1]
        if rel.get("TargetMode") == "External":
            # Web and mail links are what the reader clicks; any other target is a path.
            if target.lower().startswith(("http://", "https://", "mailto:")) and \
                    kind == "hyperlink":
                continue
            report.found.add("paths" if kind == "attachedTemplate" else "links")
            tree.getroot().remove(rel)
            removed.add(rel.get("Id", ""))
        elif _target(source, target) not in kept:
            tree.getroot().remove(rel)
            removed.add(rel.get("Id", ""))
    return _serialise(tree), removed


# Elements that exist only to point at a relationship: removed with it. Elsewhere the
# pointing attribute alone goes.
_REFERENCE_ONLY = {"externalReference", "oleObject", "control", "attachedTemplate",
                   "legacyDrawing", "legacyDrawingHF", "webPublishItem"}
_R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _drop_references(tree: etree._ElementTree, ids: set[str]) -> None:
    for element in list(tree.iter()):
        if not isinstance(element.tag, str):
            continue
        pointing = [a for a in element.attrib
                    if etree.QName(a).namespace == _R_NS and element.get(a) in ids]
        if not pointing:
            continue
        parent = element.getparent()
        if _local(element.tag) in _REFERENCE_ONLY and parent is not None:
            parent.remove(element)
        else:
            for attr in pointing:
                del element.attrib[attr]


def _content_types_part(parts: list[_Part], defaults: dict[str, str]) -> bytes:
    root = etree.Element(f"{{{_CT_NS}}}Types", nsmap={None: _CT_NS})
    used = {_extension(p.key) for p in parts}
    for extension, content_type in sorted(defaults.items()):
        if extension in used:
            etree.SubElement(root, f"{{{_CT_NS}}}Default", Extension=extension,
                             ContentType=content_type)
    for part in parts:
        if part.key.endswith(".rels"):
            continue
        etree.SubElement(root, f"{{{_CT_NS}}}Override", PartName="/" + part.name,
                         ContentType=part.content_type)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def clean_office(data: bytes, depth: int = 0) -> tuple[bytes, str, str, list[str]]:
    """Rebuild an Office file; return (file, content type, extension, what was done)."""
    report = OfficeReport()
    out = io.BytesIO()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise OfficeRefusedError(N_("it is not a readable zip file")) from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_PARTS:
            raise OfficeRefusedError(N_("it holds far too many parts"))
        keys = [i.filename.lower() for i in infos]
        if len(set(keys)) != len(keys):
            raise OfficeRefusedError(N_("two of its parts have the same name"))
        if "[content_types].xml" not in keys:
            raise OfficeRefusedError(N_("it is a zip file but not an Office document"))
        kind = kind_of([i.filename for i in infos])
        if kind is None:
            raise OfficeRefusedError(N_("it is not a Word, Excel or PowerPoint file"))
        reader = _Reader(archive)
        by_key = dict(zip(keys, infos, strict=True))
        defaults, overrides = _content_types(reader.read(by_key["[content_types].xml"]))
        parts = _choose(infos, defaults, overrides, report)
        kept = {p.key for p in parts}
        if not any(p.content_type.endswith(".main+xml") for p in parts):
            raise OfficeRefusedError(N_("it has no document in it that can be kept"))
        if depth >= MAX_DEPTH and any(p.content_type in _EMBEDDED_PACKAGES for p in parts):
            report.found.add("embedded")  # one level deeper: left out, not cleaned
            parts = [p for p in parts if p.content_type not in _EMBEDDED_PACKAGES]
            kept = {p.key for p in parts}
        rels, removed_ids = {}, {}
        for part in parts:
            if part.key.endswith(".rels"):
                rels[part.key], removed_ids[_rels_source(part.key)] = _clean_rels(
                    reader.read(part.info), part.key, kept, report)
        # Level 1: several times faster than the default, a little larger.
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as cleaned:
            for part in parts:
                content = rels.get(part.key) or _clean_part(
                    part, reader.read(part.info), report, depth,
                    removed_ids.get(part.key, set()))
                if content is None:
                    continue
                entry = zipfile.ZipInfo(part.name, date_time=(1980, 1, 1, 0, 0, 0))
                entry.compress_type = zipfile.ZIP_DEFLATED
                cleaned.writestr(entry, content, compresslevel=1)
            entry = zipfile.ZipInfo("[Content_Types].xml", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            cleaned.writestr(entry, _content_types_part(parts, defaults))
    return out.getvalue(), kind[0], kind[1], report.statements()


def _choose(infos: list[zipfile.ZipInfo], defaults: dict[str, str],
            overrides: dict[str, str], report: OfficeReport) -> list[_Part]:
    """The parts to keep, by content type; what is left out is noted for the words."""
    parts = []
    for info in infos:
        key = info.filename.lower()
        if key == "[content_types].xml":
            continue
        content_type = overrides.get(key) or defaults.get(_extension(key), "")
        if content_type in _MACRO_MAIN:
            content_type = _MACRO_MAIN[content_type]
        if key.startswith("customxml/") or "custom-properties" in content_type:
            report.found.add("custom")
            continue
        if content_type in (_CORE, _APP):
            report.found.add("properties")
        elif content_type in _NEEDED or content_type in _PICTURES or \
                content_type in _EMBEDDED_PACKAGES:
            pass
        else:
            report.found.add(_left_out(key, content_type))
            if _left_out(key, content_type) == "other":
                report.dropped_parts += 1
            continue
        parts.append(_Part(info, info.filename, key, content_type))
    kept = {p.key for p in parts}
    # A relationships part goes with the part it belongs to.
    return [p for p in parts if not p.key.endswith(".rels") or _rels_source(p.key) in kept
            or _rels_source(p.key) == ""]


def _left_out(key: str, content_type: str) -> str:
    if "vba" in content_type.lower() or key.endswith("vbaproject.bin"):
        return "macros"
    if "oleObject" in content_type or "package" in content_type or key.endswith(".bin") \
            and "printerSettings" not in content_type:
        return "embedded"
    if content_type.startswith("image/"):
        return "pictures"
    if "people" in content_type:
        return "people"
    if "externalLink" in content_type:
        return "links"
    return "other"


def _clean_part(part: _Part, data: bytes, report: OfficeReport, depth: int,
                removed_ids: set[str]) -> bytes | None:
    if part.content_type == _CORE:
        return _EMPTY_CORE
    if part.content_type == _APP:
        return _EMPTY_APP
    if part.content_type in _PICTURES:
        try:
            clean = image_clean.clean_image(data, keep_format=_PICTURES[part.content_type])
        except image_clean.ImageRefusedError as exc:
            raise OfficeRefusedError(N_("a picture in it cannot be checked")) from exc
        if clean.had_exif or clean.had_xmp:
            report.found.add("photo-metadata")
        report.images += 1
        return clean.data
    if part.content_type in _EMBEDDED_PACKAGES:
        cleaned, _, _, _ = clean_office(data, depth + 1)
        report.found.add("embedded-cleaned")
        return cleaned
    if not removed_ids and _nothing_to_scrub(data, part.content_type):
        return data
    tree = _parse(data)
    _scrub(tree, part.content_type, report)
    if removed_ids:
        _drop_references(tree, removed_ids)
    return _serialise(tree)


# Any attribute or element `_scrub` changes, as it appears in UTF-8 bytes.
_ATTR_WORDS = tuple(n.encode() for n in (*_NEUTRAL, *_DROPPED_ATTRS, "rsid"))
_ELEMENT_WORDS = tuple(n.encode() for n in (*_DROPPED_ELEMENTS, "author"))
_SPACE = b" \t\r\n"


def _mentions(data: bytes, word: bytes, before: bytes, after: bytes, *,
              attribute: bool) -> bool:
    """Whether `word` occurs with one of `before` just before it and one of `after`
    just after it (past spaces, for an attribute's "="). bytes.find is far faster than
    a regular expression over a part of many megabytes."""
    start = data.find(word)
    while start != -1:
        end = start + len(word)
        if start and data[start - 1] in before:
            tail = data[end:end + 32]
            if word == b"rsid":  # rsidR, rsidRPr, …: any letters may follow
                tail = tail.lstrip(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
            if attribute:
                tail = tail.lstrip(_SPACE)
            if tail[:1] and tail[:1] in after:
                return True
        start = data.find(word, end)
    return False


def _nothing_to_scrub(data: bytes, content_type: str) -> bool:
    """True when parsing and scrubbing the part could not change it: a UTF-8 part with
    no attribute or element that names a person, a path or a date, no comment, no DTD
    and no processing instruction but the declaration. Such parts (a large sheet's
    cells, most of them) are kept byte for byte, which spares building a tree of
    millions of elements; every other part is parsed and written again."""
    if content_type in _PERSON_PARTS or data[:64].lstrip()[:1] != b"<":
        return False
    if data.startswith(b"<?xml"):
        declaration_end = data.find(b"?>")
        rest = data[declaration_end + 2:]
    else:
        rest = data
    if b"<?" in rest or b"<!" in data:  # processing instructions, comments, DTDs
        return False
    return not any(_mentions(data, w, _SPACE + b":", b"=", attribute=True)
                   for w in _ATTR_WORDS) and \
        not any(_mentions(data, w, b"<:", _SPACE + b"/>", attribute=False)
                for w in _ELEMENT_WORDS)
