"""`make bench`: run every benchmark, print one table, write benchmarks/RESULTS.md.

Each figure is measured in the same run as its baseline, so ratios hold on a
noisy machine. Benchmarks are not tests: nothing here fails a build.
Run a subset with `python benchmarks/run.py mining chain`; `--quick` for a smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SUITES = ("mining", "chain", "wallet", "torrent", "workbook", "network", "classroom", "hub")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    versions = []
    for name in ("rsa", "cryptography", "jwt", "libtorrent", "pandas"):
        try:
            versions.append(f"{name} {importlib.import_module(name).__version__}")
        except Exception:  # a missing optional package is reported, not fatal
            versions.append(f"{name} missing")
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; " + ", ".join(versions))


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def table(rows: list[dict]) -> str:
    lines = ["| group | measure | value | unit | baseline | ratio | target | met |",
             "| --- | --- | ---: | --- | --- | ---: | --- | --- |"]
    for r in rows:
        baseline = f"{fmt(r['baseline'])} ({r['baseline_name']})" if r["baseline"] is not None else ""
        ratio = f"{r['ratio']:.3g}x" if r["ratio"] is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(f"| {r['group']} | {r['measure']} | {fmt(r['value'])} | {r['unit']} | {baseline} | {ratio} | {r['target']} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of {', '.join(SUITES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(sorted(unknown))}; choose from {', '.join(SUITES)}")

    rows, started = [], time.perf_counter()
    for suite in args.suites or SUITES:
        print(f"running {suite}...", flush=True)
        module = importlib.import_module(f"bench_{suite}")
        suite_rows = module.run(quick=args.quick)
        print(table(suite_rows), flush=True)
        rows.extend(suite_rows)
    elapsed = time.perf_counter() - started
    text = (f"# labkit benchmarks\n\nMeasured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
            f"by `make bench` in {elapsed:.0f} s{' (--quick)' if args.quick else ''}.\n\n"
            f"Machine: {machine()}\n\n{table(rows)}\n")
    args.output.write_text(text, encoding="utf-8")
    print(f"\n{table(rows)}\n\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
