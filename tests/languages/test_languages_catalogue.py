"""The translation catalogue: up to date with the code, compiled, shipped, plural-correct."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from conftest import REPO
from staff_sources import staff_only

from speakup.translatable import TRANSLATIONS

PO = TRANSLATIONS / "cy" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "cy" / "LC_MESSAGES" / "messages.mo"
PYBABEL = Path(sys.executable).parent / "pybabel"
# The keywords `make translations` extracts by (checked against the Makefile below).
KEYWORDS = ["N_", "Nn_:1,2", "lazy_gettext", "_l"]  # Nn_: a counted message (concerns)


def read_catalogue() -> object:
    with PO.open("rb") as f:
        return read_po(f, locale="cy")


def extract(tmp_path: Path, locations: str = "file") -> object:
    pot = tmp_path / "messages.pot"
    args = [str(PYBABEL), "extract", "-F", "babel.cfg", f"--add-location={locations}",
            "-o", str(pot)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    subprocess.run([*args, "."], cwd=REPO, check=True, capture_output=True)
    with pot.open("rb") as f:
        return read_po(f)


def test_the_makefile_extracts_with_the_same_keywords():
    makefile = (REPO / "Makefile").read_text()
    assert "translations:" in makefile
    assert re.findall(r"pybabel (extract|update|compile)", makefile) == [
        "extract", "update", "compile"]
    assert re.findall(r"-k (\S+)", makefile) == KEYWORDS


def test_every_extracted_message_is_in_the_welsh_catalogue(tmp_path: Path):
    extracted = extract(tmp_path)
    catalogue = read_catalogue()
    missing = [m.id for m in extracted if m.id and m.id not in catalogue]
    assert missing == [], "run `make translations` and translate the new messages"
    assert len(list(extracted)) > 20  # extraction did find the marked texts


def test_every_welsh_message_is_translated(tmp_path: Path):
    # Staff pages may stay in English for now (issue 20): a message found only in their
    # sources needs no Welsh; one a reporter, respondent or the public reads does.
    catalogue = read_catalogue()
    staff = {m.id for m in extract(tmp_path, "full") if m.id and staff_only(m.locations)}
    assert len(staff) > 100  # the staff pages' messages are in the catalogue
    untranslated = []
    for message in catalogue:
        if not message.id or message.id in staff:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(s.strip() for s in strings) or message.fuzzy:
            untranslated.append(message.id)
    assert untranslated == []


def test_the_committed_mo_is_the_compiled_po(tmp_path: Path):
    compiled = tmp_path / "messages.mo"
    with compiled.open("wb") as f:
        write_mo(f, read_catalogue())
    assert compiled.read_bytes() == MO.read_bytes(), "run `make translations`"


def test_the_catalogues_ship_in_the_package():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["speakup"]
    for file in (PO, MO):
        relative = file.relative_to(REPO / "speakup")
        assert any(relative.match(p) for p in patterns), relative
    assert {"flask-babel", "babel"} <= {
        re.split(r"[<>=\[]", d)[0] for d in project["project"]["dependencies"]}


@pytest.mark.parametrize(("n", "form"), [(0, 0), (1, 1), (2, 2), (3, 3), (6, 4), (7, 5)])
def test_welsh_has_six_plural_forms(n: int, form: int):
    catalogue = read_catalogue()
    assert catalogue.num_plurals == 6
    assert "nplurals=6" in catalogue.plural_forms
    translations = Translations.load(str(TRANSLATIONS), ["cy"])
    # The answering page's "You answered {n} of {asked} questions" has all six forms.
    [message] = [m for m in catalogue if isinstance(m.id, tuple) and "question" in m.id[1]
                 and "answered" in m.id[0]]
    expected = message.string[form]
    assert translations.ngettext(message.id[0], message.id[1], n) == expected
    assert len(set(message.string)) >= 3  # the forms differ (cwestiwn, gwestiwn, chwestiwn)


def test_the_readme_says_what_the_languages_do():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Languages", 1)[1].split("\n## ", 1)[0]
    for promise in ("`SPEAKUP_LANGUAGES`", "`speakup_lang`", "`make translations`",
                    "`?lang=cy`", "fluent Welsh speaker", "`en,cy`"):
        assert promise in section
    assert "| `SPEAKUP_LANGUAGES` | `en,cy` |" in readme


def test_every_welsh_message_keeps_its_placeholders():
    # Babel's own checks: a %(name)s missing or misspelt in the Welsh breaks the page.
    catalogue = read_catalogue()
    problems = {str(m.id): [str(e) for e in m.check(catalogue)] for m in catalogue if m.id}
    assert {k: v for k, v in problems.items() if v} == {}
    broken = next(m for m in catalogue if m.id == "Back to %(title)s")
    broken.string = "Yn ôl i %(teitl)s"
    assert broken.check(catalogue)  # the check does catch a misspelt placeholder
