"""Translation without Flask: catalogue markers and catalogues by language code.

Domain modules (promises, answer checks, e-mails) keep their English wording as plain
strings wrapped in `N_`; `pybabel extract` finds them by that name, and the page or
e-mail that shows one translates it then, in its reader's language. E-mails are built
outside any request (the scheduler sends them), so they take a catalogue from
`translations(code)` instead of Flask-Babel's per-request one.

Services' errors work the same way: a `TranslatableError` (or a `Translatable`, for a
problem among several) keeps its catalogue message (with `%(name)s` placeholders) and
its values; `str()` of it is the English text (logs, the CLI, tests), and the page that
shows it says it in the reader's language (`speakup.i18n.said`).
"""

from __future__ import annotations

import functools
import gettext
import json
from pathlib import Path

from babel.support import Translations

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
SOURCE_LANGUAGE = "en"  # the language the code and templates are written in


def N_(text: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Return `text` unchanged: only marks it for the catalogue."""
    return text


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - extracted as -k Nn_:1,2
    """Mark a message with a count for the catalogue: its singular and plural forms."""
    return singular, plural


class Phrase(str):
    """A parameter that is itself an English catalogue phrase (said in the reader's
    language too), unlike a name or a number, which is shown as it is."""


class Translatable(str):
    """English text, made from a catalogue message and its values, that keeps both.

    It is the English text wherever a str goes (logs, the CLI, comparisons), and a page
    says it in the reader's language (`speakup.i18n.said`). A message that counts
    something is a pair from `Nn_` with `num`, the count (both forms get `num` as a
    parameter, as ngettext does).
    """

    message: str
    plural: str | None
    num: int | None
    params: dict[str, object]

    def __new__(cls, message: str | tuple[str, str], *, num: int | None = None,
                **params: object) -> Translatable:
        plural = None
        if isinstance(message, tuple):
            message, plural = message
            params = {"num": num, **params}
        english = plural if plural is not None and num != 1 else message
        text = super().__new__(cls, english % params if params else english)
        text.message, text.plural, text.num, text.params = message, plural, num, params
        return text

    @classmethod
    def of(cls, said: Translatable | TranslatableError) -> Translatable:
        """The same message (e.g. a service error's, kept as one problem among several)."""
        params = {k: v for k, v in said.params.items() if k != "num" or said.plural is None}
        message = (said.message, said.plural) if said.plural is not None else said.message
        return cls(message, num=said.num, **params)


class TranslatableError(Exception):
    """An error whose message is a catalogue message and its parameters (see above).

    `str(error)` is the English text. A parameter that is itself a TranslatableError or
    a Translatable (a cause worth showing) is said in the reader's language too.
    """

    def __init__(self, message: str | tuple[str, str], *, num: int | None = None,
                 **params: object) -> None:
        text = Translatable(message, num=num, **params)
        super().__init__(str(text))
        self.message = text.message
        self.plural = text.plural
        self.num = text.num
        self.params = text.params


# A message kept in the database (why a publication failed) is stored as JSON under this
# key, so that a later page can say it in its reader's language.
_PACKED = "speakup.message"


def packed(text: Translatable | TranslatableError) -> str:
    """A message and its values as JSON text, to store now and say later."""
    return json.dumps({_PACKED: _pack(text)}, ensure_ascii=False, sort_keys=True)


def unpacked(stored: str | None) -> Translatable | str | None:
    """What `packed` stored, as a message again; any other text (older rows) as it is."""
    if not stored or not stored.startswith("{"):
        return stored
    try:
        return _unpack(json.loads(stored)[_PACKED])
    except (ValueError, KeyError, TypeError):
        return stored


def _pack(value: object) -> object:
    if isinstance(value, Translatable | TranslatableError):
        return {"message": value.message, "plural": value.plural, "num": value.num,
                "params": {k: _pack(v) for k, v in value.params.items()}}
    if isinstance(value, Phrase):
        return {"phrase": str(value)}
    return value if isinstance(value, int | float | None) else str(value)


def _unpack(value: object) -> object:
    if not isinstance(value, dict):
        return value
    if set(value) == {"phrase"}:
        return Phrase(value["phrase"])
    params = {k: _unpack(v) for k, v in value["params"].items()}
    if value["plural"] is None:
        return Translatable(value["message"], **params)
    params.pop("num", None)
    return Translatable((value["message"], value["plural"]), num=value["num"], **params)


def has_catalogue(code: str) -> bool:
    return code == SOURCE_LANGUAGE or (
        TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo").is_file()


@functools.lru_cache(maxsize=16)
def translations(code: str) -> gettext.NullTranslations:
    """The compiled catalogue of `code` (English, the source, needs none)."""
    if code == SOURCE_LANGUAGE or not has_catalogue(code):
        return gettext.NullTranslations()
    return Translations.load(str(TRANSLATIONS), [code])
