"""Rewrite tests/not_quick.txt: the in-process tests too slow for `make test-quick`.

    SPEAKUP_TIME_QUICK=1 .venv/bin/pytest -m quick -n auto -q --durations=0 > /tmp/d.txt
    .venv/bin/python tools/not_quick.py /tmp/d.txt [--seconds 0.5]

Reads pytest's `--durations=0` report (setup, call and teardown per test) and lists every
test function one of whose parameter sets took `--seconds` or more in all. With
SPEAKUP_TIME_QUICK set, tests/conftest.py ignores the current list, so every candidate is
timed.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

LINE = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(\S+)")
TARGET = Path(__file__).resolve().parent.parent / "tests" / "not_quick.txt"
HEADER = """\
# In-process tests left out of `make test-quick` (each still runs in `make test`): one
# test function per line, every one that took {seconds} s or more with its set-up on
# this project's 2-core machine. Made by tools/not_quick.py from a timed run.
"""


def slow_functions(report: str, seconds: float) -> list[str]:
    per_test: dict[str, float] = collections.defaultdict(float)
    for line in report.splitlines():
        match = LINE.match(line)
        if match:
            per_test[match.group(3)] += float(match.group(1))
    slowest: dict[str, float] = {}
    for test, took in per_test.items():
        function = test.split("[", 1)[0]
        slowest[function] = max(slowest.get(function, 0.0), took)
    return sorted(f for f, took in slowest.items() if took >= seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    slow = slow_functions(args.report.read_text(), args.seconds)
    TARGET.write_text(HEADER.format(seconds=args.seconds) + "".join(f"{f}\n" for f in slow))
    print(f"{len(slow)} test functions written to {TARGET}")


if __name__ == "__main__":
    main()
