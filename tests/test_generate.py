"""The synthetic landing generator: layout, determinism, and that every share it promises holds.

Lines are judged with the pipeline's own line rules (``jobs.validate.check_line``) against the
catalog snapshot in effect, so "bad" means what the contract means.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

import jobs.generate as gen
from jobs.generate import GenerateSummary, GeneratorMix, generate_landing
from jobs.landing import catalog_in_effect, feed_dir, feed_files
from jobs.validate import Context, Problem, check_line
from schemas.contract import DEVICES, PLANS, SHOW_TYPES
from schemas.regions import country_regions

START = date(2026, 11, 1)
DAYS = 8
EVENTS = 2000
LINE_FEEDS = ("viewing_events", "signups")
GZIP_MAGIC = b"\x1f\x8b"


def read_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    assert data.endswith(b"\n"), f"{path} does not end with a newline"
    return data.split(b"\n")[:-1]


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def catalog(landing: Path, day: date) -> list[dict[str, Any]]:
    (path,) = feed_files(landing, "catalog", day)
    return [json.loads(line) for line in read_lines(path)]


@dataclass(frozen=True)
class Line:
    """One landing line with its file, arrival day and the pipeline's verdict."""

    day: date
    file: Path
    raw: bytes
    problem: Problem | None
    values: dict[str, Any]


@dataclass(frozen=True)
class Generated:
    landing: Path
    summary: GenerateSummary
    messages: list[str]
    lines: dict[str, list[Line]]

    def good(self, feed: str) -> list[Line]:
        return [line for line in self.lines[feed] if line.problem is None]

    def reasons(self, feed: str) -> set[tuple[str, str | None]]:
        return {
            (ln.problem.reason.value, ln.problem.field) for ln in self.lines[feed] if ln.problem
        }


def judge(landing: Path, days: list[date]) -> dict[str, list[Line]]:
    """Every line of the line feeds with the verdict the pipeline would give it."""
    out: dict[str, list[Line]] = {feed: [] for feed in LINE_FEEDS}
    for day in days:
        shows = frozenset(s["show_id"] for s in catalog(landing, catalog_in_effect(landing, day)))
        ctx = Context(day, country_regions(), shows)
        for feed in LINE_FEEDS:
            for path in feed_files(landing, feed, day):
                for raw in read_lines(path):
                    problem, values = check_line(feed, raw, ctx)
                    out[feed].append(Line(day, path, raw, problem, values))
    return out


