"""Removal requests: an author's posts, a thread or a post taken out of the archive, and kept out.

    forget(db_path, kind, target, reason=, purge_captures=)    one request, all or nothing

What goes, in one transaction: the posts, their hashtag, mention, link and media rows and their
earlier texts; the threads left without posts (and, for an author, the threads they started, with
the replies in them); for an author, the author row.  The search index follows through the
delete triggers sqlite-utils installed (a title cleared here leaves it explicitly), and deleted
pages are zeroed (``secure_delete``) and merged out of the index, so the words do not linger in
the database file.  A tombstone in ``forgotten`` makes every later fetch, import and reparse skip
them (``store.save_thread``).

With ``purge_captures`` the captures they were read from go too: each WARC file holding one is
copied without those records (``captures.write_without``), the index is updated in the same
transaction, and then the copy replaces the file.  If the process dies between the commit and the
replacement, the next ``forget`` finishes it: a copy whose offsets the index already uses replaces
its file, any other copy is deleted.  Files outside the archive's WARC directory (imported by
reference) are the user's own: their rows go, the files are left as they are and reported.  An
imported twarc file, Twitter archive or text file is one resource record for all the threads read
from it: it is purged only when nothing else was read from it, and otherwise left, with its index
row, and reported, so the other threads can still be rebuilt (the tombstone keeps the forgotten
content out of every reparse).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from threadvault import captures, store
from threadvault.errors import CaptureCorrupt, ThreadvaultError
from threadvault.jobs import FORGOTTEN, now, warc_dir_for
from threadvault.migrations import FTS_CONFIG
from threadvault.reading import NotInArchive

KINDS = ("author", "thread", "post")
IN = "(SELECT value FROM json_each(?))"
ENTITY_TABLES = ("post_hashtags", "mentions", "links", "media", "post_versions")


@dataclass
class ForgetReport:
    kind: str
    ids: list[str]  # what was forgotten: an author's handle resolves to its ids
    posts: int = 0
    threads: int = 0
    authors: int = 0
    captures: int = 0
    rewritten: list[str] = field(default_factory=list)  # WARC files copied without the records
    left_in_place: list[str] = field(default_factory=list)  # foreign WARC files still holding some
    kept_imports: list[str] = field(default_factory=list)  # imported files other threads were read from too


def forget(db_path: Path, kind: str, target: str, *, reason: str | None = None,
           purge_captures: bool = False) -> ForgetReport:
    """Take an author (id or handle), a thread or a post (global ids) out of the archive and tombstone
    it.  An id the archive does not hold yet is tombstoned all the same, so it is never archived."""
    db = store.open_archive(db_path)
    db.execute("PRAGMA synchronous = FULL")  # the commit must be on disk before a WARC file is replaced
    db.execute("PRAGMA secure_delete = ON")
    warc_dir = warc_dir_for(db_path)
    finish_interrupted_rewrites(db, warc_dir)
    report = ForgetReport(kind, _resolve(db, kind, target))
    posts, threads = _doomed(db, kind, report.ids)
    touched = _threads_of(db, posts) | threads
    doomed_captures = _captures_of(db, posts, touched) if purge_captures else set()
    shared = _shared_imports(db, doomed_captures, posts)
    report.kept_imports = sorted(shared.values())
    doomed_captures -= shared.keys()
    rewrites = _rewrite_files(db, warc_dir, doomed_captures, report)
    try:
        with db.atomic():
            report.posts, report.threads, report.authors = _delete(db, kind, report.ids, posts, threads, touched)
            db.conn.executemany("INSERT OR IGNORE INTO forgotten (kind, id, forgotten_at, reason) VALUES (?, ?, ?, ?)",
                                [(kind, id, now(), reason) for id in report.ids])
            report.captures = _delete_captures(db, doomed_captures, rewrites)
    except BaseException:
        _abandon(rewrites)
        raise
    for path in rewrites:
        captures.finish_rewrite(path)
        report.rewritten.append(path.name)
    _scrub(db)
    return report


def _resolve(db: sqlite_utils.Database, kind: str, target: str) -> list[str]:
    if kind not in KINDS:
        raise ThreadvaultError(f"{kind}: not something to forget (one of {', '.join(KINDS)})")
    if kind != "author" or ":" in target:
        if ":" not in target:
            raise ThreadvaultError(f"{target}: not a global id (such as twitter:1215710451343904768)")
        return [target]
    handle = target.removeprefix("@")
    ids = [row[0] for row in db.execute("SELECT id FROM authors WHERE lower(handle) = lower(?) ORDER BY id", [handle])]
    if not ids:
        raise NotInArchive("author", target)
    if len(ids) > 1:
        raise ThreadvaultError(f"{target}: several authors have this handle ({', '.join(ids)}); give one of their ids")
    return ids


def _doomed(db: sqlite_utils.Database, kind: str, ids: list[str]) -> tuple[set[str], set[str]]:
    """The posts and the threads to delete as a whole."""
    ids_json = json.dumps(ids)
    if kind == "author":
        threads = _column(db, f"SELECT id FROM threads WHERE author_id IN {IN}", ids_json)
        posts = _column(db, f"SELECT id FROM posts WHERE author_id IN {IN} OR thread_id IN {IN}",
                        ids_json, json.dumps(sorted(threads)))
    elif kind == "thread":
        threads = _column(db, f"SELECT id FROM threads WHERE id IN {IN}", ids_json)
        posts = _column(db, f"SELECT id FROM posts WHERE thread_id IN {IN}", ids_json)
    else:
        threads, posts = set(), _column(db, f"SELECT id FROM posts WHERE id IN {IN}", ids_json)
    return posts, threads


def _threads_of(db: sqlite_utils.Database, posts: set[str]) -> set[str]:
    return _column(db, f"SELECT DISTINCT thread_id FROM posts WHERE id IN {IN}", json.dumps(sorted(posts)))


def _captures_of(db: sqlite_utils.Database, posts: set[str], threads: set[str]) -> set[str]:
    """Every capture the posts were read from: their own, their earlier texts', their threads'."""
    return _column(
        db,
        f"SELECT capture_id FROM thread_captures WHERE thread_id IN {IN} UNION "
        f"SELECT capture_id FROM posts WHERE id IN {IN} UNION SELECT capture_id FROM post_versions WHERE post_id IN {IN}",
        json.dumps(sorted(threads)), json.dumps(sorted(posts)), json.dumps(sorted(posts)),
    ) - {None}


SHARED_IMPORTS = f"""
SELECT captures.id, coalesce(queue.discovered_from, captures.url) FROM captures LEFT JOIN queue ON queue.url = captures.url
WHERE captures.id IN {IN} AND captures.status IS NULL AND (
  EXISTS (SELECT 1 FROM posts WHERE posts.capture_id = captures.id AND posts.id NOT IN {IN})
  OR EXISTS (SELECT 1 FROM post_versions WHERE capture_id = captures.id AND post_id NOT IN {IN})
  OR EXISTS (SELECT 1 FROM thread_captures JOIN posts ON posts.thread_id = thread_captures.thread_id
             WHERE thread_captures.capture_id = captures.id AND posts.id NOT IN {IN}))
