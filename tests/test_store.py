from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from threadvault import store
from threadvault.model import Author, Link, Media, Post, Thread

T1, T2, T3 = "2024-01-01T10:00:00Z", "2024-02-01T10:00:00Z", "2024-03-01T10:00:00Z"
QUINN = Author("twitter:quinnypig", "twitter", "QuinnyPig", "Corey Quinn", "https://twitter.com/QuinnyPig")
OTHER = Author("twitter:someone", "twitter", "someone")
ROOT = "twitter:1215710451343904768"


def tweet(n: int) -> str:
    """The id of the n-th tweet of the thread: 19 digits, beyond what a float holds exactly."""
    return f"twitter:{1215710451343904767 + n}"


def post(n: int, text: str | None, **fields: Any) -> Post:
    fields.setdefault("position", n)
    fields.setdefault("author", QUINN)
    return Post(id=tweet(n), text=text, **fields)


def thread(*posts: Post, **fields: Any) -> Thread:
    fields.setdefault("source", "threadreaderapp")
    fields.setdefault("url", "https://threadreaderapp.com/thread/1215710451343904768.html")
    return Thread(id=posts[0].id, platform="twitter", author=QUINN, posts=posts, **fields)


def rows(db: sqlite_utils.Database, table: str, *columns: str) -> list[dict[str, Any]]:
    selected = ", ".join(columns) or "*"
    return [dict(row) for row in db.query(f"SELECT {selected} FROM {table} ORDER BY rowid")]


def post_row(db: sqlite_utils.Database, post_id: str) -> dict[str, Any]:
    return db["posts"].get(post_id)


