"""Run the benchmark stages and print their figures beside baselines measured in the same run.

    python -m benchmarks.run              the full run (about 15 minutes on 2 cores)
    python -m benchmarks.run --quick      a smoke run of about a minute, every stage at small scale
    python -m benchmarks.run --stage parse --stage store
    python -m benchmarks.run --stage imports --import-mb 1000

Every stage makes its own data (cached under benchmarks/out/).  These are
measurements, not tests: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import endtoend, imports, parse, search, store
from benchmarks.table import Figure, render

OUT = Path(__file__).resolve().parent / "out"


@dataclass(frozen=True)
class Scale:
    parse_threads: int
    repeats: int
    store_threads: int
    fetch_pages: int
    memory_pages: tuple[int, int]  # a job and one ten times its size, for peak memory
    search_posts: int
    search_queries: int
    import_bytes: int


FULL = Scale(parse_threads=80, repeats=3, store_threads=2000, fetch_pages=2000, memory_pages=(200, 2000),
             search_posts=1_000_000, search_queries=200, import_bytes=100_000_000)
QUICK = Scale(parse_threads=8, repeats=1, store_threads=100, fetch_pages=60, memory_pages=(10, 100),
              search_posts=20_000, search_queries=20, import_bytes=2_000_000)
SMOKE = Scale(parse_threads=2, repeats=1, store_threads=4, fetch_pages=4, memory_pages=(2, 4),
              search_posts=500, search_queries=3, import_bytes=200_000)
STAGES = ("parse", "store", "fetch", "search", "imports")


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    scale = SMOKE if options.smoke else QUICK if options.quick else FULL
    if options.import_mb:
        scale = Scale(**{**scale.__dict__, "import_bytes": int(options.import_mb * 1_000_000)})
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    print(f"threadvault benchmarks: {'smoke' if options.smoke else 'quick' if options.quick else 'full'} run; "
          f"Python {platform.python_version()}, {platform.machine()}, {_cores()} cores", flush=True)
    if "imports" in (options.stage or STAGES) and scale.import_bytes < 1_000_000_000:
        print(f"Imports are scaled down to {scale.import_bytes / 1e6:g} MB a file; --import-mb 1000 for 1 GB files.")
    figures: list[Figure] = []
    started = time.perf_counter()
    for stage in options.stage or STAGES:
        print(f"-- {stage} ...", file=sys.stderr, flush=True)
        figures += _run(stage, scale, out)
    print(render(figures))
    print(f"\n{time.perf_counter() - started:.0f} s in all. Ratios are figure/baseline (baseline/figure for times).")
    return 0


def _run(stage: str, scale: Scale, out: Path) -> list[Figure]:
    if stage == "parse":
        return parse.run(scale.parse_threads, scale.repeats)
    if stage == "store":
        return store.run(scale.store_threads, out)
    if stage == "fetch":
        return endtoend.run(scale.fetch_pages, scale.memory_pages, out)
    if stage == "search":
        return search.run(scale.search_posts, scale.search_queries, out)
    return imports.run(scale.import_bytes, out)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="every stage at small scale (about a minute)")
    size.add_argument("--smoke", action="store_true", help="the smallest run, for the test suite")
    parser.add_argument("--stage", action="append", choices=STAGES, help="run only this stage (repeatable)")
    parser.add_argument("--import-mb", type=float, help="size of each import file in MB (full run: 100)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where data and archives are made and cached ({OUT})")
    return parser.parse_args(argv)


def _cores() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
