"""Synthetic landing files for every feed (contract section 1), built by Spark, not the driver.

Every value is a pure function of (seed, day, record number) through ``xxhash64``, so the same
arguments give byte-identical files however Spark schedules the work. A feed-day's lines are
numbered in ranges (unique records, then retries, then bad lines) and dealt round-robin to a
fixed number of files, one single-partition ``spark.range`` each, so every file mixes every
kind of line and no row ever passes through the driver. Only the catalog (a few hundred
shows) is built in Python.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date, timedelta
from functools import cache, reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.landing import feed_dir
from schemas.contract import (
    DEVICES,
    FUTURE_TOLERANCE_SECONDS,
    ID_MAX_CHARS,
    LATE_DAYS,
    PLANS,
    QUALIFIED_SECONDS,
    WATCH_SECONDS_MAX,
)
from schemas.regions import country_regions

EPOCH = date(1970, 1, 1)
DAY = 86_400

# The catalog grows by a few shows a week from a fixed date, so a later snapshot always holds
# every show of an earlier one, whichever runs wrote them.
BASE_SHOWS = 300
SHOWS_ADDED_PER_WEEK = 3
CATALOG_GROWTH_FROM = date(2026, 1, 5)
MAX_SHOWS = 1_000
SNAPSHOT_EVERY_DAYS = 7

GENRES = (
    "Action",
    "Animation",
    "Anime",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Family",
    "Horror",
    "K-Drama",
    "Reality",
    "Romance",
    "Sci-Fi",
    "Telenovela",
    "Thriller",
)
REGION_GENRES = {
    "UCAN": ("Reality", "Comedy", "Action"),
    "EMEA": ("Crime", "Documentary", "Drama"),
    "LATAM": ("Telenovela", "Romance", "Comedy"),
    "APAC": ("Anime", "K-Drama", "Action"),
}
REGION_WEIGHTS = {"UCAN": 30.0, "EMEA": 35.0, "LATAM": 20.0, "APAC": 15.0}
# A rough evening-in-the-region clock: the UTC offset used to place local viewing hours.
REGION_UTC_HOURS = {"UCAN": -6, "EMEA": 1, "LATAM": -4, "APAC": 8}
# Big markets weigh more inside their region; every other mapped country weighs 1.
MARKET_WEIGHTS = {
    "US": 12, "CA": 3, "GB": 6, "DE": 6, "FR": 5, "ES": 4, "IT": 4, "PL": 2, "NL": 2, "TR": 2,
    "ZA": 2, "EG": 2, "NG": 2, "SA": 2, "BR": 8, "MX": 6, "AR": 3, "CO": 3, "CL": 2, "PE": 2,
    "IN": 6, "JP": 5, "KR": 5, "AU": 4, "ID": 3, "PH": 3, "TH": 2, "TW": 2,
}  # fmt: skip
DEVICE_WEIGHTS = {"tv": 45.0, "mobile": 25.0, "web": 15.0, "tablet": 10.0, "console": 5.0}
PLAN_WEIGHTS = {"basic": 20.0, "standard": 35.0, "premium": 20.0, "standard_with_ads": 25.0}
# Local viewing hour 0..23: quiet nights, a lunch bump, a prime-time peak.
HOUR_WEIGHTS = (3, 2, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 5, 6, 8, 10, 12, 12, 9, 6)
TS_OFFSETS = (
    ("+05:30", 330),
    ("-08:00", -480),
    ("+01:00", 60),
    ("+09:00", 540),
    ("-03:00", -180),
    ("+10:00", 600),
    ("-05:00", -300),
    ("+00:00", 0),
    ("+05:45", 345),
    ("-09:30", -570),
)
CLIENTS = ("android/7.3.1", "ios/17.2", "tvos/16.1", "webos/6.0", "chrome/126")
REFERRERS = ("search", "friend", "tv-ad", "partner")

SESSION_EVENTS = 4  # consecutive records share a user, a device and a rough start time
SHORT_VIEW_SHARE = 0.25  # views below the two-minute rule
TRAVEL_SHARE = 0.02
ZIPF_EXPONENT = 0.9
LINES_PER_FILE = 250_000
MAX_FILES = 4
ID_PERMUTE = 2_654_435_761  # odd, so n -> n * ID_PERMUTE mod 2**32 is a bijection
UNIFORM_BITS = 2**53
JIT_METHOD_LIMIT = 8_000  # HotSpot does not compile methods larger than this (bytes)
_SEPARATOR = "\x1f"  # joins literal arrays; no value contains it

# Rule-breaking lines, dealt round-robin: every kind the contract names, per feed.
VIEWING_BAD_KINDS = (
    "truncated_json",
    "plain_text",
    "json_array",
    "json_string",
    "json_number",
    "missing_field",
    "seconds_as_string",
    "seconds_null",
    "seconds_fraction",
    "user_id_number",
    "seconds_negative",
    "seconds_too_big",
    "unknown_device",
    "unknown_country",
    "unknown_show",
    "ts_words",
    "ts_without_offset",
    "ts_number",
    "empty_id",
    "long_id",
    "not_utf8",
)
SIGNUP_BAD_KINDS = (
    "truncated_json",
    "plain_text",
    "json_array",
    "json_string",
    "json_number",
    "missing_field",
    "user_id_number",
    "plan_null",
    "ts_number",
    "unknown_plan",
    "unknown_country",
    "ts_words",
    "ts_without_offset",
    "empty_id",
    "long_id",
    "not_utf8",
)
PLAIN_TEXTS = (
    "ERROR 502 Bad Gateway",
    "<html><body>Service Unavailable</body></html>",
    "event_id,user_id,show_id,event_ts",
    "upload interrupted",
)

# Kinds of unique records (line sources below).
ON_TIME, LATE, TOO_LATE, FUTURE = 0, 1, 2, 3
RECORD, REPEAT, CARRIED, RESIGN, BAD = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class GeneratorMix:
    """Shares of a day's events (and signups) that exercise each contract rule."""

    duplicate_share: float = 0.02
    late_share: float = 0.05
    too_late_share: float = 0.002
    future_share: float = 0.002
    bad_share: float = 0.01
    gzip_share: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be between 0 and 1, not {value}")
        if self.late_share + self.too_late_share + self.future_share > 1.0:
            raise ValueError("late, too-late and future shares must add up to at most 1")


