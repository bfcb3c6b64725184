"""Loops that join the stages: the fetch job with its resumable queue, reparse and verify (imports: imports.py).

The queue is database state (table ``queue``): a URL is pending, done or
failed (with the reason and the number of attempts).  Every capture is in a
WARC file and indexed before it is parsed, and a thread is saved in one
transaction before its URL is marked done, so a job killed at any moment
resumes where it stopped when the same command runs again.

An imported file in a format (twarc, a Twitter archive, text) is kept whole as
a WARC resource record and has a queue row too: its ``url`` is the record's
``urn:threadvault:import:<sha256>``, its ``source`` the format's name and its
``discovered_from`` the file's name, so ``reparse`` reads it again.
"""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import sqlite_utils

from threadvault import captures as capture_store
from threadvault import sources, store
from threadvault.captures import decode_body, read_capture
from threadvault.errors import ArchiveBusy, CaptureCorrupt, FetchError, NotAThread, ThreadvaultError
from threadvault.fetch import Exchange, Fetcher, FetchSettings, non_public_address
from threadvault.model import Capture, Listing, Thread, iso_utc
from threadvault.warcwriter import WarcWriter

FORGOTTEN = "forgotten on request"  # the queue reason of a URL whose thread was forgotten (forget.py)
MAX_PLAN_STEPS = 200  # fetch rounds for one URL: a safety net against a plan that never ends
# A job of this many URLs or more parses its pages in processes of their own (JobOptions.parse_workers):
# starting them, each importing the parsers, costs about what parsing this many pages does.
PARSE_POOL_FROM = 32
JOB_WATCH_INTERVAL = 0.2  # seconds between a parse process's checks that its job is still there
PARSE_PROCESS_DIED = "the process parsing it stopped; run the job again to retry"
PARSES_IN_HAND = 2  # URLs a replay keeps in the hands of each parse process: one parsing, one waiting


@dataclass
class JobReport:
    archived: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (discovered url, why it was not followed)


@dataclass(frozen=True)
class JobOptions:
    refetch: bool = False
    follow: bool = False
    with_replies: bool = False
    parse_workers: int = 0  # processes parsing pages while the job fetches and stores; 0: the job parses them


def default_parse_workers() -> int:
    """A parse process for each CPU the job's own process leaves, at most four: parsing is most of a
    fetch's CPU, and the job's process still fetches, writes the WARC files and stores."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


Progress = Callable[..., None]  # progress(url, outcome, remaining=None) after each URL


def warc_dir_for(db_path: Path) -> Path:
    """Raw captures live in ``warc/`` beside the database file."""
    return Path(db_path).parent / "warc"


def now() -> str:
    return iso_utc(datetime.now(timezone.utc))


@contextmanager
def writer_lock(db_path: Path) -> Iterator[None]:
    """One writing process per archive: a second one is refused with ArchiveBusy."""
    lock_path = Path(str(db_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveBusy(str(db_path)) from None
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@dataclass
class Enqueued:
    pending: list[tuple[str, str]] = field(default_factory=list)  # (canonical url, source) now waiting
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (url as given, reason)


def enqueue(
    db: sqlite_utils.Database,
    urls: list[str],
    *,
    forced_source: str | None = None,
    refetch: bool = False,
    discovered_from: str | None = None,
) -> Enqueued:
    """Add URLs to the queue in canonical form.

    A URL already done stays done unless ``refetch``; a failed one is retried.
    """
    result = Enqueued()
    with db.atomic():  # one commit for the lot, not one a URL
        for url in urls:
            try:
                source = sources.for_url(url, forced_source)
                canonical = source.canonical_url(url)
            except ThreadvaultError as error:
                result.rejected.append((url, str(error)))
                continue
            if enqueue_one(db, canonical, source.NAME, refetch=refetch, discovered_from=discovered_from):
                result.pending.append((canonical, source.NAME))
    return result


def enqueue_one(db: sqlite_utils.Database, url: str, source: str, *, refetch: bool, discovered_from: str | None) -> bool:
    """Whether the URL is now pending."""
    stamp = now()
    with db.atomic():
        db.execute(
            "INSERT INTO queue (url, source, status, attempts, added_at, updated_at, discovered_from) "
            "VALUES (?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT(url) DO NOTHING",
            [url, source, stamp, stamp, discovered_from],
        )
        reopen = "status != 'pending'" if refetch else "status = 'failed'"
        db.execute(
            f"UPDATE queue SET status = 'pending', source = ?, updated_at = ? WHERE url = ? AND {reopen}",
            [source, stamp, url],
        )
    row = db.execute("SELECT status FROM queue WHERE url = ?", [url]).fetchone()
    return bool(row) and row[0] == "pending"


def pending_urls(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in db.execute("SELECT url, source FROM queue WHERE status = 'pending' ORDER BY added_at, url")]


def pending_hosts(db: sqlite_utils.Database, source: str) -> list[str]:
    """The hosts of a source's pending URLs (where a token for that source may be sent)."""
    urls = (row[0] for row in db.execute("SELECT url FROM queue WHERE status = 'pending' AND source = ?", [source]))
    return sorted({host for host in (urlsplit(url).hostname for url in urls) if host})


