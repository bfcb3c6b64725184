"""Write threads into the archive: a merge-upsert of one thread in one transaction, or of a batch.

How a capture merges with what the archive already holds:

- A field takes the value of the newest capture that has one: a poorer or
  older record never blanks or overwrites what a richer, newer one filled.
  ``source`` and ``threads.url`` keep the first source that archived the row.
- A changed text moves the earlier text to ``post_versions``; a different
  text from an older capture (an import of an old file) is added there too.
  ``posts.capture_id`` names the capture the current text was read from.
- ``missing`` only ever goes from 1 to 0, and a gap's text never replaces a text.
- A post with a position belongs to the thread that positioned it last; a
  reply by others stays with the first thread it was seen in.
- Posts are never deleted: those the latest capture of their thread no longer
  showed get ``in_latest_capture = 0``.  Entities are only ever added.
- Only a removal request deletes (``forget.py``), and leaves a tombstone in
  ``forgotten``: a forgotten thread, author or post is never written again.

Each upsert skips rows it would not change, so rowcounts tell what changed.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import NamedTuple, TypeVar

import sqlite_utils

from threadvault.entities import normalise_tag
from threadvault.errors import ThreadvaultError
from threadvault.migrations import FTS_CONFIG, migrations
from threadvault.model import Author, Post, Thread

DEFAULT_DB = Path("db/threadvault.db")
# Threads a transaction when many are saved together: most threads in a collection are one post, and
# a commit, or a write of the search index, costs more than saving one.
SAVE_BATCH = 200
NEW_THREADS_AT_ONCE = 50  # threads new to the archive written together (NewThreads): enough to spare the statements
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str every surrogate is a lone one
T = TypeVar("T")
TITLE_WIDTH = 80

# Merge rules for one column; {t} is the table (the stored row), excluded the incoming one.
FILL = "coalesce(excluded.{c}, {t}.{c})"
FIRST = "coalesce({t}.{c}, excluded.{c})"
NEWEST = (
    "CASE WHEN excluded.last_captured_at < {t}.last_captured_at"
    " THEN coalesce({t}.{c}, excluded.{c}) ELSE coalesce(excluded.{c}, {t}.{c}) END"
)
JSON_UNION = (
    "(SELECT json_group_array(value) FROM (SELECT value FROM json_each({t}.{c})"
    " UNION SELECT value FROM json_each(excluded.{c}) ORDER BY value))"
)
INSERT_ONLY = None

OLDER = "excluded.last_captured_at < posts.last_captured_at"
POSITIONED = f"excluded.position IS NOT NULL AND (posts.position IS NULL OR NOT ({OLDER}))"
TEXT_REPLACED = (
    f"NOT excluded.missing AND NOT ({OLDER}) AND excluded.text IS NOT NULL AND excluded.text IS NOT posts.text"
)


def merge_upsert(
    table: str, columns: Sequence[str], key: Sequence[str], rules: Mapping[str, str | None], default: str
) -> str:
    """An INSERT that merges a conflicting row column by column and skips it when nothing would change."""
    merged = {column: rules.get(column, default) for column in columns if column not in key}
    expressions = {column: rule.format(t=table, c=column) for column, rule in merged.items() if rule is not None}
    assignments = ", ".join(f"{column} = {expression}" for column, expression in expressions.items())
    stored = ", ".join(f"{table}.{column}" for column in expressions)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT({', '.join(key)}) DO UPDATE SET {assignments}"
        f" WHERE ({stored}) IS NOT ({', '.join(expressions.values())})"
    )


AUTHOR_COLUMNS = ("id", "platform", "handle", "display_name", "url")
UPSERT_AUTHOR = merge_upsert("authors", AUTHOR_COLUMNS, ("id",), {}, FILL)

THREAD_COLUMNS = ("id", "platform", "url", "source", "author_id", "title", "other_replies", "discovered")
UPSERT_THREAD = merge_upsert(
    "threads",
    (*THREAD_COLUMNS, "first_captured_at", "last_captured_at"),
    ("id",),
    {
        "url": FIRST,
        "source": FIRST,
        "discovered": JSON_UNION,
        "first_captured_at": INSERT_ONLY,
        "last_captured_at": INSERT_ONLY,
    },
    NEWEST,
)

POST_COLUMNS = (
    "id", "thread_id", "position", "author_id", "created_at", "text", "url", "reply_to_id", "lang", "hashtags",
    "source", "capture_id", "spoiler_text", "edited_at", "reply_count", "repost_count", "like_count", "missing",
    "first_captured_at", "last_captured_at",
)
UPSERT_POST = merge_upsert(
    "posts",
    POST_COLUMNS,
    ("id",),
    {
        "thread_id": f"CASE WHEN {POSITIONED} THEN excluded.thread_id ELSE posts.thread_id END",
        "position": f"CASE WHEN {POSITIONED} THEN excluded.position ELSE posts.position END",
        "text": f"CASE WHEN excluded.missing OR {OLDER} THEN coalesce(posts.text, excluded.text) ELSE {FILL} END",
        "hashtags": JSON_UNION,
        "source": FIRST,
        "capture_id": f"CASE WHEN {TEXT_REPLACED} THEN {FILL} ELSE {FIRST} END",
        "missing": "min(posts.missing, excluded.missing)",
        "first_captured_at": INSERT_ONLY,
        "last_captured_at": INSERT_ONLY,
    },
    NEWEST,
)

# Parameters: post id, its new text, captured_at, capture id.  The first half keeps the text a
# newer capture replaces; the second keeps an older capture's different text.  A text read again
# from a capture of the same moment (a reparse) just replaces the stored one.
SAVE_EARLIER_TEXT = """
INSERT INTO post_versions (post_id, text, first_seen_at, superseded_at, capture_id)
SELECT id, text,
  coalesce((SELECT max(superseded_at) FROM post_versions WHERE post_id = posts.id), first_captured_at), ?3, capture_id
