"""The country-to-region reference: moving a country or adding a region edits regions.csv only."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


@cache
def country_regions() -> dict[str, str]:
    """Map upper-case ISO 3166-1 alpha-2 codes to their reporting region."""
    text = resources.files("schemas").joinpath("regions.csv").read_text(encoding="utf-8")
    return {row["country"]: row["region"] for row in csv.DictReader(text.splitlines())}


def regions() -> list[str]:
    """Every region the reference knows, sorted."""
    return sorted(set(country_regions().values()))
