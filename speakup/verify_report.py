#!/usr/bin/env python3
"""Check a Speak Up publication or publication log offline. Needs only `cryptography`.

    python verify_report.py FILE [--key FINGERPRINT] [--log LOG] [--results PAGE]

FILE is a signed publication (downloaded from /results/) or the log (/results/log.json).
It checks every signature, the key chain (each new key endorsed by the one before and
proving it holds its own private key), the hash chain of the log (nothing removed,
reordered or replayed), and, with --key, that the publisher's key is the one the
organisation announced elsewhere (annual report, intranet). With --log, the
publication must be the very entry the log holds at its place. With --results (an
address or a saved copy of the /results/ page) and a signed progress report, the
headline figures the page shows must be the signed ones.

Exit status 0 when everything holds; 1 with one line saying what does not.
This file imports nothing from Speak Up, so it can be handed to anyone on its own.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
HEADER_FORMAT = "speakup-publication/1"
FILE_FORMAT = "speakup-signed-publication/1"
LOG_FORMAT = "speakup-publication-log/1"
KEY_KIND = "signing-key"
PROOF_PURPOSE = "speakup-signing-key-proof"
PROGRESS_REPORT = "progress-report"


class VerificationError(Exception):
    """What does not hold, in one sentence a reader can act on."""


@dataclass
class Verified:
    """What was checked: the entries (headers as dicts) and the keys, oldest first."""

    headers: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    payload: Any = None  # a single publication's figures


def normalise_fingerprint(text: str) -> str:
    bare = re.sub(r"[\s:]", "", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", bare):
        raise VerificationError(f"{text!r} is not a key fingerprint: expected 64 hex digits.")
    return bare


def _json(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise VerificationError(f"{what} is missing or is not text.")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise VerificationError(f"{what} is not valid JSON ({exc}): it was altered.") from exc


def _b64(text: Any, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise VerificationError(f"{what} is not base64: it was altered.") from exc
    # Base64 has spare bits: one value, one spelling, so no byte of the file can change
    # without the check noticing.
    if base64.b64encode(raw).decode() != text:
        raise VerificationError(f"{what} is not in its one base64 spelling: it was altered.")
    return raw


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_signature(public: bytes, signature: bytes, text: str, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, text.encode())
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError(f"{what}: the signature does not match. The entry was "
                                "altered after signing, or signed by another key.") from exc


def _header(signed: Any, where: str) -> dict[str, Any]:
    if not isinstance(signed, dict):
        raise VerificationError(f"{where} is not a signed entry.")
    header = _json(signed.get("header"), f"{where}'s header")
    if not isinstance(header, dict) or header.get("format") != HEADER_FORMAT:
        raise VerificationError(f"{where} is not a Speak Up publication header.")
    return header


def _payload(signed: dict[str, Any], header: dict[str, Any], where: str) -> Any:
    text = signed.get("payload")
    if not isinstance(text, str):
        raise VerificationError(f"{where} has no payload.")
    if _sha256(text) != header.get("payload_sha256"):
        raise VerificationError(f"{where}: the figures do not match the signed hash. Something "
                                "in them was changed after signing.")
    return _json(text, f"{where}'s payload")


class KeyChain:
    """Fingerprint -> raw public key, learnt only from endorsed key entries."""

    def __init__(self) -> None:
        self.public: dict[str, bytes] = {}
        self.order: list[str] = []

    def accept(self, signed: dict[str, Any], header: dict[str, Any], where: str) -> None:
        payload = _payload(signed, header, where)
        if not isinstance(payload, dict):
            raise VerificationError(f"{where} does not describe a key.")
        fp = payload.get("fingerprint")
        raw = _b64(payload.get("public_key"), f"{where}'s public key")
        if not fp or hashlib.sha256(raw).hexdigest() != fp or header.get("ref") != fp:
            raise VerificationError(f"{where}: the new key does not match its fingerprint.")
        previous = payload.get("previous")
        expected_prev = self.order[-1] if self.order else None
        if previous != expected_prev:
            raise VerificationError(f"{where}: a key change must follow the current key "
                                    f"{_short(expected_prev)}, not {_short(previous)}.")
        signer = header.get("key")
        if signer != (expected_prev or fp):
            raise VerificationError(f"{where}: a new key must be endorsed by the key before it "
                                    "(the first key by itself).")
        proof_text = json.dumps({"fingerprint": fp, "previous": previous,
                                 "purpose": PROOF_PURPOSE}, separators=(",", ":"))
        _check_signature(raw, _b64(payload.get("proof"), f"{where}'s proof"), proof_text,
                         f"{where} (the new key's proof)")
        _check_signature(self.public.get(signer, raw), _b64(signed.get("signature"),
                         f"{where}'s signature"), signed["header"], where)
        self.public[fp] = raw
        self.order.append(fp)

    def check(self, signed: dict[str, Any], header: dict[str, Any], where: str) -> None:
        signer = header.get("key")
        if signer not in self.public:
            raise VerificationError(f"{where} is signed by key {_short(signer)}, which no key "
                                    "change in this file introduces.")
        _check_signature(self.public[signer], _b64(signed.get("signature"),
                         f"{where}'s signature"), signed["header"], where)

    def require(self, pinned: str | None) -> None:
        if pinned is None:
            return
        if pinned not in self.public:
            current = self.order[-1] if self.order else None
            raise VerificationError(
                f"Wrong key: this was signed by key {_short(current)}, and the key you trust "
                f"({_short(pinned)}) is not in its chain of keys.")


def _short(fp: Any) -> str:
    return "none" if not fp else " ".join(str(fp)[i:i + 4] for i in range(0, 16, 4)) + " …"


def _key_chain(key_entries: Any, limit_seq: int | None) -> KeyChain:
    chain = KeyChain()
    if not isinstance(key_entries, list):
        raise VerificationError("The file lists no signing keys.")
    last = 0
    for signed in key_entries:
        header = _header(signed, "A key change")
        seq = header.get("seq")
        where = f"Key change (entry {seq})"
        if header.get("kind") != KEY_KIND or not isinstance(seq, int) or seq <= last:
            raise VerificationError(f"{where} is not a key change in log order.")
        if limit_seq is not None and seq > limit_seq:
            raise VerificationError(f"{where} comes after the publication it should vouch for.")
        last = seq
        chain.accept(signed, header, where)
    return chain


def verify_log(document: Any, pinned: str | None = None) -> Verified:
    """Check every entry of the log in order; raise VerificationError at the first fault."""
    if not isinstance(document, dict) or document.get("format") != LOG_FORMAT:
        raise VerificationError("This is not a Speak Up publication log.")
    chain, out, prev = KeyChain(), Verified(), GENESIS
    for position, signed in enumerate(document.get("entries") or [], start=1):
        header = _header(signed, f"Entry {position}")
        seq = header.get("seq")
        if seq != position:
            raise VerificationError(
                f"Entry {position} of the log says it is entry {seq}: an entry was removed, "
                "reordered or replayed.")
        where = f"Entry {seq} ({header.get('kind')} {header.get('ref')})"
        if header.get("prev") != prev:
            raise VerificationError(f"{where} does not follow the entry before it (hash "
                                    "mismatch): an entry was removed, reordered or altered.")
        replaces = header.get("replaces")
        if replaces is not None and not any(
                h.get("seq") == replaces and h.get("kind") == header.get("kind")
                and h.get("ref") == header.get("ref")
                for h in out.headers):
            raise VerificationError(f"{where} says it corrects entry {replaces}, which is not "
                                    "an earlier publication of the same thing.")
        if header.get("kind") == KEY_KIND:
            chain.accept(signed, header, where)
        else:
            chain.check(signed, header, where)
        prev = _sha256(signed["header"])
        out.headers.append(header)
    if not out.headers:
        raise VerificationError("The log is empty: nothing has been published and signed yet.")
    chain.require(pinned)
    out.keys = chain.order
    return out


def verify_publication(document: Any, pinned: str | None = None,
                       log: Verified | None = None) -> Verified:
    """Check one signed publication (and, given a verified log, its place in it)."""
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise VerificationError("This is not a signed Speak Up publication.")
    header = _header(document, "The publication")
    seq = header.get("seq")
    chain = _key_chain(document.get("keys"), seq if isinstance(seq, int) else None)
    where = f"Publication (entry {seq}, {header.get('kind')} {header.get('ref')})"
    chain.check(document, header, where)
    payload = _payload(document, header, where)
    chain.require(pinned)
    if log is not None:
        _place_in_log(header, log)
    return Verified(headers=[header], keys=chain.order, payload=payload)


def _place_in_log(header: dict[str, Any], log: Verified) -> None:
    seq = header.get("seq")
    if not isinstance(seq, int) or seq < 1 or seq > len(log.headers):
        raise VerificationError(f"The log ends at entry {len(log.headers)} but this publication "
                                f"is entry {seq}: the log was cut short, or this is not its log.")
    if json.dumps(log.headers[seq - 1], sort_keys=True) != json.dumps(header, sort_keys=True):
        raise VerificationError(f"The log's entry {seq} is not this publication: one of the two "
                                "was replaced.")
    later = [h["seq"] for h in log.headers if h.get("replaces") == seq]
    if later:
        raise VerificationError(f"This publication (entry {seq}) was corrected by entry "
                                f"{later[-1]}: it is out of date.")


# --- the /results/ page --------------------------------------------------------------------


class _HeadlineTable(HTMLParser):
    """Collect (row heading, first figure) pairs from the page's headline table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}
        self.caption = ""
        self._in_table = self._in_caption = False
        self._cell: str | None = None
        self._row: list[str] = []
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and "headline-table" in classes:
            self._in_table = True
        elif self._in_table and tag == "caption":
            self._in_caption = True
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag in ("th", "td"):
            self._cell, self._text = tag, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._in_table:
            self._in_table = False
        elif tag == "caption":
            self._in_caption = False
        elif self._in_table and tag in ("th", "td") and self._cell:
            self._row.append(" ".join(self._text.split()))
            self._cell = None
        elif self._in_table and tag == "tr" and len(self._row) >= 2 and self._row[0]:
            self.rows.setdefault(self._row[0], self._row[1])

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.caption += data
        elif self._cell:
            self._text += data


