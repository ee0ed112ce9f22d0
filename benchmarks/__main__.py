"""``python -m benchmarks``: generate data, measure every figure, print and save the report.

Each volume gets a home of its own under ``<home>/benchmarks/work`` and two processes (its
landing step, then its pipeline step: benchmarks/worker.py); the history depth is measured by
the pipeline step of its volume, and the queries run from the shell against the home of the
query volume. The report goes to
standard output and, as JSON and Markdown, to ``<home>/benchmarks/`` (``latest.*`` and a copy
per run under ``runs/``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from benchmarks import WEEKLY
from benchmarks.measure import Samples, stopwatch
from benchmarks.report import markdown, targets
from viewership.config import load_settings

START = date(2026, 11, 1)
QUERIES: dict[str, list[str]] = {
    "top-shows": ["top-shows", "--limit", "10"],
    "genres": ["genres", "--limit", "10"],
    "co-watch": ["co-watch", "--limit", "10"],
    "signups": ["signups", "--by", "day"],
}
# The columns that make two answers the same answer (the command line's key, DuckDB's key).
IDENTITY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "top-shows": (("show_id", "viewers"), ("show_id", "viewers")),
    "genres": (("region", "genre", "viewers"), ("region", "genre", "viewers")),
    "co-watch": (("show_a", "show_b", "co_viewers"), ("show_a", "show_b", "co_viewers")),
    "signups": (("date", "new_users"), ("key", "new_users")),
}


def volume(text: str) -> int:
    """``100k``, ``1M``, ``10M`` or a plain number of events."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    try:
        value = int(float(digits) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a volume such as 100k or 1M") from None
    if value < 1_000:
        raise argparse.ArgumentTypeError(f"{text!r}: a volume needs at least 1k events")
    return value


def label(events: int) -> str:
    """The volume as the report names it (1M, 100k)."""
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}M"
    if events % 1_000 == 0:
        return f"{events // 1_000}k"
    return str(events)


def say(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


class StepFailed(Exception):
    """A measured step exited with an error; the message says why and where its log is."""


def failure(log: Path) -> str:
    """The line of a failed step's log that says why: the JVM's out-of-memory error when there
    is one (the JVM exits on it, and the last line is then only the lost connection)."""
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    for line in lines:
        if "OutOfMemoryError" in line:
            return "out of memory: " + line.strip()[:200]
    return lines[-1].strip()[:200] if lines else "(no output)"


def worker(
    step: str,
    home: Path,
    days: int,
    events: int,
    repeat: int,
    depth: int = 0,
    maintain_every: int = WEEKLY,
) -> dict[str, Any]:
    """Run one measured step in its own process (its own JVM and memory peak); its standard
    error is kept under ``<home>/benchmarks/logs`` for when a step fails."""
    out = home.parent / f"{home.name}-{step}.json"
    log = home.parent.parent / "logs" / f"{home.name}-{step}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "benchmarks.worker", step, "--home", str(home),
               "--out", str(out), "--start", START.isoformat(), "--days", str(days),
               "--events", str(events), "--repeat", str(repeat), "--depth", str(depth),
               "--maintain-every", str(maintain_every)]  # fmt: skip
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as errors:
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=errors)
    if done.returncode != 0:
        raise StepFailed(f"the {step} step failed: {failure(log)} (log: {log})")
    say(f"{home.name}: {step} done in {time.perf_counter() - started:.0f} s")
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    return figures


