"""Security basics: no credential in git, and the scanner that says so is itself tested."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from viewership.config import REPO_ROOT

# What a leaked credential looks like: cloud keys, private keys, and a secret-named setting
# given a literal value (placeholders such as "set-me", ${VARIABLE} references, file paths and
# code that reads the value from elsewhere are fine).
PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "secret-named setting with a literal value": re.compile(
        r"(?i)\b[A-Z_]*(?:PASSWORD|SECRET|TOKEN|FERNET_KEY|API_KEY)[A-Z_]*\s*[:=]\s*"
        r"[\"']?(?!set-me|\$\{|\$\(|<|/|\"|'|\s|$)[^\s\"',}\[(]{8,}(?=[\"'\s,}]|$)"
    ),
    "credentials in a URL": re.compile(r"://[^/\s:@$]+:(?!\$\{)[^/\s:@$]{4,}@"),
}
# Test-only values that guard nothing: moto's S3 server accepts any key pair.
ALLOWED = {"live-tier-secret"}


def leaks(text: str) -> list[str]:
    """The kinds of credential found in ``text``."""
    found = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            if not any(allowed in match.group(0) for allowed in ALLOWED):
                found.append(kind)
    return found


@pytest.mark.parametrize(
    "text",
    [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "AIRFLOW_ADMIN_PASSWORD=hunter2hunter2",
        "  AIRFLOW__API_AUTH__JWT_SECRET: 9f8e7d6c5b4a39281706",
        "sql_alchemy_conn = postgresql://airflow:s3cr3tpass@db:5432/airflow",
    ],
)
def test_the_scanner_finds_a_planted_credential(text: str) -> None:
    assert leaks(text)


@pytest.mark.parametrize(
    "text",
    [
        "AIRFLOW_ADMIN_PASSWORD=set-me",
        "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in docker/.env}",
        "postgresql+psycopg2://${POSTGRES_USER:-viewership}:${POSTGRES_PASSWORD:?set}@postgres",
        "password = os.environ['AIRFLOW_ADMIN_PASSWORD']",
    ],
)
def test_the_scanner_lets_placeholders_and_references_pass(text: str) -> None:
    assert leaks(text) == []


def test_no_credential_is_in_any_tracked_file() -> None:
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    found = {}
    for name in filter(None, tracked):
        path = REPO_ROOT / name
        if not path.is_file() or path == Path(__file__):
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        if kinds := leaks(text):
            found[name] = kinds
    assert found == {}
