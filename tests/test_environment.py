"""The pinned stack is what it claims: pyspark intact beside pyspark-client, code ruff-clean."""

from __future__ import annotations

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
