"""Stage 2: posts written per CPU second with every table, index and the full-text index,
against a bare ``executemany`` of the same post rows into one plain table.

CPU time (user and system) rather than a wall clock, which on a shared machine also
measures the neighbours; with WAL and synchronous=NORMAL a commit waits on no disk.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from benchmarks.data import synthetic_threads
from benchmarks.table import Figure
from threadvault import store
from threadvault.model import Thread

FIRST_CAPTURE, SECOND_CAPTURE = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"
BARE_RUNS = 3  # the baseline at its fastest: one slow run would flatter every ratio


def run(threads: int, out: Path) -> list[Figure]:
    batch = list(synthetic_threads(threads))
    posts = sum(len(thread.posts) for thread in batch)
    path = out / "store.db"
    bare = posts / min(_bare_insert(batch, out / "store-bare.db") for _ in range(BARE_RUNS))
    rates = {}
    for per_call in (1, store.SAVE_BATCH):
        _remove(path)
        db = store.open_archive(path)
        rates[per_call] = [posts / _save_all(db, batch, at, capture, per_call)
                           for at, capture in ((FIRST_CAPTURE, "first"), (SECOND_CAPTURE, "second"))]
        db.close()
    _remove(path)
    note = f"{threads:,} threads of {posts // threads} posts; CPU time"
    baseline = "executemany into one table, no FTS"
    batched = f"save_threads, {store.SAVE_BATCH} threads a call (as imports and reparse save)"
    return [
        Figure("2 Store", f"{label}, {kind}", rates[per_call][capture], "posts/s", bare, baseline, target=1 / 3, note=note)
        for per_call, label in ((1, "save_thread, one thread a transaction (as a fetch saves)"), (store.SAVE_BATCH, batched))
        for capture, kind in ((0, "fresh archive"), (1, "re-capture of the same threads"))
    ]


def _save_all(db, threads: list[Thread], captured_at: str, capture: str, per_call: int) -> float:  # noqa: ANN001
    """CPU seconds to save the threads: by ``save_thread``, or ``per_call`` at a time by ``save_threads``."""
    saves = [(thread, captured_at, (f"<urn:uuid:{capture}-{number}>",)) for number, thread in enumerate(threads)]
    started = time.process_time()
    if per_call == 1:
        for thread, at, capture_ids in saves:
            store.save_thread(db, thread, captured_at=at, capture_ids=capture_ids)
    else:
        for first in range(0, len(saves), per_call):
            store.save_threads(db, saves[first:first + per_call])
    return time.process_time() - started


def _bare_insert(threads: list[Thread], path: Path) -> float:
    """The same post rows the store writes, in one transaction, into one table with only its key."""
    rows = [
        store._post_row(post, thread, FIRST_CAPTURE, None)  # noqa: SLF001  (the very rows save_thread writes)
        for thread in threads
        for post in thread.posts
    ]
    _remove(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    columns = ", ".join(store.POST_COLUMNS[1:])
    conn.execute(f"CREATE TABLE posts (id TEXT PRIMARY KEY, {columns})")
    started = time.process_time()
    with conn:
        conn.executemany(f"INSERT INTO posts VALUES ({', '.join('?' * len(store.POST_COLUMNS))})", rows)
    elapsed = time.process_time() - started
    conn.close()
    return elapsed


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
