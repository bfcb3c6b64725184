import asyncio
import hashlib
import itertools
import json
import random
import shutil
import sqlite3
import threading
import time
import tracemalloc
import zipfile
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator
from werkzeug import Response

from pagegen import REAL_PAGE, generated_thread, thread_page
from threadvault import imports, jobs, parsing, replays, sources, store
from threadvault.warcwriter import WarcWriter
from threadvault.errors import ArchiveBusy, NotAThread, ThreadvaultError
from threadvault.fetch import Exchange, Fetcher, FetchSettings
from threadvault.model import Listing
from threadvault.sources import twarc

SETTINGS = FetchSettings(delay=0, retries=1, backoff=0.01, concurrency=2)
PARSED_TABLES = ["threads", "posts", "authors", "hashtags", "post_hashtags", "mentions", "links", "media", "thread_captures"]


def run_job(db_path: Path, urls, *, refetch=False, source="threadreaderapp", at: datetime | None = None):
    """The fetch command's job; ``at``: the time its requests are sent, as its clock tells."""
    db = store.open_archive(db_path)
    queued = jobs.enqueue(db, list(urls), forced_source=source, refetch=refetch)
    fetcher = Fetcher(SETTINGS, clock=lambda: at) if at else None
    report = asyncio.run(jobs.FetchJob(db_path, SETTINGS, jobs.JobOptions(refetch=refetch), fetcher=fetcher).run())
    report.failed[:0] = queued.rejected
    return report


def serve_threads(httpserver, threads):
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for thread in threads:
        httpserver.expect_request(f"/thread/{thread.root_id}.html").respond_with_data(
            thread.html, content_type="text/html; charset=utf-8")
    return [httpserver.url_for(f"/thread/{thread.root_id}.html") for thread in threads]


def requests_for(httpserver, path):
    return [request for request, _ in httpserver.log if request.path == path]


def table_rows(db_path, table):
    conn = sqlite3.connect(db_path)
    try:
        return sorted(conn.execute(f"SELECT * FROM [{table}]").fetchall(), key=repr)
    finally:
        conn.close()


def without_parsed_rows(db_path):
    db = store.open_archive(db_path)
    with db.conn:
        for table in PARSED_TABLES:
            db.execute(f"DELETE FROM [{table}]")


def test_fetch_archives_a_real_thread_page(httpserver, tmp_path):
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    httpserver.expect_request("/thread/1215710451343904768.html").respond_with_data(
        REAL_PAGE.read_bytes(), content_type="text/html; charset=utf-8")
    db_path = tmp_path / "db" / "threadvault.db"

    report = run_job(db_path, [httpserver.url_for("/thread/1215710451343904768.html?utm_source=x#tweet_3")])

    assert (len(report.archived), report.failed) == (1, [])
    db = store.open_archive(db_path)
    thread = db["threads"].get("twitter:1215710451343904768")
    assert (thread["post_count"], thread["author_id"], thread["source"]) == (102, "twitter:quinnypig", "threadreaderapp")
    first = db["posts"].get("twitter:1215710451343904768")
    assert first["position"] == 1 and first["text"].startswith("Okay. For every retweet")
    statuses = {row["url"].rsplit("/", 1)[-1]: row["status"] for row in db["captures"].rows}
    assert statuses == {"robots.txt": 200, "1215710451343904768.html": 200}
    assert list((tmp_path / "db" / "warc").glob("*.warc.gz"))
    assert [row["status"] for row in db["queue"].rows] == ["done"]


def test_an_archived_url_is_not_fetched_again_unless_refetch(httpserver, tmp_path):
    thread = generated_thread(1, posts=3)
    [url] = serve_threads(httpserver, [thread])
    db_path = tmp_path / "threadvault.db"

    run_job(db_path, [url])
    second = run_job(db_path, [url])
    assert (second.archived, second.unchanged) == ([], [])
    assert len(requests_for(httpserver, f"/thread/{thread.root_id}.html")) == 1

    third = run_job(db_path, [url], refetch=True)
    assert len(third.unchanged) == 1
    assert len(requests_for(httpserver, f"/thread/{thread.root_id}.html")) == 2


def test_a_bad_url_is_reported_and_the_job_goes_on(httpserver, tmp_path):
    good = generated_thread(2, posts=4)
    [good_url] = serve_threads(httpserver, [good])
    httpserver.expect_request("/thread/999.html").respond_with_data("Not found", status=404)
    httpserver.expect_request("/thread/998.html").respond_with_data("<html><body>Rate limited</body></html>",
                                                                    content_type="text/html")
    db_path = tmp_path / "threadvault.db"

    report = run_job(db_path, [httpserver.url_for("/thread/999.html"), good_url,
                               httpserver.url_for("/thread/998.html"), "https://example.org/not-a-thread"])

    assert report.archived == [good_url]
    reasons = dict(report.failed)
    assert "HTTP 404" in reasons[httpserver.url_for("/thread/999.html")]
    assert "not a thread" in reasons[httpserver.url_for("/thread/998.html")]
    assert "https://example.org/not-a-thread" in reasons
    queue = {row["url"]: row for row in store.open_archive(db_path)["queue"].rows}
    assert queue[httpserver.url_for("/thread/999.html")]["status"] == "failed"
    assert queue[httpserver.url_for("/thread/999.html")]["attempts"] == 1
    assert store.open_archive(db_path)["posts"].count == 4


