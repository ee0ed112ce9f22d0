"""The ``viewership`` command line as the contract fixes it: answers, formats and errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest

from tests.landing_kit import catalog, ev, signup, write_lines
from viewership.cli import main

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
VIEWERSHIP = str(Path(sys.executable).parent / "viewership")


def cli(
    home: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``viewership --home HOME ARGS`` in the test's environment (or ``env``), small Spark."""
    env = {**(os.environ if env is None else env),
           "VIEWERSHIP_SHUFFLE_PARTITIONS": "2", "VIEWERSHIP_DRIVER_MEMORY": "1g"}  # fmt: skip
    return subprocess.run(
        [VIEWERSHIP, "--home", str(home), *args], capture_output=True, text=True, env=env
    )


def as_json(home: Path, *args: str) -> object:
    done = cli(home, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "top-shows", "--start", "2026-13-01", "--end", "2026-11-02"], "YYYY-MM-DD"),
        (["query", "top-shows", "--start", "2026-11-1", "--end", "2026-11-02"], "YYYY-MM-DD"),
        (["query", "co-watch", "--start", "2026-11-03", "--end", "2026-11-02"], "before"),
        (["query", "genres", "--start", "2026-11-01", "--end", "2026-11-02", "--region", "MARS"],
         "region"),
        (["query", "genres", "--start", "2026-11-01", "--end", "2026-11-02",
          "--region", "UCAN' OR '1'='1"], "unknown region \"UCAN' OR '1'='1\""),
        (["query", "signups", "--start", "2026-11-01", "--end", "2026-11-02", "--format", "xml"],
         "format"),
        (["query", "signups", "--start", "2026-11-01", "--end", "2026-11-02", "--by", "week"],
         "--by"),
        (["query", "top-shows", "--start", "2026-11-01", "--end", "2026-11-02", "--limit", "0"],
         "at least 1"),
        (["run", "--date", "2026-11-02", "--through", "2026-11-01"], "before"),
        (["run", "--date", "2026-11-02", "--max-bad-ratio", "1.5"], "between 0 and 1"),
        (["query", "top-shows"], "required"),
        (["audit", "--date", "yesterday"], "YYYY-MM-DD"),
        (["maintain"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)  # fmt: skip
def test_bad_arguments_give_one_line_and_a_non_zero_exit(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--home", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("viewership: error: ") and message in err
    assert "Traceback" not in err


def test_a_missing_home_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(tmp_path / "nope"), "query", "signups", "--start", "2026-11-01",
                 "--end", "2026-11-01"])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "does not exist" in err


def test_an_empty_home_answers_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    period = ["--start", "2026-11-01", "--end", "2026-11-07", "--format", "json"]
    answers = {}
    for answer in ("top-shows", "genres", "co-watch", "signups"):
        assert main(["--home", str(tmp_path), "query", answer, *period]) == 0
        answers[answer] = json.loads(capsys.readouterr().out)
    assert answers == {
        "top-shows": [], "genres": [], "co-watch": [], "signups": [{"new_users": 0}]
    }  # fmt: skip


def test_auditing_a_date_that_never_ran_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(tmp_path), "audit", "--date", "2026-11-01"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run recorded for 2026-11-01" in err


