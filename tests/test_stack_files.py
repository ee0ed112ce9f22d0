"""docker/ holds a stack that validates without a container engine.

The compose file is checked against the Compose Specification's own JSON schema (and by
``docker compose config`` where a Docker CLI with compose exists), every Dockerfile by hadolint,
and the house rules of the stack by reading the files: loopback-only ports, health-gated start
order, no secret in git, and one code path (the compose environment is a valid ``cluster``
profile for the same configuration object every entry point uses).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from viewership.config import REPO_ROOT, jar_coordinates, load_settings
from viewership.spark import spark_conf

DOCKER = REPO_ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
BIN = Path(sys.executable).parent
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _env_example() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    pairs = (ln.split("=", 1) for ln in lines if ln.strip() and not ln.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _interpolate(value: object, env: Mapping[str, str]) -> object:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, for the tests' reading."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            name, kind, word = match.groups()
            if env.get(name):
                return env[name]
            assert kind != "?", f"{name} is required: {word}"
            return word or ""

        return _VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    return _interpolate(yaml.safe_load(COMPOSE.read_text()), _env_example())  # type: ignore[return-value]


def test_the_compose_file_validates_against_the_compose_specification() -> None:
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no Docker CLI with the compose plugin here (the schema check above still runs)",
)
def test_docker_compose_config_accepts_the_stack(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text((DOCKER / ".env.example").read_text())
    done = subprocess.run(
        ["docker", "compose", "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_dockerfile_passes_hadolint() -> None:
    dockerfiles = sorted(DOCKER.rglob("Dockerfile"))
    assert len(dockerfiles) >= 2
    done = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--config", str(DOCKER / ".hadolint.yaml"),
         *map(str, dockerfiles)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_stack_has_every_service_of_production_each_health_gated(
    compose: dict[str, dict[str, dict[str, object]]],
) -> None:
    services = compose["services"]
    assert {
        "postgres", "minio", "minio-init", "rest-catalog", "spark-master", "spark-worker",
        "airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
        "airflow-triggerer",
    } <= set(services)  # fmt: skip
    assert services["spark-worker"]["deploy"]["replicas"] == 2
    one_shot = {"minio-init", "airflow-init"}
    for name, service in services.items():
        if name not in one_shot:
            assert "healthcheck" in service, f"{name} has no health check"
        for needed, condition in service.get("depends_on", {}).items():  # type: ignore[union-attr]
            expected = "service_completed_successfully" if needed in one_shot else "service_healthy"
            assert condition == {"condition": expected}, f"{name} -> {needed}"
    assert set(compose["volumes"]) >= {"postgres-data", "minio-data", "viewership-home"}


def test_ports_are_bound_to_loopback_and_images_are_pinned(
    compose: dict[str, dict[str, dict[str, object]]],
) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):  # type: ignore[union-attr]
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        image = str(service.get("image", ""))
        assert ":" in image and not image.endswith(":latest"), f"{name} image {image!r}"
    for dockerfile in DOCKER.rglob("Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("FROM "):
                assert re.search(r":\d", line.split()[1]), f"{dockerfile}: {line}"


def test_no_secret_is_in_git_and_every_variable_is_documented() -> None:
    text = COMPOSE.read_text().replace("$$", "")  # $$ escapes a variable for the container
    used = {m.group(1) for m in _VARIABLE.finditer(text)}
    documented = _env_example()
    assert used <= set(documented), f"undocumented: {sorted(used - set(documented))}"
    secrets = {name for name in used if re.search(r"PASSWORD|SECRET|FERNET", name)}
    assert secrets
    for name in secrets:
        assert documented[name].startswith("set-me"), f".env.example gives {name} a value"
        assert re.search(rf"\$\{{{name}:\?", text), f"{name} must be required, never defaulted"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(DOCKER / ".env")], cwd=REPO_ROOT
    ).returncode
    assert ignored == 0, "docker/.env must be ignored by git"


def test_the_compose_environment_is_the_cluster_profile_of_the_one_configuration(
    compose: dict[str, dict[str, dict[str, object]]], tmp_path: Path
) -> None:
    env = {k: str(v) for k, v in compose["services"]["airflow-scheduler"]["environment"].items()}
    settings = load_settings(env=env)
    assert settings.profile == "cluster"
    assert settings.spark_master == "spark://spark-master:7077"
    assert settings.pyiceberg_catalog_props()["uri"] == "http://rest-catalog:8181"
    conf = spark_conf(settings)
    assert conf["spark.sql.catalog.lake.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    # aggregates run side by side, each application capped to its share of the workers
    assert (env["VIEWERSHIP_LAKEHOUSE_SLOTS"], conf["spark.cores.max"]) == ("2", "2")
    init = compose["services"]["airflow-init"]["environment"]
    assert init["VIEWERSHIP_LAKEHOUSE_SLOTS"] == env["VIEWERSHIP_LAKEHOUSE_SLOTS"]
    # the workers carry the same lakehouse environment the drivers do
    worker = compose["services"]["spark-worker"]["environment"]
    assert {k: v for k, v in env.items() if k in worker} == worker


def test_the_images_carry_the_embedded_default_s_pins() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile and "viewership/jars.txt" in dockerfile
    assert any("iceberg-aws-bundle" in c for c in jar_coordinates())
    iceberg = {c.rsplit(":", 1)[1] for c in jar_coordinates() if c.startswith("org.apache.iceberg")}
    pom = (DOCKER / "rest-catalog" / "pom.xml").read_text()
    assert re.findall(r"<iceberg.version>(.+?)</iceberg.version>", pom) == sorted(iceberg)
