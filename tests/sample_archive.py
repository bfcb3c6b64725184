"""A small archive for the reader's tests (web, export, browser), built the way `threadvault fetch` builds one.

Each response is written to a WARC file beside the database, parsed by the real source from
its capture, and saved by the store:

- the real Thread Reader App page of @QuinnyPig's 102-post thread (January 2020);
- the constructed 2026 Thread Reader App page of @archivist_ana (images with alt text, hashtags);
- a constructed Mastodon thread of five posts (ids holding slashes, a mention, a link);
- a generated 520-post Thread Reader App thread (pagination);
- a constructed Thread Reader App page whose posts hold markup as text and links to
  ``javascript:`` and ``data:`` targets: it must all stay inert.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import yaml

from pagegen import generated_thread, thread_page
from threadvault import store
from threadvault.fetch import Exchange
from threadvault.jobs import capture_from_exchange, warc_dir_for
from threadvault.model import Author, Link, Media, Post, Thread, iso_utc
from threadvault.sources import mastodon, threadreaderapp
from threadvault.warcwriter import WarcWriter

FIXTURES = Path(__file__).parent / "fixtures"
TRA = "https://threadreaderapp.com/thread/{}.html"
HTML = (("Content-Type", "text/html; charset=utf-8"),)

QUINNY = "twitter:1215710451343904768"
ANA = "twitter:2090104857600000000"
MIRA = "mastodon:https://social.example/users/mira/statuses/112025273054269555"
LONG = generated_thread(7, posts=520)
LONG_ID = f"twitter:{LONG.root_id}"
HOSTILE_ROOT = "1400000000000000000"
HOSTILE = f"twitter:{HOSTILE_ROOT}"
HOSTILE_BODIES = [
    "Markup is only text here: &lt;script&gt;window.__pwned = 'script'&lt;/script&gt; #inert",
    "An image that must not load: &lt;img src=x onerror=\"window.__pwned = 'onerror'\"&gt; and "
    '<a class="entity-url" href="javascript:window.__pwned=\'link\'">click me</a>',
    'Data too: <a class="entity-url" href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">a data link</a>'
    ' and <a class="entity-url" href="https://example.org/a?b=1&amp;c=&lt;2&gt;">example.org/a?b=1&amp;c=&lt;2&gt;</a>',
]


def exchange(url: str, body: bytes, fetched_at: str, headers: tuple[tuple[str, str], ...] = HTML,
             status: int = 200) -> Exchange:
    reason = "OK" if status == 200 else "Error"
    request = (("User-Agent", "threadvault-tests"), ("Accept-Encoding", "identity"))
    return Exchange(url, "GET", request, "HTTP/1.1", status, reason, headers, body, fetched_at)


def mastodon_exchanges(name: str) -> list[Exchange]:
    """The responses of a vcrpy cassette as exchanges, each at its own Date."""
    found = []
    for interaction in yaml.safe_load((FIXTURES / "mastodon" / name).read_text())["interactions"]:
        response = interaction["response"]
        headers = tuple((key, value) for key, values in response["headers"].items() for value in values)
        fetched_at = iso_utc(parsedate_to_datetime(response["headers"]["Date"][0]))
        body = response["body"]["string"].encode()
        found.append(exchange(interaction["request"]["uri"], body, fetched_at, headers, response["status"]["code"]))
    return found


def tra_exchange(root_id: str, body: bytes, fetched_at: str) -> Exchange:
    return exchange(TRA.format(root_id), body, fetched_at)


def archive_thread(db: Any, writer: WarcWriter, source: Any, url: str, exchanges: list[Exchange]) -> None:
    captures = {}
    for each in exchanges:
        row = writer.write(each)
        store.save_capture(db, row)
        captures[each.url] = capture_from_exchange(each, row)
    thread = source.parse(url, captures)
    at = max(capture.fetched_at for capture in captures.values())
    store.save_thread(db, thread, captured_at=at, capture_ids=[capture.id for capture in captures.values()])


def build_archive(db_path: Path) -> Path:
    """Write the sample archive at ``db_path`` (WARC files in warc/ beside it); returns ``db_path``."""
    db = store.open_archive(db_path)
    real = FIXTURES / "threadreaderapp" / "thread-1215710451343904768-QuinnyPig.html"
    constructed = FIXTURES / "threadreaderapp" / "thread-2090104857600000000-archivist_ana-2026-constructed.html"
    hostile = thread_page(HOSTILE_ROOT, "mallory", HOSTILE_BODIES)
    with WarcWriter(warc_dir_for(db_path)) as writer:
        pages = [
            (QUINNY, real.read_bytes(), "2024-03-01T10:00:00Z"),
            (ANA, constructed.read_bytes(), "2026-08-20T09:00:00Z"),
            (LONG_ID, LONG.html, "2025-01-05T12:00:00Z"),
            (HOSTILE, hostile, "2025-02-01T08:00:00Z"),
        ]
        for thread_id, body, fetched_at in pages:
            root = thread_id.split(":")[1]
            archive_thread(db, writer, threadreaderapp, TRA.format(root), [tra_exchange(root, body, fetched_at)])
        mira = "https://social.example/@mira/112025282813496319"
        archive_thread(db, writer, mastodon, mira, mastodon_exchanges("mastodon-cassette-long-thread-constructed.yaml"))
    db.close()
    return db_path


UNSAFE = "twitter:1"


def save_unsafe_targets(db: Any) -> None:
    """A one-post thread whose every target (author, post, links, media, thread) is javascript: or data:."""
    author = Author("twitter:mallory", "twitter", "mallory", url="javascript:alert('profile')")
    post = Post(
        UNSAFE, author, "see here and there", 1, url="javascript:alert('post')",
        links=(Link("javascript:alert('link')", "here"), Link("data:text/html,<b>x</b>", "there")),
        media=(Media("javascript:alert('media')", "image", "a picture"),),
    )
    store.save_thread(db, Thread(UNSAFE, "twitter", "data:text/html,x", "twarc", author, (post,)),
                      captured_at="2025-01-01T00:00:00Z")
