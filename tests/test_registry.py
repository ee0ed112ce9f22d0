"""Aggregate declarations are checked at load: one clear line for each bad one, the rest run."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyiceberg.types import DateType, LongType, StringType
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aggregates import top_shows
from jobs.registry import (
    Aggregate,
    DeclarationError,
    SqlTransform,
    check_output,
    registry,
    validate_declaration,
)
from schemas.tables import daily_table
from tests.test_scaffold import project_copy
from viewership.queries import Query

GOOD = top_shows.AGGREGATE
TAKEN = {"gold.user_show_daily": "the core pipeline", "query top-shows": "top_shows"}


def _fact_only(fact: DataFrame) -> DataFrame:
    return fact


def _declared(**changes: object) -> Aggregate:
    return dataclasses.replace(GOOD, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("aggregate", "taken", "message"),
    [
        (object(), {}, "AGGREGATE must be a jobs.registry.Aggregate"),
        (_declared(name="other"), {}, "its name 'other' must be its module's name"),
        (_declared(reads=("clicks",)), {}, "unknown input clicks; it may read events, fact"),
        (_declared(reads=()), {}, "unknown input (none given)"),
        (_declared(reads=("fact", "signups")), {}, "its inputs must all follow its event dates"),
        (_declared(transform=lambda facts: facts), {},
         "transform takes (facts) but reads (fact)"),
        ({"table": "gold.user_show_daily"}, {}, "AGGREGATE must be"),
        (_declared(table=dataclasses.replace(GOOD.table, identifier="silver.top")), {},
         "its table must be in the gold namespace"),
        (_declared(table=dataclasses.replace(GOOD.table, identifier="gold.user_show_daily")),
         TAKEN, "table gold.user_show_daily is the core pipeline's too"),
        (_declared(query=Query("top-shows", lambda *a: [], ("x",))), TAKEN,
         "query 'top-shows' is top_shows's too"),
        (_declared(table=daily_table("gold.t", [("day", DateType()), ("n", LongType())],
                                     key=("n",), doc="")), {},
         "its key must start with day"),
    ],
)  # fmt: skip
def test_a_bad_declaration_is_one_line_naming_the_aggregate(
    aggregate: object, taken: dict[str, str], message: str
) -> None:
    with pytest.raises(DeclarationError) as refused:
        validate_declaration("top_shows", aggregate, taken)
    assert str(refused.value).startswith("aggregate 'top_shows' (aggregates.top_shows): ")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_sql_transform_names_its_inputs_in_braces(tmp_path: Path) -> None:
    sql = tmp_path / "t.sql"
    sql.write_text("SELECT * FROM {fact} JOIN {shows} USING (show_id) -- {fact}, {{literal}}\n")
    assert SqlTransform(sql).inputs() == ("fact", "shows")
    with pytest.raises(DeclarationError, match=r"transform takes \(fact, shows\) but reads"):
        validate_declaration("top_shows", _declared(transform=SqlTransform(sql)), {})
    sql.write_text("SELECT * FROM {fact")
    with pytest.raises(DeclarationError, match="its SQL file cannot be read: "):
        validate_declaration("top_shows", _declared(transform=SqlTransform(sql)), {})
    with pytest.raises(DeclarationError, match="its SQL file .*missing.sql does not exist"):
        validate_declaration(
            "top_shows", _declared(transform=SqlTransform(tmp_path / "missing.sql")), {}
        )


def test_a_transform_returning_other_columns_is_refused_before_writing(spark: SparkSession) -> None:
    output = spark.createDataFrame([(1, "s1")], "event_date int, show_id string")
    with pytest.raises(DeclarationError) as refused:
        check_output(GOOD, output)
    columns = ", ".join(f.name for f in GOOD.table.schema.fields)
    assert str(refused.value) == (
        "aggregate 'top_shows' (aggregates.top_shows): its transform returns (event_date, "
        f"show_id) but gold.top_shows_daily has ({columns}); "
        "select the table's columns in its order"
    )
    check_output(GOOD, output.select([F.lit(None).alias(c) for c in columns.split(", ")]))


def test_a_table_whose_first_column_is_not_a_date_is_refused() -> None:
    with pytest.raises(ValueError, match="the first column must be a date"):
        daily_table("gold.t", [("region", StringType()), ("n", LongType())], ("region",), "")


def test_the_built_in_declarations_are_valid_and_each_declares_its_query() -> None:
    found = registry()
    assert found.problems == {}
    declared = {a.query.name for a in found.aggregates.values() if a.query}
    assert {"top-shows", "genres", "co-watch", "signups"} <= declared


@pytest.mark.slow
def test_a_broken_aggregate_fails_alone_and_the_dag_still_imports(tmp_path: Path) -> None:
    copy = project_copy(tmp_path)
    (copy / "aggregates" / "broken.py").write_text("import not_a_module\n", encoding="utf-8")
    script = (
        "from jobs.registry import registry; r = registry(); "
        "print('PROBLEMS', sorted(r.problems), len(r.aggregates)); "
        "from airflow.dag_processing.dagbag import DagBag; "
        "bag = DagBag(dag_folder='dags'); "
        "print('DAGS', bag.import_errors, sorted(bag.dag_ids))"
    )
    airflow = os.environ | {"AIRFLOW_HOME": str(tmp_path / "airflow"),
                            "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], cwd=copy, capture_output=True,
                          text=True, check=False, env=airflow)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in done.stdout.splitlines()
        if line.startswith(("PROBLEMS ", "DAGS "))
    }  # Airflow logs on stdout too
    assert lines["PROBLEMS"].startswith("['broken'] ")
    assert lines["DAGS"] == "{} ['lakehouse_maintenance', 'viewership_daily']"
    (copy / ".home").mkdir()
    run = subprocess.run([sys.executable, "-m", "viewership.cli", "run", "--date", "2026-11-01"],
                         cwd=copy, capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.startswith("viewership: error: aggregate 'broken' does not import: ")
    assert run.stderr.count("\n") == 1
    alone = subprocess.run([sys.executable, "-m", "viewership.cli", "aggregate", "broken",
                            "--date", "2026-11-01"],
                           cwd=copy, capture_output=True, text=True, check=False)  # fmt: skip
    assert (alone.returncode, alone.stderr) == (2, run.stderr)
