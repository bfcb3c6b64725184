from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlite_utils
from datasette.utils import detect_fts

from threadvault import migrations, store
from threadvault.model import Post, Thread

SURROGATE_KEYS = {("links", "id"), ("post_versions", "id")}


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return store.open_archive(tmp_path / "threadvault.db")


def schema(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    return db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_reopening_applies_nothing_twice(db: sqlite_utils.Database, tmp_path: Path) -> None:
    before = schema(db)
    db.close()

    reopened = store.open_archive(tmp_path / "threadvault.db")

    assert [applied.name for applied in migrations.migrations.applied(reopened)] == [
        "create_tables",
        "create_indexes",
        "enable_fts",
        "enable_wal",
        "index_new_posts_in_the_store",
        "cover_tag_and_mention_lookups",
        "reindex_edits_in_the_store",
        "count_posts_per_hashtag",
    ]
    assert migrations.migrations.pending(reopened) == []
    assert schema(reopened) == before


def test_the_archive_uses_write_ahead_logging(db: sqlite_utils.Database, tmp_path: Path) -> None:
    db.close()
    assert store.open_archive(tmp_path / "threadvault.db").journal_mode == "wal"


def test_every_id_column_is_text(db: sqlite_utils.Database) -> None:
    id_columns = {
        (table.name, column.name): column.type
        for table in db.tables
        if not table.name.startswith(("_", "posts_fts", "threads_fts"))
        for column in table.columns
        if column.name == "id" or column.name.endswith("_id")
    }

    assert ("posts", "reply_to_id") in id_columns
    assert {key: kind for key, kind in id_columns.items() if kind != "TEXT"} == dict.fromkeys(SURROGATE_KEYS, "INTEGER")


@pytest.mark.parametrize(("table", "fts"), [("posts", "posts_fts"), ("threads", "threads_fts")])
def test_datasette_finds_the_search_tables(db: sqlite_utils.Database, table: str, fts: str) -> None:
    assert detect_fts(db.conn, table) == fts


def test_every_foreign_key_leads_exactly_one_index(db: sqlite_utils.Database) -> None:
    for table in db.tables:
        leading = [index.columns[0] for index in table.indexes]
        for key in table.foreign_keys:
            assert leading.count(key.column) == 1, (table.name, key.column)


def test_facet_and_sort_columns_are_indexed(db: sqlite_utils.Database) -> None:
    indexed = {(table.name, tuple(index.columns)) for table in db.tables for index in table.indexes}

    expected = {
        ("posts", ("created_at",)),
        ("posts", ("author_id",)),
        ("posts", ("thread_id", "position")),
        ("threads", ("platform",)),
        ("threads", ("author_id",)),
        ("threads", ("last_post_at",)),
        ("post_hashtags", ("tag", "post_id")),
        ("mentions", ("handle", "post_id")),
        ("links", ("domain",)),
        ("captures", ("url", "fetched_at")),
        ("queue", ("status", "added_at")),
    }
    assert expected <= indexed


def test_the_search_index_is_rewritten_only_when_the_text_changes(db: sqlite_utils.Database) -> None:
    posts = (Post(id="twitter:1", author=None, text="archived words", position=1),)
    first = Thread(id="twitter:1", platform="twitter", url="", source="test", author=None, posts=posts)
    store.save_thread(db, first, captured_at="2026-01-01T00:00:00Z")
    segments = {table: db.execute(f"SELECT * FROM {table}_fts_data").fetchall() for table in ("posts", "threads")}

    store.save_thread(db, replace(first, posts=(replace(posts[0], like_count=5),)), captured_at="2026-01-02T00:00:00Z")
    assert {table: db.execute(f"SELECT * FROM {table}_fts_data").fetchall() for table in ("posts", "threads")} == segments

    # The first post's new text is the thread's new title too.
    store.save_thread(db, replace(first, posts=(replace(posts[0], text="preserved words"),)), captured_at="2026-01-03T00:00:00Z")
    for table in ("posts", "threads"):
        assert db.execute(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH 'preserving'").fetchall() == [(1,)]
        assert db.execute(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH 'archive'").fetchall() == []

def test_an_archive_from_before_the_hashtag_counts_gets_them(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "threadvault.db")
    migrations.migrations.apply(db, stop_before="count_posts_per_hashtag")
    db["hashtags"].insert_all([{"tag": "café", "display": "Café"}, {"tag": "tea", "display": "tea"}])
    db["post_hashtags"].insert_all([{"post_id": f"twitter:{n}", "tag": "café"} for n in range(3)]
                                   + [{"post_id": "twitter:1", "tag": "tea"}])

    upgraded = store.open_archive(tmp_path / "threadvault.db")

    assert upgraded.execute("SELECT tag, post_count FROM hashtags ORDER BY tag").fetchall() == [("café", 3), ("tea", 1)]
