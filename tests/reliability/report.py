"""The reliability report: each tier writes its matrix here, as Markdown people can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def markdown(rows: Sequence[Mapping[str, object]]) -> str:
    """A Markdown table of rows that share their keys (the first row's order)."""
    if not rows:
        return "(no rows)\n"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[k]).replace("|", "\\|") for k in keys) + " |")
    return "\n".join(lines) + "\n"


def write_matrix(root: Path, name: str, rows: Sequence[Mapping[str, object]]) -> Path:
    """Print the matrix and keep it in ``.home/reliability/NAME.md`` (outside git)."""
    text = markdown(rows)
    print(f"\n{name}\n{text}")
    path = root / ".home" / "reliability" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
