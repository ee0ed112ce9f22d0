"""Pseudonymous user ids for gold: its figures count users, they need not know who they are.

Gold's ``user_id`` is a keyed SHA-256 of silver's: stable across runs and dates (so distinct
counts and co-watch pairs are unchanged), unreadable without the key. The key comes from
``VIEWERSHIP_PSEUDONYM_SECRET`` or, when that is unset, from a file made on first use in the home
(``secrets/pseudonym.key``, readable by its owner only). Losing or changing the key splits every
user in two across the change: keep it with the catalog, and back both up together.
"""

from __future__ import annotations

import hashlib
import os
import secrets

from pyspark.sql import Column
from pyspark.sql import functions as F

from viewership.config import Settings
from viewership.errors import UsageError

_SEPARATOR = ":"


def key(settings: Settings) -> str:
    """The pseudonym key: the configured one, else the home's, created once."""
    if settings.pseudonym_key:
        return settings.pseudonym_key
    path = settings.home / "secrets" / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:  # a hard link appears whole or not at all: of two first runs, one key wins
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    value = path.read_text().strip()
    if not value:
        raise UsageError(f"{path} is empty; restore the pseudonym key from your backup")
    return value


def pseudonym(user_id: str, secret: str) -> str:
    """A user's pseudonym, as ``pseudonymised`` computes it in Spark."""
    return hashlib.sha256(f"{secret}{_SEPARATOR}{user_id}".encode()).hexdigest()


def pseudonymised(column: str, secret: str) -> Column:
    """The Spark column of pseudonyms for a column of user ids."""
    return F.sha2(F.concat(F.lit(secret + _SEPARATOR), F.col(column)), 256)
