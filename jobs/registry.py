"""The aggregate registry: every answer built on the silver tables is declared once and found here.

An aggregate is a module of the ``aggregates`` package (or of any installed distribution that
names it under the ``viewership.aggregates`` entry-point group) whose ``AGGREGATE`` is an
:class:`Aggregate`: its output table, the sources it reads, its transform and its suite. The
framework (``jobs.aggregate_cycle``) hands the transform only the dates a run changed, writes
the result on an audit branch, validates it with the suite and publishes it, replacing exactly
those dates. ``viewership run``, the DAG's mapped task per aggregate and maintenance all take
their list from here, so adding an aggregate is adding one module.
"""

from __future__ import annotations

import importlib
import inspect
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Literal

from pyiceberg.types import DateType
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from aggregates import module_of, names
from data_quality.suites import SUITES, Check, Suite, key_unique, not_null
from jobs.audit import day_range
from schemas import tables as T
from viewership.errors import UsageError
from viewership.queries import Query

DateKind = Literal["event", "signup"]


class DeclarationError(UsageError):
    """An aggregate's declaration is wrong; the message names the aggregate and the fix."""


@dataclass(frozen=True)
class Source:
    """A published table an aggregate may read, and how to keep only the changed dates."""

    table: T.TableDef
    kind: DateKind | None
    keep: Callable[[list[date]], Column] | None = None

    def read(
        self, spark: SparkSession, dates: Mapping[str, list[date]], snapshot: int | None = None
    ) -> DataFrame:
        """The table's rows of the run's changed dates (a dimension is read whole), as of
        ``snapshot`` when one is given."""
        name = self.table.spark_name
        frame = spark.table(name) if snapshot is None else spark.sql(
            f"SELECT * FROM {name} VERSION AS OF {snapshot}")  # fmt: skip
        if self.kind is None or self.keep is None:
            return frame
        return frame.where(self.keep(dates[self.kind]))


SOURCES: dict[str, Source] = {
    "events": Source(T.VIEWING_EVENTS, "event", lambda days: day_range("event_ts", days)),
    "fact": Source(T.USER_SHOW_DAILY, "event", lambda days: F.col("event_date").isin(days)),
    "signups": Source(T.SIGNUPS, "signup", lambda days: day_range("signup_ts", days)),
    "shows": Source(T.SHOWS, None),
}


def _no_checks() -> list[Check]:
    return []


@dataclass(frozen=True)
class SqlTransform:
    """A transform written as a Spark SQL file instead of a function.

    The file names each input as ``{name}`` (``FROM {fact}``); each becomes a temporary view of
    the run's DataFrame of that input, so the SQL sees only the changed dates exactly as a Python
    transform would. A literal brace is written twice.
    """

    path: Path

    def text(self) -> str:
        """The SQL, read at each call so that an edited file needs no reinstall."""
        return self.path.read_text(encoding="utf-8")

    def inputs(self) -> tuple[str, ...]:
        """The input names the SQL refers to, in order of first use."""
        fields = (name for _, name, _, _ in Formatter().parse(self.text()) if name)
        return tuple(dict.fromkeys(fields))

    def __call__(self, **inputs: DataFrame) -> DataFrame:
        # Views of the session's lifetime (one job), named uniquely: SparkSession.sql's own
        # DataFrame arguments drop their views on return, and a table write analyses its query
        # again when it runs, by then finding no view of that name.
        views = {}
        for name, frame in inputs.items():
            views[name] = f"{name}_{uuid.uuid4().hex}"
            frame.createOrReplaceTempView(views[name])
        spark = next(iter(inputs.values())).sparkSession
        return spark.sql(self.text().format(**views))


def transform_inputs(transform: Callable[..., DataFrame]) -> tuple[str, ...]:
    """The input names a transform takes: a function's parameters or a SQL file's ``{names}``."""
    if isinstance(transform, SqlTransform):
        return transform.inputs()
    return tuple(inspect.signature(transform).parameters)


@dataclass(frozen=True)
class Aggregate:
    """One aggregate's whole declaration.

    ``transform`` takes one DataFrame per name in ``reads`` (as keyword arguments) and returns
    the rows of ``table`` for the dates it was given; it may be a :class:`SqlTransform`.
    ``dates`` says which dates drive it: ``event`` dates (of viewing) or ``signup`` dates; the
    table's first column holds them.
    ``additive`` says whether its daily rows add up over a period (signups) or a period's
    answer must be computed from the user-show fact (distinct viewers). ``checks`` adds
    expectations to the default ones (the key is unique and not null); ``audit_batch``, if
    given, adds the columns those checks compare (it takes the staged rows, then the inputs).
    ``query``, if given, is the question ``viewership query`` answers with it over a period.
    """

    name: str
    table: T.TableDef
    reads: tuple[str, ...]
    transform: Callable[..., DataFrame]
    dates: DateKind = "event"
    additive: bool = False
    checks: Suite = _no_checks
    audit_batch: Callable[..., DataFrame] | None = None
    query: Query | None = None
    doc: str = ""

    @property
    def date_column(self) -> str:
        return self.table.schema.fields[0].name

    @property
    def key(self) -> tuple[str, ...]:
        names = {f.field_id: f.name for f in self.table.schema.fields}
        return tuple(names[f.source_id] for f in self.table.sort_order.fields)

    def suite(self) -> list[Check]:
        """The default expectations, then the declared ones."""
        return [*not_null(*self.key), key_unique(*self.key), *self.checks()]

    def batch(self, staged: DataFrame, inputs: Mapping[str, DataFrame]) -> DataFrame:
        """What the suite validates: the staged rows, with the declared comparison columns."""
        if self.audit_batch is None:
            return staged
        return self.audit_batch(staged, **inputs)


