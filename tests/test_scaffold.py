"""``viewership new-aggregate``: a scaffold that registers, runs its own test, and refuses junk.

The scaffold is written into a copy of the project (the checkout stays untouched); the copy's
own modules win there because Python puts the working folder first on ``sys.path`` for
``python -m``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from viewership.config import REPO_ROOT

PYTHON = sys.executable


def project_copy(where: Path) -> Path:
    """The project's sources (no virtualenv, data home, caches or git) under ``where``."""
    ignored = shutil.ignore_patterns(".venv", ".home", ".git", "__pycache__", "*.egg-info",
                                     ".ruff_cache", ".pytest_cache")  # fmt: skip
    return Path(shutil.copytree(REPO_ROOT, where / "project", ignore=ignored))


def in_copy(copy: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, *argv], cwd=copy, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Weekend", "must be lower-case letters"),
        ("9lives", "must be lower-case letters"),
        ("class", "must be lower-case letters"),
        ("top_shows", "exists already (aggregates.top_shows)"),
    ],
)
def test_a_bad_or_taken_name_is_one_line_and_writes_nothing(
    tmp_path: Path, name: str, message: str
) -> None:
    copy = project_copy(tmp_path)
    before = sorted(p.name for p in (copy / "aggregates").iterdir())
    done = in_copy(copy, "-m", "viewership.cli", "new-aggregate", name)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert sorted(p.name for p in (copy / "aggregates").iterdir()) == before


@pytest.mark.slow
def test_a_scaffolded_aggregate_registers_and_passes_its_own_test(tmp_path: Path) -> None:
    copy = project_copy(tmp_path)
    done = in_copy(copy, "-m", "viewership.cli", "new-aggregate", "weekend_viewers")
    assert done.returncode == 0, done.stderr
    module = copy / "aggregates" / "weekend_viewers.py"
    test = copy / "tests" / "test_aggregate_weekend_viewers.py"
    assert done.stdout.splitlines()[:2] == [f"wrote {module}", f"wrote {test}"]
    # The registry of the copy finds it, valid, with its table in gold; the DAG lists it
    listed = in_copy(copy, "-c", "import aggregates; from jobs.registry import registry; "
                     "r = registry(); print(r.problems, aggregates.names(), "
                     "r.get('weekend_viewers').table.identifier)")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("{} [")
    assert "'weekend_viewers'" in listed.stdout
    assert listed.stdout.rstrip().endswith("gold.weekend_viewers_daily")
    # and its own test passes as scaffolded, lint-clean
    tested = in_copy(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout
    ruff = str(Path(PYTHON).parent / "ruff")
    linted = subprocess.run(
        [ruff, "check", "--no-cache", str(module), str(test)], cwd=copy, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout
    # and a second scaffold of the same name is refused
    again = in_copy(copy, "-m", "viewership.cli", "new-aggregate", "weekend_viewers")
    assert again.returncode == 2 and "exists already" in again.stderr