FROM posts WHERE id = ?1 AND NOT missing AND text IS NOT NULL AND text IS NOT ?2 AND last_captured_at < ?3
UNION ALL
SELECT id, ?2, ?3, NULL, ?4
FROM posts WHERE id = ?1 AND text IS NOT NULL AND text IS NOT ?2 AND last_captured_at > ?3
  AND NOT EXISTS (SELECT 1 FROM post_versions WHERE post_id = ?1 AND text = ?2)
"""

IN_IDS = "(SELECT value FROM json_each(:ids))"
STORED_POSTS = f"SELECT id, thread_id, rowid, text FROM posts WHERE id IN {IN_IDS}"
POST_TEXTS = f"SELECT id, text FROM posts WHERE id IN {IN_IDS}"
THREAD_TITLE = "SELECT rowid, title FROM threads WHERE id = ?"
FLAG_LATEST = f"""
UPDATE posts SET in_latest_capture = id IN {IN_IDS}
WHERE thread_id = :thread AND in_latest_capture IS NOT (id IN {IN_IDS})
  AND :at >= (SELECT last_captured_at FROM threads WHERE id = :thread)
"""
MARK_POSTS_SEEN = f"""
UPDATE posts SET first_captured_at = min(first_captured_at, :at), last_captured_at = max(last_captured_at, :at)
WHERE id IN {IN_IDS} AND (first_captured_at > :at OR last_captured_at < :at)
"""
MARK_THREAD_SEEN = """
UPDATE threads SET first_captured_at = min(first_captured_at, :at), last_captured_at = max(last_captured_at, :at)
WHERE id = :thread
"""
COUNT_POSTS = f"""
UPDATE threads SET (post_count, first_post_at, last_post_at) = (
  SELECT count(*), min(created_at), max(created_at) FROM posts WHERE thread_id = threads.id AND position IS NOT NULL
) WHERE id IN {IN_IDS}
"""

ANY_FORGOTTEN = "SELECT 1 FROM forgotten LIMIT 1"
ARCHIVED = f"SELECT EXISTS (SELECT 1 FROM threads WHERE id = :thread) OR EXISTS (SELECT 1 FROM posts WHERE id IN {IN_IDS})"
FORGOTTEN = """
SELECT kind, id FROM forgotten
WHERE (kind = 'thread' AND id = :thread) OR (kind = 'post' AND id IN (SELECT value FROM json_each(:posts)))
  OR (kind = 'author' AND id IN (SELECT value FROM json_each(:authors)))
