"""Removal requests: content leaves the tables, the search index, the database files and (on request)
the WARC files, and never comes back through a fetch, an import or a reparse."""

from __future__ import annotations

import asyncio
import gzip
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from pagegen import generated_thread
from sample_archive import ANA, MIRA, QUINNY, build_archive
from threadvault import captures, forget as forget_module, imports, jobs, replays, store
from threadvault.cli import cli
from threadvault.errors import ThreadvaultError
from threadvault.fetch import FetchSettings
from threadvault.forget import forget
from threadvault.model import Post, Thread
from threadvault.reading import NotInArchive

EXAMPLES = Path(__file__).parent.parent / "examples" / "example-threads-constructed.warc.gz"
TEXTS = Path(__file__).parent / "fixtures" / "plaintext" / "two-threads-constructed.txt"
QUINNY_WORDS = b"ever regretted making a talk"  # in post 40 of @QuinnyPig's thread, nowhere else
MIRA_ROOT_WORDS = "keeping a web archive honest"
CONTENT_TABLES = ("threads", "posts", "authors", "hashtags", "post_hashtags", "mentions", "links", "media",
                  "post_versions", "thread_captures", "captures")


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return build_archive(tmp_path / "threadvault.db")


def table_rows(db_path: Path) -> dict[str, set[tuple]]:
    with sqlite3.connect(db_path) as conn:
        return {table: set(conn.execute(f"SELECT * FROM [{table}]")) for table in CONTENT_TABLES}


def ids(db_path: Path, sql: str, *params: str) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute(sql, params)]


def search(db_path: Path, words: str) -> list[str]:
    return ids(db_path, "SELECT posts.id FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid "
                        "WHERE posts_fts MATCH ?", words)


def database_bytes(db_path: Path) -> bytes:
    return b"".join(Path(f"{db_path}{suffix}").read_bytes() for suffix in ("", "-wal")
                    if Path(f"{db_path}{suffix}").exists())


def warc_bytes(db_path: Path) -> bytes:
    return b"".join(gzip.decompress(path.read_bytes()) for path in sorted((db_path.parent / "warc").glob("*.warc.gz")))


def without_rows_of(before: dict[str, set[tuple]], after: dict[str, set[tuple]]) -> dict[str, set[tuple]]:
    """The rows that went, table by table."""
    return {table: before[table] - after[table] for table in before if before[table] - after[table]}


def test_forgetting_a_thread_takes_it_out_of_every_table_and_the_search_index(archive):
    before = table_rows(archive)
    quinny_posts = set(ids(archive, "SELECT id FROM posts WHERE thread_id = ?", QUINNY))
    assert search(archive, '"regretted making a talk"') and QUINNY_WORDS in database_bytes(archive)

    report = forget(archive, "thread", QUINNY, reason="the author asked")

    assert (report.ids, report.posts, report.threads, report.authors, report.captures) == ([QUINNY], 102, 1, 0, 0)
    gone = without_rows_of(before, table_rows(archive))
    assert {row[0] for row in gone["posts"]} == quinny_posts
    assert {row[0] for row in gone["threads"]} == {QUINNY}
    assert {row[0] for row in gone["thread_captures"]} == {QUINNY}
    for table in ("post_hashtags", "mentions", "links", "media", "post_versions"):
        assert not set(ids(archive, f"SELECT post_id FROM {table}")) & quinny_posts, table
    assert set(gone) <= {"posts", "threads", "thread_captures", "post_hashtags", "mentions", "links", "media",
                         "hashtags"}  # everyone else's rows, the author and the captures stay
    assert search(archive, '"regretted making a talk"') == [] and search(archive, "retweet") == []
    assert ids(archive, "SELECT rowid FROM threads_fts WHERE threads_fts MATCH 'retweet'") == []
    assert QUINNY_WORDS not in database_bytes(archive)  # zeroed, merged out of the index, out of the log
    with sqlite3.connect(archive) as conn:
        assert conn.execute("SELECT kind, id, reason FROM forgotten").fetchall() == [("thread", QUINNY, "the author asked")]
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.execute("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")
        assert conn.execute("SELECT tag FROM hashtags WHERE post_count !="
                            " (SELECT count(*) FROM post_hashtags WHERE tag = hashtags.tag)").fetchall() == []


