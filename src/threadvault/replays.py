"""Replays: threads rebuilt from the captures the archive holds, URL after URL (``reparse``, a WARC import).

Each URL's capture generations (the captures as they stood after each fetch)
are read back from the WARC files, oldest first, parsed and saved, as a fetch
did; an imported file in a format is read again from its resource record.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import sqlite_utils

from threadvault import captures as capture_store
from threadvault import parsing, sources, store
from threadvault.errors import NotAThread, ThreadvaultError
from threadvault.jobs import (
    JobOptions,
    JobReport,
    Progress,
    capture_ids,
    captured_at,
    latest_capture_row,
    stored_captures,
    warc_dir_for,
)
from threadvault.model import Capture, Listing, Thread

SAVED_AT_ONCE = 50  # consecutive URLs, or their threads, whichever reach it first, saved in one transaction
# Pages a replay keeps in the hands of each parse process: enough to keep it parsing while the command
# saves a batch (saving a page's thread takes about a third of the time parsing it does).
PARSES_IN_HAND = 20


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
        key = tuple(sorted(capture_ids(captures)))
        if captures and key not in seen:
            seen.add(key)
            yield captures


Parse = tuple[Mapping[str, Capture], Future[Thread | Listing]]  # captures, and their parsing: going on or done
Save = tuple[Thread, str, list[str]]  # a thread, when its captures were made, their ids: as store.save_threads takes it
# Told of each URL once it is replayed: how many threads were saved (none if it must be replayed again) and
# the last error; in the transaction that saves them, but for an imported file read again (add_other).
Replayed = Callable[[str, int, str | None], None]


@contextmanager
def replaying(db: sqlite_utils.Database, db_path: Path, options: JobOptions, *, url_count: int,
              replayed: Replayed) -> Iterator[Replays]:
    """Replays of so many URLs, with ``options.parse_workers`` parse processes if PARSE_POOL_FROM or more;
    the URLs still in hand are replayed when the block ends, unless it ends by an error (Ctrl-C)."""
    workers = options.parse_workers if url_count >= parsing.PARSE_POOL_FROM else 0
    with parsing.parse_processes(workers) as parsers:
        replays = Replays(db, db_path, options, parsers, replayed, pages_ahead=PARSES_IN_HAND * workers)
        yield replays
        replays.drain()


class Replays:
    """Replay stored captures URL after URL (a reparse, a WARC import): each URL's capture generations,
    oldest first, are read and parsed and their threads saved, in the order the URLs are added.

    The threads of consecutive URLs are saved together (``store.save_threads``), in batches of
    SAVED_AT_ONCE URLs or threads, and ``replayed`` is told of each of those URLs in the same
    transaction, so what it writes (an import's queue rows) commits with their threads or not at all.
    An imported file read again (``add_other``) saves its own threads, once those of the URLs before
    it are saved.

    Without parse processes a URL is replayed as it is added, one generation after the other.  With
    them, its generations are read and handed to the processes at once, and taken back once
    ``pages_ahead`` more pages are in their hands.  A page lost with a parse process that died fails
    its URL whole, nothing of it saved, to be replayed again by the next run; the pages not yet
    handed over are parsed here.
    """

    def __init__(self, db: sqlite_utils.Database, db_path: Path, options: JobOptions, parsers: Executor | None,
                 replayed: Replayed, *, pages_ahead: int) -> None:
        self.db, self.warc_dir, self.options, self.parsers = db, warc_dir_for(db_path), options, parsers
        self.replayed, self.pages_ahead = replayed, pages_ahead
        self._started: deque[tuple[int, Callable[[], None]]] = deque()  # pages, replay: in the order added
        self._pages = 0  # in the parse processes' hands
        self._unsaved: list[Save] = []  # threads taken, in order
        self._untold: list[tuple[str, int, str | None]] = []  # their URLs: url, threads taken, last error

    def add(self, url: str, source_name: str) -> None:
        if self.parsers is None:
            self._queue(0, lambda: self._take(url, self._parses(url, source_name)))
            return
        parses: list[Parse] = []
        failure = None
        try:
            parses.extend(self._parses(url, source_name))
        except ThreadvaultError as error:  # the generations read before it are still saved
            failure = error
        self._queue(len(parses), lambda: self._take(url, parses, failure))

    def add_other(self, url: str, replay: Callable[[], tuple[int, str | None]]) -> None:
        """Replay a URL some other way (an imported file read again) in its turn, after those added before."""
        def in_its_turn() -> None:
            self._save()
            self.replayed(url, *replay())

        self._queue(0, in_its_turn)

    def drain(self) -> None:
        while self._started:
            self._replay_next()
        self._save()

    def _queue(self, pages: int, replay: Callable[[], None]) -> None:
        self._started.append((pages, replay))
        self._pages += pages
        while self._started and (self.parsers is None or self._pages > self.pages_ahead):
            self._replay_next()

    def _replay_next(self) -> None:
        pages, replay = self._started.popleft()
        self._pages -= pages
        replay()

    def _parses(self, url: str, source_name: str) -> Iterator[Parse]:
        """Each capture generation of the URL, oldest first, with its parsing."""
        source = sources.by_name(source_name)
        for captures in capture_generations(self.db, self.warc_dir, url, source):
            yield captures, self._parse_later(source, url, captures)

    def _parse_later(self, source: sources.Source, url: str, captures: Mapping[str, Capture]) -> Future[Thread | Listing]:
        with_replies = self.options.with_replies
        if self.parsers is not None:
            try:
                return self.parsers.submit(parsing.parse_by_name, source.NAME, url, captures, with_replies=with_replies)
            except BrokenProcessPool:  # a parse process died (killed, out of memory): the rest are parsed here
                self.parsers = None
        parsed: Future[Thread | Listing] = Future()  # done already; any error but a ThreadvaultError is a bug, raised
        try:
            parsed.set_result(parsing.parse(source, url, captures, with_replies=with_replies))
        except ThreadvaultError as error:
            parsed.set_exception(error)
        return parsed

    def _take(self, url: str, parses: Iterable[Parse], failure: ThreadvaultError | None = None) -> None:
        """Take each generation's thread to be saved; ``failure``: an error reading the generations after these."""
        threads, last_error = self._threads(url, parses, failure)
        self._unsaved += threads
        self._untold.append((url, len(threads), last_error))
        if max(len(self._unsaved), len(self._untold)) >= SAVED_AT_ONCE:
            self._save()

    def _threads(self, url: str, parses: Iterable[Parse], failure: ThreadvaultError | None) -> tuple[list[Save], str | None]:
        threads: list[Save] = []
        last_error = None
        try:
            for captures, parsed in parses:
                try:
                    result = parsed.result()
                except NotAThread as error:  # e.g. an old capture of an error page
                    last_error = str(error)
                    continue
                except BrokenProcessPool:  # lost with a process that died, maybe because of it: not parsed here
                    return [], str(NotAThread(url, parsing.PROCESS_DIED))
                if isinstance(result, Thread):
                    threads.append((result, captured_at(captures), capture_ids(captures)))
            if failure:
                raise failure
        except ThreadvaultError as error:
            return threads, str(error)
        return threads, last_error

    def _save(self) -> None:
        """Save the threads taken, and tell of their URLs, in one transaction."""
        unsaved, untold, self._unsaved, self._untold = self._unsaved, self._untold, [], []
        if not untold:
            return
        with self.db.atomic():
            store.save_threads(self.db, unsaved)
            for url, saved, last_error in untold:
                self.replayed(url, saved, last_error)


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
    replayed = partial(_report_replay, report, progress)
    with replaying(db, db_path, options, url_count=pages, replayed=replayed) as replays:
        for url, source_name, discovered_from in done:
            if source_name in formats:
                replays.add_other(url, partial(_replay_import, db, db_path, url, source_name, discovered_from or ""))
            else:
                replays.add(url, source_name)
    return report


def _report_replay(report: JobReport, progress: Progress, url: str, saved: int, error: str | None) -> None:
    if error and not saved:
        report.failed.append((url, error))
        progress(url, f"failed: {error}")
    else:
        (report.archived if saved else report.listed).append(url)
        progress(url, f"reparsed {saved} capture sets")