def refusal(url: str, page: str, source: sources.Source) -> str | None:
    """Why a URL discovered on ``page`` (a listing's thread, a link followed with --follow) must not
    be fetched, or None.  It may lead to the page's own host, or to a host of the source's own
    pattern that is not a loopback, private or link-local address; URLs the user gives are not
    judged here.  Host names are judged as written: nothing is resolved."""
    target, origin = urlsplit(url), urlsplit(page)
    try:
        if (target.hostname, _port(target)) == (origin.hostname, _port(origin)):
            return None
    except ValueError:
        return "not followed: the URL has an invalid port"
    kind = non_public_address(target.hostname or "")
    if kind:
        return f"not followed: {target.hostname} is {kind}"
    if not source.PATTERN.match(url):
        return f"not followed: not on a {source.NAME} host nor on {origin.hostname}, where it was found"
    return None


def _refuse_private_step(url: str, next_url: str, trusted_hosts: set[str | None]) -> None:
    """A source's later step (a next page read from a page it fetched) may not lead to a non-public
    address other than the hosts it started on: the URL's own, and its API's (a configured AppView)."""
    next_host = urlsplit(next_url).hostname or ""
    kind = non_public_address(next_host)
    if kind and next_host not in trusted_hosts:
        raise NotAThread(url, f"{next_url} not fetched: {next_host} is {kind}")


def _port(parts: SplitResult) -> int | None:
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


@dataclass(frozen=True)
class _Recorder:
    """The job's WARC writer and the one thread that runs it: records are compressed, written and
    fsynced there, one at a time and in the order asked, while downloads and parses go on."""

    warc: WarcWriter
    thread: ThreadPoolExecutor

    def write(self, exchange: Exchange) -> Future[dict]:
        return self.thread.submit(self.warc.write, exchange)


