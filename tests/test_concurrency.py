"""Runs that overlap: a second run of a date in flight is refused, never raced; runs of other
dates and maintenance take turns at the embedded catalog and lose nothing."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from schemas import tables as T
from tests.test_cli import VIEWERSHIP, cli
from viewership.catalog import load_catalog
from viewership.cli import main
from viewership.config import Settings, load_settings
from viewership.locking import date_lock

DAY = date(2026, 11, 1)


def test_a_second_run_of_a_date_in_flight_is_refused_in_one_line(
    lakehouse: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with date_lock(lakehouse, DAY):  # a run of the date holds this while it works
        code = main(["--home", str(lakehouse.home), "run", "--date", DAY.isoformat()])
    assert code == 1
    assert capsys.readouterr().err == (
        "viewership: error: a run for 2026-11-01 is already in progress; not racing it\n"
    )


def test_a_second_run_of_one_aggregate_for_a_date_is_refused_and_others_may_run(
    lakehouse: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["--home", str(lakehouse.home), "aggregate", "top_shows", "--date", "2026-11-01"]
    with date_lock(lakehouse, DAY, scope="top_shows"):
        assert main(command) == 1
        refused = capsys.readouterr().err
        # another aggregate of the same date is not blocked by it: it goes on (and finds no
        # published run of the date to aggregate, in this empty lakehouse)
        assert main([*command[:3], "genres_by_region", *command[4:]]) == 1
        other = capsys.readouterr().err
    assert refused == (
        "viewership: error: a top_shows run for 2026-11-01 is already in progress; not racing it\n"
    )
    assert other == (
        "viewership: error: 2026-11-01 has no published run to aggregate; "
        "run `viewership run --date 2026-11-01` first\n"
    )


@pytest.mark.slow
def test_two_dates_and_a_maintenance_at_once_all_land_with_nothing_lost(tmp_path: Path) -> None:
    home = tmp_path / "home"
    generated = cli(home, "generate", "--start", "2026-11-01", "--days", "2",
                    "--events-per-day", "2000", "--seed", "5")  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    # When two dates and a maintenance run start together against the embedded catalog
    commands = [
        ["run", "--date", "2026-11-01", "--ingest-only"],
        ["run", "--date", "2026-11-02", "--ingest-only"],
        ["maintain", "--as-of", "2026-11-02"],
    ]
    env = os.environ | {"VIEWERSHIP_SHUFFLE_PARTITIONS": "2", "VIEWERSHIP_DRIVER_MEMORY": "1g"}
    running = [
        subprocess.Popen([VIEWERSHIP, "--home", str(home), *c], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in commands
    ]  # fmt: skip
    done = [(p.wait(timeout=900), *p.communicate()) for p in running]
    # Then every one of them succeeds (their commits took turns)
    assert [code for code, _, _ in done] == [0, 0, 0], [err[-2000:] for _, _, err in done]
    # and nothing was lost: the events both runs accepted are all in silver
    catalog = load_catalog(load_settings(home, env={}))
    log = catalog.load_table(T.RUN_LOG.identifier).scan().to_arrow().to_pylist()
    accepted = {
        (r["logical_date"], r["feed"]): r["accepted"] for r in log if r["status"] == "published"
    }
    events = catalog.load_table(T.VIEWING_EVENTS.identifier).scan().to_arrow()
    assert events.num_rows == (
        accepted[(date(2026, 11, 1), "viewing_events")]
        + accepted[(date(2026, 11, 2), "viewing_events")]
    )
    assert len(set(events.column("event_id").to_pylist())) == events.num_rows
