"""The crash matrix: SIGKILL `viewership run` at its own progress markers, and check the tables.

Each kill point crashes the run of a new arrival date, at the moment the run prints a marker
(``VIEWERSHIP_LOG_LEVEL=DEBUG`` adds one per table audited and per table published). After the
kill, every table must be at its old or its new state, never a partial one, so that readers
never see unaudited rows; a rerun of the date must converge to exactly the tables of an
uninterrupted run, compared row by row. A reference home runs the same dates uninterrupted,
meanwhile. Last, maintenance must leave no audit branch and no orphan file of the killed runs.
The matrix is printed and written to ``.home/reliability/crash-matrix.md``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from aggregates import top_shows
from schemas import tables as T
from tests.reliability.report import write_matrix
from tests.test_cli import VIEWERSHIP, cli
from viewership.catalog import load_catalog
from viewership.config import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.crash]

FIRST = date(2026, 11, 1)
AGGREGATE = "top_shows"
# Columns a rerun legitimately writes differently: which run wrote the row.
RUN_COLUMNS = {"run_id"}


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: the phase, the command, and the marker line to kill at."""

    phase: str
    where: str
    marker: str
    aggregate: bool = False  # the kill hits `viewership aggregate`, after an ingest-only run


KILL_POINTS = (
    KillPoint("ingest", "catalog staged", r"\] catalog (snapshot|in effect):"),
    KillPoint("ingest", "events staged on the branch", r"\] viewing_events: "),
    KillPoint("audit", "everything staged, gate not run", r"\] user-show fact recomputed"),
    KillPoint("audit", "between two tables' suites", r"^audited silver\.viewing_events:"),
    KillPoint("publication", "bronze partly published", r"^fast-forwarded bronze\.signups_raw"),
    KillPoint("publication", "silver partly published", r"^fast-forwarded silver\.viewing_events"),
    KillPoint("gold", "aggregate staged and audited", r"^audited gold\.top_shows", aggregate=True),
    KillPoint("gold", "aggregate published, not logged", r"^fast-forwarded gold\.", aggregate=True),
)
TABLES = T.AUDITED_TABLES + (top_shows.TABLE,)


def _state(home: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every audited table's main, as a reader sees it, without the columns naming the run."""
    catalog = load_catalog(load_settings(home, env={}))
    state = {}
    for table in TABLES:
        rows = catalog.load_table(table.identifier).scan().to_arrow().to_pylist()
        state[table.identifier] = sorted(
            tuple((k, v) for k, v in row.items() if k not in RUN_COLUMNS) for row in rows
        )
    return state


def _commands(day: date) -> list[list[str]]:
    """The uninterrupted run of a day: the core ingest-only, then the one aggregate checked."""
    return [
        ["run", "--date", str(day), "--ingest-only"],
        ["aggregate", AGGREGATE, "--date", str(day)],
    ]


def _run(home: Path, *args: str) -> None:
    done = cli(home, *args)
    assert done.returncode == 0, done.stderr[-3000:]


def _kill_at(home: Path, args: list[str], marker: str) -> list[str]:
    """Start the command, SIGKILL its whole process group (driver and JVM) at the marker."""
    env = os.environ | {
        "VIEWERSHIP_LOG_LEVEL": "DEBUG",
        "VIEWERSHIP_SHUFFLE_PARTITIONS": "2",
        "VIEWERSHIP_DRIVER_MEMORY": "1g",
    }
    process = subprocess.Popen(
        [VIEWERSHIP, "--home", str(home), *args],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stderr is not None
    seen = []
    pattern = re.compile(marker)
    for line in process.stderr:
        seen.append(line.rstrip())
        if pattern.search(line):
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL, f"marker {marker!r} never came:\n" + "\n".join(
        seen[-30:]
    )
    return seen


def _branches(home: Path) -> list[str]:
    catalog = load_catalog(load_settings(home, env={}))
    return sorted(
        f"{t.identifier}@{name}"
        for t in TABLES
        for name in catalog.load_table(t.identifier).metadata.refs
        if name != "main"
    )


def _orphans(home: Path) -> list[str]:
    """Data files on disk that no snapshot of their table references."""
    catalog = load_catalog(load_settings(home, env={}))
    orphans = []
    for table in T.ALL_TABLES + (top_shows.TABLE,):
        loaded = catalog.load_table(table.identifier)
        referenced = {
            task.file.file_path.removeprefix("file:")
            for snapshot in loaded.snapshots()
            for task in loaded.scan(snapshot_id=snapshot.snapshot_id).plan_files()
        }
        folder = Path(loaded.location().removeprefix("file:")) / "data"
        on_disk = {str(p) for p in folder.rglob("*.parquet")} if folder.is_dir() else set()
        orphans += sorted(on_disk - referenced)
    return orphans


def test_a_run_killed_anywhere_leaves_no_partial_table_and_its_rerun_converges(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One pseudonym key for both homes, so that their gold facts compare row for row.
    monkeypatch.setenv("VIEWERSHIP_PSEUDONYM_SECRET", "crash-matrix")
    days = [FIRST + timedelta(days=i) for i in range(len(KILL_POINTS) + 1)]
    crashed, reference = tmp_path / "crashed", tmp_path / "reference"
    _run(crashed, "generate", "--start", str(FIRST), "--days", str(len(days)),
         "--events-per-day", "300", "--seed", "3")  # fmt: skip
    (reference / "landing").parent.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(crashed / "landing"), str(reference / "landing")], check=True)
    # The first day is published in both homes; each later day meets one kill point.
    for home in (crashed, reference):
        for command in _commands(days[0]):
            _run(home, *command)

    # The reference runs each day uninterrupted, a day ahead, in a thread of its own.
    def uninterrupted(day: date) -> dict[str, list[tuple[object, ...]]]:
        for command in _commands(day):
            _run(reference, *command)
        return _state(reference)

    matrix = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        afters = [pool.submit(uninterrupted, day) for day in days[1:]]
        for day, point, future in zip(days[1:], KILL_POINTS, afters, strict=True):
            commands = _commands(day)
            if point.aggregate:  # the kill hits the aggregate, after the day's ingest
                _run(crashed, *commands.pop(0))
            before = _state(crashed)
            # When the run of the day is killed at the marker
            killed = _kill_at(crashed, commands[0], point.marker)
            after = future.result()
            assert before != after
            # Then every table is at its old or its new state: readers never see a partial one
            state = _state(crashed)
            partial = [t for t, rows in state.items() if rows not in (before[t], after[t])]
            assert partial == [], f"{point.where}: partial tables {partial}"
            new = sum(state[t] == after[t] != before[t] for t in state)
            # and a rerun of the date (another run id) converges to the uninterrupted tables
            for command in commands:
                _run(crashed, *command)
            assert _state(crashed) == after, f"{point.where}: the rerun did not converge"
            # and leaves no branch of the killed run behind
            assert _branches(crashed) == [], point.where
            matrix.append(
                {"phase": point.phase, "killed at": point.where, "last line": killed[-1][:70],
                 "tables new at the kill": f"{new} of {len(state)}", "rerun converged": "yes"}
            )  # fmt: skip
    # And once maintenance has run, no file of the killed runs is left either
    _run(crashed, "maintain", "--as-of", str(date.today() + timedelta(days=4)))
    assert _orphans(crashed) == []
    write_matrix(request.config.rootpath, "crash-matrix", matrix)