def snapshot(db: sqlite_utils.Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, the full-text index's shadow tables included."""
    return {name: db.execute(f"SELECT * FROM [{name}]").fetchall() for name in db.table_names()}


def search(db: sqlite_utils.Database, words: str) -> list[str]:
    sql = "SELECT posts.id FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid WHERE posts_fts MATCH ?"
    return [row[0] for row in db.execute(sql, [words])]


def miscounted_hashtags(db: sqlite_utils.Database) -> list[tuple[str, int, int]]:
    """Hashtags whose post_count is not the number of posts using them."""
    return db.execute(
        "SELECT tag, post_count, (SELECT count(*) FROM post_hashtags WHERE tag = hashtags.tag) AS uses"
        " FROM hashtags WHERE post_count != uses").fetchall()


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    return store.open_archive(tmp_path / "db" / "threadvault.db")


FIRST = post(
    1,
    "Let's talk about archiving #Café threads with @simonw datasette.io/blog/threa…",
    created_at="2020-01-10T19:00:00Z",
    url="https://twitter.com/QuinnyPig/status/1215710451343904768",
    lang="en",
    hashtags=("Café",),
    mentions=("simonw",),
    links=(Link("https://datasette.io/blog/threads", "datasette.io/blog/threa…", "https://t.co/abc"),),
    media=(Media("https://pbs.twimg.com/media/a.jpg", "image", "A cat"),),
    reply_count=3,
    repost_count=2,
    like_count=10,
)
SECOND = post(2, "2/ The archive keeps every capture.", created_at="2020-01-10T19:01:00Z", reply_to_id=ROOT)
REPLY = Post("twitter:1215710451343904999", OTHER, "Nice", created_at="2020-01-10T20:00:00Z", reply_to_id=ROOT)
THREAD = thread(FIRST, SECOND, REPLY, other_replies=4, discovered=("https://threadreaderapp.com/thread/2.html",))


def test_fresh_save_writes_every_table(db: sqlite_utils.Database) -> None:
    result = store.save_thread(db, THREAD, captured_at=T1, capture_ids=["<urn:uuid:c1>"])

    assert result == store.SaveResult(ROOT, new_posts=3, changed_posts=0, unchanged=False)
    assert rows(db, "threads") == [
        {
            "id": ROOT,
            "platform": "twitter",
            "url": "https://threadreaderapp.com/thread/1215710451343904768.html",
            "source": "threadreaderapp",
            "author_id": "twitter:quinnypig",
            "title": "Let's talk about archiving #Café threads with @simonw datasette.io/blog/threa…",
            "post_count": 2,
            "first_post_at": "2020-01-10T19:00:00Z",
            "last_post_at": "2020-01-10T19:01:00Z",
            "first_captured_at": T1,
            "last_captured_at": T1,
            "other_replies": 4,
            "discovered": '["https://threadreaderapp.com/thread/2.html"]',
        }
    ]
    assert post_row(db, ROOT) == {
        "id": ROOT,
        "thread_id": ROOT,
        "position": 1,
        "author_id": "twitter:quinnypig",
        "created_at": "2020-01-10T19:00:00Z",
        "text": FIRST.text,
        "url": "https://twitter.com/QuinnyPig/status/1215710451343904768",
        "reply_to_id": None,
        "lang": "en",
        "hashtags": '["café"]',
        "source": "threadreaderapp",
        "capture_id": "<urn:uuid:c1>",
        "spoiler_text": None,
        "edited_at": None,
        "reply_count": 3,
        "repost_count": 2,
        "like_count": 10,
        "missing": 0,
        "in_latest_capture": 1,
        "first_captured_at": T1,
        "last_captured_at": T1,
    }
    assert rows(db, "posts", "id", "thread_id", "position", "author_id") == [
        {"id": ROOT, "thread_id": ROOT, "position": 1, "author_id": "twitter:quinnypig"},
        {"id": tweet(2), "thread_id": ROOT, "position": 2, "author_id": "twitter:quinnypig"},
        {"id": REPLY.id, "thread_id": ROOT, "position": None, "author_id": "twitter:someone"},
    ]
    assert rows(db, "authors") == [
        {"id": "twitter:quinnypig", "platform": "twitter", "handle": "QuinnyPig", "display_name": "Corey Quinn",
         "url": "https://twitter.com/QuinnyPig"},
        {"id": "twitter:someone", "platform": "twitter", "handle": "someone", "display_name": None, "url": None},
    ]  # fmt: skip
    assert rows(db, "hashtags") == [{"tag": "café", "display": "Café", "post_count": 1}]
    assert rows(db, "post_hashtags") == [{"post_id": ROOT, "tag": "café"}]
    assert rows(db, "mentions") == [{"post_id": ROOT, "handle": "simonw"}]
    assert rows(db, "links") == [
        {"id": 1, "post_id": ROOT, "url": "https://datasette.io/blog/threads",
         "display_text": "datasette.io/blog/threa…", "short_url": "https://t.co/abc", "domain": "datasette.io",
         "truncated": 0},
    ]  # fmt: skip
    assert rows(db, "media") == [
        {"post_id": ROOT, "url": "https://pbs.twimg.com/media/a.jpg", "kind": "image", "alt_text": "A cat"}
    ]
    assert rows(db, "thread_captures") == [{"thread_id": ROOT, "capture_id": "<urn:uuid:c1>"}]
    assert rows(db, "post_versions") == []


@pytest.mark.parametrize("captured_at", [T1, T2])
def test_saving_the_same_thread_again_changes_nothing(db: sqlite_utils.Database, captured_at: str) -> None:
    store.save_thread(db, THREAD, captured_at=T1, capture_ids=["<urn:uuid:c1>"])
    before = snapshot(db)

    result = store.save_thread(db, THREAD, captured_at=captured_at, capture_ids=["<urn:uuid:c1>"])

    assert result == store.SaveResult(ROOT, new_posts=0, changed_posts=0, unchanged=True)
    for table in ("posts", "threads"):  # only when they were last seen moves
        assert {row["last_captured_at"] for row in rows(db, table)} == {captured_at}
        db.execute(f"UPDATE {table} SET last_captured_at = ?", [T1])
    assert snapshot(db) == before


def test_a_new_capture_with_the_same_content_is_unchanged_but_recorded(db: sqlite_utils.Database) -> None:
    store.save_thread(db, THREAD, captured_at=T1, capture_ids=["<urn:uuid:c1>"])

    result = store.save_thread(db, THREAD, captured_at=T2, capture_ids=["<urn:uuid:c2>"])

    assert result.unchanged
    assert rows(db, "thread_captures", "capture_id") == [
        {"capture_id": "<urn:uuid:c1>"},
        {"capture_id": "<urn:uuid:c2>"},
    ]
    assert post_row(db, ROOT)["capture_id"] == "<urn:uuid:c1>"  # the capture its text was read from


RICH = post(
    1,
    "Archiving threads",
    author=QUINN,
    created_at="2020-01-10T19:00:00Z",
    url="https://twitter.com/QuinnyPig/status/1215710451343904768",
    lang="en",
    hashtags=("Archives",),
    reply_count=3,
    repost_count=2,
    like_count=10,
    edited_at="2020-01-10T19:05:00Z",
    capture_id="<urn:uuid:rich>",
)
POOR = post(1, "Archiving threads", author=Author("twitter:quinnypig", "twitter", "quinnypig"), hashtags=("archives",))


@pytest.mark.parametrize("order", ["richer first", "poorer first"])
def test_a_poorer_record_never_blanks_a_richer_one(db: sqlite_utils.Database, order: str) -> None:
    saves = [(RICH, "nitter"), (POOR, "threadreaderapp")]
    if order == "poorer first":
        saves.reverse()
    for captured_at, (record, source) in zip((T1, T2), saves):
        store.save_thread(db, thread(record, source=source), captured_at=captured_at)

    first_source = saves[0][1]
    assert post_row(db, ROOT) == {
        "id": ROOT,
        "thread_id": ROOT,
        "position": 1,
        "author_id": "twitter:quinnypig",
        "created_at": "2020-01-10T19:00:00Z",
        "text": "Archiving threads",
        "url": "https://twitter.com/QuinnyPig/status/1215710451343904768",
        "reply_to_id": None,
        "lang": "en",
        "hashtags": '["archives"]',
        "source": first_source,
        "capture_id": "<urn:uuid:rich>",
        "spoiler_text": None,
        "edited_at": "2020-01-10T19:05:00Z",
        "reply_count": 3,
        "repost_count": 2,
        "like_count": 10,
        "missing": 0,
        "in_latest_capture": 1,
        "first_captured_at": T1,
        "last_captured_at": T2,
    }
    assert db["authors"].get("twitter:quinnypig")["display_name"] == "Corey Quinn"
    assert rows(db, "threads", "source", "url") == [{"source": first_source, "url": THREAD.url}]
    assert rows(db, "post_versions") == []


def test_ids_stay_exact_text(db: sqlite_utils.Database) -> None:
    big = "twitter:9223372036854775807"
    store.save_thread(db, thread(replace(SECOND, id=big, reply_to_id=tweet(1))), captured_at=T1)

    stored = db.execute("SELECT id, typeof(id), thread_id, reply_to_id, typeof(reply_to_id) FROM posts").fetchall()

    assert stored == [(big, "text", big, "twitter:1215710451343904768", "text")]


@pytest.mark.parametrize(
    ("first", "second", "text", "missing"),
    [
        (post(1, None, missing=True), post(1, "Found it"), "Found it", 0),
        (post(1, "Found it"), post(1, None, missing=True), "Found it", 0),
        (post(1, "Found it"), post(1, "This post is unavailable", missing=True), "Found it", 0),
        (post(1, None, missing=True), post(1, None, missing=True), None, 1),
    ],
    ids=["gap then copy", "copy then gap", "copy then gap with placeholder", "gap twice"],
)
def test_missing_only_goes_from_gap_to_copy(
    db: sqlite_utils.Database, first: Post, second: Post, text: str | None, missing: int
) -> None:
    store.save_thread(db, thread(first), captured_at=T1)
    store.save_thread(db, thread(second), captured_at=T2)

    assert rows(db, "posts", "text", "missing") == [{"text": text, "missing": missing}]
    assert rows(db, "post_versions") == []


def test_a_recapture_adds_new_posts_and_keeps_dropped_ones(db: sqlite_utils.Database) -> None:
    a, b, c = post(1, "one", created_at="2020-01-01T00:00:00Z"), post(2, "two"), post(3, "three")
    store.save_thread(db, thread(a, b, c), captured_at=T1)
    new = post(4, "new second", position=2, created_at="2020-01-05T00:00:00Z")

    result = store.save_thread(db, thread(a, new, c), captured_at=T2)

    assert result == store.SaveResult(ROOT, new_posts=1, changed_posts=0, unchanged=False)
    assert rows(db, "posts", "id", "position", "in_latest_capture", "first_captured_at", "last_captured_at") == [
        {"id": tweet(1), "position": 1, "in_latest_capture": 1, "first_captured_at": T1, "last_captured_at": T2},
        {"id": tweet(2), "position": 2, "in_latest_capture": 0, "first_captured_at": T1, "last_captured_at": T1},
        {"id": tweet(3), "position": 3, "in_latest_capture": 1, "first_captured_at": T1, "last_captured_at": T2},
        {"id": tweet(4), "position": 2, "in_latest_capture": 1, "first_captured_at": T2, "last_captured_at": T2},
    ]
    totals = ("post_count", "first_post_at", "last_post_at", "first_captured_at", "last_captured_at")
    assert rows(db, "threads", *totals) == [
        {"post_count": 4, "first_post_at": "2020-01-01T00:00:00Z", "last_post_at": "2020-01-05T00:00:00Z",
         "first_captured_at": T1, "last_captured_at": T2},
    ]  # fmt: skip

    store.save_thread(db, thread(a, b, c), captured_at=T3)
    assert rows(db, "posts", "in_latest_capture") == [{"in_latest_capture": flag} for flag in (1, 1, 1, 0)]


def test_an_edit_keeps_the_earlier_text_in_post_versions(db: sqlite_utils.Database) -> None:
    for captured_at, text, capture in ((T1, "v1", "c1"), (T2, "v2", "c2"), (T3, "v3", "c3")):
        result = store.save_thread(db, thread(post(1, text)), captured_at=captured_at, capture_ids=[capture])

    assert result == store.SaveResult(ROOT, new_posts=0, changed_posts=1, unchanged=False)
    assert rows(db, "posts", "text", "capture_id") == [{"text": "v3", "capture_id": "c3"}]
    assert rows(db, "post_versions") == [
        {"id": 1, "post_id": ROOT, "text": "v1", "first_seen_at": T1, "superseded_at": T2, "capture_id": "c1"},
        {"id": 2, "post_id": ROOT, "text": "v2", "first_seen_at": T2, "superseded_at": T3, "capture_id": "c2"},
    ]
    assert store.save_thread(db, thread(post(1, "v3")), captured_at=T3, capture_ids=["c3"]).unchanged
    assert len(rows(db, "post_versions")) == 2


def test_a_reparse_of_the_same_capture_replaces_the_text_without_a_version(db: sqlite_utils.Database) -> None:
    store.save_thread(db, thread(post(1, "parsed &amp; badly")), captured_at=T1, capture_ids=["c1"])

    result = store.save_thread(db, thread(post(1, "parsed & well")), captured_at=T1, capture_ids=["c1"])

    assert result == store.SaveResult(ROOT, new_posts=0, changed_posts=1, unchanged=False)
    assert rows(db, "posts", "text") == [{"text": "parsed & well"}]
    assert rows(db, "post_versions") == []


def test_an_older_capture_adds_its_text_as_a_version_without_replacing_newer_fields(db: sqlite_utils.Database) -> None:
    store.save_thread(db, thread(post(1, "edited", like_count=10)), captured_at=T2, capture_ids=["c2"])
    older = post(1, "original", like_count=5, lang="en")

    for _ in range(2):  # e.g. an import of an old file, then a reparse
        store.save_thread(db, thread(older), captured_at=T1, capture_ids=["c1"])

    assert rows(db, "posts", "text", "like_count", "lang", "capture_id", "first_captured_at", "last_captured_at") == [
        {"text": "edited", "like_count": 10, "lang": "en", "capture_id": "c2", "first_captured_at": T1,
         "last_captured_at": T2},
    ]  # fmt: skip
    assert rows(db, "post_versions") == [
        {"id": 1, "post_id": ROOT, "text": "original", "first_seen_at": T1, "superseded_at": None, "capture_id": "c1"}
    ]


def test_a_failure_part_way_leaves_the_archive_as_it_was(
    db: sqlite_utils.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_thread(db, THREAD, captured_at=T1)
    before = snapshot(db)
    edited = thread(post(1, "edited #New", hashtags=("New",)), post(5, "five"))

    def fail(*args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_save_entities", fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save_thread(db, edited, captured_at=T2, capture_ids=["c2"])

    assert snapshot(db) == before
    assert not db.conn.in_transaction


@pytest.mark.parametrize("spellings", [("Café", "CAFÉ", "café", "ＣＡＦÉ"), ("café", "Café")])
def test_hashtags_are_normalised_and_keep_the_first_spelling(
    db: sqlite_utils.Database, spellings: tuple[str, ...]
) -> None:
    posts = [post(n, f"#{tag}", hashtags=(tag,)) for n, tag in enumerate(spellings, start=1)]
    store.save_thread(db, thread(*posts), captured_at=T1)
    store.save_thread(db, thread(post(1, "#CAFE #Café", hashtags=("CAFE", "Café"))), captured_at=T2)

    assert rows(db, "hashtags") == [
        {"tag": "café", "display": spellings[0], "post_count": len(spellings)},
        {"tag": "cafe", "display": "CAFE", "post_count": 1},
    ]
    assert miscounted_hashtags(db) == []
    assert rows(db, "post_hashtags", "tag") == [{"tag": "café"}] * len(spellings) + [{"tag": "cafe"}]
    assert rows(db, "posts", "hashtags") == [{"hashtags": '["cafe","café"]'}] + [{"hashtags": '["café"]'}] * (
        len(spellings) - 1
    )


def test_entities_are_added_never_duplicated_or_removed(db: sqlite_utils.Database) -> None:
    full = Link("https://example.org/a", "example.org/a")
    first = post(1, "x", links=(full, full), mentions=("a",), media=(Media("m.jpg", "image"),))
    store.save_thread(db, thread(first), captured_at=T1)
    richer = post(
        1,
        "x",
        links=(replace(full, short_url="https://t.co/x"), Link(None, "example.net/lo…")),
        media=(Media("m.jpg", "image", "alt"),),
        mentions=("b",),
    )

    result = store.save_thread(db, thread(richer), captured_at=T2)
    store.save_thread(db, thread(richer), captured_at=T3)

    assert not result.unchanged
    assert rows(db, "links", "url", "display_text", "short_url", "domain", "truncated") == [
        {"url": "https://example.org/a", "display_text": "example.org/a", "short_url": "https://t.co/x",
         "domain": "example.org", "truncated": 0},
        {"url": None, "display_text": "example.net/lo…", "short_url": None, "domain": "example.net", "truncated": 1},
    ]  # fmt: skip
    assert rows(db, "media") == [{"post_id": ROOT, "url": "m.jpg", "kind": "image", "alt_text": "alt"}]
    assert rows(db, "mentions", "handle") == [{"handle": "a"}, {"handle": "b"}]


def test_full_text_search_stems_and_follows_edits(db: sqlite_utils.Database) -> None:
    store.save_thread(db, thread(post(1, "We archive threads"), post(2, "Nothing here")), captured_at=T1)
    assert search(db, "archiving") == [ROOT]

    store.save_thread(db, thread(post(1, "We keep threads")), captured_at=T2)
    store.save_thread(db, thread(post(1, "We keep threads", like_count=3)), captured_at=T3)

    assert search(db, "archiving") == []
    assert search(db, "keeping") == [ROOT]
    db.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")  # the index agrees with posts
    db.execute("INSERT INTO threads_fts (threads_fts, rank) VALUES ('integrity-check', 1)")
    assert list(db["threads"].search("keeping", columns=["id"])) == [{"id": ROOT}]


def test_every_new_post_enters_the_search_index_once(db: sqlite_utils.Database) -> None:
    twice = post(2, "archived twice in one capture")
    store.save_thread(db, thread(post(1, "first words"), twice, twice, post(3, None, missing=True)), captured_at=T1)
    store.save_thread(db, thread(post(1, "first words"), twice, post(4, "added later")), captured_at=T2)
    store.save_thread(db, thread(post(5, "another thread", position=1)), captured_at=T2)

    assert search(db, "archive") == [tweet(2)]
    assert search(db, "later") == [tweet(4)]
    assert search(db, "another") == [tweet(5)]
    assert db.execute("SELECT count(*) FROM posts_fts_docsize").fetchone() == (5,)  # one entry per post
    db.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")


def test_a_gap_filled_by_a_later_capture_becomes_searchable(db: sqlite_utils.Database) -> None:
    store.save_thread(db, thread(post(1, "first words"), post(2, None, missing=True)), captured_at=T1)
    store.save_thread(db, thread(post(1, "first words"), post(2, "recovered later")), captured_at=T2)

    assert search(db, "recovered") == [tweet(2)]
    assert db.execute("SELECT count(*) FROM posts_fts_docsize").fetchone() == (2,)
    db.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")


def test_a_post_moves_to_the_thread_that_positions_it(db: sqlite_utils.Database) -> None:
    root_b = post(2, "starts thread B")
    store.save_thread(db, thread(post(1, "A"), replace(root_b, position=None)), captured_at=T1)
    store.save_thread(db, thread(post(1, "A"), replace(root_b, position=2)), captured_at=T2)
    assert rows(db, "threads", "id", "post_count") == [{"id": ROOT, "post_count": 2}]

    store.save_thread(db, thread(replace(root_b, position=1), post(3, "B two", position=2)), captured_at=T3)
    store.save_thread(db, thread(post(1, "A"), replace(root_b, position=None)), captured_at=T3)  # a reply again

    assert rows(db, "posts", "id", "thread_id", "position") == [
        {"id": tweet(1), "thread_id": ROOT, "position": 1},
        {"id": tweet(2), "thread_id": tweet(2), "position": 1},
        {"id": tweet(3), "thread_id": tweet(2), "position": 2},
    ]
    assert rows(db, "threads", "id", "post_count") == [{"id": ROOT, "post_count": 1}, {"id": tweet(2), "post_count": 2}]


def test_capture_ids_name_posts_only_when_unambiguous(db: sqlite_utils.Database) -> None:
    store.save_thread(db, thread(post(1, "a"), post(2, "b", capture_id="c2")), captured_at=T1, capture_ids=["c1", "c2"])

    assert rows(db, "posts", "capture_id") == [{"capture_id": None}, {"capture_id": "c2"}]
    assert rows(db, "thread_captures", "capture_id") == [{"capture_id": "c1"}, {"capture_id": "c2"}]


def forget(db: sqlite_utils.Database, kind: str, id: str) -> None:
    db["forgotten"].insert({"kind": kind, "id": id, "forgotten_at": T1, "reason": "asked"})


@pytest.mark.parametrize("kind, id", [("thread", ROOT), ("author", QUINN.id)])
def test_a_forgotten_thread_or_author_is_never_saved(db: sqlite_utils.Database, kind: str, id: str) -> None:
    forget(db, kind, id)
    before = snapshot(db)
    result = store.save_thread(db, THREAD, captured_at=T1, capture_ids=["<urn:uuid:c1>"])
    assert result == store.SaveResult(ROOT, 0, 0, unchanged=True, forgotten=True)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "kind, id, posts, authors",
    [
        ("post", tweet(2), [ROOT, REPLY.id], [QUINN.id, OTHER.id]),
        ("author", OTHER.id, [ROOT, tweet(2)], [QUINN.id]),  # someone's reply in another's thread
    ],
)
def test_forgotten_posts_are_left_out_of_a_saved_thread(db: sqlite_utils.Database, kind: str, id: str,
                                                        posts: list[str], authors: list[str]) -> None:
    forget(db, kind, id)
    result = store.save_thread(db, THREAD, captured_at=T1)
    assert (result.new_posts, result.forgotten) == (2, False)
    assert [row["id"] for row in rows(db, "posts", "id")] == posts
    assert [row["id"] for row in rows(db, "authors", "id")] == authors


def test_a_thread_whose_every_post_was_forgotten_is_not_saved(db: sqlite_utils.Database) -> None:
    forget(db, "post", ROOT)
    result = store.save_thread(db, thread(FIRST), captured_at=T1)
    assert result.forgotten and db["threads"].count == 0


def test_a_thread_without_its_forgotten_first_post_has_no_title(db: sqlite_utils.Database) -> None:
    forget(db, "post", ROOT)
    store.save_thread(db, THREAD, captured_at=T1)
    assert (db["threads"].get(ROOT)["title"], db["threads"].get(ROOT)["post_count"]) == (None, 1)


def test_save_capture_ignores_a_capture_already_indexed(db: sqlite_utils.Database) -> None:
    row = {
        "id": "<urn:uuid:0b5c6b1e-0000-4000-8000-000000000001>",
        "url": "https://threadreaderapp.com/thread/1215710451343904768.html",
        "fetched_at": T1,
        "status": 200,
        "content_type": "text/html; charset=utf-8",
        "sha256": "ab" * 32,
        "size": 1234,
        "warc_file": "threadvault-20240101100000-00000.warc.gz",
        "offset": 0,
        "length": 987,
        "warc_payload_digest": "sha1:AAAA",
    }
    store.save_capture(db, row)
    store.save_capture(db, {**row, "status": 500})

    assert rows(db, "captures") == [row]


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("Short and sweet", "Short and sweet"),
        ("Lines\n\nand   spaces\tcollapse", "Lines and spaces collapse"),
        ("word " * 30, "word " * 15 + "word…"),
        ("a" * 50 + ", " + "b" * 40, "a" * 50 + "…"),
        ("Short " + "z" * 90, "Short " + "z" * 73 + "…"),
    ],
)
def test_shorten_cuts_titles_on_a_word_boundary(text: str, title: str) -> None:
    assert store.shorten(text) == title
    assert len(store.shorten(text)) <= store.TITLE_WIDTH


