"""The archive's schema as sqlite-utils migrations, applied each time the archive is opened.

The tables are a public contract for analysts: a later migration may add
columns, never rename them.  Every id is TEXT, so a 19-digit tweet id stays
exact.  A migration's name is recorded in ``_sqlite_migrations`` once it has
run, so a published migration is never renamed or edited: change the schema in
a new one.
"""

from __future__ import annotations

import textwrap

from sqlite_utils import Database, Migrations

migrations = Migrations("threadvault")

# Full-text search: table -> the one column it indexes, with Porter stemming.
FTS_CONFIG = {"posts": "text", "threads": "title"}

# Indexes for facets, sorts and the queries jobs.py runs; foreign keys get theirs separately.
INDEXES = (
    ("posts", ("created_at",)),
    ("posts", ("thread_id", "position")),
    ("threads", ("platform",)),
    ("threads", ("last_post_at",)),
    ("mentions", ("handle",)),
    ("links", ("domain",)),
    ("captures", ("url", "fetched_at")),
    ("queue", ("status", "added_at")),
)


@migrations()
def create_tables(db: Database) -> None:
    _create_sources(db)
    _create_threads_and_posts(db)
    _create_entities(db)
    _create_bookkeeping(db)


@migrations()
def create_indexes(db: Database) -> None:
    for table, columns in INDEXES:
        db.table(table).create_index(columns)
    # A link is the same link again when it has the same target (or, cut short, the same display text).
    db.execute("CREATE UNIQUE INDEX idx_links_post_id_target ON links (post_id, coalesce(url, display_text))")
    index_foreign_keys(db)


@migrations()
def enable_fts(db: Database) -> None:
    for table, column in FTS_CONFIG.items():
        db.table(table).enable_fts([column], create_triggers=True, tokenize="porter")
        narrow_fts_update_trigger(db, table, column)


@migrations(transactional=False)
def enable_wal(db: Database) -> None:
    db.enable_wal()


@migrations()
def index_new_posts_in_the_store(db: Database) -> None:
    """The store adds a thread's new posts to ``posts_fts`` in one statement (now a batch's: ``store.SearchIndexWrites``).

    The insert trigger ran once per row inside the posts upsert, and FTS5 flushes
    its pending terms at every savepoint such a trigger opens: a new index segment
    for each post, which made the search index two thirds of a fresh save's cost.
    The delete trigger stays (the update trigger went later: ``reindex_edits_in_the_store``).
    """
    db.execute("DROP TRIGGER posts_ai")


@migrations()
def cover_tag_and_mention_lookups(db: Database) -> None:
    """The posts with a hashtag, or mentioning a handle, read from the index alone.

    The search page filters by hashtag and mention, and Datasette facets by them;
    an index of the tag (or handle) alone led back to the table for every post id.
    """
    for table, column in (("post_hashtags", "tag"), ("mentions", "handle")):
        db.execute(f"DROP INDEX idx_{table}_{column}")
        db.table(table).create_index([column, "post_id"])


@migrations()
def reindex_edits_in_the_store(db: Database) -> None:
    """The store keeps the search indexes in step with the texts and titles it writes
    (``store.SearchIndexWrites``), a batch of threads at a time.

    With an update trigger on ``posts``, SQLite ran every row of the posts upsert
    in a statement journal of its own, changed or not: that doubled the cost of
    writing a post.  The threads' insert trigger wrote their index as each thread
    was saved, and FTS5 then wrote a new index segment at each thread's
    savepoint.  The delete triggers stay: ``forget.py`` deletes, and clears the
    titles of the threads it touches from ``threads_fts`` itself.
    """
    for trigger in ("posts_au", "threads_ai", "threads_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")


@migrations()
def count_posts_per_hashtag(db: Database) -> None:
    """``hashtags.post_count``: how many posts use each hashtag, kept in step by the store and ``forget``.

    Counting them from ``post_hashtags`` reads an index entry for every use: over a
    million posts that took 150-200 ms, at the edge of Datasette's facet time limit.
    """
    db.table("hashtags").add_column("post_count", int, not_null_default=0)
    db.execute("UPDATE hashtags SET post_count = (SELECT count(*) FROM post_hashtags WHERE tag = hashtags.tag)")


def _create_sources(db: Database) -> None:
    db.table("captures").create(
        {
            "id": str,  # the WARC-Record-ID
            "url": str,
            "fetched_at": str,
            "status": int,
            "content_type": str,
            "sha256": str,
            "size": int,
            "warc_file": str,
            "offset": int,
            "length": int,
            "warc_payload_digest": str,
        },
        pk="id",
    )
    db.table("authors").create({"id": str, "platform": str, "handle": str, "display_name": str, "url": str}, pk="id")
    db.table("hashtags").create({"tag": str, "display": str}, pk="tag", not_null={"display"})