class FetchJob:
    """Fetch every pending URL of the queue, archive each capture, parse and save each thread."""

    def __init__(self, db_path: Path, settings: FetchSettings, options: JobOptions, progress: Progress | None = None,
                 fetcher: Fetcher | None = None):
        self.db_path = Path(db_path)
        self.db = store.open_archive(self.db_path)
        self.settings = settings
        self.options = options
        self.progress = progress or (lambda *args, **kwargs: None)
        self.fetcher = fetcher
        self.report = JobReport()
        self.parsers: Executor | None = None

    async def run(self) -> JobReport:
        work: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for item in pending_urls(self.db):
            work.put_nowait(item)
        parse_workers = self.options.parse_workers if work.qsize() >= PARSE_POOL_FROM else 0
        async with self.fetcher or Fetcher(self.settings) as fetcher:
            with (WarcWriter(warc_dir_for(self.db_path)) as warc, ThreadPoolExecutor(1, "warc") as thread,
                  _parse_processes(parse_workers) as self.parsers):  # they end their pages before the job ends
                recorder = _Recorder(warc, thread)  # the thread ends its last record before the file closes
                workers = [asyncio.create_task(self._worker(work, fetcher, recorder))
                           for _ in range(self.settings.concurrency)]
                try:
                    await work.join()
                finally:
                    for worker in workers:
                        worker.cancel()
                    await asyncio.gather(*workers, return_exceptions=True)
        return self.report

    async def _worker(self, work: asyncio.Queue[tuple[str, str]], fetcher: Fetcher, recorder: _Recorder) -> None:
        while True:
            url, source_name = await work.get()
            try:
                outcome, new_work = await self._archive(url, source_name, fetcher, recorder)
            except Exception as error:  # a bug must cost one URL, not hang or end the whole job
                outcome, new_work = f"failed: {error!r}", []
                self._fail(url, f"{url}: internal error, please report it: {error!r}")
            try:
                for item in new_work:
                    work.put_nowait(item)
                self.progress(url, outcome, remaining=work.qsize())
            finally:
                work.task_done()

    async def _archive(self, url: str, source_name: str, fetcher: Fetcher,
                       recorder: _Recorder) -> tuple[str, list[tuple[str, str]]]:
        """Fetch, archive, parse and save one URL; returns its outcome and the new queue entries it led to."""
        try:
            source = sources.by_name(source_name)
            captures = {} if self.options.refetch else self._stored_captures(url, source)
            trusted = {urlsplit(url).hostname, *(urlsplit(first).hostname for first in source.plan(url, {}))}
            for _ in range(MAX_PLAN_STEPS):
                todo = [next_url for next_url in source.plan(url, captures) if next_url not in captures]
                if not todo:
                    break
                for next_url in todo:
                    _refuse_private_step(url, next_url, trusted)
                    captures[next_url] = await self._capture(next_url, fetcher, recorder)
            else:
                raise NotAThread(url, f"gave up after {MAX_PLAN_STEPS} fetch rounds")
            result = await self._parse(source, url, captures)
        except ThreadvaultError as error:
            self._fail(url, str(error))
            return f"failed: {error}", []
        return self._record(url, source_name, result, captures)

    async def _parse(self, source: sources.Source, url: str, captures: Mapping[str, Capture]) -> Thread | Listing:
        """The page parsed here, or by a parse process while this one goes on fetching."""
        if self.parsers is not None:
            try:
                parsing = asyncio.get_running_loop().run_in_executor(
                    self.parsers, _parse_by_name, source.NAME, url, captures, self.options)
            except BrokenProcessPool:  # a parse process died (killed, out of memory): the job parses the rest
                self.parsers = None
            else:
                try:
                    return await parsing
                except BrokenProcessPool:  # it died with this page in hand, maybe because of it: not parsed here
                    self.parsers = None
                    raise NotAThread(url, PARSE_PROCESS_DIED) from None
        return _parse(source, url, captures, self.options)

    async def _capture(self, url: str, fetcher: Fetcher, recorder: _Recorder) -> Capture:
        try:
            exchanges = await fetcher.fetch(url)
        except FetchError as error:
            await self._index(recorder, error.exchanges)
            raise
        rows = await self._index(recorder, exchanges)
        return capture_from_exchange(exchanges[-1], rows[-1])

    async def _index(self, recorder: _Recorder, exchanges: tuple[Exchange, ...] | list[Exchange]) -> list[dict]:
        """Write each exchange's records, then commit its index row: only once they are on disk and fsynced."""
        rows = []
        for exchange in exchanges:
            writing = recorder.write(exchange)
            try:
                row = await asyncio.shield(asyncio.wrap_future(writing))
            except asyncio.CancelledError:  # the job is stopping (Ctrl-C): what was downloaded is archived still
                if writing.exception() is None:  # waits for the write to end
                    store.save_capture(self.db, writing.result())
                raise
            store.save_capture(self.db, row)
            rows.append(row)
        return rows

    def _stored_captures(self, url: str, source: sources.Source) -> dict[str, Capture]:
        """Successful captures made for this URL by an earlier, interrupted run, so a resumed job does
        not fetch them again (an error answer, a 503 say, is asked for again)."""
        return stored_captures(self.db, warc_dir_for(self.db_path), url, source, successful=True)

    def _record(self, url: str, source_name: str, result: Thread | Listing,
                captures: Mapping[str, Capture]) -> tuple[str, list[tuple[str, str]]]:
        if isinstance(result, Listing):
            outcome = f"listed {len(result.thread_urls)} threads"
            new_work = self._enqueue_discovered(url, source_name, result.thread_urls)
            mark(self.db, url, "done", reason=outcome)
            self.report.listed.append(url)
            return outcome, new_work
        saved = store.save_thread(self.db, result, captured_at=_latest(captures), capture_ids=_ids(captures))
        if saved.forgotten:
            mark(self.db, url, "done", reason=FORGOTTEN)
            self.report.unchanged.append(url)
            return FORGOTTEN, []
        mark(self.db, url, "done", thread_id=result.id)
        (self.report.unchanged if saved.unchanged else self.report.archived).append(url)
        outcome = "unchanged" if saved.unchanged else f"archived {len(result.posts)} posts"
        if self.options.follow:
            return outcome, self._enqueue_discovered(url, source_name, result.discovered)
        return outcome, []

    def _enqueue_discovered(self, page: str, source_name: str, urls: Iterable[str]) -> list[tuple[str, str]]:
        """Queue the thread URLs found on a page, but none that would lead the job off the source's
        hosts or into a private network; those are reported as refused."""
        source = sources.by_name(source_name)
        allowed = []
        for url in urls:
            reason = refusal(url, page, source)
            if reason:
                self.report.refused.append((url, reason))
            else:
                allowed.append(url)
        queued = enqueue(self.db, allowed, forced_source=source_name, discovered_from=page)
        self.report.failed.extend(queued.rejected)
        return queued.pending

    def _fail(self, url: str, reason: str) -> None:
        mark(self.db, url, "failed", reason=reason)
        self.report.failed.append((url, reason))