def test_a_killed_job_resumes_without_refetching(httpserver, tmp_path, monkeypatch):
    threads = [generated_thread(index, posts=5) for index in range(5)]
    urls = serve_threads(httpserver, threads)
    db_path = tmp_path / "threadvault.db"
    real_save = store.save_thread
    calls = []

    def dying_save(db, thread, **kwargs):
        calls.append(thread.id)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process dies after the capture, before the thread is saved
        return real_save(db, thread, **kwargs)

    monkeypatch.setattr(store, "save_thread", dying_save)
    with pytest.raises(KeyboardInterrupt):
        run_job(db_path, urls)
    monkeypatch.setattr(store, "save_thread", real_save)
    archived = {url for url, in store.open_archive(db_path).execute("SELECT url FROM captures")}
    fetched_before = {url: len(requests_for(httpserver, urlsplit(url).path)) for url in urls}

    report = run_job(db_path, urls)

    db = store.open_archive(db_path)
    assert db["threads"].count == 5 and db["posts"].count == 25
    assert {row["status"] for row in db["queue"].rows} == {"done"}
    assert len(report.archived) == 3  # two had been saved before the kill
    # No page archived before the kill, the interrupted one included, is fetched again; only a download
    # still under way then (the other worker's) is made again.
    assert len(archived) >= 3
    fetched = {url: len(requests_for(httpserver, urlsplit(url).path)) for url in urls}
    assert fetched == {url: 1 if url in archived else fetched_before[url] + 1 for url in urls}


def test_urls_are_queued_all_or_none(tmp_path, monkeypatch):
    db = store.open_archive(tmp_path / "threadvault.db")
    urls = [f"https://threadreaderapp.com/thread/13000000000000000{n:02d}.html" for n in range(5)]
    real_for_url = sources.for_url

    def dying_for_url(url, forced=None):
        if url == urls[3]:
            raise KeyboardInterrupt
        return real_for_url(url, forced)

    monkeypatch.setattr(sources, "for_url", dying_for_url)
    with pytest.raises(KeyboardInterrupt):
        jobs.enqueue(db, urls)
    assert db["queue"].count == 0


def test_a_job_stopped_while_a_record_is_written_still_indexes_it(httpserver, tmp_path, monkeypatch):
    urls = serve_threads(httpserver, [generated_thread(0, posts=3)])
    db_path = tmp_path / "threadvault.db"
    jobs.enqueue(store.open_archive(db_path), urls, forced_source="threadreaderapp")
    writing, real_write = threading.Event(), WarcWriter.write

    def slow_write(warc, exchange):
        writing.set()
        time.sleep(0.2)
        return real_write(warc, exchange)

    async def stop_while_writing():
        job = asyncio.create_task(jobs.FetchJob(db_path, SETTINGS, jobs.JobOptions()).run())
        while not writing.is_set():
            await asyncio.sleep(0.001)
        job.cancel()  # what Ctrl-C does
        with pytest.raises(asyncio.CancelledError):
            await job

    monkeypatch.setattr(WarcWriter, "write", slow_write)
    asyncio.run(stop_while_writing())

    report = jobs.verify(db_path)
    assert (report.checked, report.unindexed, report.corrupt) == (1, [], [])


def test_a_recapture_adds_new_posts_in_place(httpserver, tmp_path):
    root = "1300000000000000000"
    bodies = ["first post", "second post"]
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    pages = iter([thread_page(root, "archivist", bodies), thread_page(root, "archivist", bodies + ["third post"])])
    httpserver.expect_request(f"/thread/{root}.html").respond_with_handler(
        lambda request: Response(next(pages), content_type="text/html"))
    url = httpserver.url_for(f"/thread/{root}.html")
    db_path = tmp_path / "threadvault.db"

    run_job(db_path, [url])
    run_job(db_path, [url], refetch=True)

    db = store.open_archive(db_path)
    assert [row["text"] for row in db.query("SELECT text FROM posts ORDER BY position")] == bodies + ["third post"]
    assert db["threads"].get(f"twitter:{root}")["post_count"] == 3
    assert db["queue"].count == 1


def test_reparse_rebuilds_the_same_rows_from_captures_alone(httpserver, tmp_path):
    urls = serve_threads(httpserver, [generated_thread(index, posts=6) for index in range(3)])
    db_path = tmp_path / "threadvault.db"
    run_job(db_path, urls)
    before = {table: table_rows(db_path, table) for table in PARSED_TABLES}
    without_parsed_rows(db_path)
    httpserver.clear()  # no network from here on

    report = replays.reparse(db_path)

    assert report.failed == []
    assert {table: table_rows(db_path, table) for table in PARSED_TABLES} == before


