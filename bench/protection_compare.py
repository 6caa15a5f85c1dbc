"""Compare disclosure protections on synthetic organisations; print a markdown table.

    .venv/bin/python bench/protection_compare.py [--sizes 60 300 3000] [--seed 1] [--k 5]

For each organisation of bench/synthetic_org.py and each protection:

- **shown**: the share of cells with at least one respondent (respondent counts and
  every row's Everyone and per-group figures) shown in full; **banded**: shown only
  as a favourable-share band (coarsening);
- **count error**: mean absolute difference between a shown count (respondents,
  each answer value's count) and the true one;
- **share error**: mean absolute difference, in percentage points, between a shown
  favourable share and the true one (for a band, from the band's middle);
- **insider audit**: ``speakup.insider_audit.audit_insiders`` for the HR insider and
  the respondent, with the shown counts known only within ±3 for perturbation and
  the coarsened publication audited as if the banded groups were hidden (a band
  tells less than the hidden counts it stands for are protected against);
- **seconds**: deciding and auditing, wall clock; **CPU seconds**: the same in this
  process's CPU time (what a shared machine's load does not inflate).

Protections: ``suppress`` (suppress until the insider audit passes), ``coarsen``
(full figures only where that holds at 2k; groups of k..2k-1 people as bands),
``perturb`` (the same suppression, then ONS-style cell-key noise: the offered
option) and ``perturb-only`` (only groups below k hidden, every other count noised).

Fails loudly when ``speakup.insider_audit`` is missing: the table's audit column is
the point of the comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# bench/surveys.py would shadow the surveys package: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

try:
    from speakup.insider_audit import Person, audit_insiders
except ImportError as exc:  # the lead's merge brings it; without it the table means nothing
    raise SystemExit(f"bench/protection_compare.py needs speakup.insider_audit: {exc}") from exc

from speakup.disclosure_audit import AuditReport  # noqa: E402
from surveys.protection import MAX_NOISE, band, new_secret, perturb_count  # noqa: E402
from surveys.round_disclosure import (  # noqa: E402
    UNSTATED,
    RoundSuppression,
    RoundTruth,
    decide_suppression,
)

_spec = importlib.util.spec_from_file_location("synthetic_org", _HERE / "synthetic_org.py")
assert _spec is not None and _spec.loader is not None
synthetic_org_module = importlib.util.module_from_spec(_spec)
sys.modules["synthetic_org"] = synthetic_org_module
_spec.loader.exec_module(synthetic_org_module)
synthetic_org = synthetic_org_module.synthetic_org

PROTECTIONS = ("suppress", "coarsen", "perturb", "perturb-only")
BAND_MIDDLE = {"under 50 %": 0.25, "50–70 %": 0.60, "over 70 %": 0.85}


@dataclass
class Result:
    cells: int = 0
    shown: int = 0
    banded: int = 0
    count_errors: float = 0.0
    counts: int = 0
    share_errors: float = 0.0
    shares: int = 0
    audit: str = ""
    seconds: float = 0.0
    cpu: float = 0.0


def tolerance(d: int) -> dict[str, int]:
    """shown_tolerance for audit_insiders: every shown count known only within ±d."""
    return {"*": d}


def primary_only(truth: RoundTruth, k: int) -> RoundSuppression:
    """Hide a group in every row when it, or its answers to any row, number fewer than k."""
    hidden: dict[str, frozenset[str]] = {}
    for dim, groups in truth.dimensions.items():
        small = set()
        for g in groups:
            size = truth.group_sizes.get((dim, g), 0)
            answered = [sum(row.by_group.get((dim, g), {}).values()) for row in truth.rows]
            if size < k or any(0 < a < k for a in answered):
                small.add(g)
        hidden[dim] = frozenset(small)
    rows_hidden = frozenset(row.id for row in truth.rows if row.n < k)
    return RoundSuppression(truth.total < k, hidden, rows_hidden, AuditReport((), 0, 0, 0.0), 0)


def _cells(truth: RoundTruth):
    """(row or None, dimension or None, group or None, true values) of every non-empty cell."""
    yield None, None, None, {"n": truth.total}
    for dim, groups in truth.dimensions.items():
        for g in groups:
            if truth.group_sizes.get((dim, g), 0):
                yield None, dim, g, {"n": truth.group_sizes[dim, g]}
    for row in truth.rows:
        if row.n:
            yield row, None, None, row.overall
        for dim, groups in truth.dimensions.items():
            for g in groups:
                values = row.by_group.get((dim, g), {})
                if sum(values.values()):
                    yield row, dim, g, values


def _favourable(row, values: Mapping[str, int]) -> float | None:
    if not row.favourable_values:
        return None
    n = sum(values.values())
    return sum(c for v, c in values.items() if v in row.favourable_values) / n if n else None


def measure(truth: RoundTruth, people: Sequence[Person], k: int, protection: str,
            decided: dict[int, RoundSuppression]) -> Result:
    """One protection on one organisation; ``decided`` keeps suppressions by k between calls."""
    started, cpu = time.perf_counter(), time.process_time()
    tol = None
    full_k = 2 * k if protection == "coarsen" else k
    if protection == "perturb-only":
        suppression = primary_only(truth, k)
    else:  # suppress and perturb share one decision: time it once, with suppress
        if full_k not in decided:
            decided[full_k] = decide_suppression(truth, full_k, people=people)
        suppression = decided[full_k]
    if protection.startswith("perturb"):
        tol = tolerance(MAX_NOISE)
    if tol is None and suppression.insider is not None:
        # The decision's own last audit: the same people, k and publication, in full.
        report = suppression.insider
    else:
        report = audit_insiders(truth, people, full_k, suppression, shown_tolerance=tol)
    secret = new_secret()
    result = Result(audit="passes" if report.ok else f"FAILS ({len(report.exposures)})")
    for row, dim, group, values in _cells(truth):
        result.cells += 1
        row_hidden = row is not None and row.id in suppression.rows_hidden
        # Cells hidden in one row only (sensitive items, once the insider audit is merged).
        one_row = getattr(suppression, "cells_hidden", {})
        group_hidden = dim is not None and (
            group in suppression.groups_hidden[dim]
            or (row is not None and group in one_row.get((row.id, dim), frozenset())))
        hidden = suppression.total_hidden or row_hidden or group_hidden or group == UNSTATED
        if hidden:
            size = truth.group_sizes.get((dim, group), 0) if dim else 0
            if (protection == "coarsen" and row is not None and not row_hidden
                    and not suppression.total_hidden and size >= k):
                share = _favourable(row, values)
                if share is not None:
                    result.banded += 1
                    result.share_errors += abs(BAND_MIDDLE[band(share)] - share) * 100
                    result.shares += 1
            continue
        result.shown += 1
        if protection.startswith("perturb"):
            row_id = row.id if row is not None else "respondents"
            shown = {v: perturb_count(c, secret, (row_id, dim, group, v))
                     for v, c in values.items()}
        else:
            shown = dict(values)
        for v, c in values.items():
            result.count_errors += abs(shown[v] - c)
            result.counts += 1
        if row is not None:
            true_share, shown_share = _favourable(row, values), _favourable(row, shown)
            if true_share is not None and shown_share is not None:
                result.share_errors += abs(shown_share - true_share) * 100
                result.shares += 1
    result.seconds = time.perf_counter() - started
    result.cpu = time.process_time() - cpu
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[60, 300, 3000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--protections", nargs="+", default=list(PROTECTIONS),
                        choices=PROTECTIONS)
    args = parser.parse_args(argv)
    print(f"k = {args.k}, seed {args.seed}; noise at most ±{MAX_NOISE}\n")
    print("| staff (respondents, teams) | protection | cells shown | banded | count error "
          "| share error (points) | insider audit | seconds | CPU seconds |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|")
    for staff in args.sizes:
        org = synthetic_org(staff, args.seed)
        people = [Person(groups=p.groups, answers=p.answers) for p in org.people]
        decided: dict[int, RoundSuppression] = {}
        for protection in args.protections:
            r = measure(org.truth, people, args.k, protection, decided)
            print(f"| {staff} ({org.truth.total}, {len(org.team_sizes)}) | {protection} "
                  f"| {r.shown / r.cells:.0%} | {r.banded / r.cells:.0%} "
                  f"| {r.count_errors / max(r.counts, 1):.2f} "
                  f"| {r.share_errors / max(r.shares, 1):.1f} | {r.audit} | {r.seconds:.1f} "
                  f"| {r.cpu:.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
