"""Repeated timings and peak memory, the two things every figure is made of."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Samples:
    """One figure's repetitions (seconds or bytes): reported as median, min and max."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": min(self.values),
            "max": max(self.values),
            "n": len(self.values),
            "values": self.values,
        }


@contextmanager
def stopwatch(into: Samples) -> Iterator[None]:
    """Append the block's wall time to ``into`` (a failed block records nothing)."""
    started = time.perf_counter()
    yield
    into.values.append(time.perf_counter() - started)


def _status(pid: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = task / "children"
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (the kernel's high-water mark)."""
    return int(_status(pid)["VmHWM"].split()[0]) * 1024


def driver_peak() -> dict[str, int]:
    """Peak resident memory of this driver: the Python process and its JVM (the py4j gateway,
    which in local mode also runs every executor task). Spark's Python workers are not counted:
    they come and go per task and hold one Arrow batch each."""
    me = os.getpid()
    jvm = [p for p in _children(me) if "java" in _status(p).get("Name", "")]
    python_peak = peak_rss(me)
    jvm_peak = sum(peak_rss(p) for p in jvm)
    return {"python": python_peak, "jvm": jvm_peak, "total": python_peak + jvm_peak}
