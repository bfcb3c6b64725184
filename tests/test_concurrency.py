"""Readers and writers at the same time: Datasette reading while a real fetch process writes never
sees half a thread, and a second writing process on the same archive is refused."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pagegen import generated_thread
from threadsite import serve_threads
from threadvault import jobs, store
from threadvault.web.server import build_datasette

METADATA = Path(__file__).parent.parent / "metadata.yml"
THREADS = [generated_thread(index, posts=1 + index % 12) for index in range(48)]  # 1 to 12 posts each
SIZES = {f"twitter:{thread.root_id}": len(thread.tweet_ids) for thread in THREADS}
SNAPSHOT = """
select id, post_count, (select count(*) from posts where posts.thread_id = threads.id) as posts,
  (select count(*) from thread_captures where thread_id = threads.id) as captures
from threads
union all
select 'posts without a thread', count(*), 0, 0 from posts where thread_id not in (select id from threads)
"""


def fetch(db_path: Path, urls: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "threadvault", "fetch", "--db", str(db_path), "--source", "threadreaderapp",
               "--delay", "0", "--concurrency", "4", *urls]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_archive_whole(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")  # raises if out of step
    finally:
        conn.close()
    report = jobs.verify(db_path)
    assert (report.corrupt, report.unindexed, report.cut_off) == ([], [], [])


@pytest.mark.asyncio
async def test_datasette_never_shows_half_a_thread_while_a_job_saves_them(tmp_path):
    db_path = tmp_path / "threadvault.db"
    store.open_archive(db_path)
    ds = build_datasette(db_path, METADATA)
    snapshots: list[dict[str, tuple[int, int, int]]] = []
    with serve_threads(THREADS, delay=0.02) as site:
        job = fetch(db_path, [site.url(thread) for thread in THREADS])
        while True:
            finished = job.poll() is not None  # read once more after the job ends
            response = await ds.client.get("/threadvault.json", params={"sql": SNAPSHOT, "_shape": "array"})
            assert response.status_code == 200, response.text
            rows = {row["id"]: (row["post_count"], row["posts"], row["captures"]) for row in response.json()}
            assert rows.pop("posts without a thread") == (0, 0, 0)
            for thread_id, (post_count, posts, captures) in rows.items():
                assert (post_count, posts, captures) == (SIZES[thread_id], SIZES[thread_id], 1), thread_id
            if rows:  # one thread through the table API as well: its posts, all of them, in order
                thread_id = sorted(rows)[len(snapshots) % len(rows)]
                response = await ds.client.get("/threadvault/posts.json", params={
                    "thread_id": thread_id, "_shape": "array", "_col": "position", "_sort": "position"})
                assert [row["position"] for row in response.json()] == list(range(1, SIZES[thread_id] + 1))
            snapshots.append(rows)
            if finished:
                break
            await asyncio.sleep(0.01)
        _, errors = job.communicate()

    assert job.returncode == 0, errors
    assert snapshots[-1].keys() == SIZES.keys()
    partial = [rows for rows in snapshots if 0 < len(rows) < len(SIZES)]
    assert len({len(rows) for rows in partial}) >= 5  # the reads really did overlap the writes
    assert_archive_whole(db_path)
    print(f"{len(snapshots)} reads, {len(partial)} of them mid-job, at {len({len(rows) for rows in partial})} "
          f"different numbers of saved threads; {sum(map(len, snapshots))} thread observations, none partial")


def test_a_second_writing_process_is_refused_and_the_first_finishes_intact(tmp_path):
    db_path = tmp_path / "threadvault.db"
    with serve_threads(THREADS, delay=0.02) as site:
        first = fetch(db_path, [site.url(thread) for thread in THREADS])
        while site.served == 0 and first.poll() is None:  # the first holds the lock once it asks for pages
            time.sleep(0.01)
        second = fetch(db_path, [site.url(THREADS[0])])
        _, refused = second.communicate(timeout=60)
        _, errors = first.communicate(timeout=120)
        requests_after_refusal = site.served

    assert second.returncode == 1
    assert refused.strip() == f"Error: {db_path}: another threadvault process is writing to this archive; wait for it to finish"
    assert first.returncode == 0, errors
    assert requests_after_refusal == len(THREADS) + 1  # robots.txt and each page, once: the refused one asked nothing
    conn = sqlite3.connect(db_path)
    try:
        assert dict(conn.execute("SELECT id, post_count FROM threads")) == SIZES
    finally:
        conn.close()
    assert_archive_whole(db_path)
