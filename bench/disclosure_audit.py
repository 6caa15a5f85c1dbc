"""Benchmark the attacker's audit: print figures, assert nothing about time.

    .venv/bin/python bench/disclosure_audit.py [--respondents 600] [--seeds 3]

A synthetic round: every item of the bank (24) plus its three scale rows = 27 rows,
3 group questions of 10 groups each (9 listed + "prefer not to say", sizes skewed so
that several are small and need suppression), answers with 15 % skips. For each seed it
times ``surveys.round_disclosure.decide_suppression`` (pattern + audit + any further
suppression, all rounds of it) and prints the audit's size: protected hidden counts,
integer programs solved, rounds of audit. Target: at most 10 s per round on this machine.
"""

from __future__ import annotations

import argparse
import random
import time

import _common  # first: puts the repository, not bench/, on the import path
from _common import DIMENSIONS, K, zipf_groups

_common.use_test_helpers()

from attacker import truth_from_people  # noqa: E402  (the tests' reference aggregation)
from publish_factory import Respondent  # noqa: E402

from surveys.itembank import load_item_bank  # noqa: E402
from surveys.round_disclosure import decide_suppression  # noqa: E402


def synthetic_people(rng: random.Random, bank, item_ids: list[str], n: int) -> list[Respondent]:
    people = []
    for _ in range(n):
        answers = {}
        for item_id in item_ids:
            if rng.random() < 0.85:
                answers[item_id] = rng.choice(sorted(bank.item(item_id).scale.answer_values))
        people.append(Respondent(answers, zipf_groups(rng)))
    return people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    bank = load_item_bank()
    item_ids = list(bank.items)
    print(f"audit benchmark: {len(item_ids)} items + scales, {len(DIMENSIONS)} breakdowns x "
          f"{len(next(iter(DIMENSIONS.values())))} groups, {args.respondents} respondents, k={K}")
    worst = 0.0
    for seed in range(args.seeds):
        people = synthetic_people(random.Random(seed), bank, item_ids, args.respondents)
        truth = truth_from_people(bank, item_ids, DIMENSIONS, people)
        started = time.perf_counter()
        decided = decide_suppression(truth, K)
        seconds = time.perf_counter() - started
        worst = max(worst, seconds)
        hidden = sum(len(h) for h in decided.groups_hidden.values())
        print(f"  seed {seed}: {len(truth.rows)} rows, {hidden} groups hidden, "
              f"{decided.report.hidden_counts} hidden counts audited, "
              f"{decided.report.solves} integer programs, {decided.rounds_of_audit} round(s) "
              f"of audit: {seconds:.2f} s (last audit {decided.report.seconds:.2f} s)")
    print(f"worst round: {worst:.2f} s (target <= 10 s)")


if __name__ == "__main__":
    main()
