"""Printed-slip codes: short, typeable, single-use invitation tokens.

A slip's code plays the part of an e-mail invitation's token: the server stores only
its keyed hash (surveys/invitations.py). It must survive being read off paper and
typed on a phone, so:

* the alphabet has no look-alikes: no 0/O, no 1/I/L (31 symbols: 2-9 and A-Z
  without I, L, O);
* 16 symbols in four groups of four ("7KQ2-M9XD-4TRB-WZ8E"): 16 x log2(31) = 79.3
  random bits. Twelve symbols would give only 59.4, under the 60 asked of any
  invitation token; wrong codes are also rate-limited (surveys/slips.py), so at the
  limit of 30 wrong codes a minute guessing one of 10,000 live codes would take
  about 5 x 10^12 years on average;
* what people type is forgiven: lower case, spaces and any dashes are ignored.
"""

from __future__ import annotations

import re
import secrets

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_SYMBOLS = 16
CODE_GROUP = 4
# Separators people (or word processors) put between groups; all are ignored.
_SEPARATORS = "-\u2010\u2011\u2012\u2013\u2014\u2212_"
_MAX_INPUT = 100  # anything longer is not a code; don't bother scanning it
CANONICAL_RE = re.compile(
    rf"[{CODE_ALPHABET}]{{{CODE_GROUP}}}(?:-[{CODE_ALPHABET}]{{{CODE_GROUP}}}){{3}}")


def new_code() -> str:
    """A fresh code in its canonical grouped form."""
    return _group("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_SYMBOLS)))


def normalise_code(text: str) -> str | None:
    """The canonical form of a code typed or scanned, or None if it cannot be one."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        return None
    compact = "".join(ch for ch in "".join(text.split()) if ch not in _SEPARATORS)
    # ASCII check before upper(): "ı".upper() is "I", and we want no such surprises.
    if not compact.isascii():
        return None
    compact = compact.upper()
    if len(compact) != CODE_SYMBOLS or any(ch not in CODE_ALPHABET for ch in compact):
        return None
    return _group(compact)


def is_canonical_code(text: str) -> bool:
    return CANONICAL_RE.fullmatch(text) is not None


def _group(symbols: str) -> str:
    return "-".join(symbols[i:i + CODE_GROUP] for i in range(0, len(symbols), CODE_GROUP))