def capture_from_exchange(exchange: Exchange, row: Mapping) -> Capture:
    encoding = exchange.header("content-encoding")
    try:
        body = decode_body(exchange.body, encoding)
    except ValueError as error:
        raise FetchError(exchange.url, f"undecodable body: {error}", status=exchange.status) from None
    return Capture(exchange.url, exchange.status, exchange.response_headers, body, exchange.fetched_at, row["id"])


def stored_captures(
    db: sqlite_utils.Database, warc_dir: Path, url: str, source: sources.Source, *, before: str | None = None,
    successful: bool = False,
) -> dict[str, Capture]:
    """What the archive already holds for ``url``: the latest capture of each URL its plan asks for,
    optionally only those fetched before a moment, or only 2xx answers.  Stops where the plan asks for
    something not captured."""
    captures: dict[str, Capture] = {}
    for _ in range(MAX_PLAN_STEPS):
        todo = [next_url for next_url in source.plan(url, captures) if next_url not in captures]
        rows = [latest_capture_row(db, next_url, before=before, successful=successful) for next_url in todo]
        if not todo or None in rows:
            break
        for next_url, row in zip(todo, rows):
            captures[next_url] = read_capture(warc_dir, row)
    return captures


def latest_capture_row(
    db: sqlite_utils.Database, url: str, *, before: str | None = None, successful: bool = False
) -> dict | None:
    sql = "SELECT * FROM captures WHERE url = ?" + (" AND fetched_at < ?" if before else "")
    sql += " AND status BETWEEN 200 AND 299" if successful else ""
    sql += " ORDER BY fetched_at DESC, rowid DESC LIMIT 1"
    rows = list(db.query(sql, [url, before] if before else [url]))
    return rows[0] if rows else None