def test_forgetting_an_author_takes_their_threads_and_their_row(archive):
    report = forget(archive, "author", "@mira@social.example")

    assert (report.ids, report.posts, report.threads, report.authors) == (["mastodon:https://social.example/@mira"], 5, 1, 1)
    assert ids(archive, "SELECT id FROM posts WHERE thread_id = ?", MIRA) == []
    assert "mastodon:https://social.example/@mira" not in ids(archive, "SELECT id FROM authors")
    assert search(archive, f'"{MIRA_ROOT_WORDS}"') == []
    assert ids(archive, "SELECT id FROM forgotten WHERE kind = 'author'") == report.ids


def test_forgetting_one_post_keeps_the_rest_of_its_thread(archive):
    second = "twitter:2090105012789248000"
    report = forget(archive, "post", second)

    assert (report.posts, report.threads) == (1, 0)
    db = sqlite_utils.Database(archive)
    assert db["threads"].get(ANA)["post_count"] == 5
    assert second not in ids(archive, "SELECT post_id FROM mentions UNION SELECT post_id FROM links")
    title_words = " ".join(db["threads"].get(ANA)["title"].split()[:3])
    assert ids(archive, "SELECT rowid FROM threads_fts WHERE threads_fts MATCH ?", f'"{title_words}"')
    forget(archive, "post", ANA)  # the first post titles its thread
    assert (db["threads"].get(ANA)["title"], db["threads"].get(ANA)["post_count"]) == (None, 4)
    assert ids(archive, "SELECT rowid FROM threads_fts WHERE threads_fts MATCH ?", f'"{title_words}"') == []
    db.execute("INSERT INTO threads_fts (threads_fts, rank) VALUES ('integrity-check', 1)")


@pytest.mark.parametrize(
    "kind, target, error",
    [
        ("author", "nobody", "nobody: no such author in the archive"),
        ("thread", "1215710451343904768", "1215710451343904768: not a global id (such as twitter:1215710451343904768)"),
        ("tweet", "twitter:1", "tweet: not something to forget (one of author, thread, post)"),
    ],
)
def test_a_request_that_names_nothing_is_refused(archive, kind, target, error):
    before = table_rows(archive)
    with pytest.raises(ThreadvaultError) as refused:
        forget(archive, kind, target)
    assert str(refused.value) == error
    assert table_rows(archive) == before


def test_an_ambiguous_handle_is_refused(archive):
    sqlite_utils.Database(archive)["authors"].insert({"id": "mastodon:https://elsewhere.example/@QuinnyPig",
                                                      "platform": "mastodon", "handle": "quinnypig"})
    with pytest.raises(ThreadvaultError) as refused:
        forget(archive, "author", "QuinnyPig")
    assert "several authors have this handle (mastodon:https://elsewhere.example/@QuinnyPig, twitter:quinnypig)" in str(refused.value)
    with pytest.raises(NotInArchive):
        forget(archive, "author", "@nobody")


def test_an_id_not_archived_yet_is_tombstoned_all_the_same(archive):
    report = forget(archive, "author", "twitter:someone_else")
    assert (report.posts, report.threads, report.authors) == (0, 0, 0)
    assert ids(archive, "SELECT id FROM forgotten") == ["twitter:someone_else"]


# -- never again -----------------------------------------------------------------------------------


SETTINGS = FetchSettings(delay=0, retries=0, concurrency=2)


def run_job(db_path: Path, urls: list[str], *, refetch: bool = False) -> jobs.JobReport:
    jobs.enqueue(store.open_archive(db_path), urls, forced_source="threadreaderapp", refetch=refetch)
    return asyncio.run(jobs.FetchJob(db_path, SETTINGS, jobs.JobOptions(refetch=refetch)).run())


def test_a_forgotten_thread_stays_out_through_refetch_and_reparse(httpserver, tmp_path):
    threads = [generated_thread(index, posts=4) for index in (21, 22)]
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for thread in threads:
        httpserver.expect_request(f"/thread/{thread.root_id}.html").respond_with_data(thread.html, content_type="text/html")
    urls = [httpserver.url_for(f"/thread/{thread.root_id}.html") for thread in threads]
    db_path = tmp_path / "threadvault.db"
    run_job(db_path, urls)
    doomed = f"twitter:{threads[0].root_id}"

    forget(db_path, "thread", doomed)
    queue = {row["url"]: row for row in store.open_archive(db_path)["queue"].rows}
    assert (queue[urls[0]]["status"], queue[urls[0]]["thread_id"], queue[urls[0]]["reason"]) == (
        "done", None, "forgotten on request")
    refetched = run_job(db_path, urls, refetch=True)
    reparsed = replays.reparse(db_path)

    assert (refetched.failed, reparsed.failed) == ([], [])
    assert ids(db_path, "SELECT id FROM threads") == [f"twitter:{threads[1].root_id}"]
    assert ids(db_path, "SELECT DISTINCT thread_id FROM posts") == [f"twitter:{threads[1].root_id}"]


