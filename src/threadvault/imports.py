"""Imports: collections archivists already have, brought into the archive.

A WARC file's response records are indexed where they lie (file and offset)
and parsed by the sources that recognise their URLs, as a fetch would.  A file
in another format (twarc JSONL, a Twitter archive, plain text) is first kept
whole in the archive's own WARC files as a resource record, then read by its
format, so `threadvault reparse` can read it again from the archive alone.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from threadvault import captures as capture_store
from threadvault import sources, store
from threadvault.errors import CaptureCorrupt, ThreadvaultError
from threadvault.jobs import JobOptions, Progress, enqueue_one, latest_capture_row, mark, now, warc_dir_for
from threadvault.replays import replaying
from threadvault.warcwriter import FileDigest, WarcWriter, import_uri


@dataclass
class ImportReport:
    path: str
    format: str
    saved: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    errors: list[ThreadvaultError] = field(default_factory=list)
    already_archived: bool = False  # the same bytes were imported before: their record was reused


WARC_FORMAT = "warc"
# How an imported file is labelled in its record (a zip is application/zip), for people and tools reading it.
MEDIA_TYPES = {"twarc": "application/x-ndjson", "twitter-archive": "text/javascript", "text": "text/plain; charset=utf-8"}


def import_file(db_path: Path, path: Path, *, forced_format: str | None = None, forced_source: str | None = None,
                parse_workers: int = 0, progress: Progress | None = None) -> ImportReport:
    """Bring a collection into the archive: a WARC file through the sources, any other format through its
    reader.  A WARC file's pages are parsed by ``parse_workers`` processes when it holds enough of them
    (parsing.PARSE_POOL_FROM)."""
    progress = progress or (lambda *args, **kwargs: None)
    db = store.open_archive(db_path)
    if forced_format == WARC_FORMAT or (forced_format is None and capture_store.is_warc(path)):
        return _import_warc(db, db_path, path, forced_source, parse_workers, progress)
    return _import_format(db, db_path, Path(path), sources.sniff(path, forced_format), progress)


def _import_format(db: sqlite_utils.Database, db_path: Path, path: Path, file_format: sources.FileFormat,
                   progress: Progress) -> ImportReport:
    """Keep the file in a WARC resource record (once: the same bytes imported again reuse theirs), then
    save each thread read from it with that record as its capture and its time as the capture time."""
    report = ImportReport(str(path), file_format.NAME)
    row, report.already_archived = _archive_file(db, db_path, path, file_format)
    errors: list = []
    threads = file_format.read(path, errors)
    try:
        for saved in store.save_all(db, threads, captured_at=row["fetched_at"], capture_ids=[row["id"]]):
            if saved.unchanged:
                report.unchanged += 1
            else:
                report.saved += 1
            progress(saved.thread_id, "unchanged" if saved.unchanged else "saved")
    except ThreadvaultError as failure:  # what was read before it is saved
        _record_import(db, row["url"], file_format.NAME, path.name, "failed", str(failure))
        raise
    _record_import(db, row["url"], file_format.NAME, path.name, "done")
    report.errors.extend(errors)
    return report


def _archive_file(db: sqlite_utils.Database, db_path: Path, path: Path,
                  file_format: sources.FileFormat) -> tuple[dict, bool]:
    """The index row of the file's resource record, and whether it was there already."""
    digest = FileDigest.of(path)
    uri = import_uri(digest.sha256)
    stored = latest_capture_row(db, uri)
    if stored:
        return stored, True
    media_type = "application/zip" if zipfile.is_zipfile(path) else MEDIA_TYPES.get(file_format.NAME, "application/octet-stream")
    with WarcWriter(warc_dir_for(db_path)) as warc:
        row = warc.write_resource(path, digest, uri=uri, content_type=media_type, fetched_at=now())
    store.save_capture(db, row)
    return row, False


def _record_import(db: sqlite_utils.Database, uri: str, format_name: str, file_name: str, status: str,
                   reason: str | None = None) -> None:
    """The queue row through which ``reparse`` finds an imported file."""
    stamp = now()
    with db.conn:
        db.execute(
            "INSERT INTO queue (url, source, status, attempts, reason, discovered_from, added_at, updated_at) "
            "VALUES (?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET source = excluded.source, "
            "status = excluded.status, reason = excluded.reason, attempts = attempts + 1, updated_at = excluded.updated_at",
            [uri, format_name, status, reason, file_name, stamp, stamp],
        )


def _import_warc(db: sqlite_utils.Database, db_path: Path, path: Path, forced_source: str | None,
                 parse_workers: int, progress: Progress) -> ImportReport:
    """Index a crawler's WARC records by reference, then parse every thread a source recognises in them."""
    report = ImportReport(str(path), WARC_FORMAT)
    thread_urls: dict[str, str] = {}
    damaged: list[CaptureCorrupt] = []
    other_records: dict[str, int] = {}
    records = capture_store.iter_captures(path, warc_dir=warc_dir_for(db_path), damaged=damaged, skipped=other_records)
    for row, capture in records:
        store.save_capture(db, row)
        if capture.status != 200:
            _count(report.skipped, f"HTTP {capture.status} responses")
            continue
        try:
            source = sources.for_url(capture.url, forced_source)
            thread_urls.setdefault(source.canonical_url(capture.url), source.NAME)
        except ThreadvaultError:
            _count(report.skipped, "responses no source recognises")
    report.errors.extend(damaged)
    if other_records.get("revisit"):
        report.skipped["revisit records"] = other_records["revisit"]

    def replayed(url: str, saved: int, error: str | None) -> None:  # queued only now: never left pending for a fetch
        enqueue_one(db, url, thread_urls[url], refetch=False, discovered_from=str(path))
        if saved:
            mark(db, url, "done")
            report.saved += 1
        else:
            reason = error or f"{url}: not a thread: no complete capture in the file"
            mark(db, url, "failed", reason=reason)
            report.errors.append(ThreadvaultError(reason))
        progress(url, "saved" if saved else "failed")

    options = JobOptions(parse_workers=parse_workers)
    with replaying(db, db_path, options, url_count=len(thread_urls), replayed=replayed) as replays:
        for url, source_name in thread_urls.items():
            replays.add(url, source_name)
    return report


def _count(counter: dict[str, int], reason: str) -> None:
    counter[reason] = counter.get(reason, 0) + 1