def capture_generations(db: sqlite_utils.Database, warc_dir: Path, url: str, source: sources.Source) -> Iterator[dict[str, Capture]]:
    """Each time ``url`` was captured, oldest first: the captures as they stood after that fetch."""
    first_step = source.plan(url, {})
    if not first_step:
        return
    anchors = [row[0] for row in db.execute(
        "SELECT DISTINCT fetched_at FROM captures WHERE url = ? ORDER BY fetched_at", [first_step[0]])]
    seen: set[tuple[str, ...]] = set()
    for bound in anchors[1:] + [None]:
        captures = stored_captures(db, warc_dir, url, source, before=bound)
        key = tuple(sorted(_ids(captures)))
        if captures and key not in seen:
            seen.add(key)
            yield captures


Replayed = tuple[str, int, str | None]  # a URL replayed: the threads saved, and the last error
Parse = tuple[Mapping[str, Capture], Future[Thread | Listing]]  # captures, and their parsing: going on or done


@contextmanager
def replaying(db: sqlite_utils.Database, db_path: Path, options: JobOptions, url_count: int) -> Iterator[Replays]:
    """Replays of so many URLs, with ``options.parse_workers`` parse processes if PARSE_POOL_FROM or more."""
    workers = options.parse_workers if url_count >= PARSE_POOL_FROM else 0
    with _parse_processes(workers) as parsers:
        yield Replays(db, db_path, options, parsers, ahead=PARSES_IN_HAND * workers)


class Replays:
    """Replay stored captures URL after URL (a reparse, a WARC import): each URL's capture generations,
    oldest first, are read and parsed and their threads saved, in the order the URLs are added.

    Without parse processes a URL is replayed as it is added, one generation after the other.  With
    them, its generations are read and handed to the processes at once, and saved once ``ahead`` more
    URLs are in their hands.  ``add``, ``add_other`` and ``drain`` return the URLs replayed by then.
    """

    def __init__(self, db: sqlite_utils.Database, db_path: Path, options: JobOptions, parsers: Executor | None, *,
                 ahead: int) -> None:
        self.db, self.warc_dir, self.options, self.parsers, self.ahead = db, warc_dir_for(db_path), options, parsers, ahead
        self._started: deque[tuple[str, Callable[[], tuple[int, str | None]]]] = deque()

    def add(self, url: str, source_name: str) -> list[Replayed]:
        parses = self._parses(url, source_name)
        if self.parsers is not None:
            parses = _read_ahead(parses)
        return self.add_other(url, lambda: self._save(url, parses))

    def add_other(self, url: str, replay: Callable[[], tuple[int, str | None]]) -> list[Replayed]:
        """Replay a URL some other way (an imported file read again) in its turn, after those added before."""
        self._started.append((url, replay))
        return [self._finish_next() for _ in range(len(self._started) - self.ahead)]

    def drain(self) -> list[Replayed]:
        return [self._finish_next() for _ in range(len(self._started))]

    def _finish_next(self) -> Replayed:
        url, replay = self._started.popleft()
        return (url, *replay())

    def _parses(self, url: str, source_name: str) -> Iterator[Parse]:
        """Each capture generation of the URL, oldest first, with its parsing."""
        source = sources.by_name(source_name)
        for captures in capture_generations(self.db, self.warc_dir, url, source):
            yield captures, self._parse_later(source, url, captures)

    def _parse_later(self, source: sources.Source, url: str, captures: Mapping[str, Capture]) -> Future[Thread | Listing]:
        if self.parsers is not None:
            try:
                return self.parsers.submit(_parse_by_name, source.NAME, url, captures, self.options)
            except BrokenProcessPool:  # a parse process died (killed, out of memory): the rest are parsed here
                self.parsers = None
        parsed: Future[Thread | Listing] = Future()  # done already; any error but a ThreadvaultError is a bug, raised
        try:
            parsed.set_result(_parse(source, url, captures, self.options))
        except ThreadvaultError as error:
            parsed.set_exception(error)
        return parsed

    def _save(self, url: str, parses: Iterator[Parse]) -> tuple[int, str | None]:
        saved, last_error = 0, None
        try:
            for captures, parsed in parses:
                try:
                    result = parsed.result()
                except NotAThread as error:  # e.g. an old capture of an error page
                    last_error = str(error)
                    continue
                except BrokenProcessPool:  # the process died with it in hand, maybe because of it: not parsed here
                    raise NotAThread(url, PARSE_PROCESS_DIED) from None
                if isinstance(result, Thread):
                    store.save_thread(self.db, result, captured_at=_latest(captures), capture_ids=_ids(captures))
                    saved += 1
        except ThreadvaultError as error:
            return saved, str(error)
        return saved, last_error


