"""Gold's pseudonyms: stable, keyed, the same in Spark and in Python, the key kept safely."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from viewership import pseudonyms
from viewership.config import load_settings
from viewership.errors import UsageError

USERS = ["u1", "u10", "ünï-çødé", "a'b\"c", "x" * 64]


def test_spark_and_python_give_every_user_the_same_pseudonym(spark: SparkSession) -> None:
    frame = spark.createDataFrame([(u,) for u in USERS], ["user_id"])
    got = [r[0] for r in frame.select(pseudonyms.pseudonymised("user_id", "k")).collect()]
    assert got == [pseudonyms.pseudonym(u, "k") for u in USERS]
    assert len(set(got)) == len(USERS) and not set(got) & set(USERS)
    assert pseudonyms.pseudonym("u1", "k") != pseudonyms.pseudonym("u1", "another key")


def test_the_home_key_is_made_once_for_its_owner_only(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    first = pseudonyms.key(settings)
    path = tmp_path / "secrets" / "pseudonym.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pseudonyms.key(settings) == first and len(first) == 64
    assert [p.name for p in path.parent.iterdir()] == ["pseudonym.key"]  # no draft left over
    # The configured secret wins, and the settings never print it
    configured = load_settings(tmp_path, env={"VIEWERSHIP_PSEUDONYM_SECRET": "s3cret"})
    assert pseudonyms.key(configured) == "s3cret" and "s3cret" not in repr(configured)


def test_an_emptied_key_file_is_one_clear_error(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    pseudonyms.key(settings)
    (tmp_path / "secrets" / "pseudonym.key").write_text("")
    with pytest.raises(UsageError, match="restore the pseudonym key"):
        pseudonyms.key(settings)
