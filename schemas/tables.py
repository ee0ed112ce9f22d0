"""Every Iceberg table, defined once as code: field ids, required flags, partitions, sort order.

Jobs name tables only through the constants here; ``ensure_tables`` creates what is missing
(idempotently) through Spark; PyIceberg reads the same catalog for queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

if TYPE_CHECKING:  # queries import the table definitions without starting PySpark's imports
    from pyspark.sql import SparkSession

# Write-Audit-Publish: with write.wap.enabled a session's spark.wap.branch stages writes on a
# branch; without it Iceberg silently writes to main.
COMMON_PROPERTIES = {
    "format-version": "2",
    "write.wap.enabled": "true",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


@dataclass(frozen=True)
class TableDef:
    """An Iceberg table: its identifier and everything needed to create it."""

    identifier: str
    schema: Schema
    partition_spec: PartitionSpec = field(default_factory=PartitionSpec)
    sort_order: SortOrder = field(default_factory=SortOrder)
    properties: dict[str, str] = field(default_factory=dict)
    doc: str = ""

    @property
    def spark_name(self) -> str:
        """The name Spark uses (the catalog is mounted as ``lake``)."""
        return f"lake.{self.identifier}"

    @property
    def namespace(self) -> str:
        return self.identifier.split(".")[0]


def _f(field_id: int, name: str, kind: object, required: bool = True, doc: str = "") -> NestedField:
    return NestedField(field_id, name, kind, required=required, doc=doc or None)  # type: ignore[arg-type]


def _identity(source_id: int, field_id: int, name: str) -> PartitionField:
    return PartitionField(source_id, field_id, IdentityTransform(), name)


def _sort(*source_ids: int) -> SortOrder:
    return SortOrder(*(SortField(source_id=i, transform=IdentityTransform()) for i in source_ids))


def daily_table(
    identifier: str, columns: list[tuple[str, IcebergType]], key: tuple[str, ...], doc: str
) -> TableDef:
    """A gold table of daily rows: the first column is the date it is partitioned by.

    Columns are required and numbered in order; ``key`` (one row per key) is the sort order.
    This is how an aggregate declares its output table (see jobs.registry).
    """
    names = [name for name, _ in columns]
    unknown = [k for k in key if k not in names]
    if unknown or not columns or not isinstance(columns[0][1], DateType):
        raise ValueError(
            f"{identifier}: the first column must be a date and the key must name columns "
            f"(unknown key columns: {', '.join(unknown) or 'none'})"
        )
    return TableDef(
        identifier=identifier,
        schema=Schema(*(_f(i, name, kind) for i, (name, kind) in enumerate(columns, start=1))),
        partition_spec=PartitionSpec(_identity(1, 1000, names[0])),
        sort_order=_sort(*(names.index(k) + 1 for k in key)),
        properties=COMMON_PROPERTIES,
        doc=doc,
    )


def _raw_table(feed: str) -> TableDef:
    return TableDef(
        identifier=f"bronze.{feed}_raw",
        schema=Schema(
            _f(1, "arrival_date", DateType(), doc="the landing folder's dt"),
            _f(2, "source_file", StringType()),
            _f(3, "line_number", LongType(), doc="1-based position of the line in its file"),
            _f(4, "raw_line", BinaryType(), doc="the line exactly as it arrived"),
            _f(5, "run_id", StringType()),
        ),
        partition_spec=PartitionSpec(_identity(1, 1000, "arrival_date")),
        sort_order=_sort(2, 3),
        properties=COMMON_PROPERTIES,
        doc=f"Bronze: every line of the {feed} feed as it landed.",
    )


VIEWING_EVENTS_RAW = _raw_table("viewing_events")
SIGNUPS_RAW = _raw_table("signups")
CATALOG_RAW = _raw_table("catalog")
RAW_TABLES = {"viewing_events": VIEWING_EVENTS_RAW, "signups": SIGNUPS_RAW, "catalog": CATALOG_RAW}

QUARANTINE = TableDef(
    identifier="bronze.quarantine",
    schema=Schema(
        _f(1, "feed", StringType()),
        _f(2, "arrival_date", DateType()),
        _f(3, "source_file", StringType()),
        _f(4, "line_number", LongType()),
        _f(5, "raw_line", BinaryType(), doc="byte for byte as it arrived"),
        _f(6, "reason", StringType(), doc="machine-readable code, see jobs.validate.Reason"),
        _f(7, "field", StringType(), required=False, doc="the offending field, if one"),
        _f(8, "detail", StringType(), doc="a sentence for people"),
        _f(9, "run_id", StringType()),
    ),
    partition_spec=PartitionSpec(_identity(1, 1000, "feed"), _identity(2, 1001, "arrival_date")),
    sort_order=_sort(3, 4),
    properties=COMMON_PROPERTIES,
    doc="Bronze: lines that broke the landing contract, with the reason.",
)

VIEWING_EVENTS = TableDef(
    identifier="silver.viewing_events",
    schema=Schema(
        _f(1, "event_id", StringType()),
        _f(2, "user_id", StringType()),
        _f(3, "show_id", StringType()),
        _f(4, "event_ts", TimestamptzType(), doc="normalised to UTC"),
        _f(5, "watch_seconds", IntegerType()),
        _f(6, "device", StringType(), doc="lower case"),
        _f(7, "country", StringType(), doc="upper-case ISO 3166-1 alpha-2"),
        _f(8, "region", StringType(), doc="from schemas/regions.csv"),
        _f(9, "arrival_date", DateType()),
        _f(10, "source_file", StringType()),
        _f(11, "run_id", StringType()),
    ),
    # Hidden partitioning: readers filter on event_ts and region, never on a derived column.
    partition_spec=PartitionSpec(
        PartitionField(4, 1000, DayTransform(), "event_ts_day"), _identity(8, 1001, "region")
    ),
    sort_order=_sort(3, 2),
    properties=COMMON_PROPERTIES,
    doc="Silver: accepted viewing events, one row per event_id across all arrival days.",
)

SIGNUPS = TableDef(
    identifier="silver.signups",
    schema=Schema(
        _f(1, "user_id", StringType()),
        _f(2, "signup_ts", TimestamptzType()),
        _f(3, "country", StringType()),
        _f(4, "region", StringType()),
        _f(5, "plan", StringType(), doc="lower case"),
        _f(6, "arrival_date", DateType()),
        _f(7, "source_file", StringType()),
        _f(8, "run_id", StringType()),
    ),
    partition_spec=PartitionSpec(PartitionField(2, 1000, DayTransform(), "signup_ts_day")),
    sort_order=_sort(1),
    properties=COMMON_PROPERTIES,
    doc="Silver: one row per account, at its earliest accepted signup.",
)

SHOWS = TableDef(
    identifier="silver.shows",
    schema=Schema(
        _f(1, "show_id", StringType()),
        _f(2, "title", StringType()),
        _f(3, "genres", ListType(element_id=8, element_type=StringType(), element_required=True)),
        _f(4, "type", StringType()),
        _f(5, "release_year", LongType()),
        _f(6, "snapshot_date", DateType(), doc="dt of the catalog snapshot this row came from"),
        _f(7, "run_id", StringType()),
    ),
    sort_order=_sort(1),
    properties=COMMON_PROPERTIES,
    doc="Silver: every show ever listed, as of the newest catalog snapshot that listed it.",
)

USER_SHOW_DAILY = TableDef(
    identifier="gold.user_show_daily",
    schema=Schema(
        _f(1, "event_date", DateType()),
        _f(2, "user_id", StringType(), doc="a pseudonym: keyed SHA-256 of the user id"),
        _f(3, "show_id", StringType()),
        _f(4, "region", StringType()),
        _f(5, "watch_seconds", LongType(), doc="accepted seconds in this region"),
        _f(6, "qualified", BooleanType(), doc="the user's seconds of the show that day >= 120"),
        _f(7, "qualified_in_region", BooleanType(), doc="this row's own seconds >= 120"),
    ),
    partition_spec=PartitionSpec(_identity(1, 1000, "event_date")),
    sort_order=_sort(3, 2),
    properties=COMMON_PROPERTIES,
    doc="Gold fact: seconds per (event date, user, show, region); period answers come from here.",
)

RUN_LOG = TableDef(
    identifier="ops.run_log",
    schema=Schema(
        _f(1, "run_id", StringType()),
        _f(2, "logical_date", DateType()),
        _f(3, "feed", StringType(), doc="a feed, aggregate:<name>, or '*' for the run"),
        _f(4, "status", StringType(), doc="refused | publishing | published | failed"),
        _f(5, "lines_read", LongType()),
        _f(6, "accepted", LongType()),
        _f(7, "duplicates", LongType()),
        _f(8, "quarantined", LongType()),
        _f(9, "reconciled", BooleanType()),
        _f(10, "branch", StringType(), required=False),
        _f(11, "message", StringType(), required=False),
        _f(12, "recorded_at", TimestamptzType(), doc="wall clock: orders a date's reruns"),
    ),
    partition_spec=PartitionSpec(_identity(2, 1000, "logical_date")),
    properties={**COMMON_PROPERTIES, "write.wap.enabled": "false"},
    doc="Operations: what each run read, accepted, collapsed and quarantined, and its outcome.",
)

AUDIT_RESULTS = TableDef(
    identifier="ops.audit_results",
    schema=Schema(
        _f(1, "run_id", StringType()),
        _f(2, "logical_date", DateType()),
        _f(3, "table_name", StringType(), doc="the audited table the suite belongs to"),
        _f(4, "check_name", StringType(), doc="the expectation's stable name in its suite"),
        _f(5, "expectation", StringType(), doc="the GX expectation type"),
        _f(6, "severity", StringType(), doc="error (blocks publication) | warn"),
        _f(7, "success", BooleanType()),
        _f(8, "observed", StringType(), doc="a sentence for people"),
        _f(9, "unexpected", LongType(), required=False, doc="offending rows, where counted"),
        _f(10, "details", StringType(), doc="GX's result, as JSON"),
        _f(11, "branch", StringType()),
        _f(12, "recorded_at", TimestamptzType(), doc="wall clock, for people"),
    ),
    partition_spec=PartitionSpec(_identity(2, 1000, "logical_date")),
    properties={**COMMON_PROPERTIES, "write.wap.enabled": "false"},
    doc="Operations: every expectation's verdict in every run's audit.",
)

RUN_DATES = TableDef(
    identifier="ops.run_dates",
    schema=Schema(
        _f(1, "run_id", StringType()),
        _f(2, "logical_date", DateType()),
        _f(3, "kind", StringType(), doc="event | signup: which dates of the data"),
        _f(4, "day", DateType(), doc="a date whose rows the run changed"),
    ),
    partition_spec=PartitionSpec(_identity(2, 1000, "logical_date")),
    properties={**COMMON_PROPERTIES, "write.wap.enabled": "false"},
    doc="Operations: the event and signup dates each run changed, which its aggregates recompute.",
)

ERASURES = TableDef(
    identifier="ops.erasures",
    schema=Schema(
        _f(1, "request_id", StringType()),
        _f(2, "user_sha256", StringType(), doc="SHA-256 of the user id: the id is not kept"),
        _f(3, "requested_at", TimestamptzType()),
        _f(4, "rows_deleted", LongType(), doc="rows deleted over every table and branch"),
        _f(5, "audit_rows_scrubbed", LongType()),
        _f(6, "quality_files_scrubbed", LongType(), doc="GX result and Data Docs files"),
        _f(7, "tables", StringType(), doc="rows deleted per table@branch, as JSON"),
        _f(
            8,
            "requested_by",
            StringType(),
            required=False,
            doc="who asked for it (viewership forget --requested-by)",
        ),
    ),
    properties={**COMMON_PROPERTIES, "write.wap.enabled": "false"},
    doc="Operations: every erasure request (viewership forget), by a hash of the user id.",
)

# Publication order: a reader never sees a layer ahead of the one it is built from.
BRONZE_TABLES = (VIEWING_EVENTS_RAW, SIGNUPS_RAW, CATALOG_RAW, QUARANTINE)
SILVER_TABLES = (SHOWS, VIEWING_EVENTS, SIGNUPS)
# The fact every period answer reads; the aggregates' own tables are declared with them
# (jobs.registry) and published by their own Write-Audit-Publish cycle, after this one.
GOLD_TABLES = (USER_SHOW_DAILY,)
AUDITED_TABLES = BRONZE_TABLES + SILVER_TABLES + GOLD_TABLES
OPS_TABLES = (RUN_LOG, AUDIT_RESULTS, RUN_DATES, ERASURES)
ALL_TABLES = AUDITED_TABLES + OPS_TABLES


_SPARK_TYPES = {
    "string": "STRING",
    "long": "BIGINT",
    "int": "INT",
    "date": "DATE",
    "timestamptz": "TIMESTAMP",
    "binary": "BINARY",
    "boolean": "BOOLEAN",
    "double": "DOUBLE",
}


def _spark_type(kind: IcebergType) -> str:
    if isinstance(kind, ListType):
        return f"ARRAY<{_spark_type(kind.element_type)}>"
    return _SPARK_TYPES[str(kind)]


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def create_statements(table: TableDef) -> list[str]:
    """Spark DDL that creates the table exactly as defined (idempotent: IF NOT EXISTS)."""
    columns = ",\n  ".join(
        f"{f.name} {_spark_type(f.field_type)}{' NOT NULL' if f.required else ''}"
        + (f" COMMENT '{_quote(f.doc)}'" if f.doc else "")
        for f in table.schema.fields
    )
    names = {f.field_id: f.name for f in table.schema.fields}
    partitions = ", ".join(
        f"days({names[p.source_id]})" if isinstance(p.transform, DayTransform)
        else names[p.source_id]
        for p in table.partition_spec.fields
    )  # fmt: skip
    properties = ", ".join(f"'{k}' = '{v}'" for k, v in table.properties.items())
    statements = [
        f"CREATE TABLE IF NOT EXISTS {table.spark_name} (\n  {columns}\n) USING iceberg"
        + (f" PARTITIONED BY ({partitions})" if partitions else "")
        + f" COMMENT '{_quote(table.doc)}' TBLPROPERTIES ({properties})"
    ]
    if table.sort_order.fields:
        order = ", ".join(names[f.source_id] for f in table.sort_order.fields)
        statements.append(f"ALTER TABLE {table.spark_name} WRITE ORDERED BY {order}")
    return statements


def add_missing_columns(spark: SparkSession, table: TableDef) -> list[str]:
    """Add the columns the definition has and the table lacks: an Iceberg schema change that
    rewrites no file, the rows written before reading null. Only optional ones can be added."""
    present = {f.name for f in spark.table(table.spark_name).schema.fields}
    added = []
    for f in table.schema.fields:
        if f.name in present:
            continue
        if f.required:
            raise ValueError(f"{table.identifier}.{f.name} is required: define it optional")
        spark.sql(
            f"ALTER TABLE {table.spark_name} ADD COLUMN {f.name} {_spark_type(f.field_type)}"
            + (f" COMMENT '{_quote(f.doc)}'" if f.doc else "")
        )
        added.append(f.name)
    return added


def ensure_tables(spark: SparkSession, tables: tuple[TableDef, ...] = ALL_TABLES) -> None:
    """Create the namespaces and tables that do not exist yet; add to existing ones the
    optional columns defined since they were made (a home made by an earlier version).

    Creation goes through the Spark session that will write the tables: the JDBC catalog's
    connection in the JVM would not see a table that another client created meanwhile.
    """
    for namespace in sorted({t.namespace for t in tables}):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS lake.{namespace}")
    existing = {
        (row["namespace"], row["tableName"])
        for namespace in {t.namespace for t in tables}
        for row in spark.sql(f"SHOW TABLES IN lake.{namespace}").collect()
    }
    for table in tables:
        namespace, name = table.identifier.split(".")
        if (namespace, name) in existing:
            add_missing_columns(spark, table)
            continue
        for statement in create_statements(table):
            spark.sql(statement)