"""

INSERT_HASHTAG = "INSERT OR IGNORE INTO hashtags (tag, display) VALUES (?, ?)"
INSERT_POST_HASHTAG = "INSERT INTO post_hashtags (post_id, tag) VALUES (?, ?)"
TAGS_OF_POSTS = f"SELECT post_id, tag FROM post_hashtags WHERE post_id IN {IN_IDS}"
COUNT_TAG_USES = "UPDATE hashtags SET post_count = post_count + ? WHERE tag = ?"
INSERT_MENTION = "INSERT OR IGNORE INTO mentions (post_id, handle) VALUES (?, ?)"
UPSERT_LINK = merge_upsert(
    "links",
    ("post_id", "url", "display_text", "short_url", "domain", "truncated"),
    ("post_id", "coalesce(url, display_text)"),
    {"truncated": "min(links.truncated, excluded.truncated)"},
    FILL,
)
UPSERT_MEDIA = merge_upsert("media", ("post_id", "url", "kind", "alt_text"), ("post_id", "url"), {}, FILL)
INSERT_THREAD_CAPTURE = "INSERT OR IGNORE INTO thread_captures (thread_id, capture_id) VALUES (?, ?)"


class StoredPost(NamedTuple):
    """What a save needs to know of a post already in the archive."""

    thread_id: str
    rowid: int
    text: str | None


class SearchIndexWrites:
    """What the search indexes (``posts_fts``, ``threads_fts``) owe a batch of saves, written at its end.

    The store, not triggers, keeps them in step with ``posts.text`` and
    ``threads.title`` (migrations ``index_new_posts_in_the_store`` and
    ``reindex_edits_in_the_store``; only the delete triggers stay).  FTS5 writes
    the terms it holds as a new index segment whenever a savepoint opens, and
    each thread of a batch is saved in a savepoint of its own: so the batch's
    new rows enter the index together, once its last thread is saved.
    """

    def __init__(self) -> None:
        self.new: dict[str, set[str]] = {table: set() for table in FTS_CONFIG}
        self.edits: list[tuple[str, str, int, str | None, str | None]] = []  # table, id, rowid, old text, new text

    def add_new(self, table: str, row_id: str) -> None:
        self.new[table].add(row_id)

    def add_edit(self, table: str, row_id: str, rowid: int, old: str | None, text: str | None) -> None:
        """Note a stored row's text as it was before a save and after it (the same if unchanged)."""
        if text != old:
            self.edits.append((table, row_id, rowid, old, text))

    def extend(self, other: SearchIndexWrites) -> None:
        for table, row_ids in other.new.items():
            self.new[table] |= row_ids
        self.edits += other.edits

    def write(self, db: sqlite_utils.Database) -> None:
        for table, column in FTS_CONFIG.items():
            if self.new[table]:
                db.conn.execute(
                    f"INSERT INTO {table}_fts (rowid, {column}) SELECT rowid, {column} FROM {table} WHERE id IN {IN_IDS}",
                    {"ids": json.dumps(sorted(self.new[table]))},
                )
        for table, row_id, rowid, old, text in self.edits:  # in order: a row may be edited twice in a batch
            if row_id in self.new[table]:
                continue  # new in this batch: entered the index above, with its last text
            column = FTS_CONFIG[table]
            db.conn.execute(f"INSERT INTO {table}_fts ({table}_fts, rowid, {column}) VALUES ('delete', ?, ?)", [rowid, old])
            db.conn.execute(f"INSERT INTO {table}_fts (rowid, {column}) VALUES (?, ?)", [rowid, text])


@dataclass(frozen=True)
class SaveResult:
    thread_id: str
    new_posts: int
    changed_posts: int
    unchanged: bool  # the capture added or changed nothing beyond when it was seen
    forgotten: bool = False  # the thread or its author was forgotten on request: nothing was saved


