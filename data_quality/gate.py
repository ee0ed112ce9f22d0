"""The quality gate: validate each staged batch with its GX suite and grade what failed.

GX runs inside the Spark job, on DataFrames read from the audit branch (never when a DAG is
parsed). The GX project lives under ``<home>/gx``: a file context whose suites, validation
definitions and checkpoints are rewritten from ``data_quality.suites`` at start-up (the code
is the source of truth), and whose ``uncommitted/`` folder keeps every validation result and
the Data Docs site rendered from them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core import ExpectationValidationResult
from great_expectations.data_context import AbstractDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.exceptions import DataContextError
from great_expectations.expectations.metadata_types import FailureSeverity
from pyspark.sql import DataFrame
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from data_quality.suites import (
    ERROR,
    SUITES,
    WARN,
    Parameters,
    Suite,
    check_names,
    severity_of,
)
from viewership.config import Settings
from viewership.errors import UsageError
from viewership.locking import gate_lock

log = logging.getLogger("viewership.gate")

_DATASOURCE = "audit_branch"
SEVERITIES = {ERROR: FailureSeverity.CRITICAL, WARN: FailureSeverity.WARNING}
_SEVERITY_NAMES = {value.value: name for name, value in SEVERITIES.items()}
_SAMPLE = 3
_ADAPTIVE = "spark.sql.adaptive.enabled"
# A first pass only counts; a table with a failure is validated again to collect examples.
# Most runs pass, and the examples (partial lists, value counts) cost a Spark job each.
_PASSES = {
    "verdict": {"result_format": "BOOLEAN_ONLY"},
    "detail": {"result_format": "SUMMARY", "partial_unexpected_count": _SAMPLE},
}


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict on one table's staged batch."""

    table: str
    check: str
    expectation: str
    severity: str
    success: bool
    observed: str
    unexpected: int | None = None
    details: str = "{}"

    def line(self) -> str:
        return f"{self.table} {self.check}: {self.observed}"


@dataclass
class GateReport:
    """Every outcome of one run's audit, and where GX rendered them."""

    outcomes: list[Outcome] = field(default_factory=list)
    data_docs: Path | None = None
    # The GX validation results behind the outcomes, for one Data Docs build (build_docs).
    results: list[Any] = field(default_factory=list)

    @property
    def errors(self) -> list[Outcome]:
        """Failed error-level expectations: any one of them blocks publication."""
        return [o for o in self.outcomes if not o.success and o.severity == ERROR]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == WARN]


def build_suite(
    table: str, overrides: Mapping[str, str] | None = None, suites: Mapping[str, Suite] = SUITES
) -> gx.ExpectationSuite:
    """The suite of one table, its expectations named and graded."""
    overrides = overrides or {}
    expectations = []
    for check, expectation in suites[table]():
        expectation.meta = {"check": check}
        expectation.severity = SEVERITIES[severity_of(check, overrides)]
        expectations.append(expectation)
    return gx.ExpectationSuite(name=table, expectations=expectations)


# The GX stores that a file context reads as it opens and registers suites; all of them are
# rewritten from the code by every run (_register), so a broken one can simply go.
_STORES = ("expectations", "validation_definitions", "checkpoints")
# Validation results are only added: a killed run can have left at most its own, the newest.
_NEWEST_RESULTS = 64


def _readable(path: Path) -> bool:
    try:
        if path.suffix == ".json":
            json.loads(path.read_text("utf-8"))
            return True
        loaded = YAML(typ="safe").load(path.read_text("utf-8"))
        return path.name != "great_expectations.yml" or (
            isinstance(loaded, dict) and "config_version" in loaded
        )
    except (ValueError, OSError, YAMLError):  # truncated JSON or YAML, bytes cut mid-character
        return False


