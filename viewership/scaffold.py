"""``viewership new-aggregate NAME``: a new aggregate's declaration and its test, ready to edit.

The files go beside the ``aggregates`` package this interpreter imports (``aggregates/NAME.py``)
and into the ``tests`` folder next to it, so the registry, ``viewership run`` and the DAG pick
the aggregate up with no other edit. The skeleton runs as written: it is a working aggregate
(qualified viewers and seconds per day and region) to reshape, not a stub.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import aggregates
from viewership.errors import UsageError

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class Scaffold:
    """The files written for a new aggregate."""

    module: Path
    test: Path


def package_root() -> Path:
    """The folder that holds the ``aggregates`` package in use (its project's root)."""
    return Path(aggregates.__file__).resolve().parent.parent


def new_aggregate(name: str, root: Path | None = None) -> Scaffold:
    """Write the declaration and test of aggregate ``name``; refuse to overwrite anything."""
    if not NAME.fullmatch(name) or keyword.iskeyword(name):
        raise UsageError(
            f"aggregate name {name!r} must be lower-case letters, digits and underscores, "
            "starting with a letter (it becomes a module and a table name)"
        )
    if name in aggregates.names():
        raise UsageError(f"aggregate {name!r} exists already ({aggregates.module_of(name)})")
    root = root or package_root()
    scaffold = Scaffold(
        module=root / "aggregates" / f"{name}.py",
        test=root / "tests" / f"test_aggregate_{name}.py",
    )
    for path in (scaffold.module, scaffold.test):
        if path.exists():
            raise UsageError(f"{path} exists already; choose another name or remove it")
    values = {"name": name, "table": f"{name}_daily", "title": name.replace("_", " ").capitalize()}
    templates = resources.files("viewership").joinpath("templates")
    for path, template in ((scaffold.module, "aggregate.py.tmpl"),
                           (scaffold.test, "test_aggregate.py.tmpl")):  # fmt: skip
        text = Template(templates.joinpath(template).read_text(encoding="utf-8"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.substitute(values), encoding="utf-8")
    return scaffold