def _read_ahead(parses: Iterator[Parse]) -> Iterator[Parse]:
    """Every item at once, so that all their parsing starts, handed on later; an error reading them
    is raised after the items read before it."""
    read: list[Parse] = []
    try:
        read.extend(parses)
    except ThreadvaultError as error:
        failure: ThreadvaultError | None = error
    else:
        failure = None

    def later() -> Iterator[Parse]:
        yield from read
        if failure:
            raise failure

    return later()


def _replay_import(db: sqlite_utils.Database, db_path: Path, url: str, format_name: str,
                   file_name: str) -> tuple[int, str | None]:
    """Read an imported file again from its resource record and save its threads as of its import:
    (threads saved, last error).  Bad records were reported by the import and are not again."""
    row = latest_capture_row(db, url)
    if row is None:
        return 0, None  # purged on request (forget --purge-captures)
    saved = 0
    errors: list[ThreadvaultError] = []
    try:
        file_format = sources.format_by_name(format_name)
        with _payload_file(db_path, row, file_name) as path:
            threads = file_format.read(path, errors)
            for _ in store.save_all(db, threads, captured_at=row["fetched_at"], capture_ids=[row["id"]]):
                saved += 1
    except ThreadvaultError as error:
        return saved, str(error)
    return saved, str(errors[-1]) if errors else None


@contextmanager
def _payload_file(db_path: Path, row: Mapping, file_name: str) -> Iterator[Path]:
    """A stored file as a file of its own again, named as it was imported (readers want a path; a zip
    must be seekable).  It is written beside the archive, which has room for it: /tmp may be memory."""
    with tempfile.TemporaryDirectory(prefix=".threadvault-reparse-", dir=Path(db_path).parent) as scratch:
        path = Path(scratch) / (Path(file_name).name or "import")
        with open(path, "wb") as out:
            capture_store.copy_payload(warc_dir_for(db_path), row, out)
        yield path


def reparse(db_path: Path, *, with_replies: bool = False, parse_workers: int = 0,
            progress: Progress | None = None) -> JobReport:
    """Rebuild threads and posts from the stored captures alone, replaying every capture in time order
    and reading every imported file again; pages are parsed by ``parse_workers`` processes when there
    are PARSE_POOL_FROM or more URLs to replay."""
    db = store.open_archive(db_path)
    progress = progress or (lambda *args, **kwargs: None)
    report = JobReport()
    formats = {file_format.NAME for file_format in sources.FORMATS}
    done = db.execute("SELECT url, source, discovered_from FROM queue WHERE status = 'done' ORDER BY added_at, url").fetchall()
    pages = sum(source_name not in formats for _, source_name, _ in done)
    options = JobOptions(with_replies=with_replies, parse_workers=parse_workers)
    with replaying(db, db_path, options, url_count=pages) as replays:
        for url, source_name, discovered_from in done:
            if source_name in formats:
                replayed = replays.add_other(url, partial(_replay_import, db, db_path, url, source_name, discovered_from or ""))
            else:
                replayed = replays.add(url, source_name)
            for done_url, saved, error in replayed:
                _report_replay(report, progress, done_url, saved, error)
        for url, saved, error in replays.drain():
            _report_replay(report, progress, url, saved, error)
    return report


def _report_replay(report: JobReport, progress: Progress, url: str, saved: int, error: str | None) -> None:
    if error and not saved:
        report.failed.append((url, error))
        progress(url, f"failed: {error}")
    else:
        (report.archived if saved else report.listed).append(url)
        progress(url, f"reparsed {saved} capture sets")


