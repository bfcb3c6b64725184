"""Loops that join the stages: the fetch job with its resumable queue, and verify (reparse: replays.py;
imports: imports.py; parsing in processes of their own: parsing.py).

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
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import sqlite_utils

from threadvault import captures as capture_store
from threadvault import parsing, sources, store
from threadvault.captures import decode_body, read_capture
from threadvault.errors import ArchiveBusy, CaptureCorrupt, FetchError, NotAThread, ThreadvaultError
from threadvault.fetch import Exchange, Fetcher, FetchSettings, non_public_address
from threadvault.model import Capture, Listing, Thread, iso_utc
from threadvault.warcwriter import WarcWriter

FORGOTTEN = "forgotten on request"  # the queue reason of a URL whose thread was forgotten (forget.py)
MAX_PLAN_STEPS = 200  # fetch rounds for one URL: a safety net against a plan that never ends


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
    parse_workers: int = 0  # processes parsing pages while the command stores (parsing.py); 0: it parses them


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
        parse_workers = self.options.parse_workers if work.qsize() >= parsing.PARSE_POOL_FROM else 0
        async with self.fetcher or Fetcher(self.settings) as fetcher:
            with (WarcWriter(warc_dir_for(self.db_path)) as warc, ThreadPoolExecutor(1, "warc") as thread,
                  parsing.parse_processes(parse_workers) as self.parsers):  # they end their pages before the job ends
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
        with_replies = self.options.with_replies
        if self.parsers is not None:
            try:
                parsed = asyncio.get_running_loop().run_in_executor(
                    self.parsers, partial(parsing.parse_by_name, source.NAME, url, captures, with_replies=with_replies))
            except BrokenProcessPool:  # a parse process died (killed, out of memory): the job parses the rest
                self.parsers = None
            else:
                try:
                    return await parsed
                except BrokenProcessPool:  # it died with this page in hand, maybe because of it: not parsed here
                    self.parsers = None
                    raise NotAThread(url, parsing.PROCESS_DIED) from None
        return parsing.parse(source, url, captures, with_replies=with_replies)

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
        saved = store.save_thread(self.db, result, captured_at=captured_at(captures), capture_ids=capture_ids(captures))
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


def mark(db: sqlite_utils.Database, url: str, status: str, *, reason: str | None = None, thread_id: str | None = None) -> None:
    """Set a URL's queue status, committed at once unless in the caller's transaction."""
    with db.atomic():
        db.execute(
            "UPDATE queue SET status = ?, reason = ?, thread_id = coalesce(?, thread_id), updated_at = ?, "
            "attempts = attempts + 1 WHERE url = ?",
            [status, reason, thread_id, now(), url],
        )


def captured_at(captures: Mapping[str, Capture]) -> str:
    """When the last of the captures was made: the time a thread parsed from them is saved as of."""
    return max(capture.fetched_at for capture in captures.values())


def capture_ids(captures: Mapping[str, Capture]) -> list[str]:
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
