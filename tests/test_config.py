"""The one configuration object: profiles and policy knobs from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewership.config import embedded_driver_memory, jar_coordinates, jar_file_name, load_settings
from viewership.errors import UsageError
from viewership.spark import class_archive, spark_conf


def test_policy_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.severity_overrides == {}
    assert (settings.volume_band, settings.freshness_hours) == ((0.5, 2.0), 24.0)
    assert (settings.snapshot_retention_days, settings.region_retention) == (7, {})
    assert settings.data_docs_index == tmp_path.resolve() / "gx" / "uncommitted" / "data_docs" / (
        "local_site/index.html"
    )


def test_policy_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path,
        env={
            "VIEWERSHIP_SEVERITY": "volume=error, freshness=error",
            "VIEWERSHIP_VOLUME_BAND": "0.8,1.25",
            "VIEWERSHIP_FRESHNESS_HOURS": "6",
            "VIEWERSHIP_SNAPSHOT_RETENTION_DAYS": "30",
            "VIEWERSHIP_REGION_RETENTION": "emea=730,APAC=1095",
        },
    )
    assert settings.severity_overrides == {"volume": "error", "freshness": "error"}
    assert (settings.volume_band, settings.freshness_hours) == ((0.8, 1.25), 6.0)
    assert settings.snapshot_retention_days == 30
    assert settings.region_retention == {"EMEA": 730, "APAC": 1095}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VIEWERSHIP_SEVERITY", "volume=fatal", "<check>=error or <check>=warn"),
        ("VIEWERSHIP_VOLUME_BAND", "2,3", "0 <= low <= 1 <= high"),
        ("VIEWERSHIP_VOLUME_BAND", "half", "two numbers"),
        ("VIEWERSHIP_FRESHNESS_HOURS", "soon", "number of hours"),
        ("VIEWERSHIP_SNAPSHOT_RETENTION_DAYS", "-1", "whole number"),
        ("VIEWERSHIP_REGION_RETENTION", "EMEA=forever", "<REGION>=<days>"),
        ("VIEWERSHIP_REGION_RETENTION", "EMAE=30", "unknown region.s. EMAE; known: APAC, EMEA"),
        ("VIEWERSHIP_PROFILE", "cloud", "local or cluster"),
    ],
)
def test_a_bad_value_is_one_clear_error(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        load_settings(tmp_path, env={name: value})


CLUSTER = {
    "VIEWERSHIP_PROFILE": "cluster",
    "VIEWERSHIP_SPARK_MASTER": "spark://spark-master:7077",
    "VIEWERSHIP_CATALOG_URI": "http://rest-catalog:8181",
    "VIEWERSHIP_WAREHOUSE": "s3://lakehouse/warehouse",
    "VIEWERSHIP_S3_ENDPOINT": "http://minio:9000",
    "AWS_REGION": "eu-west-1",
}


def test_the_cluster_profile_mounts_a_rest_catalog_on_s3_for_spark_and_pyiceberg(
    tmp_path: Path,
) -> None:
    settings = load_settings(tmp_path, env=CLUSTER | {"VIEWERSHIP_EXECUTOR_MEMORY": "3g"})
    spark = settings.spark_catalog_conf()
    assert (settings.spark_master, settings.executor_memory) == ("spark://spark-master:7077", "3g")
    assert spark["spark.sql.catalog.lake.type"] == "rest"
    assert spark["spark.sql.catalog.lake.uri"] == "http://rest-catalog:8181"
    assert spark["spark.sql.catalog.lake.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert spark["spark.sql.catalog.lake.s3.endpoint"] == "http://minio:9000"
    assert spark["spark.sql.catalog.lake.client.region"] == "eu-west-1"
    assert settings.pyiceberg_catalog_props() == {
        "type": "rest",
        "uri": "http://rest-catalog:8181",
        "warehouse": "s3://lakehouse/warehouse",
        "s3.region": "eu-west-1",
        "s3.endpoint": "http://minio:9000",
        "s3.path-style-access": "true",
    }


def test_a_cluster_warehouse_on_a_shared_file_system_keeps_iceberg_s_default_file_io(
    tmp_path: Path,
) -> None:
    settings = load_settings(tmp_path, env=CLUSTER | {"VIEWERSHIP_WAREHOUSE": "file:///shared/wh"})
    assert not any("s3" in key or "io-impl" in key for key in settings.spark_catalog_conf())
    assert set(settings.pyiceberg_catalog_props()) == {"type", "uri", "warehouse"}


def test_the_cluster_profile_names_every_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="VIEWERSHIP_CATALOG_URI, VIEWERSHIP_WAREHOUSE"):
        load_settings(tmp_path, env={"VIEWERSHIP_PROFILE": "cluster",
                                     "VIEWERSHIP_SPARK_MASTER": "spark://m:7077"})  # fmt: skip


def _fake_jars(folder: Path) -> dict[str, str]:
    folder.mkdir()
    for coordinate in jar_coordinates():
        (folder / jar_file_name(coordinate)).touch()
    return {"VIEWERSHIP_JAR_CACHE": str(folder)}


def test_jvm_options_and_runtime_jars_reach_the_driver_and_every_executor(
    tmp_path: Path,
) -> None:
    env = CLUSTER | _fake_jars(tmp_path / "jars")
    plain = spark_conf(load_settings(tmp_path, env=env))
    assert "spark.executor.extraJavaOptions" not in plain
    assert plain["spark.driver.extraJavaOptions"].startswith("-Dlog4j2.configurationFile=")
    # The jars are on both class paths (same path on every node), never shipped by spark.jars
    classpath = plain["spark.executor.extraClassPath"].split(":")
    assert plain["spark.driver.extraClassPath"] == plain["spark.executor.extraClassPath"]
    assert [Path(p).name for p in classpath] == [jar_file_name(c) for c in jar_coordinates()]
    assert "spark.jars" not in plain

    tuned = spark_conf(
        load_settings(tmp_path, env=env | {"VIEWERSHIP_JVM_OPTIONS": " -XX:+UseSerialGC "})
    )
    assert tuned["spark.executor.extraJavaOptions"] == "-XX:+UseSerialGC"
    assert tuned["spark.driver.extraJavaOptions"].endswith(".properties -XX:+UseSerialGC")


def test_the_driver_maps_the_class_archive_only_once_it_exists(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env=_fake_jars(tmp_path / "jars"))
    archive = class_archive(settings)
    assert archive.parent == tmp_path / "jvm"
    # Naming a missing archive would turn off the JDK's own: no archive, no option.
    assert "SharedArchiveFile" not in spark_conf(settings)["spark.driver.extraJavaOptions"]
    archive.parent.mkdir()
    archive.touch()
    driver = spark_conf(settings)["spark.driver.extraJavaOptions"].split()
    assert f"-XX:SharedArchiveFile={archive}" in driver
    # Only the driver maps it (executors elsewhere have their own class path), and never the
    # JVM that is writing one.
    assert "spark.executor.extraJavaOptions" not in spark_conf(settings)
    writing = load_settings(
        tmp_path,
        env=_fake_jars(tmp_path / "jars2")
        | {"VIEWERSHIP_JVM_OPTIONS": "-XX:ArchiveClassesAtExit=x"},
    )
    assert "SharedArchiveFile" not in spark_conf(writing)["spark.driver.extraJavaOptions"]


def test_another_jar_set_has_an_archive_of_its_own(tmp_path: Path) -> None:
    one = class_archive(load_settings(tmp_path, env=_fake_jars(tmp_path / "one")))
    other = class_archive(load_settings(tmp_path, env=_fake_jars(tmp_path / "other")))
    assert one != other and one.parent == other.parent


def test_max_cores_caps_each_application_on_a_cluster(tmp_path: Path) -> None:
    assert "spark.cores.max" not in spark_conf(load_settings(tmp_path, env=CLUSTER))
    capped = load_settings(tmp_path, env=CLUSTER | {"VIEWERSHIP_MAX_CORES": "1"})
    assert spark_conf(capped)["spark.cores.max"] == "1"
    for bad in ("0", "two", "-1"):
        with pytest.raises(UsageError, match=f"VIEWERSHIP_MAX_CORES must be a positive whole "
                                             f"number, not '{bad}'"):  # fmt: skip
            load_settings(tmp_path, env=CLUSTER | {"VIEWERSHIP_MAX_CORES": bad})


@pytest.mark.parametrize(
    ("gib", "heap"), [(1, "2g"), (8, "4g"), (11.9, "5g"), (16, "8g"), (23.5, "8g"), (256, "8g")]
)
def test_the_embedded_driver_heap_is_half_the_machine_between_2_and_8_gib(
    gib: float, heap: str
) -> None:
    assert embedded_driver_memory(int(gib * 2**30)) == heap


def test_the_driver_heap_is_sized_to_the_machine_unless_it_is_set(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).driver_memory == embedded_driver_memory()
    set_here = {"VIEWERSHIP_DRIVER_MEMORY": "3g"}
    assert load_settings(tmp_path, env=set_here).driver_memory == "3g"
    # A cluster's driver runs no task: it keeps the fixed default, its executors their own.
    assert load_settings(tmp_path, env=CLUSTER).driver_memory == "4g"
    assert spark_conf(load_settings(tmp_path, env=set_here))["spark.driver.memory"] == "3g"
