"""docs/extending.md, followed literally in a copy of the project, so the tutorial cannot rot.

Blocks are taken in page order: a fenced block whose info string names ``file=PATH`` is
written to PATH; in a ``console`` block each ``$`` line is run from the copy's root (where
``.venv/bin/viewership`` and ``.venv/bin/python`` are this interpreter's), must succeed, and
the lines shown under it must appear, in that order, among the lines it printed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_scaffold import project_copy
from viewership.config import REPO_ROOT

pytestmark = pytest.mark.slow

TUTORIAL = REPO_ROOT / "docs" / "extending.md"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
PROGRAMS = {
    ".venv/bin/viewership": [sys.executable, "-m", "viewership.cli"],
    ".venv/bin/python": [sys.executable],
}


def steps(text: str) -> list[tuple[str, str, list[str]]]:
    """("file", path, [content]) and ("run", command, [expected lines]) in page order."""
    found: list[tuple[str, str, list[str]]] = []
    for block in FENCE.finditer(text):
        info, body = block["info"].split(), block["body"]
        target = next((i.removeprefix("file=") for i in info if i.startswith("file=")), None)
        if target:
            found.append(("file", target, [body]))
        elif info[:1] == ["console"]:
            for line in body.splitlines():
                if line.startswith("$ "):
                    found.append(("run", line[2:], []))
                elif found and found[-1][0] == "run":
                    found[-1][2].append(line)
    return found


def run(copy: Path, command: str) -> str:
    program, *args = shlex.split(command)
    done = subprocess.run(PROGRAMS[program] + args, cwd=copy, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    copy = project_copy(tmp_path)
    tutorial = steps(TUTORIAL.read_text(encoding="utf-8"))
    assert [s[1] for s in tutorial if s[0] == "file"] == [
        "aggregates/weekend_viewers.py",
        "aggregates/weekend_viewers.sql",
        "tests/test_aggregate_weekend_viewers.py",
    ]
    for kind, target, lines in tutorial:
        if kind == "file":
            assert (copy / target).exists() or target.endswith(".sql"), f"{target} not scaffolded"
            (copy / target).write_text(lines[0], encoding="utf-8")
            continue
        printed = run(copy, target).splitlines()
        remaining = iter(printed)
        assert all(line in remaining for line in lines), (  # a subsequence, in order
            f"$ {target}\nexpected:\n" + "\n".join(lines) + "\nprinted:\n" + "\n".join(printed)
        )
    # The aggregate's table is published in the copy's home, and its DAG task is mapped
    listed = run(copy, ".venv/bin/python -c 'from viewership.orchestration import "
                       "aggregate_commands as a; print(a(\"2026-11-01\", \"r\"))'")  # fmt: skip
    assert "['aggregate', '--date', '2026-11-01', '--run-id', 'r', 'weekend_viewers']" in listed