def test_open_archive_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "archive.db"

    db = store.open_archive(str(path))

    assert path.exists()
    assert "posts" in db.table_names()


def test_a_lone_surrogate_is_stored_as_a_replacement_character(db: sqlite_utils.Database) -> None:
    cut = post(1, "cut emoji \ud83d here", hashtags=("tag\udfff",))
    result = store.save_thread(db, thread(cut), captured_at="2026-11-30T06:00:00Z")
    assert result.new_posts == 1
    assert post_row(db, cut.id)["text"] == "cut emoji \ufffd here"
    assert [row["display"] for row in rows(db, "hashtags", "display")] == ["tag\ufffd"]


def batch_of_every_merge() -> list[tuple[Thread, str, list[str]]]:
    """Saves whose order matters: a thread captured twice with an edit, a reply seen in two threads,
    a gap filled later, an older capture after a newer one, and a lone surrogate."""
    reply = Post("twitter:1215710451343904999", OTHER, "seen in two threads", reply_to_id=ROOT)
    return [
        (THREAD, T1, ["<urn:uuid:c1>"]),
        (thread(post(10, "another thread #Café", position=1), reply, post(11, None, missing=True)), T1, ["<urn:uuid:c2>"]),
        (thread(replace(FIRST, text="Let's talk about keeping threads"), SECOND, post(3, "three")), T2, ["<urn:uuid:c3>"]),
        (thread(replace(FIRST, text="Let's talk about saving threads"), SECOND), T3, ["<urn:uuid:c4>"]),
        (thread(post(10, "another thread #Café", position=1), post(11, "gap \ud83d filled")), T2, ["<urn:uuid:c5>"]),
        (thread(replace(FIRST, text="an old capture's text"), SECOND), T1, ["<urn:uuid:c6>"]),
    ]


