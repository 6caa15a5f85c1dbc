"""Every web worker, scheduler and command starts by importing the app: keep that light.

numpy and scipy (the disclosure audits' solver), openpyxl (staff lists as workbooks),
fpdf2 (printed slips) and jsonschema (the signed progress report) are imported when first
used (speakup/lazy_import.py, or inside the function), not with the app: together they
were more than half of every process's start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from speakup.lazy_import import LazyModule

HEAVY = ("numpy", "scipy", "openpyxl", "fpdf", "fontTools", "jsonschema")


def _modules_after(statement: str) -> set[str]:
    script = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return {name.split(".")[0] for name in json.loads(out.strip().splitlines()[-1])}


def test_building_the_app_leaves_the_heavy_libraries_unimported():
    loaded = _modules_after("from speakup.app import create_app")
    assert "flask" in loaded and "sqlalchemy" in loaded  # the import did happen
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_audits_still_find_their_solver_when_they_run():
    loaded = _modules_after(
        "from speakup.disclosure_audit import point_is_feasible, np, sparse\n"
        "m = sparse.csr_array(np.array([[1.0, 1.0]]))\n"
        "assert point_is_feasible(np.array([1.0, 2.0]), np.zeros(2), np.full(2, 5.0), m,"
        " np.array([3.0]), np.array([3.0]))\n"
        "assert not point_is_feasible(np.array([1.0, 3.0]), np.zeros(2), np.full(2, 5.0), m,"
        " np.array([3.0]), np.array([3.0]))")
    assert {"numpy", "scipy"} <= loaded


def test_a_lazy_module_imports_on_first_use_and_says_what_it_stands_for():
    module = LazyModule("json")
    assert "json" in repr(module)
    assert module.dumps([1]) == json.dumps([1])
    missing = LazyModule("speakup_no_such_module")
    with pytest.raises(ModuleNotFoundError):
        missing.anything  # noqa: B018
