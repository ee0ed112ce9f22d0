"""Synthetic landing files for every feed (contract section 1), built by Spark, not the driver.

Every value is a pure function of (seed, day, record number) through ``xxhash64``, so the same
arguments give byte-identical files however Spark schedules the work. A feed-day's lines are
numbered in ranges (unique records, then retries, then bad lines) and dealt round-robin to a
fixed number of files, each one partition of a ``spark.range``, so every file mixes every
kind of line and no row passes through the driver; one Spark job writes several days. Only
the catalog (a few hundred shows) is built in Python.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import shutil
import tempfile
import zlib
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
# Date texts come from a table that runs this many days before the first arrival day of a
# call (too-old events, offsets) to this many after the last (future events, offsets).
DATES_BEFORE = LATE_DAYS + 34
DATES_AFTER = 5
LINES_PER_JOB = 3_000_000  # days are batched into Spark jobs of about this many lines
JIT_METHOD_LIMIT = 8_000  # HotSpot does not compile methods larger than this (bytes)
_SEPARATOR = "\x1f"  # joins literal arrays; no value contains it


def _template(fields: dict[str, str], **changes: str | None) -> str:
    """A JSON object with format placeholders: the good members, some replaced or dropped."""
    members = {**fields, **changes}
    return "{" + ",".join(f'"{k}":{v}' for k, v in members.items() if v is not None) + "}"


def _bad_templates(fields: dict[str, str], cut_before: str, more: dict[str, str]) -> dict[str, str]:
    """Format templates of a feed's bad lines, by kind; every kind the contract names."""
    good = _template(fields)
    return {
        "truncated_json": good[: good.index(f',"{cut_before}"')],
        "plain_text": "ERROR 502 Bad Gateway",
        "html_page": "<html><body>Service Unavailable</body></html>",
        "csv_header": ",".join(fields),
        "json_array": "[1,2]",
        "json_string": '"str"',
        "json_number": "42",
        **{f"missing_{name}": _template(fields, **{name: None}) for name in fields},
        **more,
        "not_utf8": "",  # built apart: Java's formatter would replace the invalid byte
    }