@pytest.fixture(scope="module")
def generated(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """Eight arrival days at the default mix (two catalog snapshots), judged line by line."""
    landing = tmp_path_factory.mktemp("generated") / "landing"
    messages: list[str] = []
    summary = generate_landing(spark, landing, START, DAYS, EVENTS, progress=messages.append)
    days = [START + timedelta(days=i) for i in range(DAYS)]
    return Generated(landing, summary, messages, judge(landing, days))


def test_same_seed_gives_the_same_bytes_however_spark_splits_the_work(
    spark: SparkSession, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run in one Spark job
    generate_landing(spark, landing, START, 3, 500, seed=11)
    first = digests(landing)
    # When the same call runs again in one job per day, with other shuffle settings
    monkeypatch.setattr(gen, "LINES_PER_JOB", 1)
    previous = spark.conf.get("spark.sql.shuffle.partitions") or "2"
    spark.conf.set("spark.sql.shuffle.partitions", "5")
    try:
        generate_landing(spark, tmp_path / "other", START, 3, 500, seed=11)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    # Then every file is byte-identical, and a rerun in place changes nothing either
    assert digests(tmp_path / "other") == first
    generate_landing(spark, landing, START, 3, 500, seed=11)
    assert digests(landing) == first
    # And another seed gives other events
    generate_landing(spark, tmp_path / "seed12", START, 3, 500, seed=12)
    changed = digests(tmp_path / "seed12")
    assert changed.keys() == first.keys()
    assert all(changed[name] != first[name] for name in first if "viewing_events" in name)


def test_a_rerun_replaces_the_folders_of_its_days(spark: SparkSession, landing: Path) -> None:
    # Given a day generated with events, and a stray file in its folder
    generate_landing(spark, landing, START, 1, 300)
    stray = feed_dir(landing, "viewing_events", START) / "old.jsonl"
    stray.write_text("{}\n")
    # When the day is generated again without events
    summary = generate_landing(spark, landing, START, 1, 0)
    # Then its line feeds' folders are gone (zero rows arrived) and the catalog is still there
    assert not feed_dir(landing, "viewing_events", START).exists()
    assert not feed_dir(landing, "signups", START).exists()
    assert [f.feed for f in summary.feeds] == ["catalog"]
    assert len(catalog(landing, START)) >= gen.BASE_SHOWS


def test_only_landing_files_in_the_contract_layout(generated: Generated) -> None:
    root = generated.landing
    # Only the three feed folders, with one dt folder per generated day (catalog: snapshots)
    assert sorted(p.name for p in root.iterdir()) == ["catalog", "signups", "viewing_events"]
    days = {f"dt={START + timedelta(days=i)}" for i in range(DAYS)}
    for feed in LINE_FEEDS:
        assert {p.name for p in (root / feed).iterdir()} == days
    snapshots = {f"dt={START}", f"dt={START + timedelta(days=7)}"}
    assert {p.name for p in (root / "catalog").iterdir()} == snapshots
    # Every file is part-NNNNN.jsonl or .jsonl.gz (catalog: plain), and .gz really is gzip
    kinds: Counter[str] = Counter()
    for path in root.rglob("*"):
        if path.is_dir():
            assert path.parent.parent == root or path.parent == root, path
            continue
        assert path.name.startswith("part-") and path.name.endswith((".jsonl", ".jsonl.gz"))
        gzipped = path.name.endswith(".gz")
        assert (path.read_bytes()[:2] == GZIP_MAGIC) is gzipped, path
        assert not (gzipped and path.parent.parent.name == "catalog")
        kinds[f"{path.parent.parent.name} {'gz' if gzipped else 'plain'}"] += 1
    assert kinds["viewing_events gz"] and kinds["viewing_events plain"]
    assert kinds["signups gz"] and kinds["signups plain"]


def test_the_summary_and_progress_match_the_files(generated: Generated) -> None:
    for entry in generated.summary.feeds:
        paths = feed_files(generated.landing, entry.feed, entry.day)
        assert len(paths) == entry.files
        assert sum(len(read_lines(p)) for p in paths) == entry.lines
    assert generated.summary.lines("viewing_events") == sum(
        f.lines for f in generated.summary.feeds if f.feed == "viewing_events"
    )
    # One progress line per feed and day (and per snapshot), saying what landed
    assert len(generated.messages) == 2 * DAYS + 2
    assert f"{START} viewing_events: 2,060 lines in 2 files" in generated.messages


def test_every_line_is_utf8_json_but_the_deliberately_broken(generated: Generated) -> None:
    for feed in LINE_FEEDS:
        for line in generated.lines[feed]:
            try:
                text = line.raw.decode("utf-8")
            except UnicodeDecodeError:
                assert line.problem is not None and line.problem.reason == "invalid_utf8"
                continue
            if line.problem is None:
                record = json.loads(text)
                assert isinstance(record, dict) and "\n" not in text
        good = generated.good(feed)
        assert len(good) > 0.95 * len(generated.lines[feed])


def test_rejected_lines_are_the_announced_ones_and_well_below_five_percent(
    generated: Generated,
) -> None:
    # Each feed-day's rejects are exactly the ones the summary announces (bad, too old, future)
    for entry in generated.summary.feeds:
        if entry.feed == "catalog":
            continue
        lines = [ln for ln in generated.lines[entry.feed] if ln.day == entry.day]
        rejected = sum(1 for ln in lines if ln.problem is not None)
        assert rejected == entry.rejects
        assert rejected < 0.03 * len(lines)
    # and at 2,000 events a day, every kind the contract names shows up within the week
    assert generated.reasons("viewing_events") >= {
        ("invalid_json", None),
        ("invalid_utf8", None),
        ("not_an_object", None),
        ("missing_field", "event_id"),
        ("missing_field", "watch_seconds"),
        ("wrong_type", "watch_seconds"),
        ("wrong_type", "user_id"),
        ("wrong_type", "event_ts"),
        ("invalid_value", "watch_seconds"),
        ("invalid_value", "device"),
        ("invalid_value", "event_ts"),
        ("invalid_value", "event_id"),
        ("unknown_country", "country"),
        ("unknown_show", "show_id"),
        ("too_late", "event_ts"),
        ("future", "event_ts"),
    }
    raws = {ln.raw for ln in generated.lines["viewing_events"] if ln.problem}
    for fragment in (b'"watch_seconds":"120"', b'"watch_seconds":null', b'"watch_seconds":12.5'):
        assert any(fragment in raw for raw in raws), fragment
    assert {b"[1,2]", b'"str"', b"42"} <= raws


def test_every_bad_kind_appears_when_asked_for_many(spark: SparkSession, tmp_path: Path) -> None:
    # Given a day where the line feeds hold more bad lines than there are kinds
    landing = tmp_path / "landing"
    mix = GeneratorMix(bad_share=1.0, duplicate_share=0.0, late_share=0.0)
    generate_landing(spark, landing, START, 1, 2500, mix=mix)
    lines = judge(landing, [START])
    verdicts = {
        feed: Counter(
            (ln.problem.reason.value, ln.problem.field) for ln in lines[feed] if ln.problem
        )
        for feed in LINE_FEEDS
    }
    # Then every kind is rejected for the reason the contract gives
    common = {("invalid_json", None), ("invalid_utf8", None), ("not_an_object", None)}
    assert set(verdicts["viewing_events"]) == common | {
        *(("missing_field", f) for f in gen.EVENT_TEMPLATE_FIELDS),
        ("wrong_type", "watch_seconds"),  # "120", null, 12.5
        ("wrong_type", "user_id"),
        ("wrong_type", "event_ts"),
        ("invalid_value", "watch_seconds"),  # -5, 90000
        ("invalid_value", "device"),
        ("invalid_value", "event_ts"),  # "yesterday", no offset
        ("invalid_value", "event_id"),  # empty, 65 characters
        ("unknown_country", "country"),
        ("unknown_show", "show_id"),
        ("too_late", "event_ts"),
        ("future", "event_ts"),
    }
    assert verdicts["viewing_events"][("wrong_type", "watch_seconds")] >= 3 * 2500 // 29
    assert set(verdicts["signups"]) == common | {
        *(("missing_field", f) for f in gen.SIGNUP_TEMPLATE_FIELDS),
        ("wrong_type", "user_id"),
        ("wrong_type", "plan"),
        ("wrong_type", "signup_ts"),
        ("invalid_value", "plan"),
        ("invalid_value", "signup_ts"),
        ("invalid_value", "user_id"),
        ("unknown_country", "country"),
    }
    # and an extra field never is the reason (bad timestamps and bytes aside, they pass)
    extra = [ln.problem for ln in lines["viewing_events"] if b'"client"' in ln.raw]
    assert None in extra
    assert all(p is None or p.reason in ("too_late", "future", "invalid_utf8") for p in extra)


def test_retries_repeat_the_same_payload_in_and_across_files_and_days(
    generated: Generated,
) -> None:
    by_id: dict[str, set[bytes]] = defaultdict(set)
    places: dict[str, list[tuple[date, Path]]] = defaultdict(list)
    seen: set[str] = set()
    repeats: Counter[date] = Counter()
    for line in generated.lines["viewing_events"]:
        try:
            record = json.loads(line.raw)
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("event_id"), str):
            continue
        event_id = record["event_id"]
        if not 1 <= len(event_id) <= 64:  # the deliberately empty or long ids
            assert line.problem is not None
            continue
        by_id[event_id].add(line.raw)
        places[event_id].append((line.day, line.file))
        repeats[line.day] += event_id in seen
        seen.add(event_id)
    # The same event id always carries the very same line
    assert all(len(raws) == 1 for raws in by_id.values())
    # Retries land in the same file, in another file of the day, and on a later day
    repeated = [p for p in places.values() if len(p) > 1]
    assert any(len(set(p)) < len(p) for p in repeated)
    assert any(len({f for d, f in p if d == p[0][0]}) > 1 for p in repeated)
    assert any(len({d for d, _ in p}) > 1 for p in repeated)
    # and their count is the one announced
    for entry in generated.summary.feeds:
        if entry.feed == "viewing_events":
            assert repeats[entry.day] == entry.repeats > 0


def test_late_events_land_in_their_own_event_date(generated: Generated) -> None:
    good = generated.good("viewing_events")
    late = [ln for ln in good if ln.values["event_ts"].date() < ln.day]
    share = len(late) / len(good)
    assert 0.03 < share < 0.09  # the late share, plus yesterday's retries
    lags = {(ln.day - ln.values["event_ts"].date()).days for ln in late}
    assert min(lags) == 1 and max(lags) > 20 and max(lags) <= 30
    too_late = [
        ln
        for ln in generated.lines["viewing_events"]
        if ln.problem and ln.problem.reason == "too_late"
    ]
    future = [
        ln
        for ln in generated.lines["viewing_events"]
        if ln.problem and ln.problem.reason == "future"
    ]
    assert (
        {ln.day for ln in too_late}
        == {ln.day for ln in future}
        == {START + timedelta(days=i) for i in range(DAYS)}
    )


def test_events_look_like_viewing(generated: Generated) -> None:
    good = generated.good("viewing_events")
    raws = [json.loads(ln.raw) for ln in good]
    # All four regions, every device, case variants that the contract folds
    assert {ln.values["region"] for ln in good} == {"UCAN", "EMEA", "LATAM", "APAC"}
    assert {ln.values["device"] for ln in good} == set(DEVICES)
    devices = Counter(ln.values["device"] for ln in good)
    assert devices.most_common(1)[0][0] == "tv"
    assert any(r["device"] != r["device"].lower() for r in raws)
    assert any(r["country"] != r["country"].upper() for r in raws)
    # Timestamps: mostly Z, some offsets, some fractions, and some local dates across midnight
    stamps = [r["event_ts"] for r in raws]
    zulu = sum(ts.endswith("Z") for ts in stamps) / len(stamps)
    assert 0.7 < zulu < 0.9
    assert any("." in ts for ts in stamps)
    assert any(
        r["event_ts"][:10] != ln.values["event_ts"].date().isoformat()
        for r, ln in zip(raws, good, strict=True)
    )
    # An extra field now and then, which the pipeline ignores
    assert any("client" in r for r in raws)
    # A realistic share of views under two minutes
    short = sum(ln.values["watch_seconds"] < 120 for ln in good) / len(good)
    assert 0.18 < short < 0.32
    assert max(ln.values["watch_seconds"] for ln in good) > 3600


def test_users_watch_several_shows_so_that_co_watch_pairs_exist(generated: Generated) -> None:
    seconds: Counter[tuple[str, str, date]] = Counter()
    unique = {ln.values["event_id"]: ln.values for ln in generated.good("viewing_events")}
    for event in unique.values():
        seconds[(event["user_id"], event["show_id"], event["event_ts"].date())] += event[
            "watch_seconds"
        ]
    qualified: dict[str, set[str]] = defaultdict(set)
    for (user, show, _), total in seconds.items():
        if total >= 120:
            qualified[user].add(show)
    users = {event["user_id"] for event in unique.values()}
    assert len(qualified) > 0.5 * len(users)
    assert sum(len(shows) > 1 for shows in qualified.values()) > 0.2 * len(qualified)
    # Popularity is skewed: the top show draws far more than the median one
    views = Counter(event["show_id"] for event in unique.values()).most_common()
    assert views[0][1] > 10 * views[len(views) // 2][1]


def test_signups(generated: Generated) -> None:
    good = generated.good("signups")
    assert {ln.values["region"] for ln in good} == {"UCAN", "EMEA", "LATAM", "APAC"}
    assert {ln.values["plan"] for ln in good} == set(PLANS)
    raws = [json.loads(ln.raw) for ln in good]
    assert any(r["plan"] != r["plan"].lower() for r in raws)
    # Some users sign up twice, at different times
    stamps: dict[str, set[str]] = defaultdict(set)
    for record in raws:
        stamps[record["user_id"]].add(record["signup_ts"])
    assert any(len(s) > 1 for s in stamps.values())
    per_day = Counter(ln.day for ln in generated.lines["signups"])
    assert set(per_day.values()) == {20 + 1}  # 20 signups and one repeat user a day
    assert any(ln.values["signup_ts"].date() < ln.day for ln in good)


def test_catalog_snapshots_on_the_first_day_and_every_seventh(generated: Generated) -> None:
    first, second = (
        catalog(generated.landing, START),
        catalog(generated.landing, START + timedelta(7)),
    )
    for shows in (first, second):
        ids = [s["show_id"] for s in shows]
        assert len(ids) == len(set(ids)) >= gen.BASE_SHOWS
        assert all(1 <= len(s["genres"]) <= 3 for s in shows)
        assert {g for s in shows for g in s["genres"]} == set(gen.GENRES)
        assert {s["type"] for s in shows} == set(SHOW_TYPES)
        assert all(isinstance(s["release_year"], int) for s in shows)
        assert any(not s["title"].isascii() for s in shows)
    # The later snapshot holds every earlier show, unchanged, plus a few new ones
    assert first == second[: len(first)]
    assert 0 < len(second) - len(first) <= 10
    # Every event names a show of the snapshot in effect, but for the deliberate unknown ones
    unknown = [
        ln for ln in generated.lines["viewing_events"]
        if ln.problem and ln.problem.reason == "unknown_show"
    ]  # fmt: skip
    assert unknown and all(json.loads(ln.raw)["show_id"].startswith("s9") for ln in unknown)


def test_a_mix_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="bad_share"):
        GeneratorMix(bad_share=1.5)
    with pytest.raises(ValueError, match="at most 1"):
        GeneratorMix(late_share=0.6, too_late_share=0.3, future_share=0.2)
