"""A thread read back from the archive, as the thread page and the exports show it.

    read_thread(conn, thread_id, first, last)   the thread, its posts at positions first..last with their
                                                entities and earlier texts, its author and its captures
    segments(text, links, hashtags, mentions)   a post's text cut into plain text, links, hashtags, mentions
    safe_url(url)                               the URL if it is plain http(s), else None

Only ``safe_url`` decides what becomes a link: ``javascript:``, ``data:`` and any
other scheme stay text.  Nothing here escapes; the renderers do.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from threadvault.entities import AT_SIGNS, HASH_SIGNS, TAG_EXTRA, normalise_tag
from threadvault.errors import ThreadvaultError
from threadvault.model import Author, Link, Media

LINK_SCHEMES = ("http", "https")
HANDLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
IN_IDS = "(SELECT value FROM json_each(?))"


class NotInArchive(ThreadvaultError):
    """The archive has no thread (author, capture...) with this id."""

    def __init__(self, kind: str, id: str):
        self.kind = kind
        self.id = id
        super().__init__(f"{id}: no such {kind} in the archive")


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str = "text"  # text, link, hashtag or mention
    target: str | None = None  # link: its http(s) URL (None: show as text); hashtag: the tag; mention: the handle


@dataclass(frozen=True)
class Version:
    """An earlier text of a post, from ``post_versions``."""

    text: str
    first_seen_at: str | None
    superseded_at: str | None


@dataclass(frozen=True)
class PostView:
    id: str
    position: int | None
    author_id: str | None
    created_at: str | None
    text: str | None
    url: str | None
    missing: bool
    in_latest_capture: bool
    capture_id: str | None
    lang: str | None = None
    spoiler_text: str | None = None
    edited_at: str | None = None
    hashtags: tuple[str, ...] = ()  # normalised
    mentions: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    media: tuple[Media, ...] = ()
    versions: tuple[Version, ...] = ()

    @property
    def segments(self) -> tuple[Segment, ...]:
        return segments(self.text or "", self.links, self.hashtags, self.mentions)

    @property
    def unseen_links(self) -> tuple[Link, ...]:
        """Links not shown in the text (a quoted post, a card), to be listed after it."""
        text = self.text or ""
        return tuple(
            link for link in self.links
            if not any(shown and shown in text for shown in (link.display_text, link.short_url, link.url))
        )


@dataclass(frozen=True)
class ThreadView:
    row: dict[str, Any]  # the threads row
    author: Author | None
    posts: tuple[PostView, ...]  # the requested positions, in order
    captures: tuple[dict[str, Any], ...]  # captures rows, oldest first
    replies: int  # posts by other people kept with the thread (they have no position)
    last_position: int  # the highest position in the whole thread, 0 when it has none

    @property
    def id(self) -> str:
        return str(self.row["id"])


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL without control characters or spaces, else None."""
    if not url or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme.lower() in LINK_SCHEMES and parts.netloc else None


def read_thread(conn: sqlite3.Connection, thread_id: str, first: int = 1, last: int | None = None) -> ThreadView:
    """The thread with its positioned posts from ``first`` to ``last`` (all when None)."""
    found = _rows(conn, "SELECT * FROM threads WHERE id = ?", [thread_id])
    if not found:
        raise NotInArchive("thread", thread_id)
    row = found[0]
    author = _author(conn, row["author_id"])
    posts = _rows(
        conn,
        "SELECT * FROM posts WHERE thread_id = ? AND position BETWEEN ? AND ? ORDER BY position",
        [thread_id, first, last if last is not None else 2**62],
    )
    captures = _rows(
        conn,
        "SELECT captures.* FROM thread_captures JOIN captures ON captures.id = thread_captures.capture_id"
        " WHERE thread_captures.thread_id = ? ORDER BY captures.fetched_at, captures.warc_file, captures.offset",
        [thread_id],
    )
    replies, last_position = conn.execute(
        "SELECT count(*) - count(position), coalesce(max(position), 0) FROM posts WHERE thread_id = ?", [thread_id]
    ).fetchone()
    return ThreadView(row, author, tuple(_post_views(conn, posts)), tuple(captures), replies, last_position)


def segments(
    text: str, links: Iterable[Link], hashtags: Iterable[str], mentions: Iterable[str]
) -> tuple[Segment, ...]:
    """``text`` cut into segments: each link found by its shown text, and each ``#tag`` and ``@handle``
    the post is known to carry (so a ``#`` or ``@`` that is no entity stays text)."""
    spans: list[tuple[int, int, Segment]] = []
    for link in links:
        for shown in (link.display_text, link.short_url, link.url):
            start = _find_free(text, shown, spans) if shown else -1
            if shown and start >= 0:
                spans.append((start, start + len(shown), Segment(shown, "link", safe_url(link.url))))
                break
    tags = set(hashtags)
    handles = {handle.casefold(): handle for handle in mentions}
    handles.update({handle.split("@")[0].casefold(): handle for handle in mentions if "@" in handle})
    for start, char in enumerate(text):
        if char in HASH_SIGNS or char in AT_SIGNS:
            entity = _entity_at(text, start, tags, handles)
            if entity and not any(begin < start + len(entity.text) and start < end for begin, end, _ in spans):
                spans.append((start, start + len(entity.text), entity))
    return _fill(text, sorted(spans, key=lambda span: span[0]))


