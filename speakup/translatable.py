"""Translation without Flask: catalogue markers and catalogues by language code.

Domain modules (promises, answer checks, e-mails) keep their English wording as plain
strings wrapped in `N_`; `pybabel extract` finds them by that name, and the page or
e-mail that shows one translates it then, in its reader's language. E-mails are built
outside any request (the scheduler sends them), so they take a catalogue from
`translations(code)` instead of Flask-Babel's per-request one.
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

from babel.support import Translations

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
SOURCE_LANGUAGE = "en"  # the language the code and templates are written in


def N_(text: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Return `text` unchanged: only marks it for the catalogue."""
    return text


def has_catalogue(code: str) -> bool:
    return code == SOURCE_LANGUAGE or (
        TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo").is_file()


@functools.lru_cache(maxsize=16)
def translations(code: str) -> gettext.NullTranslations:
    """The compiled catalogue of `code` (English, the source, needs none)."""
    if code == SOURCE_LANGUAGE or not has_catalogue(code):
        return gettext.NullTranslations()
    return Translations.load(str(TRANSLATIONS), [code])
