"""Every benchmark in bench/ still runs: each at a tiny size, so a bench that breaks fails CI.

Only that each runs to the end and prints its table is checked, never a speed. The
library modules (`_common`, `floor`, `loadgen`, `synthetic_org`) run inside these.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PG_URL, REPO

pytestmark = pytest.mark.slow

LIBRARIES = {"_common.py", "floor.py", "loadgen.py", "synthetic_org.py", "__init__.py"}
# bench -> (arguments for a tiny run, a line its output must hold)
SMOKE = {
    "attachments.py": (["--smoke"], "JPEG 1 MB"),
    "concerns.py": (["--smoke"], "=== postgresql ==="),
    "db_copy.py": (["--responses", "200"], "row counts equal: True"),
    "disclosure_audit.py": (["--respondents", "60", "--seeds", "1"], ""),
    "fuzz.py": (["--cases", "1"], "server errors, security headers on"),
    "goals.py": (["--goals", "2", "--actions", "2"], "build_trends with goals"),
    "insider_audit.py": (["--respondents", "60", "--seeds", "1"], ""),
    "pg_erasure.py": (["--sizes", "200", "--submitters", "1"], ""),
    "protection_compare.py": (["--sizes", "60"], ""),
    "ratelimit_flood.py": (["--seconds", "2", "--flooders", "1"], "flooder stored"),
    "results_page.py": (["--rounds", "1", "--requests", "2"], "GET /results/"),
    "signing.py": (["--responses", "500", "--years", "1", "--repeat", "1"], ""),
    "slips.py": (["--slips", "9", "--runs", "1"], ""),
    "surveys.py": (["submit", "--smoke"], "(0 duplicates; 0 lost or failed)"),
    "submit_cpu.py": (["--n", "10", "--profile", "3"], "of the floor's throughput"),
    "verdict_audit.py": (["--smoke"], "received"),
}


# Benches with no smoke run yet, and why (each is still run by `make bench`).
NOT_SMOKED = {
    # Its smallest run (200 respondents, 50 inserts) took over 14 minutes on a loaded
    # machine: the disclosure audit of a tiny round is the slow part; not yet split.
    "publish_sealed.py",
}


def test_every_bench_has_a_smoke_run():
    benches = {p.name for p in (REPO / "bench").glob("*.py")} - LIBRARIES
    assert benches == set(SMOKE) | NOT_SMOKED


@pytest.mark.parametrize("bench", sorted(SMOKE))
def test_bench_runs_at_a_tiny_size(bench: str, tmp_path: Path):
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set SPEAKUP_TEST_DATABASE_URL")
    args, expected = SMOKE[bench]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPEAKUP_")}
    env.update(SPEAKUP_BENCH_DATABASE_URL=PG_URL, SPEAKUP_TEST_DATABASE_URL=PG_URL,
               TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(REPO)  # this checkout, not another install of the project
    done = subprocess.run([sys.executable, str(REPO / "bench" / bench), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert done.stdout.strip(), output[-4000:]
    assert expected in done.stdout, output[-4000:]
    assert "Traceback (most recent call last)" not in output, output[-4000:]