# Format arguments: %1$s.. are the good values, then the extras that some bad kinds need.
EVENT_TEMPLATE_FIELDS = {
    "event_id": '"%1$s"',
    "user_id": '"%2$s"',
    "show_id": '"%3$s"',
    "event_ts": '"%4$s"',
    "watch_seconds": "%5$s",
    "device": '"%6$s"',
    "country": '"%7$s"',
}
VIEWING_BAD = _bad_templates(
    EVENT_TEMPLATE_FIELDS,
    "watch_seconds",
    {
        name: _template(EVENT_TEMPLATE_FIELDS, **{field: value})
        for name, field, value in (
            ("seconds_as_string", "watch_seconds", '"120"'),
            ("seconds_null", "watch_seconds", "null"),
            ("seconds_fraction", "watch_seconds", "12.5"),
            ("seconds_negative", "watch_seconds", "-5"),
            ("seconds_too_big", "watch_seconds", "90000"),
            ("user_id_number", "user_id", "123"),
            ("unknown_device", "device", '"smartfridge"'),
            ("unknown_country", "country", '"ZZ"'),
            ("unknown_show", "show_id", '"%10$s"'),
            ("ts_words", "event_ts", '"yesterday"'),
            ("ts_without_offset", "event_ts", '"%8$s"'),
            ("ts_number", "event_ts", "%9$s"),
            ("empty_id", "event_id", '""'),
            ("long_id", "event_id", '"%11$s"'),
        )
    },
)
SIGNUP_TEMPLATE_FIELDS = {
    "user_id": '"%1$s"',
    "signup_ts": '"%2$s"',
    "country": '"%3$s"',
    "plan": '"%4$s"',
}
SIGNUP_BAD = _bad_templates(
    SIGNUP_TEMPLATE_FIELDS,
    "country",
    {
        name: _template(SIGNUP_TEMPLATE_FIELDS, **{field: value})
        for name, field, value in (
            ("user_id_number", "user_id", "123"),
            ("plan_null", "plan", "null"),
            ("unknown_plan", "plan", '"gold"'),
            ("unknown_country", "country", '"ZZ"'),
            ("ts_number", "signup_ts", "%6$s"),
            ("ts_words", "signup_ts", '"yesterday"'),
            ("ts_without_offset", "signup_ts", '"%5$s"'),
            ("empty_id", "user_id", '""'),
            ("long_id", "user_id", '"%7$s"'),
        )
    },
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
    repeats: int = 0  # lines that repeat an earlier line byte for byte (retries); a user's
    # second signup at another time is not one, though the pipeline collapses it too
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
    """A show title: mostly English words, some non-ASCII and some with quotes to escape."""
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
    """A share of a count, rounded half up (so tiny feeds get no rejects by default)."""
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
# Building a Column costs JVM round trips and every new plan costs analysis and code
# generation, so the expressions are built once per call as "stages" (dicts of named columns,
# applied in order) and one Spark job covers many days: a row's day comes from its id.

Stages = tuple[dict[str, Column], ...]


class Draws:
    """Named uniform doubles in [0, 1) for one key (a line, an event, a session, a user).

    Each 64-bit ``xxhash64`` of (seed, salt, key columns) gives two 32-bit draws, so the
    randomness depends on values only, never on partitioning (unlike ``F.rand()``); the salt
    (the prefix's CRC and the hash's number) keeps different keys' draws independent.
    ``hashes`` is the stage that computes the hash columns the draws read.
    """

    def __init__(self, prefix: str, names: Sequence[str]) -> None:
        self.prefix = prefix
        self.names = tuple(names)

    def hashes(self, seed: int, *keys: Column) -> dict[str, Column]:
        salt = zlib.crc32(self.prefix.encode()) * 64
        return {
            f"{self.prefix}{i}": F.xxhash64(F.lit(seed), F.lit(salt + i), *keys)
            for i in range(-(-len(self.names) // 2))
        }

    def __call__(self, name: str) -> Column:
        index = self.names.index(name)
        hashed = F.col(f"{self.prefix}{index // 2}")
        bits = F.shiftrightunsigned(hashed, 32) if index % 2 else hashed.bitwiseAND(0xFFFFFFFF)
        return bits.cast("double") / float(2**32)


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


def _at(values: Sequence[str] | Sequence[int], index: Column) -> Column:
    """``values[index]`` (0-based) of a literal array.

    The array is one joined text that Spark splits once, at planning time (``F.lit`` of a
    list would cost a JVM round trip per element).
    """
    parts = F.split(F.lit(_SEPARATOR.join(str(v) for v in values)), _SEPARATOR)
    array = parts if isinstance(values[0], str) else parts.cast("array<int>")
    return F.element_at(array, (index + 1).cast("int"))


def _quoted(value: Column) -> Column:
    """A JSON string for values that need no escaping (ids, codes, timestamps)."""
    return F.concat(F.lit('"'), value, F.lit('"'))


def _case_variant(value: Column, u: Column) -> Column:
    """Mostly as is; a few upper-case or capitalised spellings (the contract folds case)."""
    return F.when(u < 0.03, F.upper(value)).when(u < 0.05, F.initcap(value)).otherwise(value)


def _user_id(user: Column) -> Column:
    """``u0000001``-style ids (an lpad, far cheaper per row than a format string)."""
    return F.concat(F.lit("u"), F.lpad((user + 1).cast("string"), 7, "0"))


def _zipf_rank(u: Column, size: Column) -> Column:
    """A 1-based rank with Zipf-like popularity (density ~ rank ** -ZIPF_EXPONENT)."""
    a = 1.0 - ZIPF_EXPONENT
    span = F.pow(size + 1, a) - 1.0
    rank = F.floor(F.pow(1.0 + u * span, 1.0 / a))
    return F.least(F.greatest(rank, F.lit(1)), size)


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))


@dataclass(frozen=True)
class Tables:
    """Literal look-up tables of one generate call: date texts and the catalog's rankings."""

    first_day: int  # epoch day of the first date text
    dates: tuple[str, ...]  # ISO dates from first_day on
    rankings: tuple[str, ...]  # show ids: per snapshot, per region, most popular first
    offsets: tuple[int, ...]  # where each snapshot's rankings start
    sizes: tuple[int, ...]  # shows per snapshot

    @classmethod
    def build(cls, seed: int, start: date, days: int) -> Tables:
        first = start - timedelta(days=DATES_BEFORE)
        count = DATES_BEFORE + days + DATES_AFTER
        rankings: list[str] = []
        offsets, sizes = [], []
        for q in range(-(-days // SNAPSHOT_EVERY_DAYS)):
            shows = catalog_snapshot(seed, start + timedelta(days=q * SNAPSHOT_EVERY_DAYS))
            offsets.append(len(rankings))
            sizes.append(len(shows))
            rankings.extend(regional_ranking(shows, world().regions))
        return cls(
            (first - EPOCH).days,
            tuple((first + timedelta(days=i)).isoformat() for i in range(count)),
            tuple(rankings),
            tuple(offsets),
            tuple(sizes),
        )

    def date_text(self, day: Column, compact: bool = False) -> Column:
        """``YYYY-MM-DD`` (or ``YYYYMMDD``) of an epoch day near the call's days."""
        dates = tuple(d.replace("-", "") for d in self.dates) if compact else self.dates
        return _at(dates, day - self.first_day)

    def clock(self, seconds: Column) -> Column:
        """``YYYY-MM-DDTHH:MM:SS`` of epoch seconds by look-ups: no formatter, no time zone."""
        tod = F.pmod(seconds, F.lit(DAY))
        return F.concat(
            self.date_text(F.floor(seconds / DAY)),
            F.lit("T"),
            _at(_TWO_DIGITS, F.floor(tod / 3600)),
            F.lit(":"),
            _at(_TWO_DIGITS, F.floor(F.pmod(tod, F.lit(3600)) / 60)),
            F.lit(":"),
            _at(_TWO_DIGITS, F.pmod(tod, F.lit(60))),
        )

    def rfc3339(self, instant: Column, micros: Column, digits: Column, offset: Column) -> Column:
        """RFC 3339 text of a UTC instant (epoch seconds) shown at offset index (0 = ``Z``)."""
        minutes = _at((0, *(m for _, m in TS_OFFSETS)), offset)
        fraction = F.lpad(micros.cast("string"), 6, "0")
        return F.concat(
            self.clock(instant + minutes * 60),
            F.when(digits == 6, F.concat(F.lit("."), fraction))
            .when(digits == 3, F.concat(F.lit("."), fraction.substr(1, 3)))
            .otherwise(F.lit("")),
            _at(("Z", *(text for text, _ in TS_OFFSETS)), offset),
        )

    def show(self, u: Column, region: Column, snapshot: Column) -> Column:
        """A show of the snapshot drawn from the region's popularity ranking (Zipf-like)."""
        size = _at(self.sizes, snapshot)
        return _at(
            self.rankings, _at(self.offsets, snapshot) + region * size + _zipf_rank(u, size) - 1
        )


# --- stages: where each line comes from ----------------------------------------------------


def line_numbers(
    spark: SparkSession, layout: Layout, start: date, first_index: int, day_count: int
) -> DataFrame:
    """The line numbers of days ``first_index ..`` of a feed, one Spark partition per file.

    File ``j`` of a day holds every ``files``-th line from ``j``. ``spark.range`` cuts
    ``per * files`` ids a day into slices of exactly ``per`` ids (the few past the day's end
    are dropped), so partition ``d * files + j`` is file ``j`` of day ``d``.
    """
    files = layout.files
    per = -(-layout.total // files)
    slab = per * files
    ids = F.col("id")
    within = F.pmod(ids, F.lit(slab))
    numbers = spark.range(
        first_index * slab, (first_index + day_count) * slab, 1, day_count * files
    )
    day_index = F.floor(ids / slab).cast("int")
    return numbers.select(
        day_index.alias("day_index"),
        (day_index + (start - EPOCH).days).alias("p_day"),
        (F.pmod(within, F.lit(per)) * files + F.floor(within / per)).alias("line"),
    ).where(F.col("line") < layout.total)


_LINE = Draws("h_line_", ("copy", "carry"))


def source_stages(seed: int, first: Layout, rest: Layout) -> Stages:
    """Say where each line comes from: which record of which day, of what kind, how broken.

    Adds ``source`` (RECORD, REPEAT, CARRIED, RESIGN, BAD), ``record`` (the record number),
    ``gen_day`` (epoch day whose records it copies), ``kind`` (ON_TIME .. FUTURE) and
    ``bad_index`` (running count of the feed's bad lines, null for good ones). The first day
    of a call (``first``) has no previous day to carry retries from.
    """
    line, day, record, src = F.col("line"), F.col("p_day"), F.col("record"), F.col("source")
    repeat_end = F.lit(rest.records + rest.repeats)
    if first.repeats != rest.repeats:
        repeat_end = F.when(F.col("day_index") == 0, first.records + first.repeats)
        repeat_end = repeat_end.otherwise(rest.records + rest.repeats)
    carry_end = rest.records + rest.repeats + rest.carried
    resign_end = carry_end + rest.resigns
    source = (
        F.when(line < rest.records, RECORD)
        .when(line < repeat_end, REPEAT)
        .when(line < carry_end, CARRIED)
        .when(line < resign_end, RESIGN)
        .otherwise(BAD)
    )
    number = (
        F.when(src == RECORD, line)
        .when(src.isin(REPEAT, RESIGN), _below(_LINE("copy"), rest.on_time + rest.late))
        .when(src == CARRIED, _below(_LINE("carry"), rest.on_time))
        .otherwise(line - resign_end + rest.records)  # fresh numbers: unique ids
    )
    kind = (
        F.when(record >= rest.records, ON_TIME)
        .when(record < rest.on_time, ON_TIME)
        .when(record < rest.on_time + rest.late, LATE)
        .when(record < rest.records - rest.future, TOO_LATE)
        .otherwise(FUTURE)
    )
    return (
        {"source": source, **_LINE.hashes(seed, day, line)},
        {"record": number.cast("long")},
        {
            "gen_day": F.when(src == CARRIED, day - 1).otherwise(day),
            "kind": kind,
            "bad_index": F.when(src == BAD, line - resign_end + day * max(rest.bad, 1)),
        },
    )


def _instant(draw: Draws, kind: Column, day: Column, tod: Column, lag: Column) -> Column:
    """Epoch seconds for a record of ``kind`` generated on ``day`` at time of day ``tod``."""
    future = (day + 1) * DAY + FUTURE_TOLERANCE_SECONDS + 1 + _below(draw("ahead"), 2 * DAY)
    return F.when(kind == FUTURE, future).otherwise((day - lag) * DAY + tod)


_TS_DRAWS = ("ts_style", "tz", "tz_pick", "micros", "ahead")


def _timestamp_text(tables: Tables, draw: Draws, instant: Column) -> Column:
    """Mostly ``Z``, a fifth with offsets, some with milli- or microseconds."""
    style = draw("ts_style")
    offset = F.when(draw("tz") < 0.8, 0).otherwise(1 + _below(draw("tz_pick"), len(TS_OFFSETS)))
    digits = F.when(style < 0.1, 6).when(style < 0.2, 3).otherwise(0)
    return tables.rfc3339(instant, _below(draw("micros"), 1_000_000), digits, offset)


_USER = Draws("h_user_", ("home_region", "home_country"))


def _home(ref: World) -> dict[str, Column]:
    """A user's home region index and country: fixed for the user across days."""
    region = _pick(_USER("home_region"), ref.region_weights)
    slot = _at(ref.region_offsets, region) + _below(
        _USER("home_country"), _at(ref.region_counts, region)
    )
    return {"region": region, "home": _at(ref.countries, slot)}


_COUNTRY_DRAWS = ("abroad", "abroad_where", "country_case", "extra", "extra_pick")


def _country_text(draw: Draws, home: Column, ref: World) -> Column:
    """The home country, a traveller's other country now and then, in mixed case sometimes."""
    away = _at(ref.all_countries, _below(draw("abroad_where"), len(ref.all_countries)))
    country = F.when(draw("abroad") < TRAVEL_SHARE, away).otherwise(home)
    return _case_variant(country, draw("country_case"))


def _line_stage(
    values: dict[str, Column], extra: tuple[str, Column], bad: dict[str, str], args: list[Column]
) -> dict[str, Column]:
    """Render JSON lines; a bad line (dealt round-robin over ``bad``) uses its kind's template.

    Good lines only concatenate their values; the rarely taken branch formats a literal
    template, which keeps the generated code small.
    """
    kind = F.pmod(F.col("bad_index"), F.lit(len(bad)))

    def line(members: dict[str, Column]) -> Column:
        parts = [F.lit("{")]
        for position, (name, value) in enumerate(members.items()):
            parts += [F.lit(f'{"," if position else ""}"{name}":'), value]
        optional = F.concat(F.lit(f',"{extra[0]}":'), extra[1])
        return F.concat(*parts, F.coalesce(optional, F.lit("")), F.lit("}"))

    invalid = F.concat(F.lit('"u'), F.unhex(F.lit("FF")).cast("string"), F.lit('"'))
    template = _at(tuple(bad.values()), kind)
    value = (
        F.when(F.col("bad_index").isNull(), line(values))
        .when(kind == list(bad).index("not_utf8"), line({**values, "user_id": invalid}))
        .otherwise(F.call_function("format_string", template, *args))
    )
    return {"value": value}


# --- stages: viewing events -----------------------------------------------------------------

_EVENT = Draws(
    "h_event_",
    ("show", "binge", "gap", "len_a", "len_b", "short", "short_len", "device_case")
    + _COUNTRY_DRAWS
    + _TS_DRAWS,
)
_SESSION = Draws("h_session_", ("user", "show", "hour", "minute", "lag", "device"))


def viewing_stages(seed: int, pool: int, tables: Tables) -> Stages:
    """An event's values from (gen_day, record, kind), then its line.

    Records come in sessions of SESSION_EVENTS: one user, device and start time, a main show
    and some other shows, so users watch several shows a day and co-watch pairs exist.
    """
    ref = world()
    day, record, kind = F.col("gen_day"), F.col("record"), F.col("kind")
    region, slot = F.col("region"), F.col("slot")
    # The snapshot in effect: a carried line repeats yesterday's event, from yesterday's.
    snapshot = F.floor((F.col("day_index") - (day < F.col("p_day")).cast("int")) / 7)
    main = tables.show(_SESSION("show"), region, snapshot)
    other = tables.show(_EVENT("show"), region, snapshot)
    show = F.when((slot == 0) | (_EVENT("binge") < 0.5), main).otherwise(other)
    hour = _pick(_SESSION("hour"), HOUR_WEIGHTS)
    start_local = hour * 3600 + _below(_SESSION("minute"), 3600)
    start = F.pmod(start_local - _at(ref.region_utc_seconds, region), F.lit(DAY))
    tod = F.pmod(start + slot * 1500 + _below(_EVENT("gap"), 900), F.lit(DAY))
    lag = (
        F.when(kind == LATE, 1 + _below(_SESSION("lag"), LATE_DAYS))
        .when(kind == TOO_LATE, LATE_DAYS + 1 + _below(_SESSION("lag"), 30))
        .otherwise(0)
    )
    normal = F.sqrt(-2.0 * F.log(1.0 - _EVENT("len_a"))) * F.cos(2.0 * math.pi * _EVENT("len_b"))
    long_view = F.round(F.exp(math.log(1800.0) + 0.8 * normal))
    long_view = F.least(F.greatest(long_view, F.lit(QUALIFIED_SECONDS)), F.lit(WATCH_SECONDS_MAX))
    short_view = _below(_EVENT("short_len"), QUALIFIED_SECONDS)
    seconds = F.when(_EVENT("short") < SHORT_VIEW_SHARE, short_view).otherwise(long_view)
    device = _at(ref.devices, _pick(_SESSION("device"), [DEVICE_WEIGHTS[d] for d in ref.devices]))
    permuted = F.pmod(record * ID_PERMUTE + seed * 97, F.lit(2**32))
    event_id = F.concat(
        F.lit("ev"),
        tables.date_text(day, compact=True),
        F.lit("-"),
        F.lower(F.lpad(F.hex(permuted), 8, "0")),
    )
    client = _quoted(_at(CLIENTS, _below(_EVENT("extra_pick"), len(CLIENTS))))
    fields = ("event_id", "user_id", "show_id", "event_ts", "watch_seconds", "device", "country")
    values = {name: _quoted(F.col(name)) for name in fields}
    values["watch_seconds"] = F.col("watch_seconds").cast("string")
    unknown_show = F.lpad(F.pmod(record, F.lit(9999)).cast("string"), 4, "0")
    args = [F.col(name).cast("string") for name in fields] + [
        tables.clock(F.col("instant")),  # %8$s: a timestamp without offset
        F.col("instant").cast("string"),  # %9$s: epoch seconds
        F.concat(F.lit("s9"), unknown_show),  # %10$s: never in the catalog
        F.rpad(F.col("event_id"), ID_MAX_CHARS + 1, "x"),  # %11$s: one char too long
    ]
    return (
        {
            "session": F.floor(record / SESSION_EVENTS),
            "slot": F.pmod(record, F.lit(SESSION_EVENTS)),
            **_EVENT.hashes(seed, day, record),
        },
        _SESSION.hashes(seed, day, F.col("session")),
        {"user": _below(_SESSION("user"), pool)},
        _USER.hashes(seed, F.col("user")),
        _home(ref),
        {
            "event_id": event_id,
            "user_id": _user_id(F.col("user")),
            "show_id": show,
            "instant": _instant(_EVENT, kind, day, tod, lag),
            "watch_seconds": seconds.cast("long"),
            "device": _case_variant(device, _EVENT("device_case")),
            "country": _country_text(_EVENT, F.col("home"), ref),
            "extra": F.when(_EVENT("extra") < 0.01, client),
        },
        {"event_ts": _timestamp_text(tables, _EVENT, F.col("instant"))},
        _line_stage(values, ("client", F.col("extra")), VIEWING_BAD, args),
    )


# --- stages: signups ------------------------------------------------------------------------

_SIGNUP = Draws("h_signup_", ("signup_user", "lag", *_COUNTRY_DRAWS))
_SIGNUP_LINE = Draws("h_signup_line_", ("when", "plan", "plan_case", *_TS_DRAWS))


def signup_stages(seed: int, pool: int, tables: Tables) -> Stages:
    """A signup's values from (gen_day, record, kind, source), then its line."""
    ref = world()
    day, record, kind = F.col("gen_day"), F.col("record"), F.col("kind")
    # A second signup of the same user (RESIGN) differs in time and plan only.
    variant = (F.col("source") == RESIGN).cast("int")
    lag = (
        F.when(kind == LATE, 1 + _below(_SIGNUP("lag"), 5))
        .when(kind == TOO_LATE, LATE_DAYS + 1 + _below(_SIGNUP("lag"), 30))
        .otherwise(0)
    )
    tod = _below(_SIGNUP_LINE("when"), DAY)
    plan = _at(ref.plans, _pick(_SIGNUP_LINE("plan"), [PLAN_WEIGHTS[p] for p in ref.plans]))
    referrer = _quoted(_at(REFERRERS, _below(_SIGNUP("extra_pick"), len(REFERRERS))))
    fields = ("user_id", "signup_ts", "country", "plan")
    args = [F.col(name) for name in fields] + [
        tables.clock(F.col("instant")),  # %5$s: a timestamp without offset
        F.col("instant").cast("string"),  # %6$s: epoch seconds
        F.rpad(F.col("user_id"), ID_MAX_CHARS + 1, "x"),  # %7$s: one char too long
    ]
    values = {name: _quoted(F.col(name)) for name in fields}
    return (
        {**_SIGNUP.hashes(seed, day, record), **_SIGNUP_LINE.hashes(seed, day, record, variant)},
        # New accounts: some are already in the viewing pool, most are not.
        {"user": _below(_SIGNUP("signup_user"), 3 * pool)},
        _USER.hashes(seed, F.col("user")),
        _home(ref),
        {
            "user_id": _user_id(F.col("user")),
            "instant": _instant(_SIGNUP_LINE, kind, day, tod, lag),
            "country": _country_text(_SIGNUP, F.col("home"), ref),
            "plan": _case_variant(plan, _SIGNUP_LINE("plan_case")),
            "extra": F.when(_SIGNUP("extra") < 0.02, referrer),
        },
        {"signup_ts": _timestamp_text(tables, _SIGNUP_LINE, F.col("instant"))},
        _line_stage(values, ("referrer", F.col("extra")), SIGNUP_BAD, args),
    )


def apply_stages(df: DataFrame, stages: Stages) -> DataFrame:
    """Add each stage's columns in turn."""
    return reduce(lambda acc, stage: acc.withColumns(stage), stages, df)


def shuffled(df: DataFrame, seed: int, salt: str) -> DataFrame:
    """Only the line text, in a hash order within each file (a local sort: no shuffle)."""
    key = F.xxhash64(F.lit(seed), F.lit(salt), F.col("p_day"), F.col("line"))
    return df.sortWithinPartitions(key, "line").select("value")


# --- the entry point: the only I/O ----------------------------------------------------------


@dataclass(frozen=True)
class _File:
    """Where one Spark partition's lines go."""

    feed: str
    day: date
    name: str
    gzip: bool


@dataclass(frozen=True)
class _Feed:
    """One line feed of a call: its layouts (the first day carries nothing) and stages."""

    name: str
    first: Layout
    rest: Layout
    stages: Stages


@dataclass(frozen=True)
class _Plan:
    """One generate call's parameters and the column expressions built once for it."""

    start: date
    days: int
    seed: int
    mix: GeneratorMix
    feeds: tuple[_Feed, ...]

    @classmethod
    def build(cls, start: date, days: int, events: int, seed: int, mix: GeneratorMix) -> _Plan:
        pool = max(2000, events // 5)  # enough users that each watches a few shows a day
        signups = 0 if events == 0 else max(20, events // 100)
        tables = Tables.build(seed, start, max(days, 1))
        event_days = (event_layout(events, mix, carry=False), event_layout(events, mix, True))
        signup_days = (signup_layout(signups, mix), signup_layout(signups, mix))
        feeds = []
        for name, (first, rest), stages in (
            ("viewing_events", event_days, viewing_stages),
            ("signups", signup_days, signup_stages),
        ):
            if rest.total:
                sources = source_stages(seed, first, rest)
                feeds.append(_Feed(name, first, rest, sources + stages(seed, pool, tables)))
        return cls(start, days, seed, mix, tuple(feeds))

    def batches(self) -> Iterator[tuple[int, int]]:
        """(first day index, day count) per Spark job: a few million lines each."""
        per_day = sum(feed.rest.total for feed in self.feeds) or 1
        size = max(1, LINES_PER_JOB // per_day)
        for first in range(0, self.days, size):
            yield first, min(size, self.days - first)


def _gzip_files(files: int, share: float, rotate: int) -> set[int]:
    """Which of a feed-day's file indexes are gzip: the share rounded, rotating by day."""
    count = _share(files, share)
    return {j for j in range(files) if (j + rotate) % files < count}


def batch_lines(
    spark: SparkSession, plan: _Plan, first_index: int, day_count: int
) -> tuple[DataFrame | None, list[_File]]:
    """Every line of both line feeds for some days, one partition per file, and the files."""
    frames, files = [], []
    for number, feed in enumerate(plan.feeds):
        lines = line_numbers(spark, feed.rest, plan.start, first_index, day_count)
        frames.append(shuffled(apply_stages(lines, feed.stages), plan.seed, feed.name))
        for index in range(first_index, first_index + day_count):
            day = plan.start + timedelta(days=index)
            gz = _gzip_files(feed.rest.files, plan.mix.gzip_share, (day - EPOCH).days + number)
            for j in range(feed.rest.files):
                name = f"part-{j:05d}.jsonl" + (".gz" if j in gz else "")
                files.append(_File(feed.name, day, name, j in gz))
    return (reduce(DataFrame.union, frames) if frames else None), files


def _write(frame: DataFrame, files: list[_File], target: Path, stage: Path) -> None:
    """Write lines gzip-compressed in one Spark job, then stage them file by file.

    A union keeps its inputs' partitions in order and a part file is named by its partition,
    so part ``i`` is ``files[i]``. The plain files are decompressed on the way, which is
    cheaper than a second Spark job.
    """
    writer = frame.write.mode("overwrite").option("maxRecordsPerFile", 0)
    writer.option("compression", "gzip").text(target.as_uri())
    parts = sorted(target.glob("part-*"), key=lambda p: int(p.name.split("-")[1]))
    if len(parts) != len(files):
        raise RuntimeError(f"expected {len(files)} part files in {target}, found {len(parts)}")
    for part, file in zip(parts, files, strict=True):
        folder = feed_dir(stage, file.feed, file.day)
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


def _stage_catalog(stage: Path, seed: int, day: date) -> int:
    """Write the full catalog snapshot for a day into the stage; return its show count."""
    shows = catalog_snapshot(seed, day)
    folder = feed_dir(stage, "catalog", day)
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(show.line() + "\n" for show in shows)
    (folder / "part-00000.jsonl").write_text(text, encoding="utf-8")
    return len(shows)


@contextmanager
def _jit_sized_codegen(spark: SparkSession) -> Iterator[None]:
    """Keep generated methods small enough for the JVM to JIT-compile, for this call only.

    The line expressions are large; fused into one whole-stage method, the JVM refuses to
    compile it (over 8000 bytes of bytecode) and interprets it, many times slower.
    """
    key = "spark.sql.codegen.hugeMethodLimit"
    before = spark.conf.get(key)
    spark.conf.set(key, str(JIT_METHOD_LIMIT))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _publish_day(
    plan: _Plan,
    index: int,
    stage: Path,
    landing: Path,
    progress: Callable[[str], None] | None,
) -> list[FeedDay]:
    """Swap one day's staged folders into the landing zone and say what landed."""
    day = plan.start + timedelta(days=index)
    written = []
    for feed in ("viewing_events", "signups"):
        _publish(stage, landing, feed, day)
        layout = next(
            (f.first if index == 0 else f.rest for f in plan.feeds if f.name == feed), None
        )
        if layout is not None:
            repeats = layout.repeats + layout.carried
            written.append(FeedDay(feed, day, layout.total, layout.files, repeats, layout.rejects))
    if snapshot_day(plan.start, day) == day:
        shows = _stage_catalog(stage, plan.seed, day)
        _publish(stage, landing, "catalog", day)
        written.append(FeedDay("catalog", day, shows, 1))
    for entry in written:
        if progress:
            what = "shows (full snapshot)" if entry.feed == "catalog" else "lines"
            plural = "s" if entry.files != 1 else ""
            progress(
                f"{entry.day} {entry.feed}: {entry.lines:,} {what} in {entry.files} file{plural}"
            )
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
    plan = _Plan.build(start, days, events_per_day, seed, mix)
    landing.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".generate-", dir=landing))
    summary: list[FeedDay] = []
    try:
        with _jit_sized_codegen(spark):
            for first, count in plan.batches():
                stage = work / f"stage-{first}"
                frame, files = batch_lines(spark, plan, first, count)
                if frame is not None:
                    _write(frame, files, work / f"spark-{first}", stage)
                for index in range(first, first + count):
                    summary += _publish_day(plan, index, stage, landing, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return GenerateSummary(tuple(summary))