@dataclass(frozen=True)
class FeedDay:
    """What one feed's arrival folder received; repeats and rejects are by design."""

    feed: str
    day: date
    lines: int
    files: int
    repeats: int = 0  # lines that repeat an earlier line byte for byte (retries)
    rejects: int = 0  # lines the contract quarantines (bad, too old, future)


@dataclass(frozen=True)
class GenerateSummary:
    """Per-day, per-feed line counts of one generate call."""

    feeds: tuple[FeedDay, ...]

    def lines(self, feed: str, day: date | None = None) -> int:
        """Lines written for a feed, on one arrival day or over all of them."""
        return sum(f.lines for f in self.feeds if f.feed == feed and day in (None, f.day))

    def get(self, feed: str, day: date) -> FeedDay | None:
        """The entry of one feed-day, or None when nothing was written."""
        return next((f for f in self.feeds if f.feed == feed and f.day == day), None)


# --- the catalog: small, built in Python ---------------------------------------------------

_ADJECTIVES = (
    "Silent", "Broken", "Golden", "Last", "Hidden", "Midnight", "Crimson", "Lost", "Wild",
    "Frozen", "Electric", "Savage", "Quiet", "Endless", "Burning", "Northern", "Paper", "Iron",
)  # fmt: skip
_NOUNS = (
    "Kingdom", "River", "Protocol", "Harbor", "Empire", "Garden", "Signal", "Frontier",
    "Island", "Code", "Orchard", "Heist", "Station", "Winter", "Crown", "Tides", "Academy",
)  # fmt: skip
_WORLD_WORDS = (
    "Café", "Mañana", "Straße", "東京", "서울의 밤", "Ópera", "Zürich", "Łódź", "Αθήνα",
    "Москва", "São Paulo", "किस्मत", "القاهرة", "Crème brûlée", "Fjällräven", "Ñandú", "🎬",
)  # fmt: skip


@dataclass(frozen=True)
class Show:
    """One catalog entry; ``appeal`` orders popularity and is not written out."""

    show_id: str
    title: str
    genres: tuple[str, ...]
    type: str
    release_year: int
    appeal: float

    def line(self) -> str:
        """The snapshot line: compact JSON with Unicode kept as UTF-8."""
        record = {
            "show_id": self.show_id,
            "title": self.title,
            "genres": list(self.genres),
            "type": self.type,
            "release_year": self.release_year,
        }
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def catalog_size(as_of: date) -> int:
    """Shows in the catalog on a date: never fewer on a later date."""
    weeks = max(0, (as_of - CATALOG_GROWTH_FROM).days // 7)
    return min(MAX_SHOWS, BASE_SHOWS + SHOWS_ADDED_PER_WEEK * weeks)


def _title(rng: random.Random) -> str:
    adjective, noun, word = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_WORLD_WORDS)
    style = rng.random()
    if style < 0.15:
        return f"{word}: {noun}" if rng.random() < 0.5 else f"{adjective} {word}"
    if style < 0.20:
        return f'The "{adjective}" {noun}'
    if style < 0.30:
        return f"{adjective} {noun}: Part {rng.choice(('II', 'III', 'IV'))}"
    return f"The {adjective} {noun}" if rng.random() < 0.5 else f"{adjective} {noun}"


@cache
def make_show(seed: int, number: int) -> Show:
    """Show number ``number`` (1-based); its attributes depend on the seed only."""
    rng = random.Random(f"viewership-show-{seed}-{number}")
    show_type = "series" if rng.random() < 0.65 else "film"
    genres = tuple(rng.sample(GENRES, rng.choice((1, 1, 2, 2, 2, 3))))
    year = 2025 - min(65, int(rng.expovariate(0.15)))
    return Show(f"s{number:04d}", _title(rng), genres, show_type, year, rng.paretovariate(1.2))


def catalog_snapshot(seed: int, as_of: date) -> tuple[Show, ...]:
    """The full catalog on a date, ordered by show_id."""
    return tuple(make_show(seed, n) for n in range(1, catalog_size(as_of) + 1))