def check_output(aggregate: Aggregate, output: DataFrame) -> None:
    """Refuse a transform whose columns are not its table's, before anything is written.

    Spark types must be castable by the table write, so only the names are compared here; a
    type Iceberg cannot take fails the write with Spark's own message.
    """
    expected = [f.name for f in aggregate.table.schema.fields]
    if output.columns != expected:
        raise DeclarationError(
            f"aggregate {aggregate.name!r} ({module_of(aggregate.name)}): its transform returns "
            f"({', '.join(output.columns)}) but {aggregate.table.identifier} has "
            f"({', '.join(expected)}); select the table's columns in its order"
        )


@dataclass(frozen=True)
class Registry:
    """The valid aggregates by name, and one message per declaration that failed to load."""

    aggregates: dict[str, Aggregate] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Aggregate:
        """An aggregate by name, or the one-line reason it cannot be run."""
        if name in self.problems:
            raise DeclarationError(self.problems[name])
        if name not in self.aggregates:
            known = ", ".join(sorted(self.aggregates)) or "none"
            raise UsageError(f"unknown aggregate {name!r}; registered: {known}")
        return self.aggregates[name]

    def check(self) -> None:
        """Refuse to go on while any declaration is broken (one line per problem)."""
        if self.problems:
            raise DeclarationError("; ".join(self.problems[n] for n in sorted(self.problems)))


def validate_declaration(name: str, aggregate: object, taken: Mapping[str, str]) -> Aggregate:
    """The declaration found in module ``name``, or DeclarationError saying what is wrong."""
    where = f"aggregate {name!r} ({module_of(name)})"
    if not isinstance(aggregate, Aggregate):
        raise DeclarationError(f"{where}: AGGREGATE must be a jobs.registry.Aggregate")
    if aggregate.name != name:
        raise DeclarationError(f"{where}: its name {aggregate.name!r} must be its module's name")
    if not aggregate.table.identifier.startswith("gold."):
        raise DeclarationError(f"{where}: its table must be in the gold namespace")
    owner = taken.get(aggregate.table.identifier)
    if owner is not None:
        raise DeclarationError(f"{where}: table {aggregate.table.identifier} is {owner}'s too")
    unknown = [s for s in aggregate.reads if s not in SOURCES]
    if unknown or not aggregate.reads:
        raise DeclarationError(
            f"{where}: unknown input {', '.join(unknown) or '(none given)'}; "
            f"it may read {', '.join(SOURCES)}"
        )
    if aggregate.dates not in ("event", "signup"):
        raise DeclarationError(f"{where}: dates must be 'event' or 'signup'")
    if not {SOURCES[s].kind for s in aggregate.reads} - {None} <= {aggregate.dates}:
        raise DeclarationError(
            f"{where}: its inputs must all follow its {aggregate.dates} dates "
            "(event and signup inputs together have no single date to replace)"
        )
    if not isinstance(aggregate.table.schema.fields[0].field_type, DateType):
        raise DeclarationError(f"{where}: the first column of its table must be its date")
    if not aggregate.key or aggregate.key[0] != aggregate.date_column:
        raise DeclarationError(f"{where}: its key must start with {aggregate.date_column}")
    if isinstance(aggregate.transform, SqlTransform) and not aggregate.transform.path.is_file():
        raise DeclarationError(f"{where}: its SQL file {aggregate.transform.path} does not exist")
    try:
        parameters = transform_inputs(aggregate.transform)
    except ValueError as exc:  # unbalanced braces in a SQL file
        raise DeclarationError(f"{where}: its SQL file cannot be read: {exc}") from None
    if sorted(parameters) != sorted(aggregate.reads):
        raise DeclarationError(
            f"{where}: transform takes ({', '.join(parameters)}) but reads "
            f"({', '.join(aggregate.reads)}); name one parameter per input"
        )
    if aggregate.query is not None:
        if not isinstance(aggregate.query, Query):
            raise DeclarationError(f"{where}: its query must be a viewership.queries.Query")
        owner = taken.get(f"query {aggregate.query.name}")
        if owner is not None:
            raise DeclarationError(f"{where}: query {aggregate.query.name!r} is {owner}'s too")
    return aggregate


@cache
def registry() -> Registry:
    """Import every declared aggregate once; a broken one is a problem, not a crash."""
    found = Registry()
    taken = {t.identifier: "the core pipeline" for t in T.ALL_TABLES}
    for name in names():
        try:
            module = importlib.import_module(module_of(name))
            aggregate = validate_declaration(name, getattr(module, "AGGREGATE", None), taken)
        except DeclarationError as exc:
            found.problems[name] = str(exc)
        except Exception as exc:  # an import error in one module must not hide the others
            found.problems[name] = f"aggregate {name!r} does not import: {exc!r}"
        else:
            found.aggregates[name] = aggregate
            taken[aggregate.table.identifier] = name
            if aggregate.query is not None:
                taken[f"query {aggregate.query.name}"] = name
    return found


def queries() -> dict[str, Query]:
    """The questions the valid aggregates declare, by their command-line name."""
    return {a.query.name: a.query for _, a in sorted(registry().aggregates.items()) if a.query}


def aggregate_tables() -> tuple[T.TableDef, ...]:
    """The output tables of every valid aggregate, in name order."""
    return tuple(a.table for _, a in sorted(registry().aggregates.items()))


def all_suites() -> dict[str, Suite]:
    """The core suites and every aggregate's: what a severity override may name."""
    return {**SUITES, **{a.table.identifier: a.suite for a in registry().aggregates.values()}}
