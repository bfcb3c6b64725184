"""A fetch job killed with SIGKILL at random moments, and run again each time, loses nothing and
duplicates nothing.

The job is a real ``threadvault fetch`` process archiving generated threads from a local server.
Each run is killed either while it starts (opening the archive, applying migrations) or a random
moment after the server answered a random number of its requests, which lands kills in the middle
of WARC writes, index commits, parses and thread saves.  The seed is in the test id: to replay a
failure, run that id again; ``CRASH_SEEDS="1 2 3"`` adds more seeds to the run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pagegen import generated_thread
from threadvault import replays
from threadsite import Site, serve_threads

THREADS = 240
POSTS = 5
KILLS = 24
MAX_ANSWERS = 8  # a run is killed after at most this many more answers, whatever the machine's speed
MOMENTS = ("starting", "working", "writing a WARC record", "committing")


@dataclass(frozen=True)
class Run:
    moment: str
    killed: bool
    returncode: int
    stderr: str


def fetch_command(db_path: Path, urls_file: Path) -> list[str]:
    return [
        sys.executable, "-m", "threadvault", "fetch", "--db", str(db_path), "--source", "threadreaderapp",
        "--delay", "0", "--concurrency", "4", "--from-file", str(urls_file),
    ]


def write_urls_file(folder: Path, site: Site, threads: list) -> Path:
    path = folder / "urls.txt"
    path.write_text("".join(site.url(thread) + "\n" for thread in threads))
    return path


def run_and_kill(command: list[str], site: Site, db_path: Path, rng: random.Random) -> Run:
    """Start the job and SIGKILL it at a random moment, unless it finishes first.

    The moment is drawn from four kinds: while the process starts; a random pause after the server
    answered a random number of its requests (mostly parsing, then); and, after such a number of
    answers, as soon as the next bytes reach a WARC file or the database's write-ahead log.  Kills
    are bounded by answers, not only by time, so a fast machine cannot finish the job early.
    """
    served_before = site.served
    moment = rng.choice(MOMENTS)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if moment == "starting":
        deadline = time.monotonic() + rng.uniform(0.0, 1.5)
        _wait(process, lambda: time.monotonic() >= deadline or site.served - served_before >= MAX_ANSWERS)
    else:
        answers = rng.randint(1, MAX_ANSWERS)
        _wait(process, lambda: site.served - served_before >= answers)
        if moment == "working":
            time.sleep(rng.uniform(0.0, 0.15))
        else:
            watched = _warc_files if moment == "writing a WARC record" else _write_ahead_log
            before = watched(db_path)
            _wait(process, lambda: watched(db_path) != before)
            time.sleep(rng.uniform(0.0, 0.002))
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    return Run(moment, process.returncode == -signal.SIGKILL, process.returncode, stderr.decode())


def _wait(process: subprocess.Popen, condition: Callable[[], bool]) -> None:
    while process.poll() is None and not condition():
        time.sleep(0.0005)


def _warc_files(db_path: Path) -> list[tuple[str, int]]:
    return [(path.name, path.stat().st_size) for path in sorted((db_path.parent / "warc").glob("*.warc.gz"))]


def _write_ahead_log(db_path: Path) -> tuple[int, int] | None:
    wal = Path(f"{db_path}-wal")
    return (wal.stat().st_size, wal.stat().st_mtime_ns) if wal.exists() else None


def query(db_path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "threadvault", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [20261130] + [int(s) for s in os.environ.get("CRASH_SEEDS", "").split()])
def test_a_job_killed_at_random_moments_archives_every_thread_exactly_once(tmp_path, seed):
    rng = random.Random(seed)
    threads = [generated_thread(index, posts=POSTS) for index in range(THREADS)]
    db_path = tmp_path / "threadvault.db"
    with serve_threads(threads) as site:
        command = fetch_command(db_path, write_urls_file(tmp_path, site, threads))
        runs = []
        while sum(run.killed for run in runs) < KILLS:
            runs.append(run_and_kill(command, site, db_path, rng))
            last = runs[-1]
            assert last.killed or last.returncode == 0, f"seed {seed}, run {len(runs)}: {last.stderr}"
            if not last.killed:
                break  # finished before the planned kills: the job is too short for this seed
        final = subprocess.run(command, capture_output=True, text=True, timeout=300)
        requests = dict(site.requests)

    kills = sum(run.killed for run in runs)
    assert kills >= KILLS, f"seed {seed}: the job finished after {kills} kills"
    assert final.returncode == 0, final.stderr
    assert "0 failed" in final.stdout

    # Every thread once, with exactly the posts served, in order, and nothing else.
    expected = {f"twitter:{thread.root_id}": [f"twitter:{tweet}" for tweet in thread.tweet_ids] for thread in threads}
    stored: dict[str, list[str]] = {}
    for thread_id, post_id in query(db_path, "SELECT thread_id, id FROM posts ORDER BY thread_id, position"):
        stored.setdefault(thread_id, []).append(post_id)
    assert stored == expected
    counts = dict(query(db_path, "SELECT id, post_count FROM threads"))
    assert counts == {thread_id: POSTS for thread_id in expected}
    assert query(db_path, "SELECT count(*), count(DISTINCT id) FROM posts") == [(THREADS * POSTS, THREADS * POSTS)]
    assert query(db_path, "SELECT status, count(*) FROM queue GROUP BY status") == [("done", THREADS)]

    # Each thread page was archived once: one indexed capture, the one its thread was read from.
    captured = query(db_path, "SELECT url, count(*) FROM captures WHERE url LIKE '%/thread/%' GROUP BY url")
    assert {count for _, count in captured} == {1} and len(captured) == THREADS
    assert query(db_path, "SELECT count(DISTINCT thread_id), count(*) FROM thread_captures") == [(THREADS, THREADS)]

    # The database and its search index are whole.
    assert query(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert query(db_path, "PRAGMA foreign_key_check") == []
    query(db_path, "INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")  # raises if FTS disagrees
    assert query(db_path, "SELECT count(*) FROM posts_fts") == [(THREADS * POSTS,)]

    # Every indexed record is intact; what a kill left on disk is either a complete record the index
    # lacks (re-indexed) or the cut-off last record of a killed run's file (a warning, never indexed).
    first = run_cli("verify", "--db", str(db_path))
    reindexed = run_cli("verify", "--db", str(db_path), "--reindex")
    after = run_cli("verify", "--db", str(db_path))
    assert "Corrupt: " not in first.stderr + reindexed.stderr + after.stderr
    assert reindexed.returncode == 0, reindexed.stderr
    assert after.returncode == 0, after.stdout + after.stderr
    assert " 0 corrupt, 0 unindexed" in after.stdout
    unindexed = first.stderr.count("Unindexed: ")
    cut_off = after.stderr.count("Cut off: ")
    refetched = sum(count - 1 for path, count in requests.items() if path != "/robots.txt")
    print(json.dumps({
        "seed": seed, "threads": THREADS, "posts": THREADS * POSTS, "runs": len(runs) + 1, "kills": kills,
        "kills_by_moment": dict(Counter(run.moment for run in runs if run.killed)),
        "requests": sum(requests.values()), "pages_fetched_again": refetched,
        "complete_unindexed_records": unindexed, "cut_off_records": cut_off,
    }))


def test_a_killed_job_leaves_no_parse_process_behind(tmp_path):
    threads = [generated_thread(index, posts=POSTS) for index in range(40)]
    db_path = tmp_path / "threadvault.db"
    with serve_threads(threads) as site:
        command = [*fetch_command(db_path, write_urls_file(tmp_path, site, threads)), "--parse-workers", "2"]
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        _wait(job, lambda: site.served >= 10)  # pages are being parsed by the parse processes
        _kill_and_wait_for_its_group(job)

    assert job.returncode == -signal.SIGKILL
    assert not _any_process_in_group(job.pid)


def test_a_killed_reparse_leaves_no_parse_process_behind_and_a_rerun_rebuilds_it_all(tmp_path):
    threads = [generated_thread(index, posts=POSTS) for index in range(3 * replays.SAVED_AT_ONCE)]
    db_path = tmp_path / "threadvault.db"
    with serve_threads(threads) as site:
        subprocess.run(fetch_command(db_path, write_urls_file(tmp_path, site, threads)), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rebuilt = {  # what the reparse writes again (a link's id is a rowid, and may change)
        table: f"SELECT {columns} FROM {table}" for table, columns in (
            ("post_hashtags", "*"), ("mentions", "*"), ("links", "post_id, url, display_text"), ("media", "*"),
            ("hashtags", "*"), ("posts", "*"))
    }
    with sqlite3.connect(db_path) as conn:
        before = {table: sorted(conn.execute(query)) for table, query in rebuilt.items()}
        for table in rebuilt:
            conn.execute(f"DELETE FROM {table}")

    def rewritten() -> int:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT count(*) FROM posts").fetchone()[0]

    command = [sys.executable, "-m", "threadvault", "reparse", "--db", str(db_path), "--parse-workers", "2"]
    reparse = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    _wait(reparse, lambda: rewritten() > 0)  # a first batch is saved, the next pages are being parsed
    _kill_and_wait_for_its_group(reparse)

    assert reparse.returncode == -signal.SIGKILL
    assert not _any_process_in_group(reparse.pid)
    assert rewritten() < len(before["posts"])
    subprocess.run([*command[:-2], "--parse-workers", "1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with sqlite3.connect(db_path) as conn:
        assert {table: sorted(conn.execute(query)) for table, query in rebuilt.items()} == before


def _kill_and_wait_for_its_group(process: subprocess.Popen) -> None:
    """SIGKILL a command started in a session of its own, then give its other processes 10 s to end."""
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)  # returns once nothing holds its stderr open
    deadline = time.monotonic() + 10
    while _any_process_in_group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _any_process_in_group(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
