"""Stage 5: ``threadvault import`` of a twarc JSONL file and a WARC file, against reading them alone.

Each file is imported twice, at a quarter of its size and whole, so the peak
memory of the two runs shows whether memory grows with the file.  The files
are cached in benchmarks/out/ by size.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from benchmarks.data import write_twarc, write_warc
from benchmarks.process import threadvault
from benchmarks.table import Figure, best_rate

STAGE = "5 Imports"


def run(size: int, out: Path) -> list[Figure]:
    figures = []
    for name, write, read, unit in (
        ("twarc JSONL", write_twarc, _json_lines, "lines/s"),
        ("WARC", write_warc, _warc_records, "records/s"),
    ):
        suffix = "jsonl" if name.startswith("twarc") else "warc.gz"
        whole, quarter = (_file(out, name, write, suffix, part) for part in (size, size // 4))
        records = read(whole)
        bare = best_rate(lambda: read(whole), 1)  # noqa: B023
        small, large = _import(quarter, out), _import(whole, out)
        note = f"{whole.stat().st_size / 1e6:,.0f} MB, {records:,} records"
        figures += [
            Figure(STAGE, f"import {name}", records / large.seconds, unit, bare,
                   "json.loads of each line" if suffix == "jsonl" else "warcio iteration reading each record",
                   note=note),
            Figure(STAGE, f"import {name}, peak memory", large.peak_mb, "MB", small.peak_mb, "a quarter of the file",
                   target=1 / 1.2, lower_is_better=True),
        ]
    return figures


def _file(out: Path, name: str, write: Callable[[Path, int], int], suffix: str, size: int) -> Path:
    path = out / f"import-{name.split()[0].lower()}-{size}.{suffix}"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write(partial, size)
        partial.replace(path)
    return path


def _import(path: Path, out: Path):  # noqa: ANN202
    folder = out / "import-db"
    shutil.rmtree(folder, ignore_errors=True)
    return threadvault("import", "--db", folder / "archive.db", path)


def _json_lines(path: Path) -> int:
    with open(path, "rb") as lines:
        return sum(1 for line in lines if json.loads(line) is not None)


def _warc_records(path: Path) -> int:
    count = 0
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            record.content_stream().read()
            count += record.rec_type == "response"
    return count
