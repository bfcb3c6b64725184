"""Stage 4: search, facets and a long thread through ``threadvault serve`` over a large generated archive.

The archive has the real schema, indexes and full-text index, its rows written
with the store's own statements, and is kept in benchmarks/out/ for the next
run.  Requests go over HTTP on 127.0.0.1 to ``threadvault serve`` with the
project's metadata.yml and the server's own settings (web/server.py): the
table JSON API, the search page, a thread page and a canned query.
"""

from __future__ import annotations

import math
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import yaml
from datasette.utils import escape_fts, tilde_encode

from benchmarks.data import ROOT, synthetic_threads, vocabulary
from benchmarks.store import FIRST_CAPTURE, _remove
from benchmarks.table import Figure
from threadvault import store

POSTS_PER_THREAD = 25
LONG_THREAD = 500
BATCH = 500  # threads generated and written at a time while building the archive
REPEATS = 5  # for the single requests
STAGE = "4 Search"


def run(posts: int, queries: int, out: Path) -> list[Figure]:
    path, built = _archive(posts, out)
    words = _queries(queries)
    common = _common(path, words, posts // 100)
    with _Server(path) as server:
        server.get("/-/search?q=warm")  # the first request opens the database and loads the plugin
        reader = [server.get(f"/-/search?q={quote(q)}") for q in words]
        search = [server.get(f"/threadvault/posts.json?_search={quote(q)}&_size=20") for q in words]
        whole = [server.get("/threadvault/posts.json?_size=0") for _ in range(REPEATS)]
        tags = [server.get("/threadvault/hashtags.json?_size=30") for _ in range(REPEATS)]  # by post_count
        thread = _long_thread_id(posts)
        page = [server.get(f"/-/thread/{tilde_encode(thread)}") for _ in range(REPEATS)]
        canned = [server.get(f"/threadvault/thread_posts.json?thread_id={quote(thread)}&_size=max")
                  for _ in range(REPEATS)]
    if not any(answer.get("rows") for _, answer in search):
        raise RuntimeError(f"{path}: no search found a post: is its full-text index empty?")
    timings, reading = [ms for ms, _ in search], [ms for ms, _ in reader]
    rare = {"reader": [ms for n, ms in enumerate(reading) if n not in common],
            "search": [ms for n, ms in enumerate(timings) if n not in common]}
    note = f"{posts:,} posts; {len(search)} queries; archive {'built in ' + built if built else 'from the cache'}"
    split = f"the {len(rare['search'])} queries matching at most 1% of posts"
    timed_out = _timed_out(search + whole, _facets("posts"))
    timed_out += ["/-/search facet"] * sum(answer.get("html", "").count('class="facet-timed-out"') for _, answer in reader)
    failed = [path for path, results in (("/-/search", reader), ("posts.json?_search", search)) for _, answer in results
              if "status" in answer]
    return [
        Figure(STAGE, "search page /-/search, 20 results + facets (hashtag, author, platform, month), p50",
               statistics.median(reading), "ms", lower_is_better=True, limit=100, note=note),
        Figure(STAGE, "search page /-/search, p95", _p95(reading), "ms", lower_is_better=True, limit=100),
        Figure(STAGE, f"search page /-/search, p95 of {split}", _p95(rare["reader"]), "ms", lower_is_better=True,
               limit=100),
        Figure(STAGE, "posts.json?_search, 20 results + metadata.yml's facets, p50", statistics.median(timings),
               "ms", lower_is_better=True, limit=100),
        Figure(STAGE, "posts.json?_search, p95", _p95(timings), "ms", lower_is_better=True, limit=100),
        Figure(STAGE, f"posts.json?_search, p95 of {split}", _p95(rare["search"]), "ms", lower_is_better=True,
               limit=100),
        Figure(STAGE, "posts.json, metadata.yml's facets, whole table", _median(whole), "ms",
               lower_is_better=True),
        Figure(STAGE, "hashtags by number of posts, whole archive (hashtags.json, 30 rows, by post_count)", _median(tags), "ms",
               lower_is_better=True),
        Figure(STAGE, "facets timed out in the requests above", len(timed_out), "facets", lower_is_better=True,
               limit=0, note=", ".join(f"{name} {timed_out.count(name)}x" for name in sorted(set(timed_out)))),
        Figure(STAGE, "requests failed (HTTP 500: the query ran past sql_time_limit_ms)", len(failed), "requests",
               lower_is_better=True, limit=0,
               note=", ".join(f"{path} {failed.count(path)}x" for path in sorted(set(failed)))),
        Figure(STAGE, f"thread page /-/thread/ of {LONG_THREAD} posts (first page)", _median(page), "ms",
               lower_is_better=True),
        Figure(STAGE, f"thread_posts canned query, {LONG_THREAD} rows", _median(canned), "ms", lower_is_better=True),
    ]


def _archive(posts: int, out: Path) -> tuple[Path, str | None]:
    """The cached archive of about ``posts`` posts plus one long thread; how long building took, if it was built.

    Built by ``store.save_threads``, ``BATCH`` threads a transaction (stage 2 measures the store).
    """
    path = out / f"search-{posts}" / "threadvault.db"
    if path.exists():
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name("building.db")
    _remove(partial)
    started = time.perf_counter()
    db = store.open_archive(partial)
    threads = posts // POSTS_PER_THREAD
    for first in range(0, threads, BATCH):
        batch = synthetic_threads(min(BATCH, threads - first), first=first)
        store.save_threads(db, [(thread, FIRST_CAPTURE, ()) for thread in batch])
        print(f"   archive: {first + BATCH:,} of {threads:,} threads", file=sys.stderr, end="\r", flush=True)
    store.save_thread(db, next(synthetic_threads(1, posts=LONG_THREAD, first=threads)), captured_at=FIRST_CAPTURE)
    db.execute("PRAGMA optimize")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the file itself before it is renamed
    db.close()
    partial.replace(path)
    return path, f"{time.perf_counter() - started:.0f} s"


def _long_thread_id(posts: int) -> str:
    """The long thread's id, which depends only on its place after the others."""
    return next(synthetic_threads(1, posts=1, first=posts // POSTS_PER_THREAD)).id


def _queries(count: int) -> list[str]:
    """Words from common to rare (ranks spread evenly on a log scale), a quarter of them in pairs."""
    rng = random.Random(42)
    words = vocabulary(50_000)
    picked = [words[int(math.exp(rng.uniform(math.log(3), math.log(len(words) - 1))))] for _ in range(count * 2)]
    return [" ".join(picked[2 * n : 2 * n + (2 if n % 4 == 0 else 1)]) for n in range(count)]


def _timed_out(results: list[tuple[float, dict]], wanted: set[str]) -> list[str]:
    """The facets each answer lacks: Datasette leaves out a facet that ran out of time, and says nothing."""
    return [name for _, answer in results if "status" not in answer
            for name in sorted(wanted - set(answer["facet_results"]))]


def _common(path: Path, words: list[str], matches: int) -> set[int]:
    """The queries (by index) that match more than ``matches`` posts: the archive's near-stopwords."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        counts = [conn.execute("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?", [escape_fts(q)]).fetchone()[0]
                  for q in words]
    return {n for n, count in enumerate(counts) if count > matches}


def _facets(table: str) -> set[str]:
    """The facets metadata.yml gives a table (a column, or the column of an array facet)."""
    metadata = yaml.safe_load((ROOT / "metadata.yml").read_text(encoding="utf-8"))
    facets = metadata["databases"]["threadvault"]["tables"][table].get("facets", [])
    return {facet if isinstance(facet, str) else next(iter(facet.values())) for facet in facets}


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, math.ceil(len(values) * 0.95) - 1)]


def _median(results: list[tuple[float, dict]]) -> float:
    return statistics.median(ms for ms, _ in results)


class _Server:
    """``threadvault serve`` on a free port of 127.0.0.1, as a child process."""

    def __init__(self, db: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.command = [sys.executable, "-m", "threadvault", "serve", "--db", str(db), "--metadata",
                        str(ROOT / "metadata.yml"), "--port", str(self.port)]

    def __enter__(self) -> _Server:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        for _ in range(300):
            try:
                self.client.get("/-/versions.json")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait()

    def get(self, path: str) -> tuple[float, dict]:
        """Milliseconds for one request, and its JSON (or HTML, or the status of an error)."""
        started = time.perf_counter()
        response = self.client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:  # a query past Datasette's time limit is an error page
            return elapsed, {"status": response.status_code}
        is_json = response.headers.get("content-type", "").startswith("application/json")
        return elapsed, response.json() if is_json else {"html": response.text}
