"""How much the reporters' verdict and the themes add to a quarter's attacker's audit.

    .venv/bin/python bench/verdict_audit.py

Builds one quarter's withheld counts in memory (no database), decides what to show,
audits until safe and prints the audit's time, integer programs solved and what the
audit hid: first without the verdict and themes (as publications were before), then
with them, for small and larger quarters. Figures only; asserts nothing about speed.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from pathlib import Path

# bench/concerns.py would shadow the concerns package: keep this folder off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from concerns import publication  # noqa: E402
from concerns.models import OUTCOMES, VERDICT_QUESTIONS  # noqa: E402

K = 5
AS_OF = dt.date(2026, 1, 14)


def withheld(received: int, answers: int, rng: random.Random, *, new: bool) -> dict:
    categories = [[i, f"Category {i}", True, 0] for i in range(1, 5)]
    for _ in range(received):
        categories[rng.randrange(4)][3] += 1
    closed = received * 2 // 3
    outcomes = [[o, 0] for o in OUTCOMES]
    for _ in range(closed):
        outcomes[rng.randrange(len(outcomes))][1] += 1
    out = {
        "received": received, "categories": categories,
        "acknowledged": [received * 3 // 4, received], "fed_back": [received // 2, received],
        "closed": closed, "outcomes": outcomes,
        "acknowledge_days": [[d, received // 5] for d in range(1, 6)],
    }
    if new:
        verdicts = {}
        for question, (_, choices) in VERDICT_QUESTIONS.items():
            counts = dict.fromkeys(choices, 0)
            for _ in range(answers):
                counts[rng.choice(list(choices))] += 1
            verdicts[question] = [[a, n] for a, n in counts.items()]
        out["verdicts"] = verdicts
        out["themes"] = [[i, f"Theme {i}", True, rng.randrange(received + 1)]
                         for i in range(1, 6)]
    return out


def run(received: int, answers: int, new: bool, seed: int) -> tuple[float, int, int]:
    truth = withheld(received, answers, random.Random(seed), new=new)
    payload = {"published": publication._decide("2025-Q4", AS_OF, K, truth, []),
               "withheld": truth}
    started = time.perf_counter()
    hidden = publication._audit_until_safe(payload, [])
    seconds = time.perf_counter() - started
    report = publication.audit_publications(K, [payload])
    return seconds, report.solves, len(hidden)


def main() -> None:
    # --smoke: the smallest case and two seeds, only to check the bench runs (tests/foundation).
    smoke = "--smoke" in sys.argv[1:]
    cases = ((6, 4),) if smoke else ((6, 4), (20, 12), (60, 40), (200, 150))
    print(f"{'received':>8} {'answers':>8} {'verdict':>8} {'median s':>9} {'max s':>7} "
          f"{'solves':>7} {'hid more':>8}")
    for received, answers in cases:
        for new in (False, True):
            runs = [run(received, answers, new, seed) for seed in range(2 if smoke else 9)]
            times = sorted(r[0] for r in runs)
            print(f"{received:>8} {answers:>8} {('yes' if new else 'no'):>8} "
                  f"{times[len(times) // 2]:>9.3f} {times[-1]:>7.3f} "
                  f"{max(r[1] for r in runs):>7} {sum(r[2] for r in runs):>8}")


if __name__ == "__main__":
    main()