def open_archive(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) the archive at ``path`` with every migration applied."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    migrations.apply(db)
    # With WAL, NORMAL keeps every commit atomic and the file sound; a power cut may only undo the
    # last commits, which the queue (in the same file) then redoes.  FULL fsyncs on every commit:
    # three or four per fetched page.
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def save_capture(db: sqlite_utils.Database, row: Mapping[str, object]) -> None:
    """Add a row to the captures index unless a capture with its id is already there."""
    db.table("captures").insert(dict(row), ignore=True)


def save_thread(
    db: sqlite_utils.Database, thread: Thread, *, captured_at: str, capture_ids: Sequence[str] = ()
) -> SaveResult:
    """Merge one parsed thread into the archive, all or nothing.

    ``captured_at`` is when its captures were made; ``capture_ids`` are their
    ids, and name a post's capture when it is the only one and the post does
    not name its own.  What was forgotten on request is never written.  A lone
    surrogate (JSON's ``"\ud83d"`` cut from its pair), which UTF-8 cannot hold,
    is stored as U+FFFD.
    """
    kept = without_forgotten(db, thread)
    if kept is None:
        return _forgotten(thread)
    return _save_one(db, kept, captured_at, capture_ids, then=lambda writes: writes.write(db))


def save_threads(db: sqlite_utils.Database, saves: Iterable[tuple[Thread, str, Sequence[str]]]) -> list[SaveResult]:
    """Merge parsed threads, given as (thread, captured_at, capture_ids) and taken one at a time, in one
    transaction: each as ``save_thread`` would after the ones before it, and all or nothing.  Faster
    than a transaction of ``save_thread`` calls: the search index is written once, for the whole batch,
    and threads new to the archive are written together (``NewThreads``)."""
    index = SearchIndexWrites()
    new = NewThreads(db, index)
    results = []
    with db.atomic():
        for thread, captured_at, capture_ids in saves:
            kept = without_forgotten(db, thread)
            if kept is None:
                results.append(_forgotten(thread))
                continue
            result = new.take(kept, captured_at, capture_ids)
            if result is None:  # it meets what is archived: merged once the new threads before it are written
                new.write()
                result = _save_one(db, kept, captured_at, capture_ids, then=index.extend)
            results.append(result)
        new.write()
        index.write(db)
    return results


class NewThreads:
    """Threads of a batch that meet nothing archived, nor any thread taken before them: no merge rule
    applies to their rows, so they are written together, one statement a table for all of them, as
    saving them one after another would leave them.  (Most threads of a collection are one post: the
    statements, not the rows, were most of their cost.)"""

    def __init__(self, db: sqlite_utils.Database, index: SearchIndexWrites) -> None:
        self.db, self.index = db, index
        self.threads: list[tuple[Thread, str, Sequence[str]]] = []
        self.ids: set[str] = set()  # the thread and post ids of those taken

    def take(self, thread: Thread, captured_at: str, capture_ids: Sequence[str]) -> SaveResult | None:
        """The thread's result if it is new, kept to be written with the others; None if it is not."""
        post_ids = [post.id for post in thread.posts]
        ids = {thread.id, *post_ids}
        if len(set(post_ids)) < len(post_ids) or not ids.isdisjoint(self.ids) or _archived(self.db, thread.id, post_ids):
            return None
        self.threads.append((thread, captured_at, capture_ids))
        self.ids |= ids
        if len(self.threads) == NEW_THREADS_AT_ONCE:
            self.write()
        return SaveResult(thread.id, len(post_ids), 0, unchanged=False)

    def write(self) -> None:
        """Write the threads taken, noting them for the search index."""
        threads, self.threads, self.ids = self.threads, [], set()
        if not threads:
            return
        try:
            with self.db.atomic():
                self._insert(threads)
        except UnicodeEncodeError:  # a lone surrogate: saved one at a time, which replaces it
            for thread, captured_at, capture_ids in threads:
                _save_one(self.db, thread, captured_at, capture_ids, then=self.index.extend)
            return
        for thread, _, _ in threads:
            self.index.add_new("threads", thread.id)
            for post in thread.posts:
                self.index.add_new("posts", post.id)

    def _insert(self, threads: list[tuple[Thread, str, Sequence[str]]]) -> None:
        conn = self.db.conn
        authors = dict.fromkeys(author for thread, _, _ in threads for author in _authors(thread))
        conn.executemany(UPSERT_AUTHOR, [_author_row(author) for author in authors])
        conn.executemany(UPSERT_THREAD, [_thread_row(thread, captured_at) for thread, captured_at, _ in threads])
        conn.executemany(UPSERT_POST, [_post_row(post, thread, captured_at, _capture_of(post, capture_ids))
                                       for thread, captured_at, capture_ids in threads for post in thread.posts])
        _save_entities(self.db, [post for thread, _, _ in threads for post in thread.posts], stored={})
        conn.executemany(INSERT_THREAD_CAPTURE, [(thread.id, capture_id) for thread, _, capture_ids in threads
                                                 for capture_id in capture_ids])
        conn.execute(COUNT_POSTS, {"ids": json.dumps(sorted(thread.id for thread, _, _ in threads))})


