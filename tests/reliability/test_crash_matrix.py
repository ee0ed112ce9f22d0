"""The crash matrix: SIGKILL `viewership` at its own progress markers, and check the tables.

One arrival date is run again and again in a crashed home, and each run is killed with SIGKILL
(driver and JVM) at the next kill point, the moment it prints a marker
(``VIEWERSHIP_LOG_LEVEL=DEBUG`` adds one per table audited and per table published). So every
run after the first starts from the debris of a killed one, and some are killed while they
clean it up. After each kill, every table must be at its old or its new state, never a partial
one, so that readers never see unaudited rows. The last run goes through and must converge to
exactly the tables of an uninterrupted run of the date in a reference home, compared row by
row. Then no audit branch may be left, and after maintenance no orphan file either. The
matrix is printed and written to ``.home/reliability/crash-matrix.md``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from aggregates import top_shows
from jobs.generate import generate_landing
from schemas import tables as T
from tests import lake_kit
from tests.reliability.report import write_matrix
from tests.test_cli import VIEWERSHIP, cli
from viewership.catalog import load_catalog
from viewership.config import Settings, load_settings

pytestmark = [pytest.mark.slow, pytest.mark.crash]

FIRST = date(2026, 11, 1)
DAY = FIRST + timedelta(days=1)
AGGREGATE = "top_shows"
# One pseudonym key for both homes, so that their gold facts compare row for row.
PSEUDONYM_KEY = "crash-matrix"
# Columns a rerun legitimately writes differently: which run wrote the row.
RUN_COLUMNS = {"run_id"}
INGEST = ("run", "--date", str(DAY), "--ingest-only")
GOLD = ("aggregate", "--date", str(DAY), AGGREGATE)


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: the phase, the command killed, and the marker line to kill at."""

    phase: str
    where: str
    marker: str
    command: tuple[str, ...] = INGEST


# In the order one run meets them. A run killed mid-publication is finished by the next run
# before that run restages the date, so the sixth kill hits the finishing of the fifth's.
KILL_POINTS = (
    KillPoint("ingest", "catalog staged", r"\] catalog (snapshot|in effect):"),
    KillPoint("ingest", "events staged on the branch", r"\] viewing_events: "),
    KillPoint("audit", "everything staged, gate not run", r"\] user-show fact recomputed"),
    KillPoint("audit", "between two tables' suites", r"^audited silver\.viewing_events:"),
    KillPoint("publication", "bronze partly published", r"^fast-forwarded bronze\.signups_raw"),
    KillPoint("publication", "finishing it: silver partly published",
              r"^fast-forwarded silver\.viewing_events"),
    KillPoint("gold", "aggregate staged and audited", r"^audited gold\.top_shows", GOLD),
    KillPoint("gold", "aggregate published, not logged", r"^fast-forwarded gold\.", GOLD),
)  # fmt: skip
TABLES = T.AUDITED_TABLES + (top_shows.TABLE,)
State = dict[str, list[tuple[object, ...]]]


def _state(settings: Settings) -> State:
    """Every audited table's main, as a reader sees it, without the columns naming the run."""
    catalog = load_catalog(settings)
    state = {}
    for table in TABLES:
        rows = catalog.load_table(table.identifier).scan().to_arrow().to_pylist()
        state[table.identifier] = sorted(
            tuple((k, v) for k, v in row.items() if k not in RUN_COLUMNS) for row in rows
        )
    return state


def _run(home: Path, *args: str) -> None:
    done = cli(home, *args)
    assert done.returncode == 0, done.stderr[-3000:]


def _kill_at(home: Path, args: tuple[str, ...], marker: str) -> list[str]:
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


def _branches(settings: Settings) -> list[str]:
    catalog = load_catalog(settings)
    return sorted(
        f"{t.identifier}@{name}"
        for t in TABLES
        for name in catalog.load_table(t.identifier).metadata.refs
        if name != "main"
    )


def _orphans(settings: Settings) -> list[str]:
    """Data files on disk that no snapshot of their table references."""
    catalog = load_catalog(settings)
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


def _new(state: State, changed: list[str], after: State) -> str:
    """How many of the tables the date changes are at their new state."""
    return f"{sum(state[t] == after[t] for t in changed)} of {len(changed)}"


def _age(folder: Path, by: timedelta) -> None:
    """Set back the modification time of every file under the folder."""
    then = (datetime.now(UTC) - by).timestamp()
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def test_a_run_killed_anywhere_leaves_no_partial_table_and_its_rerun_converges(
    spark: SparkSession,
    lakehouse: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIEWERSHIP_PSEUDONYM_SECRET", PSEUDONYM_KEY)
    reference = dataclasses.replace(lakehouse, pseudonym_key=PSEUDONYM_KEY)
    crashed_home = tmp_path / "crashed"
    crashed = load_settings(crashed_home, env={"VIEWERSHIP_PSEUDONYM_SECRET": PSEUDONYM_KEY})
    generate_landing(spark, reference.landing, FIRST, 2, 300, seed=3)
    shutil.copytree(reference.landing, crashed.landing)
    # The first day is published in both homes, so that "old state" holds rows.
    lake_kit.run(spark, reference, FIRST, aggregates=[AGGREGATE])
    _run(crashed_home, "run", "--date", str(FIRST), "--ingest-only")
    _run(crashed_home, "aggregate", "--date", str(FIRST), AGGREGATE)
    before = _state(crashed)
    assert before == _state(reference)
    # The reference runs the date uninterrupted, in this test's own Spark session.
    lake_kit.run(spark, reference, DAY, aggregates=[AGGREGATE])
    after = _state(reference)
    changed = [t for t in after if after[t] != before[t]]
    assert changed

    matrix = []
    for point, following in zip(KILL_POINTS, (*KILL_POINTS[1:], None), strict=True):
        # When a run of the date is killed at the marker
        killed = _kill_at(crashed_home, point.command, point.marker)
        # Then every table is at its old or its new state: readers never see a partial one
        state = _state(crashed)
        partial = [t for t, rows in state.items() if rows not in (before[t], after[t])]
        assert partial == [], f"{point.where}: partial tables {partial}"
        matrix.append(
            {"phase": point.phase, "killed at": point.where, "last line": killed[-1][:70],
             "tables new": _new(state, changed, after), "partial tables": 0}
        )  # fmt: skip
        if following is not None and following.command != point.command:
            _run(crashed_home, *point.command)  # the command's last kill: now it goes through
    # And the run that goes through converges to the uninterrupted tables, row for row
    _run(crashed_home, *GOLD)
    assert _state(crashed) == after, "the rerun did not converge"
    # and leaves no branch of the killed runs behind
    assert _branches(crashed) == []
    # and once the weekly maintenance has run, no file of the killed runs is left either
    # (Iceberg removes no orphan younger than a day: the files are aged as a week would)
    _age(Path(crashed.warehouse.removeprefix("file://")), timedelta(days=5))
    _run(crashed_home, "maintain", "--as-of", str(datetime.now(UTC).date() + timedelta(days=1)))
    assert _orphans(crashed) == []
    matrix.append(
        {"phase": "last rerun", "killed at": "not killed", "last line": "converged row for row",
         "tables new": _new(_state(crashed), changed, after), "partial tables": 0}
    )  # fmt: skip
    write_matrix(request.config.rootpath, "crash-matrix", matrix)