def check_results_page(report: Any, html: str) -> int:
    """Compare the page's headline figures with a signed progress report's; return how many."""
    survey = report.get("survey") if isinstance(report, dict) else None
    if not isinstance(survey, dict) or not survey.get("headlines"):
        raise VerificationError("The signed report has no headline figures to compare.")
    table = _HeadlineTable()
    table.feed(html)
    if not table.rows:
        raise VerificationError("The results page shows no headline figures.")
    if survey.get("round_label") and survey["round_label"] not in table.caption:
        raise VerificationError(f"The results page is about another round than the signed "
                                f"report ({survey['round_label']}).")
    for line in survey["headlines"]:
        shown = table.rows.get(line["label"])
        if shown is None:
            raise VerificationError(f"The results page does not show {line['label']!r}.")
        if shown != line["favourable_shown"]:
            raise VerificationError(f"The results page shows {shown} for {line['label']!r}; the "
                                    f"signed report says {line['favourable_shown']}.")
    return len(survey["headlines"])


# --- command line ----------------------------------------------------------------------------


def _read(source: str) -> str:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 - the user's URL
            return response.read().decode()
    with open(source, encoding="utf-8") as handle:
        return handle.read()


def _load(source: str) -> Any:
    try:
        return json.loads(_read(source))
    except ValueError as exc:
        raise VerificationError(f"{source} is not JSON ({exc}): it was altered or is not a "
                                "Speak Up file.") from exc


