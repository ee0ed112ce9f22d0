"""One configuration object for every entry point; profiles differ only in these values.

The profile is chosen in one place (``VIEWERSHIP_PROFILE``): ``local`` is the embedded default
(Spark ``local[*]``, an Iceberg JDBC catalog on a SQLite file shared with PyIceberg, the
warehouse on the local disk); ``cluster`` points the same code at a Spark master, an Iceberg
REST catalog and an S3 warehouse.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from schemas.regions import regions
from viewership.errors import SetupError, UsageError

CATALOG = "lake"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = REPO_ROOT / ".home"
DEFAULT_JAR_CACHE = Path.home() / ".cache" / "viewership" / "jars"


@dataclass(frozen=True)
class Settings:
    """Where the data lives and how Spark and the Iceberg catalog are reached."""

    home: Path
    profile: str = "local"
    spark_master: str = "local[*]"
    catalog_uri: str = ""
    warehouse: str = ""
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    jar_cache: Path = DEFAULT_JAR_CACHE
    shuffle_partitions: int = 8
    driver_memory: str = "4g"  # load_settings sizes the embedded profile's to the machine
    # Each executor's heap on a cluster (in local mode the driver is the executor).
    executor_memory: str = "1g"
    # Extra flags for the driver's and executors' JVMs. Short runs on small data finish in
    # about half the CPU with "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" (no C2 compiler
    # threads, no parallel GC); the default keeps the JVM's own choice for long, large runs.
    jvm_options: str = ""
    # The cores one application takes from a standalone cluster (None: all it is offered).
    # Tasks that run side by side (the lakehouse pool's slots) each need their share.
    max_cores: int | None = None
    extra_spark_conf: Mapping[str, str] = field(default_factory=dict)
    # The quality gate: severity per check name, and the warn-level vitals' thresholds.
    severity_overrides: Mapping[str, str] = field(default_factory=dict)
    volume_band: tuple[float, float] = (0.5, 2.0)
    freshness_hours: float = 24.0
    # Maintenance: how long snapshots (and refused runs' branches) stay, and per-region
    # retention of user-level rows (governance by user location; absent = kept).
    snapshot_retention_days: int = 7
    region_retention: Mapping[str, int] = field(default_factory=dict)
    # The key of gold's user pseudonyms (viewership/pseudonyms.py); empty: the home's key file.
    pseudonym_key: str = field(default="", repr=False)

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def lock_dir(self) -> Path:
        return self.home / "locks"

    @property
    def gx_root(self) -> Path:
        """The quality gate's GX project: suites written from code, results and Data Docs."""
        return self.home / "gx"

    @property
    def data_docs_index(self) -> Path:
        """The Data Docs page to open in a browser."""
        return self.gx_root / "uncommitted" / "data_docs" / "local_site" / "index.html"

    def jar_paths(self) -> list[Path]:
        """The cached runtime jars; a clear error names the set-up step when one is missing."""
        paths = [self.jar_cache / jar_file_name(c) for c in jar_coordinates()]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise SetupError(
                f"missing runtime jar(s) {', '.join(missing)} in {self.jar_cache}; "
                "run scripts/setup.sh (or make demo) to fetch them"
            )
        return paths

    def spark_catalog_conf(self) -> dict[str, str]:
        """Spark properties that mount the Iceberg catalog as ``lake``."""
        prefix = f"spark.sql.catalog.{CATALOG}"
        conf = {
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            f"{prefix}.warehouse": self.warehouse,
            f"{prefix}.uri": self.catalog_uri,
            # PyIceberg commits to the same catalog: never serve a stale cached table.
            f"{prefix}.cache-enabled": "false",
        }
        if self.profile == "local":
            conf[f"{prefix}.type"] = "jdbc"
            # Wait for the other process's commit rather than failing with SQLITE_BUSY at once.
            conf[f"{prefix}.jdbc.busy_timeout"] = "60000"
        else:
            conf[f"{prefix}.type"] = "rest"
        if self.warehouse.startswith("s3://"):
            # Credentials come from the AWS default chain (environment, profile, instance role).
            conf[f"{prefix}.io-impl"] = "org.apache.iceberg.aws.s3.S3FileIO"
            conf[f"{prefix}.client.region"] = self.s3_region
            if self.s3_endpoint:
                conf[f"{prefix}.s3.endpoint"] = self.s3_endpoint
                conf[f"{prefix}.s3.path-style-access"] = "true"
        return conf

    def pyiceberg_catalog_props(self) -> dict[str, str]:
        """PyIceberg properties for the same catalog the Spark session mounts."""
        if self.profile == "local":
            sqlite_path = self.catalog_uri.removeprefix("jdbc:sqlite:")
            return {"type": "sql", "uri": f"sqlite:///{sqlite_path}", "warehouse": self.warehouse}
        props = {"type": "rest", "uri": self.catalog_uri, "warehouse": self.warehouse}
        if self.warehouse.startswith("s3://"):
            props["s3.region"] = self.s3_region
            if self.s3_endpoint:
                props |= {"s3.endpoint": self.s3_endpoint, "s3.path-style-access": "true"}
        return props