def test_an_import_skips_a_forgotten_author(tmp_path):
    db_path = tmp_path / "threadvault.db"
    imports.import_file(db_path, EXAMPLES)
    author = ids(db_path, "SELECT author_id FROM threads WHERE platform = 'mastodon'")[0]
    forget(db_path, "author", author)
    again = tmp_path / "again.db"
    store.open_archive(again)["forgotten"].insert({"kind": "author", "id": author})

    imports.import_file(again, EXAMPLES)

    assert author not in ids(again, "SELECT author_id FROM posts") + ids(again, "SELECT id FROM authors")
    assert ids(again, "SELECT count(*) FROM threads") == [ids(db_path, "SELECT count(*) FROM threads")[0]]


# -- raw captures ----------------------------------------------------------------------------------


def test_purging_captures_rewrites_the_warc_file_without_them(archive):
    db = sqlite_utils.Database(archive)
    doomed = db.execute("SELECT capture_id FROM thread_captures WHERE thread_id = ?", [QUINNY]).fetchall()[0][0]
    kept_before = {row["id"]: jobs.read_capture(archive.parent / "warc", row)
                   for row in db["captures"].rows if row["id"] != doomed}
    assert QUINNY_WORDS in warc_bytes(archive) and doomed.encode() in warc_bytes(archive)

    report = forget(archive, "thread", QUINNY, purge_captures=True)

    assert (report.captures, len(report.rewritten), report.left_in_place) == (1, 1, [])
    raw = warc_bytes(archive)
    assert QUINNY_WORDS not in raw and doomed.encode() not in raw  # the response and its request record
    assert b"thread/1215710451343904768" not in raw
    rows = list(db["captures"].rows)
    assert {row["id"]: jobs.read_capture(archive.parent / "warc", row) for row in rows} == kept_before
    assert not list((archive.parent / "warc").glob("*.rewrite"))
    verified = jobs.verify(archive)
    assert (verified.checked, verified.corrupt, verified.unindexed) == (len(kept_before), [], [])


def test_a_forget_killed_before_its_commit_leaves_the_files_as_they_were(archive, monkeypatch):
    warc = next((archive.parent / "warc").glob("*.warc.gz"))
    original = warc.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies inside the transaction

    monkeypatch.setattr(forget_module, "_delete_captures", killed)
    with pytest.raises(KeyboardInterrupt):
        forget(archive, "thread", QUINNY, purge_captures=True)
    monkeypatch.undo()

    assert warc.read_bytes() == original and QUINNY in ids(archive, "SELECT id FROM threads")
    stale = captures.write_without(warc, {"<urn:uuid:none>"})[0]  # as if killed without a chance to clean up
    forget(archive, "post", "twitter:2090105012789248000")  # the next forget abandons the stale copy
    assert not stale.exists() and warc.read_bytes() == original


