"""docs/ARCHITECTURE.md and the README's test commands say what is true of the code.

The architecture document names files and functions; each must exist, so the map cannot
drift from the territory unnoticed. `make test-quick` must select only in-process SQLite
tests, and `make test` must run in parallel with the number of workers asked for.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO

DOC = REPO / "docs" / "ARCHITECTURE.md"
PATH_LIKE = re.compile(r"`([A-Za-z_.]+(?:/[A-Za-z_.*\-<>]+)+)(?:: ?([a-z_]+))?`")


def test_readme_links_the_architecture_document():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/ARCHITECTURE.md)" in readme
    assert "DESIGN.md` (shared with the project)" not in readme


def test_every_file_and_function_the_document_names_exists():
    text = DOC.read_text(encoding="utf-8")
    named = PATH_LIKE.findall(text)
    assert len(named) > 60
    for path, function in named:
        if "<" in path:  # a pattern such as templates/<blueprint>/
            continue
        matches = list(REPO.glob(path.rstrip("/")))
        assert matches, f"docs/ARCHITECTURE.md names {path}, which does not exist"
        if function:
            source = matches[0].read_text(encoding="utf-8")
            assert re.search(rf"^def {function}\(", source, re.M), f"{path}: {function}"


def test_every_rule_points_at_tests_that_exist():
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## The six anonymity rules", 1)[1].split("\n## ", 1)[0]
    rules = re.split(r"^\d\. \*\*", section, flags=re.M)[1:]
    assert len(rules) == 6
    for rule in rules:
        tests = re.findall(r"`(tests/[^`]+\.py)`", rule)
        assert tests, rule[:60]
        assert all((REPO / t).is_file() for t in tests)


def _dry_run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(REPO), "-o", ".venv/.installed-stamp",
         "-o", "browser-deps", *args], capture_output=True, text=True, env=env, check=True)
    return done.stdout


def test_make_test_runs_in_parallel_with_the_workers_asked_for():
    assert re.search(r"pytest -n auto --dist loadgroup", _dry_run("test"))
    assert re.search(r"pytest -n 2 --dist loadgroup", _dry_run("test", "JOBS=2"))


@pytest.mark.slow  # collects the whole suite in a second pytest
def test_make_test_quick_selects_in_process_sqlite_tests_only():
    assert re.search(r"pytest -n auto --dist loadgroup -m quick", _dry_run("test-quick"))
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         "-m", "quick", "tests"],
        cwd=REPO, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    ids = [line for line in listed.splitlines() if "::" in line]
    assert len(ids) > 400
    backend = re.compile(r"[\[-]postgresql[\]-]")
    assert not [i for i in ids if backend.search(i) or "browser" in i or "::test_make_run" in i]
    assert any(i.startswith("tests/unit/") for i in ids)
    assert any("[sqlite" in i for i in ids)