def prepare_sqlite_catalog(settings: Settings) -> None:
    """Put the embedded catalog's SQLite file in WAL mode: readers then never block a commit."""
    if settings.profile != "local":
        return
    path = Path(settings.catalog_uri.removeprefix("jdbc:sqlite:"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=60)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def jar_coordinates() -> list[str]:
    """Maven coordinates from the package's jars.txt, the single list of JVM dependencies."""
    text = resources.files("viewership").joinpath("jars.txt").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def jar_file_name(coordinate: str) -> str:
    """The file name Maven gives a ``group:artifact:version`` jar."""
    _, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"


def _pairs(
    env: Mapping[str, str], name: str, shape: str, valid: Callable[[str], bool]
) -> dict[str, str]:
    """``key=value,key=value`` from one environment variable; a bad item is one clear line."""
    pairs = {}
    for item in filter(None, (p.strip() for p in env.get(name, "").split(","))):
        key, _, value = item.partition("=")
        if not valid(value):
            raise UsageError(f"{name} item {item!r} must be {shape}")
        pairs[key.strip()] = value
    return pairs


def _whole(env: Mapping[str, str], name: str) -> int | None:
    """An optional positive whole number from the environment; a bad one is one clear line."""
    value = env.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) == 0:
        raise UsageError(f"{name} must be a positive whole number, not {value!r}")
    return int(value)