def _archived(db: sqlite_utils.Database, thread_id: str, post_ids: Sequence[str]) -> bool:
    """Whether the thread, or one of these posts, is in the archive already."""
    return db.conn.execute(ARCHIVED, {"thread": thread_id, "ids": json.dumps(post_ids)}).fetchone()[0] == 1


def save_all(db: sqlite_utils.Database, threads: Iterable[Thread], *, captured_at: str,
             capture_ids: Sequence[str]) -> Iterator[SaveResult]:
    """Save the threads read from the same captures (an imported file) as they are read, ``SAVE_BATCH``
    to a transaction: a generator, which saves as it is iterated.  A reader's ThreadvaultError is
    raised once the threads it yielded before it are saved; any other error (Ctrl-C) undoes the
    batch being saved."""
    failure: list[ThreadvaultError] = []
    threads = _until_failure(threads, failure)
    for first in threads:
        batch = itertools.chain([first], itertools.islice(threads, SAVE_BATCH - 1))
        yield from save_threads(db, ((thread, captured_at, capture_ids) for thread in batch))
    if failure:
        raise failure[0]


def _until_failure(threads: Iterable[Thread], failure: list[ThreadvaultError]) -> Iterator[Thread]:
    """The threads a reader yields until it fails; its error is put in ``failure``."""
    try:
        yield from threads
    except ThreadvaultError as error:
        failure.append(error)


def _save_one(db: sqlite_utils.Database, thread: Thread, captured_at: str, capture_ids: Sequence[str], *,
              then: Callable[[SearchIndexWrites], None]) -> SaveResult:
    """One thread, as the archive may keep it (``without_forgotten``), in a transaction of its own or a
    savepoint inside the caller's, which ``then`` hands its search-index writes on before it ends: a
    failure leaves nothing of the thread behind.  If UTF-8 cannot hold one of its strings, it is saved
    again with its lone surrogates replaced."""
    def save(valid: Thread) -> SaveResult:
        writes = SearchIndexWrites()
        with db.atomic():
            result = _save_thread(db, writes, valid, captured_at, capture_ids)
            then(writes)
        return result

    try:
        return save(thread)
    except UnicodeEncodeError:
        return save(_valid_unicode(thread))