def hand_made_landing(landing: Path) -> None:
    """Two days whose right answers are worked out by hand in the test below."""
    catalog(landing, D1)
    a1 = ev("a1", "u1", "s1", "2026-11-01T10:00:00Z", 100)
    a3 = ev("a3", "u1", "s2", "2026-11-01T19:00:00Z", 200)
    write_lines(
        landing,
        "viewing_events",
        D1,
        [
            a1,
            a1,
            ev("a2", "u1", "s1", "2026-11-01T18:00:00Z", 30),
            a3,
            ev("a4", "u2", "s1", "2026-11-01T20:00:00-03:00", 500, "BR"),
            ev("a5", "u3", "s1", "2026-11-01T08:00:00+01:00", 60, "DE"),
            ev("a6", "u3", "s1", "2026-11-01T09:00:00Z", 70, "FR"),
            ev("a7", "u4", "s2", "2026-11-01T12:00:00Z", 100, "US"),
            ev("a9", "u5", "s3", "2026-11-01T12:00:00+09:00", 119, "JP"),
            ev("a10", "u6", "s2", "2026-11-01T21:00:00Z", 300),
            ev("a11", "u7", "s1", "2026-11-01T22:00:00Z", 200, "us", "Mobile"),
        ],
    )
    write_lines(
        landing,
        "viewing_events",
        D2,
        [
            ev("b1", "u2", "s2", "2026-11-02T10:00:00Z", 40, "BR"),
            ev("b2", "u3", "s3", "2026-11-02T10:00:00Z", 120, "DE"),
            ev("b3", "u6", "s3", "2026-11-02T11:00:00Z", 300),
            ev("b4", "u7", "s2", "2026-11-01T23:30:00-01:00", 200),
            ev("a8", "u4", "s2", "2026-11-01T12:30:00Z", 100, "MX"),
            a3,
            "garbage",
        ],
        name="late.jsonl.gz",
    )
    write_lines(
        landing,
        "signups",
        D1,
        [
            signup("u1", "2026-11-01T01:00:00Z", "US", "basic"),
            signup("u2", "2026-11-01T02:00:00Z", "BR", "Premium"),
        ],
    )
    write_lines(landing, "signups", D2, [
        signup("u3", "2026-11-02T05:00:00Z", "DE", "standard"),
        signup("u1", "2026-11-02T06:00:00Z", "US", "premium"),
    ])  # fmt: skip


@pytest.mark.slow
def test_the_four_answers_on_a_hand_made_data_set(tmp_path: Path) -> None:
    # Given two arrival days of hand-made landing data (one bad line in seven on day 2)
    hand_made_landing(tmp_path / "landing")
    # When the run refuses at the default 5% and succeeds with --max-bad-ratio 0.2
    refused = cli(tmp_path, "run", "--date", "2026-11-01", "--through", "2026-11-02")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].startswith("viewership: error: 2026-11-02")
    # and `viewership audit` explains the refusal and where the staged data waits
    audit = cli(tmp_path, "audit", "--date", "2026-11-02")
    assert audit.returncode == 0, audit.stderr
    assert "REFUSED" in audit.stdout.splitlines()[0]
    assert "FAILED [error] ops.run_log quarantine_share" in audit.stdout
    assert "VERSION AS OF 'audit_20261102_" in audit.stdout
    verdict = json.loads(cli(tmp_path, "audit", "--date", "2026-11-02", "--format", "json").stdout)
    assert (verdict["status"], verdict["failed"]) == ("refused", 1)
    done = cli(tmp_path, "run", "--date", "2026-11-02", "--max-bad-ratio", "0.2")
    assert done.returncode == 0, done.stderr
    period = ("--start", "2026-11-01", "--end", "2026-11-02")
    # Then every answer is the one worked out by hand
    assert as_json(tmp_path, "query", "top-shows", *period) == [
        {"rank": 1, "show_id": "s1", "title": "Alpha", "viewers": 4, "hours_viewed": 0.27},
        {"rank": 2, "show_id": "s2", "title": "Béta", "viewers": 4, "hours_viewed": 0.26},
        {"rank": 3, "show_id": "s3", "title": "Gamma", "viewers": 2, "hours_viewed": 0.15},
    ]
    assert as_json(
        tmp_path,
        "query",
        "top-shows",
        "--start",
        "2026-11-02",
        "--end",
        "2026-11-02",
        "--limit",
        "1",
    ) == [
        {"rank": 1, "show_id": "s3", "title": "Gamma", "viewers": 2, "hours_viewed": 0.12},
    ]
    assert as_json(tmp_path, "query", "genres", *period) == [
        {"region": "APAC", "genre": "kids", "rank": 1, "viewers": 0, "hours_viewed": 0.03},
        {"region": "EMEA", "genre": "comedy", "rank": 1, "viewers": 1, "hours_viewed": 0.04},
        {"region": "EMEA", "genre": "drama", "rank": 2, "viewers": 1, "hours_viewed": 0.04},
        {"region": "EMEA", "genre": "kids", "rank": 3, "viewers": 1, "hours_viewed": 0.03},
        {"region": "LATAM", "genre": "drama", "rank": 1, "viewers": 1, "hours_viewed": 0.18},
        {"region": "LATAM", "genre": "comedy", "rank": 2, "viewers": 1, "hours_viewed": 0.14},
        {"region": "UCAN", "genre": "drama", "rank": 1, "viewers": 3, "hours_viewed": 0.31},
        {"region": "UCAN", "genre": "comedy", "rank": 2, "viewers": 2, "hours_viewed": 0.09},
        {"region": "UCAN", "genre": "kids", "rank": 3, "viewers": 1, "hours_viewed": 0.08},
    ]
    assert as_json(tmp_path, "query", "genres", *period, "--region", "ucan", "--limit", "1") == [
        {"region": "UCAN", "genre": "drama", "rank": 1, "viewers": 3, "hours_viewed": 0.31},
    ]
    assert as_json(tmp_path, "query", "co-watch", *period) == [
        {"rank": 1, "show_a": "s1", "show_b": "s2", "co_viewers": 2},
        {"rank": 2, "show_a": "s1", "show_b": "s3", "co_viewers": 1},
        {"rank": 3, "show_a": "s2", "show_b": "s3", "co_viewers": 1},
    ]
    assert as_json(tmp_path, "query", "signups", *period) == [{"new_users": 3}]
    assert as_json(tmp_path, "query", "signups", *period, "--by", "day") == [
        {"date": "2026-11-01", "new_users": 2},
        {"date": "2026-11-02", "new_users": 1},
    ]
    assert as_json(tmp_path, "query", "signups", *period, "--by", "region") == [
        {"region": "EMEA", "new_users": 1},
        {"region": "LATAM", "new_users": 1},
        {"region": "UCAN", "new_users": 1},
    ]
    assert as_json(tmp_path, "query", "signups", *period, "--by", "plan") == [
        {"plan": "basic", "new_users": 1}, {"plan": "premium", "new_users": 1},
        {"plan": "standard", "new_users": 1},
    ]  # fmt: skip
    # and the other formats carry the same rows
    table = cli(tmp_path, "query", "co-watch", *period)
    assert table.returncode == 0 and "show_a" in table.stdout.splitlines()[0]
    as_csv = cli(tmp_path, "query", "co-watch", *period, "--format", "csv")
    assert list(csv.reader(io.StringIO(as_csv.stdout)))[:2] == [
        ["rank", "show_a", "show_b", "co_viewers"], ["1", "s1", "s2", "2"],
    ]  # fmt: skip


