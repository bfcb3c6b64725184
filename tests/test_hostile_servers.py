"""Hostile and broken servers: a fetch job fails the URL with a clear reason (or retries it into the
archive), goes on to the next URL, and leaves what is already archived exactly as it was.

The HTTP-level cases run against pytest-httpserver; the wire-level ones (a body that drips, a
connection reset mid-body, a body shorter than its Content-Length) against ``WireServer``, a raw
socket server that writes whatever its handlers tell it to.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import sqlite3
import struct
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from werkzeug import Response

from pagegen import GeneratedThread, generated_thread, thread_page
from threadvault import jobs, store
from threadvault.sources import threadreaderapp
from threadvault.captures import MAX_DECODED_BYTES
from threadvault.fetch import FetchSettings
from threadvault.jobs import JobReport

SETTINGS = FetchSettings(delay=0, retries=1, backoff=0.01, concurrency=1, connect_timeout=5, read_timeout=5,
                         max_redirects=3)
ARCHIVED = ["threads", "posts", "authors", "hashtags", "post_hashtags", "mentions", "links", "media",
            "thread_captures", "post_versions", "captures"]
FIRST = generated_thread(1, posts=4)
GOOD = generated_thread(2, posts=3)
HOSTILE_ID = "1200000000000000000"  # sorts before GOOD's id: the job meets the hostile URL first
HOSTILE_PATH = f"/thread/{HOSTILE_ID}.html"


def run_job(db_path: Path, urls: list[str], settings: FetchSettings = SETTINGS) -> JobReport:
    """Queue the URLs and run a job; it takes them one at a time, in the order given (which is URL order)."""
    db = store.open_archive(db_path)
    assert jobs.enqueue(db, urls, forced_source="threadreaderapp").rejected == []
    done: list[str] = []
    job = jobs.FetchJob(db_path, settings, jobs.JobOptions(), progress=lambda url, *_, **__: done.append(url))
    report = asyncio.run(job.run())
    assert done == urls
    return report


def rows(db_path: Path, table: str) -> set[tuple[object, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return set(conn.execute(f"SELECT * FROM [{table}]").fetchall())
    finally:
        conn.close()


def queue_row(db_path: Path, url: str) -> tuple[str, str | None]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT status, reason FROM queue WHERE url = ?", [url]).fetchone()
    finally:
        conn.close()


@dataclass(frozen=True)
class Archive:
    """An archive that already holds one thread, with a snapshot of everything it held then."""

    db_path: Path
    first_url: str
    tables: dict[str, set[tuple[object, ...]]]
    warc_files: dict[Path, str]

    def check_unchanged(self) -> None:
        for table, before in self.tables.items():
            assert before <= rows(self.db_path, table), f"{table} rows changed"
        assert queue_row(self.db_path, self.first_url) == ("done", None)
        assert {path: _sha256(path) for path in self.warc_files} == self.warc_files

    def check_failed(self, report: JobReport, url: str, good_url: str, reason: str, *, at: str | None = None) -> None:
        """``url`` failed with ``reason`` (in the report and its queue row), found ``at`` that URL (a redirect
        hop) or ``url`` itself; ``good_url``, queued after it, was archived."""
        assert (report.archived, [failed for failed, _ in report.failed]) == ([good_url], [url])
        recorded = dict(report.failed)[url]
        assert recorded == f"{at or url}: {reason}"
        assert queue_row(self.db_path, url) == ("failed", recorded)
        self.check_unchanged()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def serve_page(server, thread: GeneratedThread) -> str:
    server.expect_request(f"/thread/{thread.root_id}.html").respond_with_data(
        thread.html, content_type="text/html; charset=utf-8")
    return server.url_for(f"/thread/{thread.root_id}.html")


@pytest.fixture
def archive(httpserver, tmp_path: Path) -> Archive:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    first_url = serve_page(httpserver, FIRST)
    db_path = tmp_path / "db" / "threadvault.db"
    assert run_job(db_path, [first_url]).archived == [first_url]
    warc_files = {path: _sha256(path) for path in (tmp_path / "db" / "warc").iterdir()}
    return Archive(db_path, first_url, {table: rows(db_path, table) for table in ARCHIVED}, warc_files)


# HTTP-level misbehaviour (pytest-httpserver)


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of about ``inflated / 1000`` bytes that inflates to ``inflated`` zero bytes: one
    compressed MiB of zeros, flushed to a byte boundary with a fresh dictionary, repeated."""
    mib = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(bytes(mib)) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # an empty final block
    crc = 0
    for _ in range(inflated // mib):
        crc = zlib.crc32(bytes(mib), crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * (inflated // mib) + last + struct.pack("<II", crc, inflated & 0xFFFFFFFF)


def test_the_gzip_bomb_is_what_it_claims() -> None:
    bomb = gzip_bomb(4 << 20)
    assert len(bomb) < 10_000 and zlib.decompress(bomb, 16 + zlib.MAX_WBITS) == bytes(4 << 20)


def serve_bomb(httpserver) -> tuple[str, str]:
    httpserver.expect_request(HOSTILE_PATH).respond_with_data(
        gzip_bomb(1 << 30), headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})  # a GiB inflated
    return httpserver.url_for(HOSTILE_PATH), serve_page(httpserver, GOOD)


def test_a_gzip_bomb_fails_with_a_clear_reason(httpserver, archive: Archive) -> None:
    url, good_url = serve_bomb(httpserver)
    report = run_job(archive.db_path, [url, good_url])
    reason = f"undecodable body: decoded body larger than {MAX_DECODED_BYTES:,} bytes"
    archive.check_failed(report, url, good_url, reason)


def test_a_gzip_bomb_costs_no_more_memory_than_the_decode_limit(httpserver, archive: Archive) -> None:
    url, good_url = serve_bomb(httpserver)
    tracemalloc.start()
    try:
        run_job(archive.db_path, [url, good_url])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_DECODED_BYTES + (50 << 20)


def test_a_gzip_body_in_several_members_is_archived_whole(httpserver, archive: Archive) -> None:
    """RFC 1952 lets a gzip file be several members one after another (gzip, curl and Python read them all);
    a server that compresses a page as it streams it may send one."""
    second_post = GOOD.html.index(f'data-tweet="{GOOD.tweet_ids[1]}"'.encode())
    body = gzip.compress(GOOD.html[:second_post]) + gzip.compress(GOOD.html[second_post:])
    httpserver.expect_request(f"/thread/{GOOD.root_id}.html").respond_with_data(
        body, headers={"Content-Encoding": "gzip", "Content-Type": "text/html; charset=utf-8"})
    url = httpserver.url_for(f"/thread/{GOOD.root_id}.html")
    assert run_job(archive.db_path, [url]).archived == [url]
    conn = sqlite3.connect(archive.db_path)
    assert conn.execute("SELECT post_count FROM threads WHERE id = ?", [f"twitter:{GOOD.root_id}"]).fetchone() == (
        len(GOOD.tweet_ids),)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_larger_than_the_limit(httpserver, archive: Archive, declared: bool) -> None:
    page = thread_page(HOSTILE_ID, "bigmouth", ["word " * 5_000])
    if declared:
        httpserver.expect_request(HOSTILE_PATH).respond_with_data(page, content_type="text/html")
    else:
        httpserver.expect_request(HOSTILE_PATH).respond_with_response(
            Response(iter([page[:1000], page[1000:]]), content_type="text/html"))
    good_url = serve_page(httpserver, GOOD)
    settings = replace(SETTINGS, max_bytes=100_000)
    report = run_job(archive.db_path, [httpserver.url_for(HOSTILE_PATH), good_url], settings)
    archive.check_failed(report, httpserver.url_for(HOSTILE_PATH), good_url, "body larger than the 100,000-byte limit")


def test_a_redirect_loop(httpserver, archive: Archive) -> None:
    httpserver.expect_request(HOSTILE_PATH).respond_with_data("", status=302, headers={"Location": "/loop/a"})
    httpserver.expect_request("/loop/a").respond_with_data("", status=301, headers={"Location": "/loop/b"})
    httpserver.expect_request("/loop/b").respond_with_data("", status=307, headers={"Location": "/loop/a"})
    good_url = serve_page(httpserver, GOOD)
    report = run_job(archive.db_path, [httpserver.url_for(HOSTILE_PATH), good_url])
    archive.check_failed(report, httpserver.url_for(HOSTILE_PATH), good_url, "too many redirects (4)",
                         at=httpserver.url_for("/loop/a"))


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/thread.html", "javascript:alert(1)", "file:///etc/passwd"])
def test_a_redirect_to_another_scheme(httpserver, archive: Archive, location: str) -> None:
    httpserver.expect_request(HOSTILE_PATH).respond_with_data("", status=301, headers={"Location": location})
    good_url = serve_page(httpserver, GOOD)
    report = run_job(archive.db_path, [httpserver.url_for(HOSTILE_PATH), good_url])
    scheme = location.split(":")[0]
    reason = f"redirect to unsupported scheme {scheme}:"
    archive.check_failed(report, httpserver.url_for(HOSTILE_PATH), good_url, reason)


@pytest.mark.parametrize(
    "title, heading, reason",
    [
        ("Error", "Something went wrong", "Thread Reader App shows an error page ('Error')"),
        ("Thread Reader App", "Rate limit exceeded", "rate-limited by Thread Reader App ('Rate limit exceeded')"),
        ("Just a moment...", "Checking your browser", "not a Thread Reader App page"),
    ],
    ids=["error", "rate-limited", "challenge"],
)
def test_an_error_page_sent_with_status_200(httpserver, archive: Archive, title: str, heading: str,
                                            reason: str) -> None:
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{heading}</h1></body></html>"
    httpserver.expect_request(HOSTILE_PATH).respond_with_data(page, content_type="text/html")
    good_url = serve_page(httpserver, GOOD)
    report = run_job(archive.db_path, [httpserver.url_for(HOSTILE_PATH), good_url])
    archive.check_failed(report, httpserver.url_for(HOSTILE_PATH), good_url, f"not a thread: {reason}")


def test_a_server_error_that_outlasts_the_retries(httpserver, archive: Archive) -> None:
    httpserver.expect_request(HOSTILE_PATH).respond_with_data("<h1>502 Bad Gateway</h1>", status=502)
    good_url = serve_page(httpserver, GOOD)
    report = run_job(archive.db_path, [httpserver.url_for(HOSTILE_PATH), good_url])
    archive.check_failed(report, httpserver.url_for(HOSTILE_PATH), good_url, "HTTP 502 after 2 attempts")


def test_a_server_error_then_recovery_is_retried_into_the_archive(httpserver, archive: Archive) -> None:
    answers = iter([Response("<h1>500</h1>", status=500), Response(GOOD.html, content_type="text/html")])
    httpserver.expect_request(f"/thread/{GOOD.root_id}.html").respond_with_handler(lambda request: next(answers))
    url = httpserver.url_for(f"/thread/{GOOD.root_id}.html")
    report = run_job(archive.db_path, [url])
    assert (report.archived, report.failed) == ([url], [])
    assert queue_row(archive.db_path, url) == ("done", None)
    statuses = [row[0] for row in sqlite3.connect(archive.db_path).execute(
        "SELECT status FROM captures WHERE url = ? ORDER BY rowid", [url])]
    assert statuses == [500, 200]  # the failed attempt is archived too
    archive.check_unchanged()


def test_a_url_that_failed_with_a_server_error_is_fetched_again_by_the_next_run(httpserver, archive: Archive) -> None:
    down = threading.Event()
    down.set()

    def answer(request: object) -> Response:
        return Response("<h1>503</h1>", status=503) if down.is_set() else Response(GOOD.html, content_type="text/html")

    httpserver.expect_request(f"/thread/{GOOD.root_id}.html").respond_with_handler(answer)
    url = httpserver.url_for(f"/thread/{GOOD.root_id}.html")
    assert [failed for failed, _ in run_job(archive.db_path, [url]).failed] == [url]
    down.clear()
    assert run_job(archive.db_path, [url]).archived == [url]


def test_an_unexpected_error_fails_its_url_and_the_job_goes_on(httpserver, archive: Archive, monkeypatch) -> None:
    """A bug in a parser (here a TypeError from parse) costs its URL, never the job."""
    broken = thread_page("1300000000000000777", "broken", ["a post"])
    httpserver.expect_request("/thread/1300000000000000777.html").respond_with_data(broken, content_type="text/html")
    url = httpserver.url_for("/thread/1300000000000000777.html")
    good_url = serve_page(httpserver, GOOD)
    real_parse = threadreaderapp.parse

    def buggy_parse(page_url, captures):
        if "777" in page_url:
            raise TypeError("'NoneType' object is not subscriptable")
        return real_parse(page_url, captures)

    monkeypatch.setattr(threadreaderapp, "parse", buggy_parse)
    db = store.open_archive(archive.db_path)
    jobs.enqueue(db, [url, good_url], forced_source="threadreaderapp")
    job = jobs.FetchJob(archive.db_path, SETTINGS, jobs.JobOptions())
    report = asyncio.run(asyncio.wait_for(job.run(), 10))  # takes a second when nothing hangs
    assert report.archived == [good_url]
    assert report.failed == [(url, f"{url}: internal error, please report it: "
                                   "TypeError(\"'NoneType' object is not subscriptable\")")]
    archive.check_unchanged()


# Charsets


CHARSET_PAGE = thread_page(HOSTILE_ID, "charsets", ["Café au lait", "naïve résumé"])


@pytest.mark.parametrize(
    "content_type, body, texts",
    [
        ("text/html", CHARSET_PAGE, ["Café au lait", "naïve résumé"]),
        ("text/html; charset=x-no-such-charset", CHARSET_PAGE, ["Café au lait", "naïve résumé"]),
        ("text/html; charset=utf-8", CHARSET_PAGE.replace("é".encode(), b"\xe9"),
         ["Caf\ufffd au lait", "naïve r\ufffdsum\ufffd"]),
        # The header wins over the page's <meta charset>, as in a browser; the bytes stay in the WARC file.
        ("text/html; charset=iso-8859-1", CHARSET_PAGE, ["CafÃ© au lait", "naÃ¯ve rÃ©sumÃ©"]),
    ],
    ids=["no-charset", "unknown-charset", "invalid-utf8", "wrong-charset"],
)
def test_missing_unknown_or_wrong_charsets_and_invalid_utf8(httpserver, archive: Archive, content_type: str,
                                                            body: bytes, texts: list[str]) -> None:
    httpserver.expect_request(HOSTILE_PATH).respond_with_data(body, content_type=content_type)
    url, good_url = httpserver.url_for(HOSTILE_PATH), serve_page(httpserver, GOOD)
    report = run_job(archive.db_path, [url, good_url])
    assert (report.archived, report.failed) == ([url, good_url], [])
    conn = sqlite3.connect(archive.db_path)
    stored = [text for (text,) in conn.execute("SELECT text FROM posts WHERE thread_id = ? ORDER BY position",
                                                [f"twitter:{HOSTILE_ID}"])]
    assert [text.split("\n")[0] for text in stored] == texts
    archive.check_unchanged()


# Wire-level misbehaviour (a raw socket server)


Handler = Callable[[socket.socket], None]


class WireServer:
    """An HTTP/1.1 server on 127.0.0.1 that answers each path with a handler writing raw bytes to the socket
    (404 for the rest, robots.txt included), one connection per request."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.handlers: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def close(self) -> None:
        self.closing.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode()
            self.hits[path] += 1
            try:
                self.handlers.get(path, respond(b"", status="404 Not Found"))(connection)
            except OSError:  # the client hung up, as it should on a misbehaving server
                pass


def response_head(status: str = "200 OK", length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: text/html; charset=utf-8", "Connection: close"]
    lines += [f"Content-Length: {length}"] if length is not None else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(body: bytes, status: str = "200 OK") -> Handler:
    return lambda connection: connection.sendall(response_head(status, len(body)) + body)


def drip(body: bytes, every: float) -> Handler:
    """The head at once, then one byte of the body every ``every`` seconds."""

    def handler(connection: socket.socket) -> None:
        connection.sendall(response_head(length=len(body)))
        for index in range(len(body)):
            time.sleep(every)
            connection.sendall(body[index : index + 1])

    return handler


def cut_off(body: bytes, at: int, *, reset: bool) -> Handler:
    """The head with the whole body's Content-Length, the body up to ``at``, then a close (or a reset)."""

    def handler(connection: socket.socket) -> None:
        connection.sendall(response_head(length=len(body)) + body[:at])
        if reset:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST

    return handler


def silent(connection: socket.socket) -> None:
    """Read the request and say nothing, for longer than the read timeout."""
    time.sleep(3)


def hang_up(connection: socket.socket) -> None:
    """Close without a word."""


def garbage(connection: socket.socket) -> None:
    connection.sendall(b"SPDY/9 OK ok\r\nthis is not http\r\n\r\n")


@pytest.fixture
def wire() -> Iterator[WireServer]:
    server = WireServer()
    server.handlers[f"/thread/{GOOD.root_id}.html"] = respond(GOOD.html)
    yield server
    server.close()


QUICK = replace(SETTINGS, read_timeout=0.5, total_timeout=1.5)


@pytest.mark.parametrize(
    "handler, reason",
    [
        (drip(GOOD.html, every=2.0), "read timeout after 2 attempts"),
        (drip(GOOD.html, every=0.1), "total timeout after 2 attempts"),  # each byte inside the read timeout
        (silent, "read timeout after 2 attempts"),
        (cut_off(GOOD.html, 3000, reset=True), "connection reset after 2 attempts"),
        (cut_off(GOOD.html, 3000, reset=False),
         f"body shorter than Content-Length (connection closed at 3,000 of {len(GOOD.html):,} bytes) after 2 attempts"),
        (hang_up, "Server disconnected without sending a response. after 2 attempts"),
        (garbage, "illegal status line: bytearray(b'SPDY/9 OK ok') after 2 attempts"),
    ],
    ids=["drip", "slow-drip", "silent", "reset-mid-body", "short-body", "hang-up", "not-http"],
)
def test_wire_level_failures(wire: WireServer, archive: Archive, handler: Handler, reason: str) -> None:
    wire.handlers[HOSTILE_PATH] = handler
    url, good_url = wire.url(HOSTILE_PATH), wire.url(f"/thread/{GOOD.root_id}.html")
    report = run_job(archive.db_path, [url, good_url], QUICK)
    archive.check_failed(report, url, good_url, reason)
    assert wire.hits[HOSTILE_PATH] == 2  # retried once
