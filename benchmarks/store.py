"""Stage 2: posts written per CPU second with every table, index and the full-text index,
against a bare ``executemany`` of the same post rows into one plain table.

CPU time (user and system) rather than a wall clock, which on a shared machine also
measures the neighbours; with WAL and synchronous=NORMAL a commit waits on no disk.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import nullcontext
from pathlib import Path

from benchmarks.data import synthetic_threads
from benchmarks.table import Figure
from threadvault import imports, store
from threadvault.model import Thread

FIRST_CAPTURE, SECOND_CAPTURE = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"


def run(threads: int, out: Path) -> list[Figure]:
    batch = list(synthetic_threads(threads))
    posts = sum(len(thread.posts) for thread in batch)
    path = out / "store.db"
    _remove(path)
    bare = posts / _bare_insert(batch, out / "store-bare.db")
    db = store.open_archive(path)
    fresh = posts / _save_all(db, batch, FIRST_CAPTURE, "first")
    again = posts / _save_all(db, batch, SECOND_CAPTURE, "second")
    db.close()
    _remove(path)
    db = store.open_archive(path)
    batched = posts / _save_all(db, batch, FIRST_CAPTURE, "first", per_transaction=imports.SAVE_BATCH)
    db.close()
    note = f"{threads:,} threads of {posts // threads} posts; CPU time"
    baseline = "executemany into one table, no FTS"
    return [
        Figure("2 Store", "save_thread, fresh archive", fresh, "posts/s", bare, baseline, target=1 / 3, note=note),
        Figure("2 Store", "save_thread, re-capture of the same threads", again, "posts/s", bare, baseline,
               target=1 / 3, note=note),
        Figure("2 Store", f"save_thread, fresh archive, {imports.SAVE_BATCH} threads a transaction (as imports save)",
               batched, "posts/s", bare, baseline, target=1 / 3, note=note),
    ]


def _save_all(db, threads: list[Thread], captured_at: str, capture: str, per_transaction: int = 1) -> float:  # noqa: ANN001
    """CPU seconds to save the threads, each in its own transaction or ``per_transaction`` to one.
    (One thread is not wrapped in a transaction of its own: save_thread would then run as a savepoint.)"""
    started = time.process_time()
    for first in range(0, len(threads), per_transaction):
        with db.atomic() if per_transaction > 1 else nullcontext():
            for number, thread in enumerate(threads[first:first + per_transaction], first):
                store.save_thread(db, thread, captured_at=captured_at, capture_ids=(f"<urn:uuid:{capture}-{number}>",))
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