@pytest.mark.slow
def test_generate_run_and_query_a_synthetic_week(tmp_path: Path) -> None:
    gen = cli(tmp_path, "generate", "--start", "2026-11-01", "--days", "2",
              "--events-per-day", "3000", "--seed", "3")  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    run = cli(tmp_path, "run", "--date", "2026-11-01", "--through", "2026-11-02")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("published") == 2
    period = ("--start", "2026-11-01", "--end", "2026-11-02")
    top = as_json(tmp_path, "query", "top-shows", *period, "--limit", "5")
    assert isinstance(top, list) and [r["rank"] for r in top] == [1, 2, 3, 4, 5]
    keys = [(r["viewers"], r["hours_viewed"]) for r in top]
    assert keys == sorted(keys, reverse=True) and top[0]["viewers"] > 0
    regions = {r["region"] for r in as_json(tmp_path, "query", "genres", *period)}  # type: ignore[union-attr]
    assert regions == {"APAC", "EMEA", "LATAM", "UCAN"}
    pairs = as_json(tmp_path, "query", "co-watch", *period)
    assert isinstance(pairs, list) and pairs and all(p["show_a"] < p["show_b"] for p in pairs)
    total = as_json(tmp_path, "query", "signups", *period)
    by_day = as_json(tmp_path, "query", "signups", *period, "--by", "day")
    assert total[0]["new_users"] == sum(r["new_users"] for r in by_day) > 0  # type: ignore[index]
    # and weekly maintenance leaves every answer as it was
    answers = [as_json(tmp_path, "query", name, *period) for name in ("top-shows", "co-watch")]
    maintained = cli(tmp_path, "maintain", "--as-of", "2026-11-08")
    assert maintained.returncode == 0, maintained.stderr
    assert maintained.stdout.startswith("2026-11-08: compacted ")
    assert [as_json(tmp_path, "query", n, *period) for n in ("top-shows", "co-watch")] == answers
