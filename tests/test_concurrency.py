"""Runs that overlap: a second run of a date in flight is refused, never raced."""

from __future__ import annotations

from datetime import date

import pytest

from viewership.cli import main
from viewership.config import Settings
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