def run(argv: list[str] | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="a signed publication or the publication log (path or URL)")
    parser.add_argument("--key", help="the fingerprint the organisation published elsewhere")
    parser.add_argument("--log", help="the publication log, to check the file's place in it")
    parser.add_argument("--results", help="the /results/ page (address or saved file)")
    args = parser.parse_args(argv)
    try:
        pinned = normalise_fingerprint(args.key) if args.key else None
        document = _load(args.file)
        if isinstance(document, dict) and document.get("format") == LOG_FORMAT:
            found = verify_log(document, pinned)
            print(f"Log intact: {len(found.headers)} entries, each signed and chained "
                  f"({len(found.keys)} signing keys).", file=out)
            return _done(found, pinned, out)
        log = verify_log(_load(args.log), pinned) if args.log else None
        found = verify_publication(document, pinned, log)
        header = found.headers[0]
        print(f"Signature good: entry {header['seq']}, {header['kind']} {header['ref']}, "
              f"published {header['published_on']}.", file=out)
        if log is not None:
            print(f"It is entry {header['seq']} of the log, which is intact "
                  f"({len(log.headers)} entries).", file=out)
        if args.results:
            if header["kind"] != PROGRESS_REPORT:
                raise VerificationError("--results needs a signed progress report "
                                        "(/results/report.json).")
            count = check_results_page(found.payload, _read(args.results))
            print(f"The results page shows the signed figures ({count} headline figures).",
                  file=out)
        return _done(found, pinned, out)
    except (VerificationError, OSError) as exc:
        print(f"NOT VERIFIED: {exc}", file=out)
        return 1
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # Fields of the wrong type in a signed part fail their signature first; this is
        # for the unsigned frame around them.
        print(f"NOT VERIFIED: the file is malformed ({type(exc).__name__}: {exc}).", file=out)
        return 1


def _done(found: Verified, pinned: str | None, out: Any) -> int:
    key = found.keys[-1]
    grouped = " ".join(key[i:i + 4] for i in range(0, len(key), 4))
    if pinned:
        print(f"Signed under the key you trust; current key {grouped}.", file=out)
    else:
        print(f"Current key {grouped}. Compare it with the fingerprint the organisation "
              "published elsewhere, or pass it with --key.", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(run())
