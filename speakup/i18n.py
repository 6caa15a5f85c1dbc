"""Languages: Flask-Babel set up from the settings, the choice by URL or preference cookie.

A page is shown in the language named by `?lang=xx` (one of SPEAKUP_LANGUAGES); that
choice is remembered in a plain preference cookie that holds the code and nothing else,
so it identifies nobody (README "Languages"). Without either, the first configured
language is used. Catalogues live in speakup/translations (shipped in the package).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from babel import Locale
from flask import Flask, current_app, request
from flask_babel import Babel, get_locale, gettext, ngettext
from werkzeug.wrappers import Response

from speakup.settings import SettingsError
from speakup.translatable import (
    TRANSLATIONS,
    Phrase,
    Translatable,
    TranslatableError,
    has_catalogue,
)

LANG_ARG = "lang"
LANG_COOKIE = "speakup_lang"
LANG_COOKIE_DAYS = 365
# The HTML `lang` attribute of each language whose default region matters.
HTML_LANG = {"en": "en-GB"}
EXTENSION = "speakup.languages"


def init_app(app: Flask, languages: tuple[str, ...], secure_cookies: bool) -> None:
    """Install Flask-Babel; refuse a configured language that has no compiled catalogue."""
    for code in languages:
        if not has_catalogue(code):
            raise SettingsError(
                f"SPEAKUP_LANGUAGES names {code!r}, but there is no translation for it "
                f"(speakup/translations/{code}/LC_MESSAGES/messages.mo); see README "
                "\"Languages\" to add one."
            )
    app.extensions[EXTENSION] = languages
    # Long template sentences are written over several lines; their msgid is one line.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    Babel(app, locale_selector=_choose, default_locale=languages[0],
          default_translation_directories=str(TRANSLATIONS))

    @app.after_request
    def remember_choice(response: Response) -> Response:
        chosen = request.args.get(LANG_ARG)
        if chosen in languages and request.cookies.get(LANG_COOKIE) != chosen:
            response.set_cookie(LANG_COOKIE, chosen, max_age=LANG_COOKIE_DAYS * 86400,
                                secure=secure_cookies, httponly=True, samesite="Lax")
        return response

    # Text an admin typed (the comment question) is shown as typed, unless the catalogue
    # has it (the default one): no %-formatting. A survey's group questions try the text
    # typed in the page's language first (surveys/texts.py: group_questions).
    app.jinja_env.filters["translated"] = gettext
    # A service's message kept in a page's data (e.g. a preview's problem).
    app.jinja_env.filters["said"] = said

    @app.context_processor
    def language_links() -> dict[str, Any]:
        return {"html_lang": html_lang(), "page_language": current(),
                "other_languages": _other_languages}


def said(exc: TranslatableError | Translatable | str,
         phrase: Callable[[str], str] = gettext) -> str:
    """A service's message in the reader's language (services cannot translate it).

    `phrase` says a `Phrase` parameter; a parameter that is itself a message is said too.
    A plain str (text with no catalogue message) is shown as it is.
    """
    if not isinstance(exc, TranslatableError | Translatable):
        return str(exc)
    params = {name: said(value, phrase) if isinstance(value, TranslatableError | Translatable)
              else phrase(value) if isinstance(value, Phrase) else value
              for name, value in exc.params.items()}
    if exc.plural is not None and exc.num is not None:
        del params["num"]  # ngettext passes the count itself
        return ngettext(exc.message, exc.plural, exc.num, **params)
    return gettext(exc.message, **params)


def supported() -> tuple[str, ...]:
    return current_app.extensions[EXTENSION]


def _choose() -> str:
    languages = supported()
    for chosen in (request.args.get(LANG_ARG), request.cookies.get(LANG_COOKIE)):
        if chosen in languages:
            return chosen
    return languages[0]


def current() -> str:
    """The code of the language this request is shown in."""
    locale = get_locale()
    return locale.language if locale is not None else supported()[0]


def html_lang() -> str:
    code = current()
    return HTML_LANG.get(code, code)


def own_name(code: str) -> str:
    """A language's name in that language, capitalised ("Cymraeg", "English")."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def _other_languages() -> list[tuple[str, str, str]]:
    """(code, own name, URL of this page in it) for every language but the current one."""
    here = current()
    links = []
    for code in supported():
        if code == here:
            continue
        args = request.args.to_dict(flat=False)
        args[LANG_ARG] = [code]
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}"
                         for k, vs in args.items() for v in vs)
        url = f"{request.script_root}{request.path}?{query}"
        links.append((code, own_name(code), url))
    return links