@pytest.mark.parametrize("saved_before", [0, 1], ids=["all in the batch", "first thread archived before it"])
def test_a_batch_saves_as_its_threads_would_one_after_another(tmp_path: Path, saved_before: int) -> None:
    one_by_one, batched = (store.open_archive(tmp_path / name / "threadvault.db") for name in ("one", "batch"))
    saves = batch_of_every_merge()
    singles = [store.save_thread(one_by_one, item, captured_at=at, capture_ids=ids) for item, at, ids in saves]

    for item, at, ids in saves[:saved_before]:
        store.save_thread(batched, item, captured_at=at, capture_ids=ids)
    assert store.save_threads(batched, saves[saved_before:]) == singles[saved_before:]

    def tables(db: sqlite_utils.Database) -> dict[str, list[tuple[Any, ...]]]:  # all but the index's segments
        return {name: sorted(rows, key=repr) for name, rows in snapshot(db).items() if not name.endswith(("_data", "_idx", "_migrations"))}

    assert tables(batched) == tables(one_by_one)
    for words in ("saving", "keeping", "filled", "Café", "seen", "three"):
        assert search(batched, words) == search(one_by_one, words), words
        assert list(batched["threads"].search(words)) == list(one_by_one["threads"].search(words)), words
    for name in ("posts", "threads"):
        batched.execute(f"INSERT INTO {name}_fts ({name}_fts, rank) VALUES ('integrity-check', 1)")
    assert miscounted_hashtags(batched) == [] and rows(batched, "hashtags")