def shell(command: list[str]) -> tuple[float, Any]:
    """Wall time of one command as a user sees it from the shell, and its JSON output."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"benchmark: {' '.join(command[:6])}... failed: {tail[0]}")
    return seconds, json.loads(done.stdout)


def same_answer(name: str, cli: list[dict[str, Any]], duck: list[dict[str, Any]]) -> bool:
    ours, theirs = IDENTITY[name]
    return [tuple(str(r[k]) for k in ours) for r in cli] == [
        tuple(str(r[k]) for k in theirs) for r in duck
    ]


def measure_queries(home: Path, days: int, repeat: int) -> dict[str, Any]:
    """Each answer from the shell, against DuckDB over the same files, over ``days`` days."""
    end = START.fromordinal(START.toordinal() + days - 1)
    period = ["--start", START.isoformat(), "--end", end.isoformat()]
    console = Path(sys.executable).with_name("viewership")
    figures: dict[str, Any] = {"days": days}
    for name, words in QUERIES.items():
        cli, duck = Samples(), Samples()
        cli_rows: Any = None
        duck_rows: Any = None
        for _ in range(repeat):  # in turn, so that a noisy moment hits both
            seconds, cli_rows = shell([str(console), "--home", str(home), "query", *words,
                                       *period, "--format", "json"])  # fmt: skip
            cli.values.append(seconds)
            seconds, duck_rows = shell([sys.executable, "-m", "benchmarks.duckdb_answer", name,
                                        "--home", str(home), *period])  # fmt: skip
            duck.values.append(seconds)
        figures[name] = {
            "cli": cli.as_dict(),
            "duckdb": duck.as_dict(),
            "ratio": cli.median / duck.median,
            "same_answer": same_answer(name, cli_rows, duck_rows),
            "rows": len(cli_rows),
        }
        say(f"query {name}: {cli.median:.2f} s, DuckDB {duck.median:.2f} s")
    return figures


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    from importlib.metadata import version

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": (java.splitlines() or ["unknown"])[0],
        "pyspark": version("pyspark"),
        "pyiceberg": version("pyiceberg"),
        "duckdb": version("duckdb"),
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--home", help="where the report and the work folders go")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small volumes, one repetition: keeps the harness working (CI)",
    )
    parser.add_argument(
        "--volumes",
        type=lambda t: [volume(v) for v in t.split(",")],
        help="events per day, e.g. 50k,1M,10M",
    )
    parser.add_argument("--repeat", type=int, help="repetitions of each timing")
    parser.add_argument("--depth", type=int, help="history depth compared with depth 1")
    parser.add_argument(
        "--depth-events", type=volume, help="events per day of the depth figure (one of --volumes)"
    )
    parser.add_argument(
        "--query-events", type=volume, help="events per day of the query figure (one of --volumes)"
    )
    parser.add_argument("--query-days", type=int, help="days in the queries' period")
    parser.add_argument(
        "--maintain-every",
        type=int,
        help=f"run the maintenance after every N days of history, as the weekly DAG does "
        f"({WEEKLY})",
    )
    args = parser.parse_args(argv)  # fmt: skip
    quick = {"volumes": [2_000, 5_000], "repeat": 1, "depth": 2, "depth_events": 2_000,
             "query_events": 2_000, "query_days": 2, "maintain_every": 1}  # fmt: skip
    full = {"volumes": [50_000, 1_000_000, 10_000_000], "repeat": 3, "depth": 30,
            "depth_events": 50_000, "query_events": 1_000_000, "query_days": 7,
            "maintain_every": WEEKLY}  # fmt: skip
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for option in ("query_events", "depth_events"):
        if getattr(args, option) not in args.volumes:
            flag = "--" + option.replace("_", "-")
            parser.error(f"{flag} {label(getattr(args, option))} must be one of --volumes")
    if args.repeat < 1 or args.depth < 2 or args.query_days < 2 or args.maintain_every < 1:
        parser.error("--repeat and --maintain-every must be at least 1, "
                     "--depth and --query-days at least 2")  # fmt: skip
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    root = load_settings(args.home).home / "benchmarks"
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    report: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("home", "quick")},
        "volumes": {},
    }
    total = Samples()
    with stopwatch(total):
        for events in sorted(args.volumes):
            home = work / label(events)
            depth = args.depth if events == args.depth_events else 0
            days = max(2, args.query_days if events == args.query_events else 2, depth + 1)
            say(f"{label(events)} events a day: landing and generator")
            try:
                landing = worker("landing", home, days, events, args.repeat)
                say(f"{label(events)} events a day: floor and daily run"
                    + (f", and the run at history depth {depth}" if depth else ""))  # fmt: skip
                pipeline = worker("pipeline", home, days, events, args.repeat, depth,
                                  args.maintain_every)  # fmt: skip
            except StepFailed as failed:  # reported as a finding, and the other volumes still run
                say(f"{label(events)}: {failed}")
                report["volumes"][label(events)] = {"events": events, "failed": str(failed)}
                shutil.rmtree(home, ignore_errors=True)
                continue
            if depth:
                report["depth"] = pipeline.pop("depth") | {"events": events}
            report["volumes"][label(events)] = {"events": events, "landing": landing,
                                                "pipeline": pipeline}  # fmt: skip
            if events == args.query_events:
                report["queries"] = measure_queries(home, args.query_days, args.repeat)
            shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = total.median
    report["targets"] = targets(report)
    text = markdown(report)
    sys.stdout.write(text)  # the same bytes as latest.md
    stamp = report["started"].replace(":", "").replace("-", "")
    (root / "runs").mkdir(parents=True, exist_ok=True)
    for path in (root / "latest.json", root / "runs" / f"{stamp}.json"):
        path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    (root / "latest.md").write_text(text, encoding="utf-8")
    say(f"report: {root / 'latest.md'} and {root / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
