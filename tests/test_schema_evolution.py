"""Schema evolution: new fields in the events, a new column in a silver table, and a home
made by an earlier version gaining the columns defined since."""

from __future__ import annotations

import dataclasses
from datetime import date

from pyiceberg.schema import Schema
from pyspark.sql import SparkSession

from schemas import tables as T
from tests.lake_kit import rows, run
from tests.landing_kit import catalog, ev, write_lines
from viewership.config import Settings

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def _data_files(spark: SparkSession, table: T.TableDef) -> set[str]:
    return {r[0] for r in spark.sql(f"SELECT file_path FROM {table.spark_name}.files").collect()}


def test_a_new_event_field_is_accepted_kept_in_raw_and_a_silver_column_is_added_in_place(
    spark: SparkSession, lakehouse: Settings
) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    newer = ev("a", "u1", "s1", "2026-11-01T10:00:00Z", 200) | {"subtitles": "fr"}
    write_lines(
        landing, "viewing_events", D1, [newer, ev("b", "u2", "s2", "2026-11-01T11:00:00Z", 300)]
    )
    result = run(spark, lakehouse, D1)

    # The contract ignores fields it does not list: the event is accepted, not quarantined,
    # and the raw layer keeps its line byte for byte, the new field included.
    assert (
        result.feeds["viewing_events"].accepted,
        result.feeds["viewing_events"].quarantined,
    ) == (2, 0)
    raw = rows(spark, T.VIEWING_EVENTS_RAW, "raw_line")
    assert any(b'"subtitles": "fr"' in bytes(line) for (line,) in raw)

    # Adding the column to silver is a metadata change: no data file is rewritten, the current
    # snapshot stays, and the rows written before read it as null.
    snapshot = spark.sql(f"SELECT snapshot_id FROM {T.VIEWING_EVENTS.spark_name}.snapshots "
                         "ORDER BY committed_at DESC LIMIT 1").first()  # fmt: skip
    files = _data_files(spark, T.VIEWING_EVENTS)
    spark.sql(f"ALTER TABLE {T.VIEWING_EVENTS.spark_name} ADD COLUMN subtitles string")
    try:
        after = spark.sql(f"SELECT snapshot_id FROM {T.VIEWING_EVENTS.spark_name}.snapshots "
                          "ORDER BY committed_at DESC LIMIT 1").first()  # fmt: skip
        assert after == snapshot
        assert _data_files(spark, T.VIEWING_EVENTS) == files
        assert rows(spark, T.VIEWING_EVENTS, "event_id", "subtitles") == [("a", None), ("b", None)]

        # and the pipeline goes on writing the evolved table: the next day publishes.
        catalog(landing, D2)
        write_lines(
            landing, "viewing_events", D2, [ev("c", "u3", "s1", "2026-11-02T09:00:00Z", 400)]
        )
        run(spark, lakehouse, D2)
        assert rows(spark, T.VIEWING_EVENTS, "event_id", "subtitles") == [
            ("a", None), ("b", None), ("c", None)
        ]  # fmt: skip
    finally:
        spark.sql(f"ALTER TABLE {T.VIEWING_EVENTS.spark_name} DROP COLUMN subtitles")


def test_a_table_made_before_a_column_was_defined_gains_it_in_place(
    spark: SparkSession, lakehouse: Settings
) -> None:
    # Given the erasure log as an earlier version made it, without requested_by, with a row
    older = dataclasses.replace(T.ERASURES, schema=Schema(*T.ERASURES.schema.fields[:-1]))
    T.ensure_tables(spark, (older,))
    spark.sql(f"INSERT INTO {T.ERASURES.spark_name} VALUES "
              "('r1', 'abc', TIMESTAMP '2026-11-01 00:00:00', 1, 0, 0, '{}')")  # fmt: skip
    files = _data_files(spark, T.ERASURES)
    # When the current version ensures its tables
    T.ensure_tables(spark, (T.ERASURES,))
    # Then the column is added as a schema change: no file rewritten, the old row reads null
    assert spark.table(T.ERASURES.spark_name).columns == T.ERASURES.schema.column_names
    assert _data_files(spark, T.ERASURES) == files
    assert rows(spark, T.ERASURES, "request_id", "requested_by") == [("r1", None)]
    # and ensuring again changes nothing
    assert T.add_missing_columns(spark, T.ERASURES) == []
