"""What a file's cleaning did (or why it was refused), as people read it, in any language.

The cleaners report in English, and those English phrases are kept inside the sealed
message body with the file. So that a page can say them in its reader's language, every
phrase is a catalogue message: fixed phrases are marked with N_, and phrases that count
something are made here from an `Nn_` pair, so `in_words` can read the count back out of
a stored phrase and translate it with the right plural form.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from concerns.errors import Nn_

PAGES = Nn_("rebuilt from its %(num)s page", "rebuilt from its %(num)s pages")
IMAGES = Nn_("%(num)s image re-encoded from its pixels",
             "%(num)s images re-encoded from their pixels")
SCANS = Nn_("%(num)s black-and-white scan image kept as pixel data",
            "%(num)s black-and-white scan images kept as pixel data")
PICTURES = Nn_("%(num)s picture re-encoded from its pixels",
               "%(num)s pictures re-encoded from their pixels")
PARTS = Nn_("%(num)s other part a reader does not need removed",
            "%(num)s other parts a reader does not need removed")
TOOK_TOO_LONG = Nn_("cleaning it took longer than %(num)s second",
                    "cleaning it took longer than %(num)s seconds")
TOO_MANY_PIXELS = Nn_("the picture has more pixels than the limit of %(num)s megapixel",
                      "the picture has more pixels than the limit of %(num)s megapixels")
COUNTED = (PAGES, IMAGES, SCANS, PICTURES, PARTS, TOOK_TOO_LONG, TOO_MANY_PIXELS)


def counted(pair: tuple[str, str], num: int) -> str:
    """The English phrase of `pair` for `num` (what the cleaners store)."""
    return (pair[0] if num == 1 else pair[1]) % {"num": num}


def _pattern(form: str) -> re.Pattern[str]:
    return re.compile(re.escape(form).replace(re.escape("%(num)s"), r"(\d{1,9})"))


_READ_BACK = [(_pattern(form), pair) for pair in COUNTED for form in pair]


def in_words(phrase: str, gettext: Callable[[str], str],
             ngettext: Callable[[str, str, int], str]) -> str:
    """A stored English phrase in the reader's language (unknown ones stay as stored)."""
    for pattern, pair in _READ_BACK:
        match = pattern.fullmatch(phrase)
        if match:
            return ngettext(pair[0], pair[1], int(match.group(1)))
    return gettext(phrase)
