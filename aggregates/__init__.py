"""The aggregates: one module per answer, each declaring ``AGGREGATE`` (see jobs.registry).

A module here is found by its file name, which is also the aggregate's name; an installed
distribution can add aggregates under the ``viewership.aggregates`` entry-point group. Add one
with ``viewership new-aggregate NAME``; docs/extending.md walks through it.

This file imports nothing heavy: the DAG lists the names from here without loading Spark.
"""

from __future__ import annotations

import pkgutil
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "viewership.aggregates"


def names() -> list[str]:
    """Every declared aggregate's name, without importing any of them.

    A declaration that fails to import is still listed, so that its own task fails with the
    reason while the other aggregates run.
    """
    modules = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return sorted(modules | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def module_of(name: str) -> str:
    """The module that declares aggregate ``name``."""
    plugins = {ep.name: ep.module for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return plugins.get(name, f"{__name__}.{name}")