def _valid_unicode(value: T) -> T:
    """The value with every lone surrogate in its strings, however deeply nested, replaced by U+FFFD."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(_valid_unicode(item) for item in value)  # type: ignore[return-value]
    if is_dataclass(value) and not isinstance(value, type):
        changes = {field.name: _valid_unicode(getattr(value, field.name)) for field in fields(value)}
        return replace(value, **changes)  # type: ignore[return-value]
    return value


def _save_thread(db: sqlite_utils.Database, index: SearchIndexWrites, thread: Thread, captured_at: str,
                 capture_ids: Sequence[str]) -> SaveResult:
    post_ids = list(dict.fromkeys(post.id for post in thread.posts))
    ids = json.dumps(post_ids)
    marks = {"ids": ids, "thread": thread.id, "at": captured_at}
    stored_thread = db.conn.execute(THREAD_TITLE, [thread.id]).fetchone()
    changes = _upsert_authors(db, thread) + _upsert_thread(db, index, thread, captured_at, stored_thread)
    stored = {row[0]: StoredPost(*row[1:]) for row in db.conn.execute(STORED_POSTS, marks)}
    stored_posts = [post for post in thread.posts if post.id in stored]  # only they can have an earlier text
    changes += _save_earlier_texts(db, stored_posts, captured_at, capture_ids)
    post_changes = _upsert_posts(db, index, thread, stored, captured_at, capture_ids)
    changes += post_changes
    if stored_thread or stored:  # else every row was just added: in the latest capture, seen at captured_at
        changes += db.conn.execute(FLAG_LATEST, marks).rowcount
        db.conn.execute(MARK_POSTS_SEEN, marks)
        db.conn.execute(MARK_THREAD_SEEN, marks)
    changes += _save_entities(db, thread.posts, stored)
    db.conn.executemany(INSERT_THREAD_CAPTURE, [(thread.id, capture_id) for capture_id in capture_ids])
    db.conn.execute(COUNT_POSTS, {"ids": json.dumps(sorted({thread.id, *(post.thread_id for post in stored.values())}))})
    new_posts = len(post_ids) - len(stored)
    return SaveResult(thread.id, new_posts, post_changes - new_posts, unchanged=changes == 0)


def without_forgotten(db: sqlite_utils.Database, thread: Thread) -> Thread | None:
    """The thread as the archive may keep it: None if it, its author or all its posts were forgotten
    on request (table ``forgotten``), else without the posts forgotten or written by a forgotten author."""
    if db.conn.execute(ANY_FORGOTTEN).fetchone() is None:  # as in most archives: spares the query below
        return thread
    authors = {author.id for author in _authors(thread)}
    params = {"thread": thread.id, "posts": json.dumps([post.id for post in thread.posts]), "authors": json.dumps(sorted(authors))}
    forgotten = set(db.conn.execute(FORGOTTEN, params).fetchall())
    if not forgotten:
        return thread
    if ("thread", thread.id) in forgotten or (thread.author and ("author", thread.author.id) in forgotten):
        return None
    posts = tuple(
        post for post in thread.posts
        if ("post", post.id) not in forgotten and not (post.author and ("author", post.author.id) in forgotten)
    )
    return replace(thread, posts=posts) if posts else None


def _forgotten(thread: Thread) -> SaveResult:
    """The result for a thread forgotten on request (``without_forgotten``): nothing of it is written."""
    return SaveResult(thread.id, 0, 0, unchanged=True, forgotten=True)


def _authors(thread: Thread) -> Iterator[Author]:
    """The thread's author and its posts' authors, where known, in order, repeats included."""
    return (author for author in (thread.author, *(post.author for post in thread.posts)) if author)


def _upsert_authors(db: sqlite_utils.Database, thread: Thread) -> int:
    authors = dict.fromkeys(_authors(thread))
    return db.conn.executemany(UPSERT_AUTHOR, [_author_row(author) for author in authors]).rowcount


def _author_row(author: Author) -> tuple[object, ...]:
    return (author.id, author.platform, author.handle, author.display_name, author.url)


def _thread_row(thread: Thread, captured_at: str) -> tuple[object, ...]:
    first = next((post for post in thread.posts if post.id == thread.id), None)
    title = shorten(first.text) if first and first.text else None
    author_id = thread.author.id if thread.author else None
    discovered = _json_array(set(thread.discovered))
    return (
        thread.id, thread.platform, thread.url, thread.source, author_id, title, thread.other_replies, discovered,
        captured_at, captured_at,
    )


def _save_earlier_texts(
    db: sqlite_utils.Database, posts: Iterable[Post], captured_at: str, capture_ids: Sequence[str]
) -> int:
    rows = [
        (post.id, post.text, captured_at, _capture_of(post, capture_ids))
        for post in posts
        if post.text is not None and not post.missing
    ]
    return db.conn.executemany(SAVE_EARLIER_TEXT, rows).rowcount


def _upsert_thread(db: sqlite_utils.Database, index: SearchIndexWrites, thread: Thread, captured_at: str,
                   stored: tuple[int, str | None] | None) -> int:
    """Merge the thread's row (``stored``: its rowid and title, if archived), noting its title for the
    search index; returns 1 if the row changed."""
    changed = db.conn.execute(UPSERT_THREAD, _thread_row(thread, captured_at)).rowcount
    if stored is None:
        index.add_new("threads", thread.id)
    elif changed:
        rowid, old_title = stored
        index.add_edit("threads", thread.id, rowid, old_title, db.conn.execute(THREAD_TITLE, [thread.id]).fetchone()[1])
    return changed


def _upsert_posts(db: sqlite_utils.Database, index: SearchIndexWrites, thread: Thread,
                  stored: Mapping[str, StoredPost], captured_at: str, capture_ids: Sequence[str]) -> int:
    """Merge the post rows, noting their texts for the search index; returns how many changed."""
    rows = [_post_row(post, thread, captured_at, _capture_of(post, capture_ids)) for post in thread.posts]
    changed = db.conn.executemany(UPSERT_POST, rows).rowcount
    for post in thread.posts:
        if post.id not in stored:
            index.add_new("posts", post.id)
    if stored and changed:
        for post_id, text in db.conn.execute(POST_TEXTS, {"ids": json.dumps(list(stored))}):
            index.add_edit("posts", post_id, stored[post_id].rowid, stored[post_id].text, text)
    return changed


def _capture_of(post: Post, capture_ids: Sequence[str]) -> str | None:
    """The capture a post was read from: its own, else the thread's when there was only one."""
    return post.capture_id or (capture_ids[0] if len(capture_ids) == 1 else None)


