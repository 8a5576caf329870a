"""scripts/_venv.sh (sourced by scripts/run and scripts/test) on a copy of the repository whose
.venv is a stand-in: pip, the one external boundary here, is a script that records its calls.
One line per phase; pip runs again only when pyproject.toml or the extras changed; every
apt-get in the scripts skips recommended packages and says first what it installs and why."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAND_IN = """#!/bin/sh
echo "$*" >>"$(dirname "$0")/../pip-calls"
[ "$1" = --version ] && echo "Python 3.11.0"
exit 0
"""


@pytest.fixture
def repo(tmp_path):
    """A copy of the scripts and pyproject.toml, with a stand-in .venv whose caas exists."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "caas"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def venv(repo: Path, extras: str = "") -> tuple[str, list[str]]:
    """Sources _venv.sh with ``extras``; its output and the pip installs it ran."""
    calls = repo / ".venv" / "pip-calls"
    calls.unlink(missing_ok=True)
    out = subprocess.run(["bash", "-c", 'source scripts/_venv.sh "$1"', "-", extras], cwd=repo,
                         env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "PYTHON": sys.executable},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    installs = [c for c in calls.read_text().splitlines() if "install" in c] if calls.exists() else []
    return out.stdout, installs


def test_pip_runs_only_when_pyproject_or_the_extras_change(repo):
    out, installs = venv(repo)
    assert out.startswith(f"venv: {repo}/.venv (Python 3.11.0)\npackages: installing caas and its dependencies")
    assert installs == ["-m pip install -q --upgrade pip", "-m pip install -q -e ."]

    out, installs = venv(repo)
    assert "packages: caas is installed and pyproject.toml has not changed: not reinstalling" in out
    assert installs == []

    out, installs = venv(repo, "[test]")
    assert "packages: installing caas[test]" in out and installs[-1] == "-m pip install -q -e .[test]"
    assert venv(repo, "[test]")[1] == [] and venv(repo)[1] == []  # [test] includes the main install

    with open(repo / "pyproject.toml", "a") as f:
        f.write("\n# changed\n")
    assert venv(repo)[1][-1] == "-m pip install -q -e ."


def test_an_interrupted_install_is_made_again(repo):
    venv(repo)
    (repo / ".venv" / "bin" / "python").write_text(STAND_IN.replace("exit 0", '[ "$5" = -e ] && exit 1; exit 0'))
    with open(repo / "pyproject.toml", "a") as f:
        f.write("\n# changed\n")
    failed = subprocess.run(["bash", "-c", "source scripts/_venv.sh ''"], cwd=repo, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=60)
    assert failed.returncode == 1 and not (repo / ".venv" / "caas-installed").exists()


def test_every_apt_get_skips_recommends_and_says_why():
    scripts = [p for p in [*(ROOT / "scripts").iterdir(), ROOT / ".ci" / "run"] if p.is_file()]
    installs = [(p.name, line) for p in scripts for line in p.read_text().splitlines()
                if re.search(r"apt-get\s+(-\S+\s+)*install\b", line)]
    assert installs == [("_apt.sh", '  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"')]
    callers = [line.strip() for p in scripts for line in p.read_text().splitlines()
               if re.match(r"\s*apt_install ", line)]
    assert len(callers) == 6 and all(re.match(r'apt_install "[^"]{20,}"', c) for c in callers), callers


def test_apt_install_says_what_and_why_first_and_updates_once(tmp_path):
    """apt-get, the package manager, is a stand-in that records its calls."""
    (tmp_path / "apt-get").write_text(f'#!/bin/sh\necho "apt-get $*" >>{tmp_path}/calls\necho "apt-get $*"\n')
    (tmp_path / "apt-get").chmod(0o755)
    out = subprocess.run(["bash", "-c", f"source {ROOT}/scripts/_apt.sh; apt_install 'the tests need it' postgresql; "
                          "apt_install 'the browser tests drive it' chromium"],
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "apt: installing postgresql with apt-get --no-install-recommends: the tests need it",
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends postgresql",
        "apt: installing chromium with apt-get --no-install-recommends: the browser tests drive it",
        "apt-get install -y -q --no-install-recommends chromium"]