"""


def _shared_imports(db: sqlite_utils.Database, doomed: set[str], posts: set[str]) -> dict[str, str]:
    """The imported files (resource records, which have no HTTP status) among the doomed captures that
    posts staying in the archive were read from too, by capture id, with the names they were imported as."""
    posts_json = json.dumps(sorted(posts))
    return dict(db.execute(SHARED_IMPORTS, [json.dumps(sorted(doomed)), posts_json, posts_json, posts_json]).fetchall())


def _delete(db: sqlite_utils.Database, kind: str, ids: list[str], posts: set[str], threads: set[str],
            touched: set[str]) -> tuple[int, int, int]:
    """Delete the rows; returns how many posts, threads and authors went."""
    posts_json, touched_json = json.dumps(sorted(posts)), json.dumps(sorted(touched))
    uses = f"FROM post_hashtags WHERE post_id IN {IN}"
    db.execute(f"UPDATE hashtags SET post_count = post_count - (SELECT count(*) {uses} AND tag = hashtags.tag)"
               f" WHERE tag IN (SELECT tag {uses})", [posts_json, posts_json])
    for table in ENTITY_TABLES:
        db.execute(f"DELETE FROM [{table}] WHERE post_id IN {IN}", [posts_json])
    removed_posts = db.execute(f"DELETE FROM posts WHERE id IN {IN}", [posts_json]).rowcount
    emptied = threads | _column(db, "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT thread_id FROM posts)",
                                touched_json)
    emptied_json = json.dumps(sorted(emptied))
    db.execute(f"DELETE FROM thread_captures WHERE thread_id IN {IN}", [emptied_json])
    db.execute(f"UPDATE queue SET thread_id = NULL, reason = ? WHERE thread_id IN {IN}", [FORGOTTEN, emptied_json])
    removed_threads = db.execute(f"DELETE FROM threads WHERE id IN {IN}", [emptied_json]).rowcount
    titled = f"FROM threads WHERE id IN {IN} AND title IS NOT NULL"  # titled by a forgotten post
    db.execute(f"INSERT INTO threads_fts (threads_fts, rowid, title) SELECT 'delete', rowid, title {titled}", [posts_json])
    # An empty entry in its place, as 'rebuild' would leave for a thread without a title: one per row.
    db.execute(f"INSERT INTO threads_fts (rowid, title) SELECT rowid, NULL {titled}", [posts_json])
    db.execute(f"UPDATE threads SET title = NULL WHERE id IN {IN}", [posts_json])
    db.execute(store.COUNT_POSTS, {"ids": touched_json})
    db.execute("DELETE FROM hashtags WHERE post_count = 0")  # no post uses them any more
    removed_authors = 0
    if kind == "author":
        removed_authors = db.execute(f"DELETE FROM authors WHERE id IN {IN}", [json.dumps(ids)]).rowcount
    return removed_posts, removed_threads, removed_authors


def _rewrite_files(db: sqlite_utils.Database, warc_dir: Path, doomed: set[str], report: ForgetReport) -> list[Path]:
    """Copy each WARC file of the archive holding a doomed capture without it (checking that every
    other indexed record of the file is in the copy); note the foreign files. Returns the originals."""
    rows = list(db.query(f"SELECT id, warc_file FROM captures WHERE id IN {IN}", [json.dumps(sorted(doomed))]))
    files = sorted({row["warc_file"] for row in rows})
    report.left_in_place = [name for name in files if Path(name).is_absolute()]
    rewritten = []
    try:
        for name in (name for name in files if not Path(name).is_absolute()):
            copy, offsets = captures.write_without(warc_dir / name, doomed)
            rewritten.append(warc_dir / name)
            kept = {row[0] for row in db.execute("SELECT id FROM captures WHERE warc_file = ?", [name])} - doomed
            if not kept <= offsets.keys():
                raise CaptureCorrupt(str(warc_dir / name), None, "indexed records missing from the file")
    except BaseException:
        _abandon(rewritten)
        raise
    return rewritten


def _abandon(rewritten: Iterable[Path]) -> None:
    for path in rewritten:
        _copy_of(path).unlink(missing_ok=True)


def _copy_of(path: Path) -> Path:
    return path.with_name(path.name + captures.REWRITE_SUFFIX)


def _delete_captures(db: sqlite_utils.Database, doomed: set[str], rewritten: Iterable[Path]) -> int:
    """Remove the doomed capture rows and point the others of the rewritten files at their new places."""
    doomed_json = json.dumps(sorted(doomed))
    for table, column in (("posts", "capture_id"), ("post_versions", "capture_id")):
        db.execute(f"UPDATE [{table}] SET [{column}] = NULL WHERE [{column}] IN {IN}", [doomed_json])
    db.execute(f"DELETE FROM thread_captures WHERE capture_id IN {IN}", [doomed_json])
    removed = db.execute(f"DELETE FROM captures WHERE id IN {IN}", [doomed_json]).rowcount
    for path in rewritten:
        new_offsets = captures.record_offsets(_copy_of(path))
        db.conn.executemany("UPDATE captures SET offset = ? WHERE id = ?", [(offset, id) for id, offset in new_offsets.items()])
    return removed


def finish_interrupted_rewrites(db: sqlite_utils.Database, warc_dir: Path) -> None:
    """Complete or abandon the file replacements of a ``forget`` that died after writing its copies:
    a copy whose offsets the captures index uses already was committed and replaces its file."""
    for copy in sorted(warc_dir.rglob(f"*{captures.REWRITE_SUFFIX}")) if warc_dir.is_dir() else []:
        original = copy.with_name(copy.name.removesuffix(captures.REWRITE_SUFFIX))
        name = str(original.relative_to(warc_dir))
        offsets = captures.record_offsets(copy)
        rows = db.execute("SELECT id, offset FROM captures WHERE warc_file = ?", [name]).fetchall()
        if all(offsets.get(id) == offset for id, offset in rows):
            captures.finish_rewrite(original)
        else:
            copy.unlink()


def _scrub(db: sqlite_utils.Database) -> None:
    """Merge deleted entries out of the search indexes and move every page out of the write-ahead
    log, so no deleted text stays readable in the files (a reader holding the log open may delay it)."""
    with db.atomic():
        for table in FTS_CONFIG:
            db.execute(f"INSERT INTO [{table}_fts] ([{table}_fts]) VALUES ('optimize')")
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError:
        pass  # busy: the next checkpoint moves the pages out


def _column(db: sqlite_utils.Database, sql: str, *params: str) -> set:
    return {row[0] for row in db.execute(sql, list(params))}