def repair_project(root: Path) -> list[Path]:
    """Remove the GX files that a killed run left half written; return them.

    GX rewrites its files in place, not atomically: a run killed while it writes a suite
    leaves a truncated file that every later run would fail to read. Everything removed here is
    written again from the code (or, for the project file and its config variables, which hold
    nothing of ours, scaffolded again) as the run goes on; a half-written validation result
    loses only that result.
    """
    results = sorted((root / "uncommitted" / "validations").rglob("*.json"),
                     key=lambda p: p.stat().st_mtime, reverse=True)  # fmt: skip
    candidates = [
        *(path for store in _STORES for path in (root / store).rglob("*.json")),
        *results[:_NEWEST_RESULTS],
        *(path for path in (root / "great_expectations.yml",
                            root / "uncommitted" / "config_variables.yml") if path.exists()),
    ]  # fmt: skip
    broken = [path for path in candidates if not _readable(path)]
    variables = root / "uncommitted" / "config_variables.yml"
    if root / "great_expectations.yml" in broken and variables.exists() and variables not in broken:
        broken.append(variables)  # scaffolded with the project file (none of ours is in it)
    for path in broken:
        path.unlink()
    if broken:
        names = ", ".join(str(path.relative_to(root)) for path in broken)
        log.warning("removed %d GX file(s) an interrupted run left half written: %s",
                    len(broken), names)  # fmt: skip
    return broken


@cache
def _context(root: str) -> AbstractDataContext:
    """The file context under the home (one per process); suites are registered as used."""
    repair_project(Path(root))
    context = gx.get_context(mode="file", project_root_dir=str(Path(root).parent))
    bars = context.variables.progress_bars  # a dict once read back from the project file
    if not isinstance(bars, dict) or bars.get("globally") is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()  # only once: every rewrite is a window for a kill
    context.data_sources.add_or_update_spark(_DATASOURCE, persist=False)
    return context


def _register(context: AbstractDataContext, table: str, suite: gx.ExpectationSuite) -> None:
    """Write the table's suite as this run grades it; add its asset once a process, and its
    validation definition and checkpoints only when the stored ones are not the code's."""
    suite = context.suites.add_or_update(suite)
    source = context.data_sources.get(_DATASOURCE)
    if table in {asset.name for asset in source.assets}:
        return
    batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("staged")
    if _stored_as_written(context, table):
        return
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=table, data=batch, suite=suite)
    )
    for name, result_format in _PASSES.items():
        context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{table}.{name}",
                validation_definitions=[definition],
                result_format=result_format,
            )
        )


def _stored_as_written(context: AbstractDataContext, table: str) -> bool:
    """The table's checkpoints are stored as ``_register`` writes them: one per pass, each with
    the pass's result format, running the table's suite on its staged asset.

    GX finds what they refer to by name, so a new process can keep them: rewriting the 15
    tables' definitions and checkpoints cost a cold process 1.2 to 1.3 s, keeping them 0.5 to 0.8.
    """
    try:
        stored = {name: context.checkpoints.get(f"{table}.{name}") for name in _PASSES}
    # Not stored (a new home), or pointing at a definition or suite that repair_project
    # removed: GX's pydantic models refuse those with a ValueError.
    except (DataContextError, ValueError):
        return False
    return all(
        checkpoint.result_format == _PASSES[name]
        and [(d.name, d.suite.name, d.data.name, d.data.data_asset.name)
             for d in checkpoint.validation_definitions] == [(table, table, "staged", table)]
        for name, checkpoint in stored.items()
    )  # fmt: skip


