"""Comparison with peers, from their signed progress reports only (issue 22).

An admin imports another organisation's signed report (a file from its /results/
page). It is checked as anyone would check it (`speakup.verify_report`): signature,
key chain and the report's schema; the key that signed the first import is pinned and
every later report must carry it in its chain. Reviewers then see, for each measure
both organisations publish from the same item bank (same row id), this
organisation's figure beside each peer's and the peers' median and range, with each
source's round, dates, k and protection. Only already-published aggregates are
compared, so nothing new is disclosed. Plain functions taking a Session; no Flask.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from review import progress_report
from review.models import PeerOrganisation, PeerReport
from review.tables import NOT_SHOWN, PERCENT, display
from speakup import audit, publication_log, signing, verify_report
from speakup.clock import Clock

AUDIT_ACTION = "peers.import"
MAX_NAME = 120


class PeerImportError(ValueError):
    """The file cannot be imported; the message says why, in words an admin can act on."""


def import_report(session: Session, clock: Clock, *, organisation: str, text: str,
                  actor: str) -> PeerReport:
    """Check and store one peer's signed progress report; pin its key on first import."""
    name = " ".join(organisation.split())
    if not name or len(name) > MAX_NAME:
        raise PeerImportError(f"Give the organisation a name of 1 to {MAX_NAME} characters.")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PeerImportError("The file is not JSON: download the report again from the "
                              "organisation's /results/report.json.") from exc
    org = session.scalar(select(PeerOrganisation).where(PeerOrganisation.name == name))
    try:
        found = verify_report.verify_publication(document, org.pinned_fingerprint
                                                 if org else None)
    except verify_report.VerificationError as exc:
        raise PeerImportError(f"Not imported: {exc}") from exc
    header = found.headers[0]
    if header["kind"] != publication_log.PROGRESS_REPORT:
        raise PeerImportError(f"Not imported: this is a {header['kind']}, not a progress report.")
    try:
        progress_report.validate(found.payload)
    except progress_report.ReportError as exc:
        raise PeerImportError(f"Not imported: {exc}") from exc
    if org is None:
        org = PeerOrganisation(name=name, pinned_fingerprint=header["key"],
                               first_imported_on=clock.today())
        session.add(org)
        session.flush()
    elif session.scalar(select(PeerReport.id).where(PeerReport.organisation_id == org.id,
                                                    PeerReport.seq == header["seq"])):
        raise PeerImportError(f"{name}'s report {header['seq']} is already imported.")
    report = PeerReport(organisation_id=org.id, seq=header["seq"],
                        published_on=dt.date.fromisoformat(header["published_on"]),
                        document=text, imported_on=clock.today())
    session.add(report)
    session.flush()
    audit.record(session, clock, actor=actor, action=AUDIT_ACTION, subject=name,
                 detail={"seq": header["seq"], "key": header["key"]})
    return report


@dataclass(frozen=True)
class Source:
    """Where one column's figures come from."""

    organisation: str
    round_label: str
    opens_on: str
    closes_on: str
    k: int
    protection: str
    report_on: str
    fingerprint: str  # grouped


@dataclass(frozen=True)
class Line:
    measure: str
    own: str
    peers: tuple[str, ...]
    median: str
    range: str


@dataclass(frozen=True)
class Comparison:
    own: Source | None  # None until this organisation has signed a progress report
    peers: tuple[Source, ...]
    lines: tuple[Line, ...]


def _latest(session: Session) -> list[tuple[PeerOrganisation, dict[str, Any], dict[str, Any]]]:
    """Each peer's newest imported report: (organisation, header, payload)."""
    out = []
    for org in session.scalars(select(PeerOrganisation).order_by(PeerOrganisation.name)):
        row = session.scalar(select(PeerReport).where(PeerReport.organisation_id == org.id)
                             .order_by(PeerReport.seq.desc()).limit(1))
        if row is None:  # pragma: no cover - an organisation is made with its first report
            continue
        document = json.loads(row.document)
        out.append((org, json.loads(document["header"]), json.loads(document["payload"])))
    return out


def _source(name: str, header: dict[str, Any], report: dict[str, Any]) -> Source | None:
    survey = report.get("survey")
    if not survey:
        return None
    return Source(name, survey["round_label"], survey["opens_on"], survey["closes_on"],
                  survey["k"], survey["protection"], report["published_on"],
                  signing.grouped(header["key"]))


def _values(report: dict[str, Any]) -> dict[str, float | None]:
    survey = report.get("survey") or {}
    return {h["id"]: h["favourable"]["value"] for h in survey.get("headlines", [])}


def comparison(session: Session, own_name: str = "Us") -> Comparison:
    """This organisation's latest signed headlines beside each peer's latest imported ones."""
    entry = publication_log.latest(session, publication_log.PROGRESS_REPORT)
    own_report = json.loads(entry.payload) if entry else {}
    own = _source(own_name, json.loads(entry.header), own_report) if entry else None
    peers = [(org, header, payload) for org, header, payload in _latest(session)
             if _source(org.name, header, payload) is not None]
    sources = tuple(s for s in (_source(o.name, h, p) for o, h, p in peers) if s)
    if own is None:
        return Comparison(None, sources, ())
    labels = {h["id"]: h["label"] for h in own_report["survey"]["headlines"]}
    own_values = _values(own_report)
    peer_values = [_values(p) for _, _, p in peers]
    lines = []
    for measure, label in labels.items():
        if not any(measure in values for values in peer_values):
            continue  # no peer publishes it: not the same item-bank measure
        shown = [v[measure] for v in peer_values if v.get(measure) is not None]
        lines.append(Line(
            label, display(own_values.get(measure), PERCENT),
            tuple(display(v.get(measure), PERCENT) if measure in v else "not published"
                  for v in peer_values),
            display(statistics.median(shown), PERCENT) if shown else NOT_SHOWN,
            (f"{display(min(shown), PERCENT)} to {display(max(shown), PERCENT)}" if shown
             else NOT_SHOWN),
        ))
    return Comparison(own, sources, tuple(lines))