def test_a_batch_enters_the_search_index_in_one_segment(db: sqlite_utils.Database) -> None:
    store.save_threads(db, [(thread(post(n, f"words of thread {n}", position=1)), T1, []) for n in range(1, 51)])

    assert search(db, "thread") == [tweet(n) for n in range(1, 51)]
    # FTS5 keeps its structure record at id 10 and each segment's leaves under their own segment id.
    assert db.execute("SELECT count(DISTINCT id >> 37) FROM posts_fts_data WHERE id > 10").fetchone() == (1,)


def test_a_failing_batch_leaves_nothing(db: sqlite_utils.Database) -> None:
    store.save_thread(db, THREAD, captured_at=T1)
    before = snapshot(db)
    broken = thread(post(20, "fine so far"), replace(post(21, "bad"), author=Author("twitter:x", "twitter", None)))
    broken = replace(broken, posts=(*broken.posts, Post(tweet(22), QUINN, object(), position=3)))  # type: ignore[arg-type]

    with pytest.raises(Exception):  # noqa: B017  (sqlite3 cannot bind an object)
        store.save_threads(db, [(thread(post(30, "first of the batch")), T2, []), (broken, T2, [])])

    assert snapshot(db) == before


def random_saves(seed: int) -> list[tuple[Thread, str, list[str]]]:
    """Saves drawn from a small pool of ids, so that new threads mix with re-captures, a reply turns up in
    another thread, a post repeats within a thread, authors differ in what they fill, and texts change."""
    rng = random.Random(seed)
    authors = [QUINN, OTHER, replace(OTHER, display_name="Some One"), Author("twitter:third", "twitter", "third", url=None)]
    saves = []
    for number in range(60):
        root = rng.randrange(40)
        count = rng.choice((1, 1, 1, 2, 3))
        ids = [root] + [rng.randrange(40) if rng.random() < 0.15 else 100 + rng.randrange(200) for _ in range(count - 1)]
        ids += ids[-1:] * (rng.random() < 0.1)  # a post twice in one thread
        posts = []
        for position, n in enumerate(ids, 1):
            text = rng.choice([f"words {n}", f"words {n} edited", f"more #Tag{n % 5} {n}", None, "cut \ud83d here"])
            posts.append(post(n, text, author=rng.choice(authors), position=position if rng.random() < 0.9 else None,
                              missing=text is None and rng.random() < 0.5, hashtags=(f"Tag{n % 5}",) * (n % 2),
                              mentions=("simonw",) * (n % 3 == 0), created_at=f"2020-01-{1 + n % 28:02d}T00:00:00Z",
                              links=(Link(f"https://example.org/{n}", f"example.org/{n}…"),) * (n % 4 == 0),
                              media=(Media(f"https://pbs.twimg.com/media/{n}.jpg", "image"),) * (n % 5 == 0)))
        at = rng.choice((T1, T2, T3))
        saves.append((thread(*posts), at, [f"<urn:uuid:r{seed}-{number}>"]))
    return saves