def validate(
    settings: Settings,
    batches: Mapping[str, DataFrame],
    parameters: Parameters,
    run_name: str,
    render: bool = True,
    explain: bool = True,
    suites: Mapping[str, Suite] = SUITES,
) -> GateReport:
    """Run each table's checkpoint on its batch; the report says what failed and how badly.

    ``suites`` holds every suite a severity override may name (the core's and the
    aggregates'); ``batches`` picks the tables this call validates. ``render`` adds the
    results to the Data Docs site at once; a run that validates several times leaves it off
    and calls :func:`build_docs` once at its end. ``explain`` validates a failing table again
    to collect examples of what failed.
    """
    overrides = settings.severity_overrides
    known = check_names(suites)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(
            f"VIEWERSHIP_SEVERITY names unknown check(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    settings.gx_root.mkdir(parents=True, exist_ok=True)
    report = GateReport(data_docs=settings.data_docs_index)
    with gate_lock(settings), _without_adaptive_plans(batches.values()):
        context = _context(str(settings.gx_root))
        for table, batch in batches.items():
            # Severities are configuration: the suite is written as this run grades it.
            _register(context, table, build_suite(table, overrides, suites))
            for name in _PASSES:
                result = context.checkpoints.get(f"{table}.{name}").run(
                    batch_parameters={"dataframe": batch},
                    expectation_parameters=parameters.as_gx(),
                    run_id=gx.RunIdentifier(run_name=run_name),
                )
                if result.success or not explain:
                    break
            report.results.extend(result.run_results)
            log.debug("audited %s: %s", table, "passed" if result.success else "failed")
            for validation in result.run_results.values():
                report.outcomes.extend(_outcome(table, r) for r in validation.results)
        if render:
            context.build_data_docs(resource_identifiers=report.results)
    return report


@contextmanager
def _without_adaptive_plans(batches: Iterable[DataFrame]) -> Iterator[None]:
    """Plan GX's queries without adaptive execution while they run.

    Each expectation is a query or two over a persisted batch: adaptive execution would run
    every shuffle stage as a job of its own and plan again after it, where one plan serves.
    On a 50k-event day a suite of six expectations ran 21 jobs in 1.0 to 1.4 s with it and 13
    jobs in 0.8 to 0.9 s without (docs/performance.md).
    """
    sessions = {id(b.sparkSession): b.sparkSession for b in batches}.values()
    saved = [(spark, spark.conf.get(_ADAPTIVE, None)) for spark in sessions]
    for spark, _ in saved:
        spark.conf.set(_ADAPTIVE, "false")
    try:
        yield
    finally:
        for spark, value in saved:
            if value is None:
                spark.conf.unset(_ADAPTIVE)
            else:
                spark.conf.set(_ADAPTIVE, value)


def build_docs(settings: Settings, reports: Sequence[GateReport]) -> None:
    """Render the validations of several gate calls into the Data Docs site in one build.

    A build costs about 0.9 s whatever it renders (GX reads every stored result back for the
    site's index), so a daily run builds once at its end instead of once per table it audits.
    """
    results = [identifier for report in reports for identifier in report.results]
    if not results:
        return
    with gate_lock(settings):
        _context(str(settings.gx_root)).build_data_docs(resource_identifiers=results)


def _outcome(table: str, result: ExpectationValidationResult) -> Outcome:
    config = result.expectation_config
    assert config is not None  # GX attaches the configuration to every result
    details: dict[str, Any] = dict(result.result or {})
    raised = (result.exception_info or {}).get("raised_exception", False)
    if raised:
        observed = f"could not be evaluated: {result.exception_info.get('exception_message')}"
    elif config.type == "unexpected_rows_expectation":
        rows = (details.get("details") or {}).get("unexpected_rows") or []
        observed = f"{details.get('observed_value') or 0:,} rows unexpected"
        observed += f", e.g. {_short(rows[:_SAMPLE])}" if rows else ""
    elif "observed_value" in details:
        observed = f"observed {details['observed_value']}"
    elif "unexpected_count" in details:
        sample = details.get("partial_unexpected_list") or []
        observed = f"{details['unexpected_count'] or 0:,} of {details.get('element_count') or 0:,}"
        observed += " rows unexpected" + (f", e.g. {_short(sample[:_SAMPLE])}" if sample else "")
    else:
        observed = "passed" if result.success else "failed"
    return Outcome(
        table=table,
        check=str(config.meta.get("check") if config.meta else config.type),
        expectation=config.type,
        severity=_SEVERITY_NAMES.get(str(config.severity.value), ERROR),
        success=bool(result.success) and not raised,
        observed=observed,
        unexpected=_count(details),
        details=json.dumps(details, default=str, sort_keys=True),
    )


def _count(details: Mapping[str, Any]) -> int | None:
    """The number of offending rows, where the expectation counts rows."""
    for key in ("unexpected_count", "observed_value"):
        value = details.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _short(values: list[Any]) -> str:
    return ", ".join(json.dumps(v, default=str) for v in values)