def snapshot_day(start: date, day: date) -> date:
    """The snapshot in effect for a day of a run: the first day, then every 7th day."""
    return start + timedelta(days=(day - start).days // SNAPSHOT_EVERY_DAYS * SNAPSHOT_EVERY_DAYS)


def regional_ranking(shows: Sequence[Show], regions: Sequence[str]) -> list[str]:
    """Show ids ranked per region (regions concatenated): appeal boosted by local genres."""
    ranked: list[str] = []
    for region in regions:
        liked = set(REGION_GENRES.get(region, ()))

        def score(show: Show, liked: set[str] = liked) -> tuple[float, str]:
            boost = 1.0 + 1.5 * len(liked.intersection(show.genres))
            return (-show.appeal * boost, show.show_id)

        ranked.extend(show.show_id for show in sorted(shows, key=score))
    return ranked


# --- the world the column expressions index into --------------------------------------------


@dataclass(frozen=True)
class World:
    """Reference arrays shared by every day: regions, countries, devices, plans."""

    regions: tuple[str, ...]
    region_weights: tuple[float, ...]
    region_utc_seconds: tuple[int, ...]
    countries: tuple[str, ...]  # grouped by region, big markets repeated by weight
    region_offsets: tuple[int, ...]
    region_counts: tuple[int, ...]
    all_countries: tuple[str, ...]
    devices: tuple[str, ...]
    plans: tuple[str, ...]


@cache
def world() -> World:
    """Build the reference arrays from the contract and the country-to-region reference."""
    by_region: dict[str, list[str]] = {}
    for code, region in sorted(country_regions().items()):
        by_region.setdefault(region, []).append(code)
    regions = tuple(sorted(by_region))
    countries: list[str] = []
    offsets, counts = [], []
    for region in regions:
        weighted = [c for c in by_region[region] for _ in range(MARKET_WEIGHTS.get(c, 1))]
        offsets.append(len(countries))
        counts.append(len(weighted))
        countries.extend(weighted)
    return World(
        regions=regions,
        region_weights=tuple(REGION_WEIGHTS.get(r, 10.0) for r in regions),
        region_utc_seconds=tuple(REGION_UTC_HOURS.get(r, 0) * 3600 for r in regions),
        countries=tuple(countries),
        region_offsets=tuple(offsets),
        region_counts=tuple(counts),
        all_countries=tuple(sorted(country_regions())),
        devices=tuple(sorted(DEVICES)),
        plans=tuple(sorted(PLANS)),
    )


# --- line layout of one feed-day ------------------------------------------------------------


def _share(count: int, share: float) -> int:
    return math.floor(count * share + 0.5)


@dataclass(frozen=True)
class Layout:
    """How a feed-day's line numbers split into kinds, in this order of consecutive ranges."""

    records: int  # unique records: on time, then late, too late, future
    late: int
    too_late: int
    future: int
    repeats: int  # exact copies of this day's accepted records
    carried: int  # exact copies of the previous day's on-time records (later-day retries)
    resigns: int  # signups only: an earlier record's user again, at another time
    bad: int

    @property
    def on_time(self) -> int:
        return self.records - self.late - self.too_late - self.future

    @property
    def total(self) -> int:
        return self.records + self.repeats + self.carried + self.resigns + self.bad

    @property
    def rejects(self) -> int:
        return self.too_late + self.future + self.bad

    @property
    def files(self) -> int:
        """2-4 files by volume (never more files than lines)."""
        if self.total == 0:
            return 0
        return min(self.total, max(2, min(MAX_FILES, math.ceil(self.total / LINES_PER_FILE))))


def _records(count: int, mix: GeneratorMix) -> tuple[int, int, int]:
    late = min(count, _share(count, mix.late_share))
    too_late = min(count - late, _share(count, mix.too_late_share))
    future = min(count - late - too_late, _share(count, mix.future_share))
    return late, too_late, future


def event_layout(events: int, mix: GeneratorMix, carry: bool) -> Layout:
    """A day of viewing events; a third of the retries repeat the previous day when carry."""
    late, too_late, future = _records(events, mix)
    on_time = events - late - too_late - future
    retries = _share(events, mix.duplicate_share) if on_time + late else 0
    carried = retries // 3 if carry and on_time else 0
    return Layout(
        events, late, too_late, future, retries - carried, carried, 0, _share(events, mix.bad_share)
    )


def signup_layout(signups: int, mix: GeneratorMix) -> Layout:
    """A day of signups: exact retries and at least one user who signs up twice."""
    late, too_late, future = _records(signups, mix)
    accepted = signups - too_late - future
    half = mix.duplicate_share / 2
    repeats = _share(signups, half) if accepted else 0
    resigns = max(1, _share(signups, half)) if accepted and mix.duplicate_share else 0
    return Layout(
        signups, late, too_late, future, repeats, 0, resigns, _share(signups, mix.bad_share)
    )


# --- column helpers -------------------------------------------------------------------------
#
# Building a Column costs a few JVM round trips, so the expressions are built once per call as
# "stages" (dicts of named columns, applied in order) and reused for every file and day; the
# day's own numbers enter as literal ``p_*`` columns that Spark folds back into constants.

Stages = tuple[dict[str, Column], ...]


def _uniform(seed: int, salt: str, *keys: Column) -> Column:
    """A uniform double in [0, 1) hashed from the seed, a salt and the keys: no F.rand()."""
    hashed = F.xxhash64(F.lit(seed), F.lit(salt), *keys)
    return F.pmod(hashed, F.lit(UNIFORM_BITS)).cast("double") / float(UNIFORM_BITS)


def _below(u: Column, n: int | Column) -> Column:
    """An integer in [0, n) from a uniform."""
    return F.floor(u * n)


def _pick(u: Column, weights: Sequence[float]) -> Column:
    """The index of the weighted choice that a uniform lands on (inverse CDF)."""
    total, acc = float(sum(weights)), 0.0
    choice: Column | None = None
    for index, weight in enumerate(weights[:-1]):
        acc += weight / total
        choice = F.when(u < acc, index) if choice is None else choice.when(u < acc, index)
    last = len(weights) - 1
    return F.lit(last) if choice is None else choice.otherwise(last)


def _split(text: Column, ints: bool = False) -> Column:
    """A literal array from joined text (Spark folds it to a constant at planning time)."""
    parts = F.split(text, _SEPARATOR)
    return parts.cast("array<int>") if ints else parts


def _joined(values: Sequence[str] | Sequence[int]) -> str:
    return _SEPARATOR.join(str(v) for v in values)


def _at(values: Sequence[str] | Sequence[int], index: Column) -> Column:
    """``values[index]`` (0-based) of a literal array; one literal, not one per element."""
    array = _split(F.lit(_joined(values)), ints=not isinstance(values[0], str))
    return F.element_at(array, (index + 1).cast("int"))


def _quoted(value: Column) -> Column:
    """A JSON string for values that need no escaping (ids, codes, timestamps)."""
    return F.concat(F.lit('"'), value, F.lit('"'))


def _json_object(members: Sequence[tuple[str, Column]]) -> Column:
    """One compact JSON object from rendered values; a null value leaves its member out."""
    parts = [F.concat(F.lit(f'"{name}":'), value) for name, value in members]
    return F.concat(F.lit("{"), F.concat_ws(",", *parts), F.lit("}"))


def _case_variant(value: Column, u: Column) -> Column:
    """Mostly as is; a few upper-case or capitalised spellings (the contract folds case)."""
    return F.when(u < 0.03, F.upper(value)).when(u < 0.05, F.initcap(value)).otherwise(value)


def _zipf_rank(u: Column, size: Column) -> Column:
    """A 1-based rank with Zipf-like popularity (density ~ rank ** -ZIPF_EXPONENT)."""
    a = 1.0 - ZIPF_EXPONENT
    span = F.pow(size + 1, a) - 1.0
    rank = F.floor(F.pow(1.0 + u * span, 1.0 / a))
    return F.least(F.greatest(rank, F.lit(1)), size)


def _ranked_show(u: Column, region: Column, ranking: Column, size: Column) -> Column:
    """A show drawn from the region's slice of the concatenated regional rankings."""
    return F.element_at(_split(ranking), (region * size + _zipf_rank(u, size)).cast("int"))


def rfc3339(instant: Column, micros: Column, digits: Column, offset: Column) -> Column:
    """RFC 3339 text of a UTC instant (epoch seconds) shown at offset index (0 = ``Z``)."""
    minutes = _at((0, *(m for _, m in TS_OFFSETS)), offset)
    local = instant + minutes * 60
    return F.concat(
        _clock(local),
        F.when(digits == 6, F.format_string(".%06d", micros))
        .when(digits == 3, F.format_string(".%03d", F.floor(micros / 1000)))
        .otherwise(F.lit("")),
        _at(("Z", *(text for text, _ in TS_OFFSETS)), offset),
    )


def _clock(seconds: Column) -> Column:
    """``YYYY-MM-DDTHH:MM:SS`` of epoch seconds, independent of the session time zone."""
    tod = F.pmod(seconds, F.lit(DAY))
    day = F.floor(seconds / DAY).cast("int")
    hh, mm, ss = F.floor(tod / 3600), F.floor(F.pmod(tod, F.lit(3600)) / 60), F.pmod(tod, F.lit(60))
    return F.concat(
        F.date_add(F.lit(EPOCH), day).cast("string"),
        F.format_string("T%02d:%02d:%02d", hh, mm, ss),
    )


# --- stages: where each line comes from ----------------------------------------------------


def line_numbers(
    spark: SparkSession, layout: Layout, day_number: int, rankings: Rankings
) -> DataFrame:
    """A feed-day's line numbers, one Spark partition per file, with the day's numbers.

    File ``j`` holds every ``files``-th line from ``j``. ``spark.range`` cuts ``per * files``
    ids into ``files`` slices of exactly ``per`` ids; the few ids past the end are dropped.
    """
    files = layout.files
    per = -(-layout.total // files)
    params = {
        "p_day": day_number,
        "p_records": layout.records,
        "p_on_time": layout.on_time,
        "p_late_end": layout.on_time + layout.late,
        "p_future_start": layout.records - layout.future,
        "p_repeat_end": layout.records + layout.repeats,
        "p_carry_end": layout.records + layout.repeats + layout.carried,
        "p_resign_end": layout.records + layout.repeats + layout.carried + layout.resigns,
        "p_bad": max(layout.bad, 1),
        "p_shows": rankings.shows,
        "p_previous_shows": rankings.previous_shows,
        "p_ranking": rankings.current,
        "p_previous_ranking": rankings.previous,
    }
    ids = F.col("id")
    line = F.pmod(ids, F.lit(per)) * files + F.floor(ids / per)
    numbers = spark.range(0, per * files, 1, numPartitions=files)
    return numbers.select(
        line.alias("line"), *(F.lit(v).alias(k) for k, v in params.items())
    ).where(F.col("line") < layout.total)


def source_stages(seed: int) -> Stages:
    """Say where each line comes from: which record of which day, of what kind, how broken.

    Adds ``source`` (RECORD, REPEAT, CARRIED, RESIGN, BAD), ``record`` (the record number),
    ``gen_day`` (epoch day whose records it copies), ``kind`` (ON_TIME .. FUTURE) and
    ``bad_index`` (running count of the feed's bad lines, null for good ones).
    """
    line, day, record = F.col("line"), F.col("p_day"), F.col("record")
    source = (
        F.when(line < F.col("p_records"), RECORD)
        .when(line < F.col("p_repeat_end"), REPEAT)
        .when(line < F.col("p_carry_end"), CARRIED)
        .when(line < F.col("p_resign_end"), RESIGN)
        .otherwise(BAD)
    )
    src = F.col("source")
    copied = _below(_uniform(seed, "copy", day, line), F.col("p_late_end"))
    carried = _below(_uniform(seed, "carry", day, line), F.col("p_on_time"))
    number = (
        F.when(src == RECORD, line)
        .when(src.isin(REPEAT, RESIGN), copied)
        .when(src == CARRIED, carried)
        .otherwise(line - F.col("p_resign_end") + F.col("p_records"))  # fresh: unique ids
    )
    kind = (
        F.when(record >= F.col("p_records"), ON_TIME)
        .when(record < F.col("p_on_time"), ON_TIME)
        .when(record < F.col("p_late_end"), LATE)
        .when(record < F.col("p_future_start"), TOO_LATE)
        .otherwise(FUTURE)
    )
    bad_index = line - F.col("p_resign_end") + day * F.col("p_bad")
    return (
        {"source": source},
        {"record": number.cast("long")},
        {
            "gen_day": F.when(src == CARRIED, day - 1).otherwise(day),
            "kind": kind,
            "bad_index": F.when(src == BAD, bad_index),
        },
    )


def _instant(
    key: Callable[[str], Column], kind: Column, day: Column, tod: Column, lag: Column
) -> Column:
    """Epoch seconds for a record of ``kind`` generated on ``day`` at time of day ``tod``."""
    ahead = _below(key("ahead"), 2 * DAY)
    future = (day + 1) * DAY + FUTURE_TOLERANCE_SECONDS + 1 + ahead
    return F.when(kind == FUTURE, future).otherwise((day - lag) * DAY + tod)


def _timestamp_text(key: Callable[[str], Column], instant: Column) -> Column:
    """Mostly ``Z``, a fifth with offsets, some with milli- or microseconds."""
    style = key("ts_style")
    offset = F.when(key("tz") < 0.8, 0).otherwise(1 + _below(key("tz_pick"), len(TS_OFFSETS)))
    digits = F.when(style < 0.1, 6).when(style < 0.2, 3).otherwise(0)
    return rfc3339(instant, _below(key("micros"), 1_000_000), digits, offset)


def _home(seed: int, user: Column, ref: World) -> tuple[Column, Column]:
    """A user's home region index and country: fixed for the user across days."""
    region = _pick(_uniform(seed, "home_region", user), ref.region_weights)
    slot = _at(ref.region_offsets, region) + _below(
        _uniform(seed, "home_country", user), _at(ref.region_counts, region)
    )
    return region, _at(ref.countries, slot)


def _country_text(key: Callable[[str], Column], home: Column, ref: World) -> Column:
    """The home country, a traveller's other country now and then, in mixed case sometimes."""
    away = _at(ref.all_countries, _below(key("abroad_where"), len(ref.all_countries)))
    country = F.when(key("abroad") < TRAVEL_SHARE, away).otherwise(home)
    return _case_variant(country, key("country_case"))


# --- stages: viewing events -----------------------------------------------------------------


def viewing_field_stages(seed: int, pool: int) -> Stages:
    """The event's values from (gen_day, record, kind): users, shows, times, seconds."""
    ref = world()
    day, record, kind = F.col("gen_day"), F.col("record"), F.col("kind")
    region, slot = F.col("region"), F.col("slot")
    session = F.floor(record / SESSION_EVENTS)

    def per_event(salt: str) -> Column:
        return _uniform(seed, salt, day, record)

    def per_session(salt: str) -> Column:
        return _uniform(seed, salt, day, F.col("session"))

    home_region, home = _home(seed, F.col("user"), ref)

    def show_from(ranking: str, size: str) -> Column:
        main = _ranked_show(per_session("show"), region, F.col(ranking), F.col(size))
        other = _ranked_show(per_event("show"), region, F.col(ranking), F.col(size))
        return F.when((slot == 0) | (per_event("binge") < 0.5), main).otherwise(other)

    # A carried line repeats yesterday's event, drawn from yesterday's catalog.
    show = F.when(day < F.col("p_day"), show_from("p_previous_ranking", "p_previous_shows"))
    show = show.otherwise(show_from("p_ranking", "p_shows"))
    hour = _pick(per_session("hour"), HOUR_WEIGHTS)
    start_local = hour * 3600 + _below(per_session("minute"), 3600)
    start = F.pmod(start_local - _at(ref.region_utc_seconds, region), F.lit(DAY))
    tod = F.pmod(start + slot * 1500 + _below(per_event("gap"), 900), F.lit(DAY))
    lag = (
        F.when(kind == LATE, 1 + _below(per_session("lag"), LATE_DAYS))
        .when(kind == TOO_LATE, LATE_DAYS + 1 + _below(per_session("lag"), 30))
        .otherwise(0)
    )
    u1, u2 = per_event("len_a"), per_event("len_b")
    normal = F.sqrt(-2.0 * F.log(1.0 - u1)) * F.cos(2.0 * math.pi * u2)
    long_view = F.round(F.exp(math.log(1800.0) + 0.8 * normal))
    long_view = F.least(F.greatest(long_view, F.lit(QUALIFIED_SECONDS)), F.lit(WATCH_SECONDS_MAX))
    short_view = _below(per_event("short_len"), QUALIFIED_SECONDS)
    seconds = F.when(per_event("short") < SHORT_VIEW_SHARE, short_view).otherwise(long_view)
    weights = [DEVICE_WEIGHTS.get(d, 5.0) for d in ref.devices]
    device = _at(ref.devices, _pick(per_session("device"), weights))
    permuted = F.pmod(record * ID_PERMUTE + seed * 97, F.lit(2**32))
    event_id = F.concat(
        F.lit("ev"),
        F.regexp_replace(F.date_add(F.lit(EPOCH), day).cast("string"), "-", ""),
        F.lit("-"),
        F.lower(F.lpad(F.hex(permuted), 8, "0")),
    )
    client = _quoted(_at(CLIENTS, _below(per_event("client"), len(CLIENTS))))
    return (
        {"user": _below(_uniform(seed, "user", day, session), pool), "session": session},
        {"slot": F.pmod(record, F.lit(SESSION_EVENTS)), "region": home_region, "home": home},
        {
            "event_id": event_id,
            "user_id": F.format_string("u%07d", F.col("user") + 1),
            "show_id": show,
            "instant": _instant(per_event, kind, day, tod, lag),
            "watch_seconds": seconds.cast("long"),
            "device": _case_variant(device, per_event("device_case")),
            "country": _country_text(per_event, F.col("home"), ref),
            "extra": F.when(per_event("extra") < 0.01, client),
        },
        {"event_ts": _timestamp_text(per_event, F.col("instant"))},
    )


def _bad_kind(names: Sequence[str]) -> tuple[Column, Column]:
    """The bad kind of a line (dealt round-robin) and a counter that rotates within a kind."""
    index = F.col("bad_index")
    return F.pmod(index, F.lit(len(names))), F.floor(index / len(names)) + F.col("gen_day")


def _broken_line(good: Column, kind: Column, names: Sequence[str], rotate: Column) -> Column:
    """Whole-line breakage: cut JSON, plain text, JSON that is not an object."""
    half = F.floor(F.length(good) / 2).cast("int")
    return (
        F.when(kind == names.index("truncated_json"), good.substr(F.lit(1), half))
        .when(kind == names.index("plain_text"), _at(PLAIN_TEXTS, F.pmod(rotate, F.lit(4))))
        .when(kind == names.index("json_array"), F.lit("[1,2]"))
        .when(kind == names.index("json_string"), F.lit('"str"'))
        .when(kind == names.index("json_number"), F.lit("42"))
        .otherwise(good)
    )


def _members(
    values: dict[str, Column],
    overrides: dict[str, dict[str, Column]],
    kind: Column,
    names: Sequence[str],
    rotate: Column,
) -> list[tuple[str, Column]]:
    """Members with the bad kinds' replacements; ``missing_field`` drops a rotating field."""
    missing = kind == names.index("missing_field")
    members = []
    for position, (name, value) in enumerate(values.items()):
        rendered = F.when(missing & (F.pmod(rotate, F.lit(len(values))) == position), F.lit(None))
        for bad_kind, replacement in overrides.get(name, {}).items():
            rendered = rendered.when(kind == names.index(bad_kind), replacement)
        members.append((name, rendered.otherwise(value)))
    return members


def _not_utf8() -> Column:
    """A JSON string holding the byte 0xFF, which no UTF-8 text contains."""
    return F.concat(F.lit('"u'), F.unhex(F.lit("FF")).cast("string"), F.lit('"'))


def _line_stages(members: list[tuple[str, Column]], names: Sequence[str]) -> Stages:
    kind, rotate = _bad_kind(names)
    return (
        {"good": _json_object(members)},
        {"value": _broken_line(F.col("good"), kind, names, rotate)},
    )


def viewing_line_stages() -> Stages:
    """Render events as JSON lines, breaking the bad ones by kind."""
    names = VIEWING_BAD_KINDS
    kind, rotate = _bad_kind(names)
    values = {
        "event_id": _quoted(F.col("event_id")),
        "user_id": _quoted(F.col("user_id")),
        "show_id": _quoted(F.col("show_id")),
        "event_ts": _quoted(F.col("event_ts")),
        "watch_seconds": F.col("watch_seconds").cast("string"),
        "device": _quoted(F.col("device")),
        "country": _quoted(F.col("country")),
    }
    unknown_show = F.format_string("s9%04d", F.pmod(F.col("record"), F.lit(9999)))
    overrides = {
        "event_id": {
            "empty_id": F.lit('""'),
            "long_id": _quoted(F.rpad(F.col("event_id"), ID_MAX_CHARS + 1, "x")),
        },
        "user_id": {"user_id_number": F.lit("123"), "not_utf8": _not_utf8()},
        "show_id": {"unknown_show": _quoted(unknown_show)},
        "event_ts": {
            "ts_words": F.lit('"yesterday"'),
            "ts_without_offset": _quoted(_clock(F.col("instant"))),
            "ts_number": F.col("instant").cast("string"),
        },
        "watch_seconds": {
            "seconds_as_string": F.lit('"120"'),
            "seconds_null": F.lit("null"),
            "seconds_fraction": F.lit("12.5"),
            "seconds_negative": F.lit("-5"),
            "seconds_too_big": F.lit("90000"),
        },
        "device": {"unknown_device": F.lit('"smartfridge"')},
        "country": {"unknown_country": F.lit('"ZZ"')},
    }
    members = _members(values, overrides, kind, names, rotate)
    return _line_stages([*members, ("client", F.col("extra"))], names)


# --- stages: signups ------------------------------------------------------------------------


def signup_field_stages(seed: int, pool: int) -> Stages:
    """The signup's values from (gen_day, record, kind, source)."""
    ref = world()
    day, record, kind = F.col("gen_day"), F.col("record"), F.col("kind")
    variant = (F.col("source") == RESIGN).cast("int")

    def per_record(salt: str) -> Column:
        return _uniform(seed, salt, day, record)

    def per_line(salt: str) -> Column:  # a second signup of the same user differs here
        return _uniform(seed, salt, day, record, variant)

    region, home = _home(seed, F.col("user"), ref)
    lag = (
        F.when(kind == LATE, 1 + _below(per_record("lag"), 5))
        .when(kind == TOO_LATE, LATE_DAYS + 1 + _below(per_record("lag"), 30))
        .otherwise(0)
    )
    tod = _below(per_line("when"), DAY)
    weights = [PLAN_WEIGHTS.get(p, 10.0) for p in ref.plans]
    plan = _at(ref.plans, _pick(per_line("plan"), weights))
    referrer = _quoted(_at(REFERRERS, _below(per_record("referrer"), len(REFERRERS))))
    return (
        # New accounts: some are already in the viewing pool, most are not.
        {"user": _below(per_record("signup_user"), 3 * pool)},
        {"region": region, "home": home},
        {
            "user_id": F.format_string("u%07d", F.col("user") + 1),
            "instant": _instant(per_line, kind, day, tod, lag),
            "country": _country_text(per_record, F.col("home"), ref),
            "plan": _case_variant(plan, per_line("plan_case")),
            "extra": F.when(per_record("extra") < 0.02, referrer),
        },
        {"signup_ts": _timestamp_text(per_line, F.col("instant"))},
    )


def signup_line_stages() -> Stages:
    """Render signups as JSON lines, breaking the bad ones by kind."""
    names = SIGNUP_BAD_KINDS
    kind, rotate = _bad_kind(names)
    values = {
        "user_id": _quoted(F.col("user_id")),
        "signup_ts": _quoted(F.col("signup_ts")),
        "country": _quoted(F.col("country")),
        "plan": _quoted(F.col("plan")),
    }
    overrides = {
        "user_id": {
            "user_id_number": F.lit("123"),
            "empty_id": F.lit('""'),
            "long_id": _quoted(F.rpad(F.col("user_id"), ID_MAX_CHARS + 1, "x")),
            "not_utf8": _not_utf8(),
        },
        "signup_ts": {
            "ts_number": F.col("instant").cast("string"),
            "ts_words": F.lit('"yesterday"'),
            "ts_without_offset": _quoted(_clock(F.col("instant"))),
        },
        "plan": {"plan_null": F.lit("null"), "unknown_plan": F.lit('"gold"')},
        "country": {"unknown_country": F.lit('"ZZ"')},
    }
    members = _members(values, overrides, kind, names, rotate)
    return _line_stages([*members, ("referrer", F.col("extra"))], names)


def apply_stages(df: DataFrame, stages: Stages) -> DataFrame:
    """Add each stage's columns in turn."""
    return reduce(lambda acc, stage: acc.withColumns(stage), stages, df)


def shuffled(df: DataFrame, seed: int, salt: str) -> DataFrame:
    """Only the line text, in a hash order within the file (a local sort: no shuffle)."""
    key = F.xxhash64(F.lit(seed), F.lit(salt), F.col("p_day"), F.col("line"))
    return df.sortWithinPartitions(key, "line").select("value")


# --- the entry point: the only I/O ----------------------------------------------------------


@dataclass(frozen=True)
class Rankings:
    """The regional rankings of a day's catalog in effect, and of the previous day's."""

    current: str
    shows: int
    previous: str
    previous_shows: int


@dataclass(frozen=True)
class _File:
    feed: str
    name: str
    gzip: bool


@dataclass(frozen=True)
class _Plan:
    """One generate call's parameters and the column expressions built once for it."""

    start: date
    events_per_day: int
    seed: int
    mix: GeneratorMix
    viewing: Stages
    signups: Stages

    @classmethod
    def build(cls, start: date, events_per_day: int, seed: int, mix: GeneratorMix) -> _Plan:
        pool = max(2000, events_per_day // 5)  # enough users that each watches a few shows
        sources = source_stages(seed)
        viewing = sources + viewing_field_stages(seed, pool) + viewing_line_stages()
        signups = sources + signup_field_stages(seed, pool) + signup_line_stages()
        return cls(start, events_per_day, seed, mix, viewing, signups)

    @property
    def signups_per_day(self) -> int:
        return 0 if self.events_per_day == 0 else max(20, self.events_per_day // 100)

    def rankings(self, day: date, first: bool) -> Rankings:
        """Rankings over the snapshot in effect for a day of this call (and the day before)."""
        regions = world().regions
        shows = catalog_snapshot(self.seed, snapshot_day(self.start, day))
        before = shows
        if not first:
            before = catalog_snapshot(self.seed, snapshot_day(self.start, day - timedelta(1)))
        return Rankings(
            _joined(regional_ranking(shows, regions)),
            len(shows),
            _joined(regional_ranking(before, regions)),
            len(before),
        )


def _gzip_files(files: int, share: float, rotate: int) -> set[int]:
    """Which of a feed-day's file indexes are gzip: the share rounded, rotating by day."""
    count = _share(files, share)
    return {j for j in range(files) if (j + rotate) % files < count}


def day_lines(
    spark: SparkSession, plan: _Plan, index: int
) -> tuple[DataFrame | None, list[_File], Layout, Layout]:
    """Day ``index`` of the call: every line of both line feeds, one partition per file.

    Returns the DataFrame (None when there are no lines), the files in partition order,
    and the two feeds' layouts.
    """
    day = plan.start + timedelta(days=index)
    day_number = (day - EPOCH).days
    rankings = plan.rankings(day, first=index == 0)
    events = event_layout(plan.events_per_day, plan.mix, carry=index > 0)
    signups = signup_layout(plan.signups_per_day, plan.mix)
    frames, files = [], []
    for feed, layout, stages in (
        ("viewing_events", events, plan.viewing),
        ("signups", signups, plan.signups),
    ):
        if not layout.total:
            continue
        rotate = day_number + (0 if feed == "viewing_events" else 1)
        gz = _gzip_files(layout.files, plan.mix.gzip_share, rotate)
        lines = line_numbers(spark, layout, day_number, rankings)
        frames.append(shuffled(apply_stages(lines, stages), plan.seed, feed))
        for j in range(layout.files):
            suffix = ".jsonl.gz" if j in gz else ".jsonl"
            files.append(_File(feed, f"part-{j:05d}{suffix}", j in gz))
    frame = reduce(DataFrame.union, frames) if frames else None
    return frame, files, events, signups


def _write(frame: DataFrame, files: list[_File], target: Path, stage: Path, day: date) -> None:
    """Write a day's lines gzip-compressed in one Spark job, then stage them file by file.

    A union keeps its inputs' partitions in order and a part file is named by its partition,
    so part ``i`` is ``files[i]``; the plain files are decompressed on the way (cheaper than
    a second Spark job).
    """
    frame.write.mode("overwrite").option("maxRecordsPerFile", 0).option("compression", "gzip").text(
        target.as_uri()
    )
    parts = sorted(target.glob("part-*"), key=lambda p: int(p.name.split("-")[1]))
    if len(parts) != len(files):
        raise RuntimeError(f"expected {len(files)} part files in {target}, found {len(parts)}")
    for part, file in zip(parts, files, strict=True):
        folder = feed_dir(stage, file.feed, day)
        folder.mkdir(parents=True, exist_ok=True)
        if file.gzip:
            part.rename(folder / file.name)
        else:
            with gzip.open(part, "rb") as packed, (folder / file.name).open("wb") as plain:
                shutil.copyfileobj(packed, plain, 1 << 20)


def _publish(stage: Path, landing: Path, feed: str, day: date) -> None:
    """Replace the feed's dt folder by the staged one (or remove it when nothing was staged)."""
    staged, final = feed_dir(stage, feed, day), feed_dir(landing, feed, day)
    if final.exists():
        shutil.rmtree(final)
    if staged.exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(final)


@contextmanager
def _jit_sized_codegen(spark: SparkSession) -> Iterator[None]:
    """Keep generated methods small enough for the JVM to JIT-compile, for this call only.

    The line expressions are large; fused into one whole-stage method the JVM refuses to
    compile it (over 8000 bytes) and interprets it, an order of magnitude slower.
    """
    key = "spark.sql.codegen.hugeMethodLimit"
    before = spark.conf.get(key)
    spark.conf.set(key, str(JIT_METHOD_LIMIT))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _generate_day(
    spark: SparkSession, plan: _Plan, index: int, landing: Path, work: Path
) -> list[FeedDay]:
    """Write one arrival day of every feed into the stage, then swap it into the landing zone."""
    day = plan.start + timedelta(days=index)
    stage = work / f"stage-{index}"
    frame, files, events, signups = day_lines(spark, plan, index)
    if frame is not None:
        _write(frame, files, work / f"spark-{index}", stage, day)
    written = []
    for feed, layout in (("viewing_events", events), ("signups", signups)):
        _publish(stage, landing, feed, day)
        repeats = layout.repeats + layout.carried
        written.append(FeedDay(feed, day, layout.total, layout.files, repeats, layout.rejects))
    if snapshot_day(plan.start, day) == day:
        shows = catalog_snapshot(plan.seed, day)
        folder = feed_dir(stage, "catalog", day)
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(show.line() + "\n" for show in shows)
        (folder / "part-00000.jsonl").write_text(text, encoding="utf-8")
        _publish(stage, landing, "catalog", day)
        written.append(FeedDay("catalog", day, len(shows), 1))
    return written


def generate_landing(
    spark: SparkSession,
    landing: Path,
    start: date,
    days: int,
    events_per_day: int,
    seed: int = 7,
    mix: GeneratorMix = GeneratorMix(),
    progress: Callable[[str], None] | None = None,
) -> GenerateSummary:
    """Write ``days`` arrival days of all three feeds from ``start``, replacing those dt folders.

    A catalog snapshot lands on the first day and every 7th day after it; the other days'
    catalog folders are left alone (a later snapshot always holds every earlier show).
    """
    if days < 0 or events_per_day < 0:
        raise ValueError("days and events_per_day must not be negative")
    plan = _Plan.build(start, events_per_day, seed, mix)
    landing.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".generate-", dir=landing))
    summary: list[FeedDay] = []
    try:
        with _jit_sized_codegen(spark):
            for index in range(days):
                for entry in _generate_day(spark, plan, index, landing, work):
                    summary.append(entry)
                    if progress:
                        what = "shows (full snapshot)" if entry.feed == "catalog" else "lines"
                        progress(
                            f"{entry.day} {entry.feed}: {entry.lines:,} {what} "
                            f"in {entry.files} file{'s' if entry.files != 1 else ''}"
                        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return GenerateSummary(tuple(summary))
