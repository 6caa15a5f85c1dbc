"""The installable package: a wheel built from the project serves pages outside the checkout.

The wheel is built from a copy of the checkout (so the build leaves nothing in it) and
installed without dependencies into a fresh virtual environment in a temporary folder. That
environment gets its dependencies from the test run's own environment through a `.pth` line,
so the test needs no package registry beyond the build's own requirements; the project itself
comes only from the wheel (checked: `speakup.__file__` is inside the new environment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, free_port

# Both engines' tests share one build: keep them on one pytest-xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

PACKAGES = ("speakup", "concerns", "surveys", "review", "migrations")
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__",
    "instance", "test-artifacts", ".pytest_cache", ".ruff_cache", ".hypothesis", "tests",
)


@dataclass
class Installed:
    wheel: Path
    venv: Path

    @property
    def speakup(self) -> Path:
        return self.venv / "bin" / "speakup"


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this run's PYTHONPATH or SPEAKUP_* settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("SPEAKUP_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SHIPPED, symlinks=True)
    dist = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
          str(source)], env=_clean_env(), cwd=root)
    (wheel,) = dist.glob("speakup-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env=_clean_env(), cwd=root)
    purelib = Path(_run([str(venv / "bin" / "python"), "-c",
                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        env=_clean_env(), cwd=root).stdout.strip())
    # Dependencies from this run's environment (appended to sys.path, after the venv's own
    # site-packages; its .pth files, such as an editable install of the checkout, are not read).
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "speakup-test-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
          "--no-index", str(wheel)], env=_clean_env(), cwd=root)
    yield Installed(wheel, venv)


def test_wheel_holds_every_module_template_static_file_item_bank_and_migration(
    installed: Installed,
):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = set()
    for package in PACKAGES:
        expected |= {p.relative_to(REPO).as_posix() for p in (REPO / package).rglob("*.py")}
    expected |= {f"speakup/{p.relative_to(REPO).as_posix()}"
                 for folder in ("templates", "static")
                 for p in (REPO / folder).rglob("*") if p.is_file()}
    expected |= {p.relative_to(REPO).as_posix()
                 for p in (REPO / "surveys" / "itembank").glob("*.yaml")}
    expected.add("migrations/script.py.mako")
    # Compiled translations, once the project has them (Flask-Babel's translations/).
    expected |= {f"speakup/{p.relative_to(REPO).as_posix()}"
                 for p in (REPO / "translations").rglob("*.mo")}
    assert len(expected) > 150
    assert expected - names == set()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_installed_wheel_migrates_and_serves_pages_outside_the_checkout(
    installed: Installed, empty_database_url: str, tmp_path: Path
):
    env = _clean_env(SPEAKUP_INSTANCE_PATH=str(tmp_path / "instance"),
                     SPEAKUP_DATABASE_URL=empty_database_url, SPEAKUP_SECURE_COOKIES="false")
    where = _run([str(installed.venv / "bin" / "python"), "-c",
                  "import speakup, flask; print(speakup.__file__)"], env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed.venv)
    _run([str(installed.speakup), "init"], env=env, cwd=tmp_path)
    _run([str(installed.speakup), "db", "upgrade"], env=env, cwd=tmp_path)
    assert "(head)" in _run([str(installed.speakup), "db", "current"], env=env,
                            cwd=tmp_path).stdout
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(installed.speakup), "serve", "--port", str(port), "--without-scheduler"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if _get(url + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        status, home = _get(url + "/")
        assert status == 200 and "Speak Up" in home, home
        status, login = _get(url + "/login")
        assert status == 200 and 'name="password"' in login
        status, missing = _get(url + "/no-such-page")
        assert status == 404 and "Page not found" in missing, missing
        status, css = _get(url + "/static/style.css")
        assert status == 200 and "{" in css
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "TemplateNotFound" not in log.read_text()
