"""The pinned stack is what it claims: pyspark intact beside pyspark-client, code ruff-clean."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from pyspark.sql import SparkSession

from viewership.config import REPO_ROOT, jar_coordinates


def test_pyspark_and_pyspark_client_are_in_step(spark: SparkSession) -> None:
    import pyspark

    assert version("pyspark") == version("pyspark-client") == pyspark.__version__
    # The full pyspark (not the thin client) runs a local session with the Iceberg runtime.
    assert spark.range(5).selectExpr("sum(id)").first()[0] == 10
    assert spark.sql("SHOW NAMESPACES IN lake").columns == ["namespace"]


def test_the_iceberg_runtime_matches_the_spark_minor() -> None:
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    runtime = next(c for c in jar_coordinates() if "iceberg-spark-runtime" in c)
    assert f"iceberg-spark-runtime-{spark_minor}_2.13:" in runtime


def test_the_code_is_ruff_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([ruff, *args], cwd=REPO_ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_set_up_wrote_the_class_archive_and_a_new_driver_loads_spark_from_it(
    tmp_path: Path,
) -> None:
    from viewership.config import load_settings
    from viewership.spark import class_archive

    assert class_archive(load_settings(tmp_path)).is_file(), "scripts/setup.sh writes it"
    loaded = tmp_path / "classes.log"
    start = (
        "from viewership.config import load_settings; from viewership.spark import get_spark; "
        f"get_spark(load_settings({str(tmp_path / 'home')!r})).range(3).count()"
    )
    env = {**os.environ, "VIEWERSHIP_JVM_OPTIONS": f"-Xlog:class+load:file={loaded}"}
    subprocess.run([sys.executable, "-c", start], env=env, check=True, capture_output=True)
    sources = loaded.read_text()
    # A mismatched archive (another class path, another JDK) would be ignored: every class from
    # a jar. Mapped, Spark's classes come from the archive's top layer and few from jars.
    from_archive = sources.count("source: shared objects file (top)")
    assert from_archive > 5000 > sources.count("source: jar:") + sources.count("source: file:")