def _post_row(post: Post, thread: Thread, captured_at: str, capture_id: str | None) -> tuple[object, ...]:
    return (
        post.id, thread.id, post.position, post.author.id if post.author else None, post.created_at, post.text,
        post.url, post.reply_to_id, post.lang, _json_array({normalise_tag(tag) for tag in post.hashtags}),
        thread.source, capture_id, post.spoiler_text, post.edited_at, post.reply_count, post.repost_count,
        post.like_count, int(post.missing), captured_at, captured_at,
    )


def _save_entities(db: sqlite_utils.Database, posts: Sequence[Post], stored: Mapping[str, StoredPost]) -> int:
    """Hashtags, mentions, links and media of the posts; returns how many rows were added or filled."""
    statements = {
        INSERT_HASHTAG: [(normalise_tag(tag), tag) for post in posts for tag in post.hashtags],
        INSERT_MENTION: [(post.id, handle) for post in posts for handle in post.mentions],
        UPSERT_LINK: [
            (post.id, link.url, link.display_text, link.short_url, link.domain, int(link.truncated))
            for post in posts
            for link in post.links
            if link.url or link.display_text
        ],
        UPSERT_MEDIA: [(post.id, media.url, media.kind, media.alt_text) for post in posts for media in post.media],
    }
    return sum(db.conn.executemany(sql, rows).rowcount for sql, rows in statements.items()) + _tag_posts(db, posts, stored)


def _tag_posts(db: sqlite_utils.Database, posts: Sequence[Post], stored: Mapping[str, StoredPost]) -> int:
    """Add the posts' new (post, hashtag) rows and count them in ``hashtags.post_count``; returns how many.
    Only a post archived before can have some already."""
    uses = {(post.id, normalise_tag(tag)) for post in posts for tag in post.hashtags}
    if stored:
        uses -= set(db.conn.execute(TAGS_OF_POSTS, {"ids": json.dumps(list(stored))}).fetchall())
    db.conn.executemany(INSERT_POST_HASHTAG, sorted(uses))
    db.conn.executemany(COUNT_TAG_USES, [(count, tag) for tag, count in Counter(tag for _, tag in uses).items()])
    return len(uses)


def _json_array(values: Iterable[str]) -> str:
    """Sorted, compact and unescaped, as SQLite's json_group_array writes it, so merges compare equal."""
    return json.dumps(sorted(values), ensure_ascii=False, separators=(",", ":"))


def shorten(text: str, width: int = TITLE_WIDTH) -> str:
    """``text`` on one line, cut on a word boundary to at most ``width`` characters with "…"."""
    line = " ".join(text.split())
    if len(line) <= width:
        return line
    cut = line[: width - 1]
    boundary = cut.rfind(" ")
    if line[width - 1] != " " and boundary > width // 2:  # else the cut is a boundary, or the word too long
        cut = cut[:boundary]
    return cut.rstrip(" ,;:.-") + "…"