@contextmanager
def _parse_processes(workers: int) -> Iterator[Executor | None]:
    """Processes that parse pages for a fetch job or replays; None for none.  Spawned, not forked: the job
    runs threads (the WARC writer's, the DNS lookups'), which a fork would copy mid-step."""
    if workers == 0:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_serve_the_job, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:  # Ctrl-C, say: the pages not yet being parsed are dropped, not parsed for nothing
        pool.shutdown(cancel_futures=True)
        raise
    finally:
        pool.shutdown()


def _serve_the_job(job: int) -> None:
    """Set up a parse process.  Ctrl-C reaches every process of the terminal's job: the fetch job
    stops and lets its parse processes finish the pages they hold.  A job killed outright cannot
    stop them, so each watches for the job to be gone and ends then."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(job,), name="watch the job", daemon=True).start()


def _end_with(job: int) -> None:
    while os.getppid() == job:  # a process whose parent dies is given another
        time.sleep(JOB_WATCH_INTERVAL)
    os._exit(0)


def _parse_by_name(source_name: str, url: str, captures: Mapping[str, Capture], options: JobOptions) -> Thread | Listing:
    return _parse(sources.by_name(source_name), url, captures, options)


def _parse(source: sources.Source, url: str, captures: Mapping[str, Capture], options: JobOptions) -> Thread | Listing:
    if options.with_replies and source.NAME in sources.REPLY_SOURCES:
        return source.parse(url, captures, with_replies=True)  # type: ignore[call-arg]
    return source.parse(url, captures)


def mark(db: sqlite_utils.Database, url: str, status: str, *, reason: str | None = None, thread_id: str | None = None) -> None:
    with db.conn:
        db.execute(
            "UPDATE queue SET status = ?, reason = ?, thread_id = coalesce(?, thread_id), updated_at = ?, "
            "attempts = attempts + 1 WHERE url = ?",
            [status, reason, thread_id, now(), url],
        )


def _latest(captures: Mapping[str, Capture]) -> str:
    return max(capture.fetched_at for capture in captures.values())


def _ids(captures: Mapping[str, Capture]) -> list[str]:
    return [capture.id for capture in captures.values() if capture.id]


@dataclass
class VerifyReport:
    checked: int = 0
    corrupt: list[CaptureCorrupt] = field(default_factory=list)
    unindexed: list[dict] = field(default_factory=list)
    reindexed: int = 0
    cut_off: list[CaptureCorrupt] = field(default_factory=list)  # last records of killed runs' files: harmless


def verify(db_path: Path, *, reindex: bool = False) -> VerifyReport:
    """Re-read every indexed record and check its digest; find records on disk the index lacks.

    A record cut off at the end of a file, after every indexed record of that file, is what a run
    killed in the middle of writing it leaves.  It was never indexed (a row is committed only once
    its record is on disk), so it is reported apart, as ``cut_off``; any other damage is corrupt.
    """
    db = store.open_archive(db_path)
    warc_dir = warc_dir_for(db_path)
    rows = list(db.query("SELECT * FROM captures ORDER BY warc_file, offset"))
    report = VerifyReport(checked=len(rows))
    report.corrupt = list(capture_store.verify(warc_dir, rows))
    damaged: list[CaptureCorrupt] = []
    for row in capture_store.unindexed(warc_dir, {row["id"] for row in rows}, damaged):
        report.unindexed.append(row)
        if reindex:
            store.save_capture(db, row)
            report.reindexed += 1
    indexed_end = {str(warc_dir / row["warc_file"]): row["offset"] + row["length"] for row in rows}  # the last row wins
    for damage in damaged:
        after_indexed = damage.offset is not None and damage.offset >= indexed_end.get(damage.file, 0)
        if after_indexed and capture_store.is_cut_off(damage):
            report.cut_off.append(damage)
        elif not any((problem.file, problem.offset) == (damage.file, damage.offset) for problem in report.corrupt):
            report.corrupt.append(damage)
    return report
