"""The ``viewership`` command line (contract section 4): generate, run, query, report.

Every failure a person can act on ends as one line on standard error and a non-zero exit.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import NoReturn, TextIO

from viewership.config import Settings, load_settings
from viewership.errors import PublicationRefused, UsageError, ViewershipError
from viewership.queries import Query, whole

FORMATS = ("table", "json", "csv")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _date(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def build_parser(queries: dict[str, Query] | None = None) -> argparse.ArgumentParser:
    """The CLI's grammar, exactly as the contract writes it; ``query`` has a subcommand per
    declared query (the registry's, when the command line is ``query ...``)."""
    parser = _Parser(prog="viewership", description=__doc__)
    parser.add_argument("--home", help="folder holding landing/, the warehouse and the catalog")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = commands.add_parser("generate", help="write synthetic landing files")
    gen.add_argument("--start", type=_date, required=True)
    gen.add_argument("--days", type=whole(1), required=True)
    gen.add_argument("--events-per-day", type=whole(0), required=True)
    gen.add_argument("--seed", type=int, default=7)

    run = commands.add_parser("run", help="process arrival date(s) and publish")
    run.add_argument("--date", type=_date, required=True)
    run.add_argument("--through", type=_date)
    run.add_argument("--max-bad-ratio", type=_ratio, default=None)
    run.add_argument("--run-id", help="identifier of this run (default: a random one)")
    run.add_argument(
        "--ingest-only",
        action="store_true",
        help="publish the feeds and the user-show fact, not the aggregates (the DAG maps those)",
    )

    agg = commands.add_parser(
        "aggregate", help="recompute aggregates for the dates a published run changed"
    )
    agg.add_argument(
        "names", nargs="+", metavar="NAME", help="registered aggregates, run in this order"
    )
    agg.add_argument("--date", type=_date, required=True)
    agg.add_argument("--run-id", help="identifier of this run (default: a random one)")

    listing = commands.add_parser(
        "aggregates", help="list the registered aggregates: what run and the DAG's tasks run"
    )
    listing.add_argument("--format", choices=FORMATS, default="table")

    scaffold = commands.add_parser(
        "new-aggregate", help="scaffold a new aggregate's declaration and test, ready to edit"
    )
    scaffold.add_argument("name", help="the aggregate's name: a module and table name")

    audit = commands.add_parser(
        "audit", help="show the quality gate's verdict on a date's latest run"
    )
    audit.add_argument("--date", type=_date, required=True)
    audit.add_argument("--format", choices=("table", "json"), default="table")

    maintain = commands.add_parser(
        "maintain", help="compact, expire snapshots, remove orphans and apply region retention"
    )
    maintain.add_argument(
        "--as-of", type=_date, required=True, help="the logical date retention counts back from"
    )

    forget = commands.add_parser(
        "forget",
        help="erase a user from every table, branch and kept snapshot (logged by a hash)",
    )
    forget.add_argument("--user", required=True, help="the user id, as the feeds carry it")
    forget.add_argument(
        "--requested-by",
        help="who asked, kept in the erasure log: a name, an e-mail or a ticket (default: you)",
    )

    report = commands.add_parser(
        "report", help="write a period's charts as one self-contained HTML page (works offline)"
    )
    report.add_argument("--start", type=_date, required=True)
    report.add_argument("--end", type=_date, required=True)
    report.add_argument("--out", type=Path, required=True, help="the .html file to write")

    query = commands.add_parser(
        "query", help="answer a question over a period (each aggregate may declare one)"
    )
    answers = query.add_subparsers(dest="answer", required=True, parser_class=_Parser)
    for name, declared in (queries or {}).items():
        sub = answers.add_parser(name, help=declared.help)
        sub.add_argument("--start", type=_date, required=True)
        sub.add_argument("--end", type=_date, required=True)
        for option in declared.options:
            sub.add_argument(option.flag, **option.settings)
        sub.add_argument("--format", choices=FORMATS, default="table")
    return parser


def _require_home(settings: Settings) -> None:
    if not settings.home.is_dir():
        raise UsageError(f"home folder {settings.home} does not exist")


def _generate(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.generate import generate_landing
    from viewership.spark import get_spark

    settings.home.mkdir(parents=True, exist_ok=True)
    spark = get_spark(settings, app_name="viewership-generate")
    generate_landing(
        spark,
        settings.landing,
        args.start,
        args.days,
        args.events_per_day,
        seed=args.seed,
        progress=logging.getLogger("viewership.generate").info,
    )
    print(f"landing files for {args.days} day(s) from {args.start} under {settings.landing}")
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.run import run_date
    from schemas.contract import DEFAULT_MAX_BAD_RATIO
    from viewership.spark import get_spark

    _require_home(settings)
    through = args.through or args.date
    if through < args.date:
        raise UsageError(f"--through {through} is before --date {args.date}")
    if not args.ingest_only:
        from jobs.registry import registry

        registry().check()  # a broken aggregate is one line, before Spark starts
    ratio = DEFAULT_MAX_BAD_RATIO if args.max_bad_ratio is None else args.max_bad_ratio
    run_id = args.run_id or uuid.uuid4().hex[:8]
    spark = get_spark(settings, app_name="viewership-run")
    day = args.date
    while day <= through:
        result = run_date(spark, settings, day, run_id, ratio, aggregates=not args.ingest_only)
        counts = ", ".join(
            f"{c.feed} {c.accepted:,}/{c.lines_read:,}" for c in result.feeds.values()
        )
        print(f"{day}: published ({counts} accepted/read)")
        day += timedelta(days=1)
    return 0


def _aggregate(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.aggregate_cycle import run_aggregates
    from jobs.registry import DeclarationError, registry
    from viewership.spark import get_spark

    _require_home(settings)
    found, names = registry(), list(dict.fromkeys(args.names))
    broken = [found.problems[name] for name in names if name in found.problems]
    runnable = [name for name in names if name not in found.problems]
    for name in runnable:  # an unknown name is one line, before Spark starts
        found.get(name)
    if not runnable:
        raise DeclarationError("; ".join(broken))
    run_id = args.run_id or uuid.uuid4().hex[:8]
    spark = get_spark(settings, app_name=f"viewership-aggregate-{'+'.join(runnable)}")
    # One application; each aggregate staged, audited and published on a branch of its own.
    done = run_aggregates(spark, settings, runnable, args.date, run_id)
    for name, days in done.published.items():
        print(f"{args.date}: {name} published for {len(days)} date(s)")
    refusals = done.refusals
    if broken:  # the others ran: a broken declaration does not hold back its neighbours
        raise DeclarationError("; ".join(broken + refusals))
    if refusals:
        raise PublicationRefused("; ".join(refusals))
    return 0


def _aggregates(settings: Settings, args: argparse.Namespace) -> int:
    from aggregates import module_of, names
    from jobs.registry import registry
    from viewership.output import render

    found = registry()
    rows = []
    for name in names():
        aggregate = found.aggregates.get(name)
        rows.append({
            "name": name,
            "module": module_of(name),
            "table": aggregate.table.identifier if aggregate else None,
            "reads": ",".join(aggregate.reads) if aggregate else None,
            "additive": aggregate.additive if aggregate else None,
            "query": aggregate.query.name if aggregate and aggregate.query else None,
            "problem": found.problems.get(name),
        })  # fmt: skip
    columns = ["name", "module", "table", "reads", "additive", "query", "problem"]
    print(render(rows, args.format, columns))
    return 0


def _new_aggregate(settings: Settings, args: argparse.Namespace) -> int:
    from viewership.scaffold import new_aggregate

    made = new_aggregate(args.name)
    print(f"wrote {made.module}\nwrote {made.test}")
    print(
        f"next: edit the transform and TABLE in {made.module.name}, then "
        f"`pytest {made.test}` and `viewership run --date D`; docs/extending.md walks through it"
    )
    return 0


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    from viewership.report import latest_audit, render_report

    _require_home(settings)
    report = latest_audit(settings, args.date)
    if report is None:
        raise ViewershipError(f"no run recorded for {args.date} in {settings.home}")
    print(render_report(report, args.format))
    return 0


def _maintain(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.maintenance import maintain
    from viewership.spark import get_spark

    _require_home(settings)
    report = maintain(get_spark(settings, app_name="viewership-maintain"), settings, args.as_of)
    print(
        f"{args.as_of}: compacted {sum(report.rewritten_files.values()):,} data files into "
        f"{sum(report.added_files.values()):,}, removed {sum(report.orphans_removed.values()):,} "
        f"orphan files, dropped {len(report.dropped_branches)} stale audit branch(es)"
        + "".join(f", {region} {rule}" for region, rule in report.retention_deleted.items())
    )
    return 0


def _login() -> str:
    """The user running the command, for the erasure log when no requester is named."""
    try:
        return getpass.getuser()
    except OSError:  # a container's uid with no name
        return f"uid {os.getuid()}"


def _forget(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.forget import check_requester, check_user_id, forget
    from viewership.spark import get_spark

    _require_home(settings)
    user = check_user_id(args.user)  # before a Spark session starts: a typo costs nothing
    requester = check_requester(_login() if args.requested_by is None else args.requested_by)
    spark = get_spark(settings, app_name="viewership-forget")
    report = forget(spark, settings, user, requester)
    tables = sum(1 for count in report.deleted.values() if count)
    print(
        f"erasure {report.request_id}: deleted {report.rows_deleted:,} row(s) from "
        f"{tables} table branch(es), scrubbed {report.audit_rows_scrubbed:,} audit record(s) "
        f"and {report.quality_files_scrubbed:,} quality file(s), expired the snapshots that "
        f"held them; logged as user sha256 {report.user_sha256[:16]}..., requested by "
        f"{report.requested_by}"
    )
    return 0


def _report(settings: Settings, args: argparse.Namespace) -> int:
    from viewership.dashboard import render_page
    from viewership.dashboard_io import check_writable, read_inputs, write_page

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    out = check_writable(args.out)  # before any read: a typo in the path costs nothing
    _require_home(settings)
    write_page(out, render_page(read_inputs(settings, args.start, args.end)))
    print(f"report of {args.start}..{args.end} written to {out}")
    return 0


def _query(settings: Settings, args: argparse.Namespace, declared: Query) -> int:
    from viewership.output import render

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    _require_home(settings)
    options = {o.dest: getattr(args, o.dest) for o in declared.options}
    rows = declared.answer(settings, args.start, args.end, **options)
    print(render(rows, args.format, declared.columns_for(options)))
    return 0


def _declared_queries(argv: Sequence[str]) -> dict[str, Query]:
    """The registry's queries, loaded only for ``query`` (the registry imports PySpark)."""
    if "query" not in argv:
        return {}
    from jobs.registry import queries

    return queries()


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is logged, not when the handler was made.

    ``main`` runs in-process too (tests, the DAG's tasks): a stream swapped and closed since
    (pytest's capture, a redirect) must not leave the handler writing to a dead file.
    """

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def _log_progress_to_stderr() -> None:
    """Progress lines of our own jobs go to stderr; other libraries' chatter stays quiet.

    ``VIEWERSHIP_LOG_LEVEL=DEBUG`` adds a line per step (each table audited, each table
    published): the markers the crash tier kills a run at.
    """
    logger = logging.getLogger("viewership")
    if not logger.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    level = os.environ.get("VIEWERSHIP_LOG_LEVEL", "INFO").upper()
    logger.setLevel(level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")
    logger.propagate = False
    # PyIceberg notes that the JDBC catalog's tables use the v0 layout Spark created: expected.
    logging.getLogger("pyiceberg").setLevel(logging.ERROR)
    # GX reports through our own audit output and Data Docs, not through its log lines.
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    _log_progress_to_stderr()
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        declared = _declared_queries(argv)
        args = build_parser(declared).parse_args(argv)
        settings = load_settings(args.home)
        if args.command == "query":
            return _query(settings, args, declared[args.answer])
        handler = {
            "generate": _generate,
            "run": _run,
            "aggregate": _aggregate,
            "new-aggregate": _new_aggregate,
            "aggregates": _aggregates,
            "audit": _audit,
            "maintain": _maintain,
            "forget": _forget,
            "report": _report,
        }[args.command]
        return handler(settings, args)
    except ViewershipError as exc:
        print(f"viewership: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("viewership: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an engine failure: one line here, the trace in the log folder
        trace = _save_trace()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"viewership: error: {first[:300]} (details: {trace})", file=sys.stderr)
        return 1


def _save_trace() -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile(
        "w", prefix="viewership-error-", suffix=".log", delete=False
    ) as handle:
        traceback.print_exc(file=handle)
        return handle.name


if __name__ == "__main__":
    sys.exit(main())
