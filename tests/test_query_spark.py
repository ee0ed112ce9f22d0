"""Queries over tables that Spark changed in place: what DuckDB alone would misread."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from pyspark.sql import SparkSession

from schemas import tables as T
from viewership import query
from viewership.config import Settings

D1 = date(2026, 11, 1)


def test_rows_removed_by_a_delete_file_stay_removed_from_the_answers(
    lakehouse: Settings, spark: SparkSession
) -> None:
    """A merge-on-read delete leaves the data file as it was and lists the removed rows in a
    delete file. DuckDB reading the data file alone would count them again; the query must not."""
    T.ensure_tables(spark, (T.SHOWS, T.USER_SHOW_DAILY))
    fact = T.USER_SHOW_DAILY.spark_name
    spark.sql(f"ALTER TABLE {fact} SET TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')")
    rows = [
        (D1, "u1", "s1", "UCAN", 600, True, True),
        (D1, "u2", "s1", "UCAN", 600, True, True),
        (D1, "u3", "s2", "UCAN", 500, True, True),
    ]
    spark.createDataFrame(rows, spark.table(fact).schema).writeTo(fact).append()
    spark.sql(f"DELETE FROM {fact} WHERE user_id = 'u2'")

    reader = query.Reader.open(lakehouse)
    scanned = reader.relation(
        T.USER_SHOW_DAILY, ("user_id",), query.period_filter("event_date", D1, D1)
    )
    assert isinstance(scanned, pa.Table)  # read through PyIceberg, which applies the deletes
    assert sorted(scanned.column("user_id").to_pylist()) == ["u1", "u3"]
    top = query.top_shows(lakehouse, D1, D1)
    assert [(r["show_id"], r["viewers"]) for r in top] == [("s1", 1), ("s2", 1)]