def _entity_at(text: str, start: int, tags: set[str], handles: dict[str, str]) -> Segment | None:
    if text[start] in HASH_SIGNS:
        end = _run_end(text, start + 1, _is_tag_char)
        tag = normalise_tag(text[start + 1 : end])
        return Segment(text[start:end], "hashtag", tag) if tag in tags else None
    end = _run_end(text, start + 1, HANDLE_CHARS.__contains__)
    if end < len(text) - 1 and text[end] in AT_SIGNS:  # a full user@host acct
        host_end = _run_end(text, end + 1, lambda char: char.isalnum() or char in ".-")
        full = text[start + 1 : host_end].rstrip(".-")
        if full.casefold() in handles:
            return Segment(text[start] + full, "mention", handles[full.casefold()])
    handle = text[start + 1 : end]
    return Segment(text[start:end], "mention", handles[handle.casefold()]) if handle.casefold() in handles else None


def _is_tag_char(char: str) -> bool:
    return char.isalnum() or char in TAG_EXTRA or unicodedata.category(char).startswith("M")


def _run_end(text: str, start: int, accept: Any) -> int:
    end = start
    while end < len(text) and accept(text[end]):
        end += 1
    return end


def _find_free(text: str, shown: str, spans: Sequence[tuple[int, int, Segment]]) -> int:
    """The first place ``shown`` occurs in ``text`` overlapping no span yet, or -1."""
    start = text.find(shown)
    while start >= 0 and any(begin < start + len(shown) and start < end for begin, end, _ in spans):
        start = text.find(shown, start + 1)
    return start


def _fill(text: str, spans: Sequence[tuple[int, int, Segment]]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    cursor = 0
    for start, end, segment in spans:
        if start > cursor:
            out.append(Segment(text[cursor:start]))
        out.append(segment)
        cursor = end
    if cursor < len(text):
        out.append(Segment(text[cursor:]))
    return tuple(out)


def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return [dict(row) for row in cursor.execute(sql, params)]


def _author(conn: sqlite3.Connection, author_id: str | None) -> Author | None:
    found = _rows(conn, "SELECT id, platform, handle, display_name, url FROM authors WHERE id = ?", [author_id])
    return Author(**found[0]) if found else None


def _post_views(conn: sqlite3.Connection, posts: list[dict[str, Any]]) -> list[PostView]:
    """Posts rows with their entities, each table read once for all of them."""
    ids = [json.dumps([post["id"] for post in posts])]
    by_post: dict[str, dict[str, list[Any]]] = {post["id"]: {} for post in posts}
    queries = {
        "hashtags": (f"SELECT post_id, tag FROM post_hashtags WHERE post_id IN {IN_IDS} ORDER BY tag", str),
        "mentions": (f"SELECT post_id, handle FROM mentions WHERE post_id IN {IN_IDS} ORDER BY handle", str),
        "links": (
            f"SELECT post_id, url, display_text, short_url FROM links WHERE post_id IN {IN_IDS} ORDER BY id",
            Link,
        ),
        "media": (f"SELECT post_id, url, kind, alt_text FROM media WHERE post_id IN {IN_IDS} ORDER BY rowid", Media),
        "versions": (
            "SELECT post_id, text, first_seen_at, superseded_at FROM post_versions"
            f" WHERE post_id IN {IN_IDS} ORDER BY first_seen_at, id",
            Version,
        ),
    }
    for field, (sql, make) in queries.items():
        for post_id, *values in conn.execute(sql, ids):
            by_post[post_id].setdefault(field, []).append(make(*values))
    return [_post_view(post, by_post[post["id"]]) for post in posts]


def _post_view(post: dict[str, Any], entities: dict[str, list[Any]]) -> PostView:
    return PostView(
        id=post["id"],
        position=post["position"],
        author_id=post["author_id"],
        created_at=post["created_at"],
        text=post["text"],
        url=post["url"],
        missing=bool(post["missing"]),
        in_latest_capture=bool(post["in_latest_capture"]),
        capture_id=post["capture_id"],
        lang=post["lang"],
        spoiler_text=post["spoiler_text"],
        edited_at=post["edited_at"],
        **{field: tuple(values) for field, values in entities.items()},
    )
