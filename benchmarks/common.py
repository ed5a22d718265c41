"""Shared helpers for the benchmarks: timing, a process's CPU seconds and result rows."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Callable


def rate(fn: Callable[[], object], seconds: float = 1.5) -> float:
    """Calls per second of ``fn``, measured for about ``seconds``."""
    count, start = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds process ``pid`` has used, every thread (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def median(values) -> float:
    return statistics.median(values)


def row(group: str, measure: str, value: float, unit: str, *, baseline: float | None = None,
        baseline_name: str = "", target: str = "", met: bool | None = None) -> dict:
    """One line of the results table; ``ratio`` is value / baseline when a baseline was measured."""
    return {
        "group": group, "measure": measure, "value": value, "unit": unit,
        "baseline": baseline, "baseline_name": baseline_name,
        "ratio": (value / baseline) if baseline else None,
        "target": target, "met": met,
    }