def test_verify_finds_a_corrupted_record(httpserver, tmp_path):
    [url] = serve_threads(httpserver, [generated_thread(7, posts=3)])
    db_path = tmp_path / "threadvault.db"
    run_job(db_path, [url])
    assert jobs.verify(db_path).corrupt == []

    row = next(row for row in store.open_archive(db_path)["captures"].rows if row["url"] == url)
    warc = tmp_path / "warc" / row["warc_file"]
    data = bytearray(warc.read_bytes())
    data[row["offset"] + row["length"] // 2] ^= 0xFF
    warc.write_bytes(bytes(data))

    problems = jobs.verify(db_path).corrupt
    assert len(problems) == 1 and problems[0].offset == row["offset"]


MIRROR = "http://127.0.0.1:8000/user/archivist"
TRA = "https://threadreaderapp.com/user/archivist"
NOT_FOLLOWED = "not followed: "


@pytest.mark.parametrize(
    "url, page, source, reason",
    [
        ("http://127.0.0.1:8000/thread/1.html", MIRROR, "threadreaderapp", None),  # the page's own host
        ("https://threadreaderapp.com/thread/1.html", MIRROR, "threadreaderapp", None),  # the source's host
        ("https://threadreaderapp.com/thread/1.html", TRA, "threadreaderapp", None),
        ("https://mastodon.example/@ana/111", "https://social.example/@mira/112", "mastodon", None),  # any instance
        ("http://127.0.0.1:8001/thread/1.html", MIRROR, "threadreaderapp", "127.0.0.1 is a loopback address"),
        ("http://127.0.0.1/thread/1.html", TRA, "threadreaderapp", "127.0.0.1 is a loopback address"),
        ("http://127.9.9.9/thread/1.html", TRA, "threadreaderapp", "127.9.9.9 is a loopback address"),
        ("http://127.1/thread/1.html", TRA, "threadreaderapp", "127.1 is a loopback address"),
        ("http://2130706433/thread/1.html", TRA, "threadreaderapp", "2130706433 is a loopback address"),
        ("http://0x7f.0.0.1/thread/1.html", TRA, "threadreaderapp", "0x7f.0.0.1 is a loopback address"),
        ("http://[::1]/thread/1.html", TRA, "threadreaderapp", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/thread/1.html", TRA, "threadreaderapp", "::ffff:127.0.0.1 is a loopback address"),
        ("http://localhost/thread/1.html", TRA, "threadreaderapp", "localhost is a loopback address"),
        ("http://10.0.0.8/thread/1.html", TRA, "threadreaderapp", "10.0.0.8 is a private address"),
        ("http://172.16.5.4/thread/1.html", TRA, "threadreaderapp", "172.16.5.4 is a private address"),
        ("http://172.31.255.255/thread/1.html", TRA, "threadreaderapp", "172.31.255.255 is a private address"),
        ("http://192.168.1.1/thread/1.html", TRA, "threadreaderapp", "192.168.1.1 is a private address"),
        ("http://[fd00::1]/thread/1.html", TRA, "threadreaderapp", "fd00::1 is a private address"),
        ("http://169.254.169.254/thread/1.html", TRA, "threadreaderapp", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/thread/1.html", TRA, "threadreaderapp", "fe80::1 is a link-local address"),
        ("http://100.64.0.1/thread/1.html", TRA, "threadreaderapp", "100.64.0.1 is not a public address"),
        ("https://10.0.0.8/@ana/111", "https://social.example/@mira/112", "mastodon", "10.0.0.8 is a private address"),
        ("https://evil.example/thread/1.html", MIRROR, "threadreaderapp",
         "not on a threadreaderapp host nor on 127.0.0.1, where it was found"),
        ("http://172.32.0.1/thread/1.html", TRA, "threadreaderapp",  # public, but not Thread Reader App's
         "not on a threadreaderapp host nor on threadreaderapp.com, where it was found"),
    ],
)
def test_discovered_urls_stay_on_the_source_and_off_private_networks(url, page, source, reason):
    assert jobs.refusal(url, page, sources.by_name(source)) == (reason and NOT_FOLLOWED + reason)


def author_page(hrefs: list[str]) -> bytes:
    """A minimal author page: a thread card per link, in the markup of the constructed fixtures."""
    cards = "".join(f'<div class="thread-card"><a class="tweet-url btn" href="{href}">Read 3 tweets</a></div>\n'
                    for href in hrefs)
    return f"<html><head><title>Threads - Thread Reader App</title></head><body>{cards}</body></html>".encode()


def test_an_author_page_on_a_mirror_queues_its_threads_there(httpserver, tmp_path):
    threads = [generated_thread(index, posts=2) for index in (11, 12)]
    serve_threads(httpserver, threads)
    httpserver.expect_request("/user/archivist").respond_with_data(
        author_page([f"/thread/{thread.root_id}.html" for thread in threads]), content_type="text/html")
    db_path = tmp_path / "threadvault.db"

    report = run_job(db_path, [httpserver.url_for("/user/archivist")])

    assert (report.listed, report.failed, report.refused) == ([httpserver.url_for("/user/archivist")], [], [])
    assert sorted(report.archived) == sorted(httpserver.url_for(f"/thread/{thread.root_id}.html") for thread in threads)


def test_refused_discovered_urls_are_reported_and_never_queued(tmp_path):
    db_path = tmp_path / "threadvault.db"
    job = jobs.FetchJob(db_path, SETTINGS, jobs.JobOptions())
    listing = Listing(MIRROR, ("http://127.0.0.1:8000/thread/1.html", "http://169.254.169.254/thread/2.html",
                               "http://localhost:8000/thread/3.html"))

    outcome, new_work = job._record(MIRROR, "threadreaderapp", listing, {})

    assert new_work == [("http://127.0.0.1:8000/thread/1.html", "threadreaderapp")]
    assert job.report.refused == [
        ("http://169.254.169.254/thread/2.html", "not followed: 169.254.169.254 is a link-local address"),
        ("http://localhost:8000/thread/3.html", "not followed: localhost is a loopback address"),
    ]
    assert [row["url"] for row in job.db["queue"].rows] == ["http://127.0.0.1:8000/thread/1.html"]


def killed_run_file(warc_dir: Path, pages: list[tuple[str, bytes]]) -> list[dict]:
    """A WARC file as a run killed while writing its last record leaves it: that record cut in half."""
    exchanges = [Exchange(url, "GET", (), "HTTP/1.1", 200, "OK", (("Content-Type", "text/html"),), body,
                          "2026-11-30T06:00:00Z") for url, body in pages]
    with WarcWriter(warc_dir) as writer:
        rows = [writer.write(exchange) for exchange in exchanges]
    path = warc_dir / rows[-1]["warc_file"]
    path.write_bytes(path.read_bytes()[: rows[-1]["offset"] + rows[-1]["length"] // 2])
    return rows


def test_verify_tells_a_record_cut_off_by_a_killed_run_from_corruption(httpserver, tmp_path):
    threads = [generated_thread(index, posts=3) for index in (8, 9)]
    urls = serve_threads(httpserver, threads)
    db_path = tmp_path / "threadvault.db"
    run_job(db_path, urls)
    complete, cut = killed_run_file(tmp_path / "warc", [(url, thread.html) for url, thread in zip(urls, threads)])

    report = jobs.verify(db_path, reindex=True)

    assert report.corrupt == []
    assert [(damage.file, damage.offset) for damage in report.cut_off] == [
        (str(tmp_path / "warc" / cut["warc_file"]), cut["offset"])]
    assert [row["id"] for row in report.unindexed] == [complete["id"]]  # whole, so re-indexed
    again = jobs.verify(db_path)
    assert (again.corrupt, again.unindexed, len(again.cut_off)) == ([], [], 1)


def test_verify_reports_an_indexed_record_cut_short_as_corrupt(httpserver, tmp_path):
    [url] = serve_threads(httpserver, [generated_thread(10, posts=3)])
    db_path = tmp_path / "threadvault.db"
    run_job(db_path, [url])
    row = next(row for row in store.open_archive(db_path)["captures"].rows if row["url"] == url)
    warc = tmp_path / "warc" / row["warc_file"]
    warc.write_bytes(warc.read_bytes()[: row["offset"] + row["length"] // 2])

    report = jobs.verify(db_path)

    assert [(problem.file, problem.offset) for problem in report.corrupt] == [(str(warc), row["offset"])]
    assert report.cut_off == []


def test_a_second_writer_is_refused(tmp_path):
    db_path = tmp_path / "threadvault.db"
    with jobs.writer_lock(db_path):
        with pytest.raises(ArchiveBusy) as refused:
            with jobs.writer_lock(db_path):
                pass
    assert "another threadvault process is writing" in str(refused.value)


def test_a_next_page_leading_to_a_private_address_is_not_fetched(httpserver, tmp_path):
    page = (Path(__file__).parent / "fixtures" / "threadreaderapp" / "user-QuinnyPig-page1-constructed.html").read_bytes()
    page = page.replace(b'href="/user/QuinnyPig?page=2"', b'href="http://10.0.0.1/user/QuinnyPig?page=2"')
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/user/QuinnyPig").respond_with_data(page, content_type="text/html")
    url = httpserver.url_for("/user/QuinnyPig")

    report = run_job(tmp_path / "threadvault.db", [url])

    assert report.failed == [(url, f"{url}: not a thread: http://10.0.0.1/user/QuinnyPig?page=2 not fetched: "
                                   "10.0.0.1 is a private address")]


# -- imports kept in WARC files ------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
TWARC = FIXTURES / "twarc2" / "twarc-csv-flat.jsonl"


def twitter_archive_zip(folder: Path) -> Path:
    """An account archive as Twitter sends it, from the two constructed members."""
    path = folder / "twitter-2022-04-06.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/account.js", (FIXTURES / "twitter_archive" / "account-constructed.js").read_bytes())
        archive.writestr("data/tweets.js", (FIXTURES / "twitter_archive" / "tweets-constructed.js").read_bytes())
    return path


def resource_records(warc_dir: Path) -> list[str]:
    found = []
    for path in sorted(warc_dir.glob("*.warc.gz")):
        with open(path, "rb") as fh:
            found += [record.rec_headers.get_header("WARC-Target-URI") for record in ArchiveIterator(fh)
                      if record.rec_type == "resource"]
    return found


def test_an_imported_file_is_archived_once_however_often_it_is_imported(tmp_path):
    db_path = tmp_path / "threadvault.db"

    first = imports.import_file(db_path, TWARC)
    again = imports.import_file(db_path, TWARC)

    sha256 = hashlib.sha256(TWARC.read_bytes()).hexdigest()
    uri = f"urn:threadvault:import:{sha256}"
    assert (first.already_archived, again.already_archived) == (False, True)
    assert (again.saved, again.unchanged) == (0, first.saved)
    assert resource_records(tmp_path / "warc") == [uri]
    db = store.open_archive(db_path)
    (capture,) = db["captures"].rows
    assert (capture["url"], capture["status"], capture["sha256"], capture["size"]) == (
        uri, None, sha256, TWARC.stat().st_size)
    assert [(row["url"], row["source"], row["status"], row["discovered_from"]) for row in db["queue"].rows] == [
        (uri, "twarc", "done", "twarc-csv-flat.jsonl")]
    assert jobs.verify(db_path).corrupt == []


def test_posts_of_an_import_point_at_its_resource_record(tmp_path):
    db_path = tmp_path / "threadvault.db"
    imports.import_file(db_path, TWARC)
    db = store.open_archive(db_path)
    (capture,) = db["captures"].rows
    assert {row[0] for row in db.execute("SELECT DISTINCT capture_id FROM posts")} == {capture["id"]}
    assert {row[0] for row in db.execute("SELECT DISTINCT capture_id FROM thread_captures")} == {capture["id"]}
    fetched_at = {row[0] for row in db.execute("SELECT DISTINCT last_captured_at FROM threads")}
    assert fetched_at == {capture["fetched_at"]}


def test_an_import_saves_its_threads_in_batches_each_all_or_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "SAVE_BATCH", 10)
    saved = []
    real_read = twarc.read

    def read_until_the_25th(path, errors=None):
        for thread in real_read(path, errors):
            if len(saved) == 24:
                raise KeyboardInterrupt  # as Ctrl-C in the middle of the third batch
            saved.append(thread.id)
            yield thread

    db_path = tmp_path / "threadvault.db"
    monkeypatch.setattr(twarc, "read", read_until_the_25th)
    with pytest.raises(KeyboardInterrupt):
        imports.import_file(db_path, TWARC)
    db = store.open_archive(db_path)
    assert sorted(row[0] for row in db.execute("SELECT id FROM threads")) == sorted(saved[:20])
    db.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")
    assert db.execute("SELECT count(*) FROM posts_fts_docsize").fetchone() == (db["posts"].count,)

    monkeypatch.setattr(twarc, "read", real_read)
    again = imports.import_file(db_path, TWARC)
    assert (again.saved, again.unchanged) == (79, 20)


def test_an_import_that_fails_part_way_keeps_the_threads_read_before(tmp_path, monkeypatch):

    class CutShort:  # the twarc reader, failing after its 15th thread as a damaged file would
        NAME = twarc.NAME

        @staticmethod
        def read(path, errors):
            yield from itertools.islice(twarc.read(path, errors), 15)
            raise ThreadvaultError(f"{path}: cut short")

    monkeypatch.setattr(store, "SAVE_BATCH", 10)
    monkeypatch.setattr(sources, "sniff", lambda path, forced: CutShort)
    db_path = tmp_path / "threadvault.db"
    with pytest.raises(ThreadvaultError, match="cut short"):
        imports.import_file(db_path, TWARC)
    db = store.open_archive(db_path)
    assert db["threads"].count == 15
    assert [(row["status"], row["reason"]) for row in db["queue"].rows] == [("failed", f"{TWARC}: cut short")]


@pytest.mark.parametrize("make_file", [
    lambda folder: TWARC,
    twitter_archive_zip,
    lambda folder: FIXTURES / "twitter_archive" / "tweets-constructed.js",
    lambda folder: FIXTURES / "plaintext" / "two-threads-constructed.txt",
], ids=["twarc", "twitter archive zip", "tweets.js", "plain text"])
def test_reparse_rebuilds_an_imported_file_from_the_warc_alone(tmp_path, make_file):
    original = shutil.copy(make_file(tmp_path), tmp_path / "imported")
    db_path = tmp_path / "db" / "threadvault.db"
    report = imports.import_file(db_path, Path(original))
    assert report.saved > 0 and report.errors == []
    before = {table: table_rows(db_path, table) for table in PARSED_TABLES}
    without_parsed_rows(db_path)
    Path(original).unlink()  # nothing but the archive from here on

    reparsed = replays.reparse(db_path)

    assert (len(reparsed.archived), reparsed.failed) == (1, [])
    assert {table: table_rows(db_path, table) for table in PARSED_TABLES} == before
    assert not list((tmp_path / "db").glob(".threadvault-reparse-*"))  # no scratch copy left


def test_a_file_with_no_thread_is_archived_marked_failed_and_left_out_of_reparse(tmp_path):
    db_path = tmp_path / "threadvault.db"
    with pytest.raises(NotAThread):
        imports.import_file(db_path, FIXTURES / "plaintext" / "chrome-only-constructed.txt")
    db = store.open_archive(db_path)
    (row,) = db["queue"].rows
    assert (row["source"], row["status"]) == ("text", "failed")
    assert row["reason"].endswith("not a thread: no post text (the file is empty or holds only thread reader page chrome)")
    assert replays.reparse(db_path) == jobs.JobReport()


def test_import_and_reparse_of_a_large_file_keep_memory_bounded(tmp_path):
    """Python allocations only (tracemalloc): the file is hashed, archived and read back in chunks.  Reading
    a WARC file holds one 16 kB block of it inflated, so each tweet gets text of its own, as real ones have:
    1,500 copies of one tweet gzip so well that a block would inflate to megabytes."""
    template = json.loads(TWARC.read_text().splitlines()[1])
    words = random.Random(0)
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for number in range(1500):
            tweet_id = str(1380000000000000000 + number)
            text = " ".join(words.randbytes(6).hex() for _ in range(200))
            out.write(json.dumps({**template, "id": tweet_id, "conversation_id": tweet_id, "text": text}) + "\n")
    size = path.stat().st_size
    assert size > 10_000_000
    db_path = tmp_path / "threadvault.db"
    store.open_archive(db_path)  # migrations are not what is measured
    peaks = []
    for step in (lambda: imports.import_file(db_path, path), lambda: replays.reparse(db_path)):
        tracemalloc.start()
        try:
            step()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert store.open_archive(db_path)["threads"].count == 1500
    assert max(peaks) < size / 10


def parsed_rows(db_path, table):
    """The table's rows without the columns that name a capture or its time."""
    conn = sqlite3.connect(db_path)
    try:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info([{table}])")
                   if not row[1].endswith(("captured_at", "capture_id"))]
        return sorted(conn.execute(f"SELECT {', '.join(columns)} FROM [{table}]").fetchall(), key=repr)
    finally:
        conn.close()


def test_a_large_job_parses_in_other_processes_and_archives_the_same(httpserver, tmp_path, monkeypatch):
    threads = [generated_thread(n, posts=3) for n in range(6)]
    urls = serve_threads(httpserver, threads)
    httpserver.expect_request("/thread/998.html").respond_with_data("<html><body>Rate limited</body></html>",
                                                                    content_type="text/html")
    urls.append(httpserver.url_for("/thread/998.html"))
    in_here, pooled = tmp_path / "here" / "threadvault.db", tmp_path / "pool" / "threadvault.db"
    expected = run_job(in_here, urls)

    def not_here(*args, **kwargs):
        raise AssertionError("parsed in the job's own process")

    monkeypatch.setattr(parsing, "PARSE_POOL_FROM", len(urls))
    monkeypatch.setattr(parsing, "parse", not_here)  # the parse processes import their own, unpatched
    report = asyncio.run(_fetch(pooled, urls, jobs.JobOptions(parse_workers=2)))

    assert sorted(report.archived) == sorted(expected.archived) and len(report.archived) == 6
    assert report.failed == expected.failed  # the error raised in a parse process, whole
    assert "not a thread" in dict(report.failed)[urls[-1]]
    for table in PARSED_TABLES[:-1]:  # but thread_captures: the two jobs made different captures
        assert parsed_rows(pooled, table) == parsed_rows(in_here, table), table


def test_a_small_job_parses_in_its_own_process(httpserver, tmp_path, monkeypatch):
    urls = serve_threads(httpserver, [generated_thread(1, posts=2)])
    monkeypatch.setattr(parsing, "ProcessPoolExecutor", None)  # starting processes for one page would fail the job

    report = asyncio.run(_fetch(tmp_path / "threadvault.db", urls, jobs.JobOptions(parse_workers=4)))

    assert report.archived == urls


async def _fetch(db_path, urls, options):
    jobs.enqueue(store.open_archive(db_path), urls, forced_source="threadreaderapp")
    return await jobs.FetchJob(db_path, SETTINGS, options).run()


class DeadProcesses(Executor):
    """As a pool whose process was killed (out of memory, say) with the page handed to it after ``parsed``
    others: that page fails, and the pool takes no more, as a ProcessPoolExecutor then does."""

    def __init__(self, parsed=0):
        self.parsed, self.broken = parsed, False

    def submit(self, fn, *args, **kwargs):
        if self.broken:
            raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
        future = Future()
        if self.parsed:
            self.parsed -= 1
            future.set_result(fn(*args, **kwargs))
        else:
            self.broken = True
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
        return future


def dying_processes(parsed=0):
    @contextmanager
    def processes(workers):
        yield DeadProcesses(parsed)

    return processes


def test_a_parse_process_that_dies_costs_one_page_and_the_job_parses_the_rest(httpserver, tmp_path, monkeypatch):
    urls = serve_threads(httpserver, [generated_thread(n, posts=2) for n in range(2)])
    monkeypatch.setattr(parsing, "PARSE_POOL_FROM", 1)
    monkeypatch.setattr(parsing, "parse_processes", dying_processes())
    settings = replace(SETTINGS, concurrency=1)
    jobs.enqueue(store.open_archive(tmp_path / "threadvault.db"), urls, forced_source="threadreaderapp")
    report = asyncio.run(jobs.FetchJob(tmp_path / "threadvault.db", settings, jobs.JobOptions(parse_workers=1)).run())

    assert report.failed == [(urls[0], f"{urls[0]}: not a thread: the process parsing it stopped; run the command again to retry")]
    assert report.archived == [urls[1]]


def _parse_in_other_processes_only(monkeypatch):
    def not_here(*args, **kwargs):
        raise AssertionError("parsed in the command's own process")

    monkeypatch.setattr(parsing, "PARSE_POOL_FROM", 2)
    monkeypatch.setattr(parsing, "parse", not_here)  # the parse processes import their own, unpatched


def test_a_large_reparse_parses_in_other_processes_and_rebuilds_the_same(httpserver, tmp_path, monkeypatch):
    """In order: an imported file between fetches, and a thread captured three times, an error page in
    between, whose second text makes an earlier version."""
    urls = serve_threads(httpserver, [generated_thread(n, posts=3) for n in range(4)])
    root = "1300000000000000999"
    pages = iter([thread_page(root, "archivist", ["first", "second"]), b"<html><body>Rate limited</body></html>",
                  thread_page(root, "archivist", ["first, edited", "second", "third"])])
    httpserver.expect_request(f"/thread/{root}.html").respond_with_handler(
        lambda request: Response(next(pages), content_type="text/html"))
    recaptured = httpserver.url_for(f"/thread/{root}.html")
    in_here, pooled = tmp_path / "here" / "threadvault.db", tmp_path / "pool" / "threadvault.db"
    run_job(in_here, urls[:2] + [recaptured], at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    imports.import_file(in_here, TWARC)  # an imported file in the queue too, read again in its turn
    run_job(in_here, urls[2:])
    for day in (2, 3):
        run_job(in_here, [recaptured], refetch=True, at=datetime(2026, 1, day, tzinfo=timezone.utc))
    tables = [*PARSED_TABLES, "post_versions"]
    before = {table: table_rows(in_here, table) for table in tables}
    assert len(before["post_versions"]) == 1
    shutil.copytree(in_here.parent, pooled.parent)
    for db_path in (in_here, pooled):
        without_parsed_rows(db_path)
        with sqlite3.connect(db_path) as conn:
            conn.execute("DELETE FROM post_versions")
    httpserver.clear()  # no network from here on
    expected = replays.reparse(in_here)

    _parse_in_other_processes_only(monkeypatch)
    monkeypatch.setattr(replays, "PARSES_IN_HAND", 1)  # two URLs in the processes' hands, of five: saving overlaps parsing
    monkeypatch.setattr(replays, "SAVED_AT_ONCE", 2)
    report = replays.reparse(pooled, parse_workers=2)

    assert report == expected and len(report.archived) == 6 and report.failed == []
    for table in tables:
        assert table_rows(pooled, table) == before[table], table


def test_a_large_warc_import_parses_in_other_processes_and_archives_the_same(httpserver, tmp_path, monkeypatch):
    urls = serve_threads(httpserver, [generated_thread(n, posts=3) for n in range(4)])
    httpserver.expect_request("/thread/998.html").respond_with_data("<html><body>Rate limited</body></html>",
                                                                    content_type="text/html")
    urls.append(httpserver.url_for("/thread/998.html"))
    crawled = tmp_path / "crawl" / "threadvault.db"
    run_job(crawled, urls)
    [warc] = (crawled.parent / "warc").glob("*.warc.gz")
    in_here, pooled = tmp_path / "here" / "threadvault.db", tmp_path / "pool" / "threadvault.db"
    expected = imports.import_file(in_here, warc, forced_source="threadreaderapp")

    _parse_in_other_processes_only(monkeypatch)
    monkeypatch.setattr(replays, "PARSES_IN_HAND", 1)  # saving overlaps parsing
    monkeypatch.setattr(replays, "SAVED_AT_ONCE", 2)
    report = imports.import_file(pooled, warc, forced_source="threadreaderapp", parse_workers=1)

    assert report.saved == expected.saved == 4
    assert list(map(str, report.errors)) == list(map(str, expected.errors)) == [
        f"{urls[-1]}: not a thread: not a Thread Reader App page"]
    for table in PARSED_TABLES:
        assert parsed_rows(pooled, table) == parsed_rows(in_here, table), table
    queued = "SELECT url, status, reason FROM queue ORDER BY url"
    assert list(store.open_archive(pooled).execute(queued)) == list(store.open_archive(in_here).execute(queued))


class CountingProcesses(ThreadPoolExecutor):
    """Parses in threads, counting the pages handed over."""

    handed = 0

    def submit(self, fn, *args, **kwargs):
        CountingProcesses.handed += 1
        return super().submit(fn, *args, **kwargs)


@contextmanager
def counting_processes(workers):
    CountingProcesses.handed = 0
    with CountingProcesses(workers) as pool:
        yield pool


def crawled(httpserver, db_path, count):
    """The URLs of so many generated threads, served and fetched into an archive."""
    urls = serve_threads(httpserver, [generated_thread(n, posts=2) for n in range(count)])
    run_job(db_path, urls)
    return urls


def test_a_replay_hands_the_processes_only_a_few_urls_ahead_of_the_one_it_saves(httpserver, tmp_path, monkeypatch):
    db_path = tmp_path / "threadvault.db"
    crawled(httpserver, db_path, 12)
    without_parsed_rows(db_path)
    monkeypatch.setattr(parsing, "PARSE_POOL_FROM", 2)
    monkeypatch.setattr(parsing, "parse_processes", counting_processes)
    monkeypatch.setattr(replays, "SAVED_AT_ONCE", 1)  # each URL saved as soon as it is taken back
    monkeypatch.setattr(replays, "PARSES_IN_HAND", 2)
    handed_when_saved = []

    report = replays.reparse(db_path, parse_workers=2, progress=lambda url, outcome: handed_when_saved.append(
        CountingProcesses.handed))

    assert len(report.archived) == 12
    ahead = replays.PARSES_IN_HAND * 2
    assert handed_when_saved == [min(done + 1 + ahead, 12) for done in range(12)]


def test_a_replay_saves_the_threads_of_several_urls_in_one_transaction_with_what_it_tells_of_them(
        httpserver, tmp_path, monkeypatch):
    db_path = tmp_path / "threadvault.db"
    crawled(httpserver, db_path, 8)
    without_parsed_rows(db_path)
    monkeypatch.setattr(replays, "SAVED_AT_ONCE", 3)
    committed_when_told = []

    def told(url, outcome):
        with sqlite3.connect(db_path) as reader:  # sees what is committed, not the transaction under way
            committed_when_told.append(reader.execute("SELECT count(*) FROM threads").fetchone()[0])

    report = replays.reparse(db_path, progress=told)

    assert len(report.archived) == 8
    assert committed_when_told == [0, 0, 0, 3, 3, 3, 6, 6]
    assert store.open_archive(db_path)["threads"].count == 8


def test_a_replay_saves_a_batch_once_it_has_so_many_urls_though_they_hold_no_thread(httpserver, tmp_path, monkeypatch):
    """Pages that are not threads (an error page, a listing) count too: their queue rows are not held back."""
    urls = serve_threads(httpserver, [generated_thread(n, posts=2) for n in range(2)])
    for n in range(5):
        httpserver.expect_request(f"/thread/99{n}.html").respond_with_data("<html><body>Rate limited</body></html>",
                                                                          content_type="text/html")
        urls.append(httpserver.url_for(f"/thread/99{n}.html"))
    run_job(tmp_path / "crawl" / "threadvault.db", urls)
    [warc] = (tmp_path / "crawl" / "warc").glob("*.warc.gz")
    monkeypatch.setattr(replays, "SAVED_AT_ONCE", 3)
    db_path = tmp_path / "threadvault.db"
    committed_when_told = []

    def told(url, outcome):
        with sqlite3.connect(db_path) as reader:
            committed_when_told.append(reader.execute("SELECT count(*) FROM queue").fetchone()[0])

    report = imports.import_file(db_path, warc, forced_source="threadreaderapp", progress=told)

    assert report.saved == 2 and len(report.errors) == 5
    assert committed_when_told == [0, 0, 0, 3, 3, 3, 6]


def test_a_warc_import_stopped_by_ctrl_c_leaves_no_url_pending_and_no_thread_unqueued(httpserver, tmp_path, monkeypatch):
    """A pending URL would be fetched from the network by the next fetch job; a thread without its queue
    row would be left out of reparse.  Ctrl-C undoes the batch of URLs being saved, queue rows and all."""
    crawled(httpserver, tmp_path / "crawl" / "threadvault.db", 8)
    [warc] = (tmp_path / "crawl" / "warc").glob("*.warc.gz")
    monkeypatch.setattr(parsing, "PARSE_POOL_FROM", 2)
    monkeypatch.setattr(parsing, "parse_processes", counting_processes)
    monkeypatch.setattr(replays, "SAVED_AT_ONCE", 2)
    monkeypatch.setattr(replays, "PARSES_IN_HAND", 2)  # the Ctrl-C comes while the processes parse the next URLs

    replayed = []

    def ctrl_c_at_the_third(url, outcome):
        replayed.append(url)
        if len(replayed) == 3:
            raise KeyboardInterrupt

    db_path = tmp_path / "threadvault.db"
    with pytest.raises(KeyboardInterrupt):
        imports.import_file(db_path, warc, forced_source="threadreaderapp", parse_workers=2, progress=ctrl_c_at_the_third)

    db = store.open_archive(db_path)
    assert [(row["url"], row["status"]) for row in db["queue"].rows] == [(url, "done") for url in replayed[:2]]
    assert db["threads"].count == 2  # each with its queue row, through which reparse finds it


def test_a_parse_process_that_dies_costs_a_reparse_its_url_and_it_parses_the_rest(httpserver, tmp_path, monkeypatch):
    """The first URL, captured twice, loses its newer capture with the process: it fails whole, nothing
    of it saved though its older capture was parsed, to be replayed again."""
    db_path = tmp_path / "threadvault.db"
    urls = serve_threads(httpserver, [generated_thread(n, posts=2) for n in range(3)])
    run_job(db_path, urls[:1], at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    run_job(db_path, urls, refetch=True, at=datetime(2026, 1, 2, tzinfo=timezone.utc))
    without_parsed_rows(db_path)
    monkeypatch.setattr(parsing, "PARSE_POOL_FROM", 1)
    monkeypatch.setattr(parsing, "parse_processes", dying_processes(parsed=1))
    report = replays.reparse(db_path, parse_workers=1)

    assert report.failed == [(urls[0], f"{urls[0]}: not a thread: the process parsing it stopped; run the command again to retry")]
    assert report.archived == urls[1:]
    db = store.open_archive(db_path)
    assert [row["id"] for row in db["threads"].rows] == ["twitter:1300000000001000000", "twitter:1300000000002000000"]


def test_parse_processes_stopped_by_ctrl_c_drop_the_pages_they_have_not_begun():
    with pytest.raises(KeyboardInterrupt), parsing.parse_processes(1) as processes:
        handed = [processes.submit(time.sleep, 0.2) for _ in range(10)]
        raise KeyboardInterrupt
    assert sum(future.cancelled() for future in handed) >= 7  # one parsing, one or two queued for it