def _policy_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The gate's and maintenance's knobs (VIEWERSHIP_SEVERITY, _VOLUME_BAND,
    _FRESHNESS_HOURS, _SNAPSHOT_RETENTION_DAYS, _REGION_RETENTION)."""
    overrides = _pairs(env, "VIEWERSHIP_SEVERITY", "<check>=error or <check>=warn",
                       lambda v: v in ("error", "warn"))  # fmt: skip
    retention = _pairs(env, "VIEWERSHIP_REGION_RETENTION", "<REGION>=<days>, e.g. EMEA=730",
                       str.isdigit)  # fmt: skip
    unknown = sorted({region.upper() for region in retention} - set(regions()))
    if unknown:  # a typo would keep a region's rows forever without a word
        raise UsageError(
            f"VIEWERSHIP_REGION_RETENTION names unknown region(s) {', '.join(unknown)}; "
            f"known: {', '.join(regions())}"
        )
    try:
        low, high = (float(x) for x in env.get("VIEWERSHIP_VOLUME_BAND", "0.5,2.0").split(","))
        freshness = float(env.get("VIEWERSHIP_FRESHNESS_HOURS", "24"))
    except ValueError:
        raise UsageError(
            "VIEWERSHIP_VOLUME_BAND must be two numbers such as 0.5,2.0 and "
            "VIEWERSHIP_FRESHNESS_HOURS a number of hours"
        ) from None
    if not 0 <= low <= 1 <= high:
        raise UsageError(f"VIEWERSHIP_VOLUME_BAND {low},{high} must satisfy 0 <= low <= 1 <= high")
    snapshot_days = env.get("VIEWERSHIP_SNAPSHOT_RETENTION_DAYS", "7")
    if not snapshot_days.isdigit():
        raise UsageError("VIEWERSHIP_SNAPSHOT_RETENTION_DAYS must be a whole number of days")
    return {
        "snapshot_retention_days": int(snapshot_days),
        "region_retention": {region.upper(): int(days) for region, days in retention.items()},
        "severity_overrides": overrides,
        "volume_band": (low, high),
        "freshness_hours": freshness,
    }


def embedded_driver_memory(physical_bytes: int | None = None) -> str:
    """Half the machine's memory, between 2 and 8 GiB: the embedded default driver heap.

    In local mode the driver's heap is every task's heap too. 4 GiB ran out of memory on a day
    of 10M events, which 8 GiB ran in 8 minutes, and at 1M the day took 91 s with 4 GiB and
    81 s with 8 (docs/performance.md). A laptop of 8 GiB still gets 4.
    """
    if physical_bytes is None:
        try:
            physical_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):  # no sysconf: the old fixed default
            return "4g"
    return f"{min(8, max(2, physical_bytes // 2**31))}g"


def load_settings(home: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from arguments and the environment: the one switch between profiles."""
    env = os.environ if env is None else env
    home_path = Path(home or env.get("VIEWERSHIP_HOME") or DEFAULT_HOME).expanduser().resolve()
    profile = env.get("VIEWERSHIP_PROFILE", "local")
    common = {
        "home": home_path,
        **_policy_settings(env),
        "profile": profile,
        "jar_cache": Path(env.get("VIEWERSHIP_JAR_CACHE", DEFAULT_JAR_CACHE)).expanduser(),
        "shuffle_partitions": int(env.get("VIEWERSHIP_SHUFFLE_PARTITIONS", "8")),
        "driver_memory": env.get("VIEWERSHIP_DRIVER_MEMORY")
        or (embedded_driver_memory() if profile == "local" else "4g"),
        "executor_memory": env.get("VIEWERSHIP_EXECUTOR_MEMORY", "1g"),
        "jvm_options": env.get("VIEWERSHIP_JVM_OPTIONS", "").strip(),
        "max_cores": _whole(env, "VIEWERSHIP_MAX_CORES"),
        "pseudonym_key": env.get("VIEWERSHIP_PSEUDONYM_SECRET", "").strip(),
    }
    if profile == "local":
        return Settings(
            **common,
            spark_master=env.get("VIEWERSHIP_SPARK_MASTER", "local[*]"),
            catalog_uri=f"jdbc:sqlite:{home_path / 'catalog.db'}",
            warehouse=(home_path / "warehouse").as_uri(),
        )
    if profile == "cluster":
        required = ["VIEWERSHIP_SPARK_MASTER", "VIEWERSHIP_CATALOG_URI", "VIEWERSHIP_WAREHOUSE"]
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise UsageError(f"profile 'cluster' needs {', '.join(missing)} in the environment")
        return Settings(
            **common,
            spark_master=env["VIEWERSHIP_SPARK_MASTER"],
            catalog_uri=env["VIEWERSHIP_CATALOG_URI"],
            warehouse=env["VIEWERSHIP_WAREHOUSE"],
            s3_endpoint=env.get("VIEWERSHIP_S3_ENDPOINT"),
            s3_region=env.get("VIEWERSHIP_S3_REGION") or env.get("AWS_REGION") or "us-east-1",
        )
    raise UsageError(f"unknown profile {profile!r} (VIEWERSHIP_PROFILE must be local or cluster)")