def _create_threads_and_posts(db: Database) -> None:
    db.table("threads").create(
        {
            "id": str,
            "platform": str,
            "url": str,
            "source": str,
            "author_id": str,
            "title": str,
            "post_count": int,
            "first_post_at": str,
            "last_post_at": str,
            "first_captured_at": str,
            "last_captured_at": str,
            "other_replies": int,
            "discovered": str,  # JSON array of URLs
        },
        pk="id",
        foreign_keys=[("author_id", "authors", "id")],
        not_null={"post_count", "discovered"},
        defaults={"post_count": 0, "discovered": "[]"},
    )
    db.table("posts").create(
        {
            "id": str,
            "thread_id": str,
            "position": int,
            "author_id": str,
            "created_at": str,
            "text": str,
            "url": str,
            "reply_to_id": str,
            "lang": str,
            "hashtags": str,  # JSON array of normalised tags
            "source": str,
            "capture_id": str,
            "spoiler_text": str,
            "edited_at": str,
            "reply_count": int,
            "repost_count": int,
            "like_count": int,
            "missing": int,
            "in_latest_capture": int,
            "first_captured_at": str,
            "last_captured_at": str,
        },
        pk="id",
        foreign_keys=[
            ("thread_id", "threads", "id"),
            ("author_id", "authors", "id"),
            ("capture_id", "captures", "id"),
        ],
        not_null={"thread_id", "hashtags", "missing", "in_latest_capture"},
        defaults={"hashtags": "[]", "missing": 0, "in_latest_capture": 1},
    )
    db.table("post_versions").create(
        {"id": int, "post_id": str, "text": str, "first_seen_at": str, "superseded_at": str, "capture_id": str},
        pk="id",
        foreign_keys=[("post_id", "posts", "id"), ("capture_id", "captures", "id")],
        not_null={"post_id", "text"},
    )


def _create_entities(db: Database) -> None:
    post = ("post_id", "posts", "id")
    db.table("post_hashtags").create(
        {"post_id": str, "tag": str}, pk=("post_id", "tag"), foreign_keys=[post, ("tag", "hashtags", "tag")]
    )
    db.table("mentions").create({"post_id": str, "handle": str}, pk=("post_id", "handle"), foreign_keys=[post])
    db.table("links").create(
        {
            "id": int,
            "post_id": str,
            "url": str,
            "display_text": str,
            "short_url": str,
            "domain": str,
            "truncated": int,
        },
        pk="id",
        foreign_keys=[post],
        not_null={"post_id", "truncated"},
        defaults={"truncated": 0},
    )
    db.table("media").create(
        {"post_id": str, "url": str, "kind": str, "alt_text": str}, pk=("post_id", "url"), foreign_keys=[post]
    )


def _create_bookkeeping(db: Database) -> None:
    db.table("thread_captures").create(
        {"thread_id": str, "capture_id": str},
        pk=("thread_id", "capture_id"),
        foreign_keys=[("thread_id", "threads", "id"), ("capture_id", "captures", "id")],
    )
    db.table("queue").create(
        {
            "url": str,  # canonical URL
            "source": str,
            "status": str,  # pending, done or failed
            "attempts": int,
            "reason": str,
            "thread_id": str,
            "discovered_from": str,
            "added_at": str,
            "updated_at": str,
        },
        pk="url",
        foreign_keys=[("thread_id", "threads", "id")],
        not_null={"status", "attempts"},
        defaults={"status": "pending", "attempts": 0},
    )
    db.table("forgotten").create(
        {"kind": str, "id": str, "forgotten_at": str, "reason": str},  # kind: author, thread or post
        pk=("kind", "id"),
    )


def index_foreign_keys(db: Database) -> None:
    """Index each foreign key column that does not already lead an index.

    ``db.index_foreign_keys()`` would also index ``post_hashtags.post_id``,
    which leads the table's primary key, and ``posts.thread_id``, which leads
    ``(thread_id, position)``: indexes no query needs that every write pays for.
    """
    for name in db.table_names():
        table = db.table(name)
        leading = {index.columns[0] for index in table.indexes}
        for key in table.foreign_keys:
            if key.column not in leading:
                table.create_index([key.column], find_unique_name=True)
                leading.add(key.column)


def narrow_fts_update_trigger(db: Database, table: str, column: str) -> None:
    """Re-create sqlite-utils' ``<table>_au`` trigger to fire only when the indexed text changes.

    The stock trigger rewrites a row's search entry on every update, and every
    save updates each post's ``last_captured_at``.  (Migration
    ``reindex_edits_in_the_store`` later dropped the insert and update triggers:
    a migration that re-runs ``enable_fts(..., replace=True)``, as a
    ``transform()`` needs, must drop them again, or new rows are indexed twice.)
    """
    fts = f"{table}_fts"
    db.execute(f"DROP TRIGGER [{table}_au]")
    db.execute(
        textwrap.dedent(f"""
        CREATE TRIGGER [{table}_au] AFTER UPDATE OF [{column}] ON [{table}]
        WHEN old.[{column}] IS NOT new.[{column}] BEGIN
          INSERT INTO [{fts}] ([{fts}], rowid, [{column}]) VALUES('delete', old.rowid, old.[{column}]);
          INSERT INTO [{fts}] (rowid, [{column}]) VALUES (new.rowid, new.[{column}]);
        END
        """).strip()
    )