@pytest.mark.parametrize("seed", range(8))
def test_random_batches_save_as_their_threads_would_one_after_another(tmp_path: Path, seed: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "NEW_THREADS_AT_ONCE", 3 if seed % 4 < 2 else 50)  # new threads written 3 at a time, or all
    one_by_one, batched = (store.open_archive(tmp_path / name / "threadvault.db") for name in ("one", "batch"))
    if seed % 2:
        for db in (one_by_one, batched):
            forget(db, "post", tweet(7))
    saves = random_saves(seed)
    singles = [store.save_thread(one_by_one, item, captured_at=at, capture_ids=ids) for item, at, ids in saves]

    rng = random.Random(seed)
    results, first = [], 0
    while first < len(saves):
        size = rng.randint(1, 20)
        results += store.save_threads(batched, saves[first:first + size])
        first += size

    assert results == singles
    assert {name: sorted(rows, key=repr) for name, rows in snapshot(batched).items() if not name.endswith(("_data", "_idx", "_migrations"))} \
        == {name: sorted(rows, key=repr) for name, rows in snapshot(one_by_one).items() if not name.endswith(("_data", "_idx", "_migrations"))}
    for words in ("words", "edited", "Tag1", "more", "cut"):
        assert sorted(search(batched, words)) == sorted(search(one_by_one, words)), words
    for name in ("posts", "threads"):
        batched.execute(f"INSERT INTO {name}_fts ({name}_fts, rank) VALUES ('integrity-check', 1)")
    assert miscounted_hashtags(batched) == []