def test_a_forget_killed_after_its_commit_is_finished_by_the_next(archive, monkeypatch):
    monkeypatch.setattr(captures, "finish_rewrite", lambda path: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        forget(archive, "thread", QUINNY, purge_captures=True)
    monkeypatch.undo()
    assert jobs.verify(archive).corrupt  # the index already points into the copy

    forget(archive, "post", "twitter:2090105012789248000")

    assert not list((archive.parent / "warc").glob("*.rewrite"))
    verified = jobs.verify(archive)
    assert (verified.corrupt, verified.unindexed) == ([], [])
    assert QUINNY_WORDS not in warc_bytes(archive)


def test_records_in_an_imported_warc_are_unindexed_and_the_file_reported(tmp_path):
    db_path = tmp_path / "threadvault.db"
    imports.import_file(db_path, EXAMPLES)
    thread_id = ids(db_path, "SELECT id FROM threads WHERE platform = 'bluesky'")[0]
    original = EXAMPLES.read_bytes()

    report = forget(db_path, "thread", thread_id, purge_captures=True)

    assert report.captures >= 1 and report.rewritten == [] and report.left_in_place == [str(EXAMPLES.resolve())]
    assert EXAMPLES.read_bytes() == original
    assert jobs.verify(db_path).corrupt == []


def test_an_imported_file_other_threads_were_read_from_is_left_and_reported(tmp_path):
    db_path = tmp_path / "threadvault.db"
    imports.import_file(db_path, TEXTS)
    first, second = ids(db_path, "SELECT id FROM threads ORDER BY first_post_at")
    before = warc_bytes(db_path)

    report = forget(db_path, "thread", first, purge_captures=True)

    assert (report.captures, report.rewritten, report.kept_imports) == (0, [], ["two-threads-constructed.txt"])
    assert warc_bytes(db_path) == before and jobs.verify(db_path).corrupt == []
    assert replays.reparse(db_path).failed == []
    assert ids(db_path, "SELECT id FROM threads") == [second]  # the other thread rebuilt, the forgotten one not


def test_an_imported_file_only_forgotten_content_was_read_from_is_purged(tmp_path):
    db_path = tmp_path / "threadvault.db"
    alone = tmp_path / "one-thread.txt"
    alone.write_text("1/ Words the author wants gone.\n2/ More of them.\n")
    imports.import_file(db_path, TEXTS)
    imports.import_file(db_path, alone)
    (thread,) = ids(db_path, "SELECT thread_id FROM posts WHERE text LIKE '%wants gone%'")

    report = forget(db_path, "thread", thread, purge_captures=True)

    assert (report.captures, len(report.rewritten), report.kept_imports) == (1, 1, [])
    assert b"wants gone" not in warc_bytes(db_path) and TEXTS.read_bytes() in warc_bytes(db_path)
    verified = jobs.verify(db_path)
    assert (verified.checked, verified.corrupt, verified.unindexed) == (1, [], [])
    assert replays.reparse(db_path).failed == []
    assert len(ids(db_path, "SELECT id FROM threads")) == 2


# -- the command -----------------------------------------------------------------------------------


def invoke(*args: object) -> object:
    return CliRunner().invoke(cli, ["forget", *map(str, args)])


def test_forget_command_reports_what_went(archive):
    result = invoke("--db", archive, "--thread", QUINNY, "--purge-captures", "--reason", "asked by the author")
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"Forgot thread {QUINNY}: 102 posts, 1 thread removed; 1 capture purged from "
                             "1 WARC file; tombstoned, so never archived again\n")
    result = invoke("--db", archive, "--author", "archivist_ana")
    assert result.stdout == ("Forgot author twitter:archivist_ana: 6 posts, 1 thread, 1 author removed; "
                             "tombstoned, so never archived again\n")


@pytest.mark.parametrize("args", [[], ["--thread", QUINNY, "--post", QUINNY]])
def test_forget_command_wants_exactly_one_target(archive, args):
    result = invoke("--db", archive, *args)
    assert result.exit_code == 2
    assert "Error: give one of --author, --thread or --post" in result.stderr


def test_forget_command_waits_for_no_writer(archive):
    with jobs.writer_lock(archive):
        result = invoke("--db", archive, "--thread", QUINNY)
    assert result.exit_code == 1
    assert "another threadvault process is writing to this archive" in result.stderr
    assert QUINNY in ids(archive, "SELECT id FROM threads")


def test_a_hashtag_used_by_what_stays_keeps_its_count_of_the_posts_left(tmp_path):
    def tagged(thread_id: int, *tags: str) -> Thread:
        post = Post(f"twitter:{thread_id}", None, " ".join(f"#{tag}" for tag in tags), position=1, hashtags=tags)
        return Thread(f"twitter:{thread_id}", "twitter", f"https://x.example/{thread_id}", "test", None, (post,))

    db_path = tmp_path / "threadvault.db"
    db = store.open_archive(db_path)
    store.save_threads(db, [(tagged(1, "Café", "tea"), "2026-01-01T00:00:00Z", ()),
                            (tagged(2, "café"), "2026-01-01T00:00:00Z", ())])

    forget(db_path, "thread", "twitter:1")

    assert db.execute("SELECT tag, post_count FROM hashtags").fetchall() == [("café", 1)]
