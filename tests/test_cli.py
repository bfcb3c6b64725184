from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from pagegen import REAL_PAGE, generated_thread
from threadvault import jobs, parsing
from threadvault.warcwriter import WarcWriter
from threadvault.cli import cli
from threadvault.fetch import Exchange
from threadvault.migrations import migrations

EXAMPLES = Path(__file__).parent.parent / "examples" / "example-threads-constructed.warc.gz"
FIXTURES = Path(__file__).parent / "fixtures"


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(arg) for arg in args], input=input, catch_exceptions=False)


@pytest.fixture
def site(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/thread/1215710451343904768.html").respond_with_data(
        REAL_PAGE.read_bytes(), content_type="text/html; charset=utf-8")
    httpserver.expect_request("/thread/404.html").respond_with_data("gone", status=404)
    return httpserver


def test_fetch_archives_and_reports(site, tmp_path):
    db = tmp_path / "archive.db"
    result = invoke("fetch", "--db", db, "--source", "threadreaderapp", "--delay", "0",
                    site.url_for("/thread/1215710451343904768.html"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 archived, 0 unchanged, 0 failed"
    assert sqlite_utils.Database(db)["posts"].count == 102


def test_fetch_from_file_goes_on_past_bad_urls_and_exits_non_zero(site, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("# my list\n" + site.url_for("/thread/404.html") + "\n\nftp://example.org/x\n"
                    + site.url_for("/thread/1215710451343904768.html") + "\n")
    db = tmp_path / "archive.db"
    result = invoke("fetch", "--db", db, "--source", "threadreaderapp", "--delay", "0", "--retries", "0",
                    "--from-file", urls)
    assert result.exit_code == 1
    assert result.stdout.strip() == "1 archived, 0 unchanged, 2 failed"
    errors = result.stderr.splitlines()
    assert any(line.startswith("Failed: ftp://example.org/x: ") for line in errors)
    assert f"Failed: {site.url_for('/thread/404.html')}: not a thread: HTTP 404" in errors


def test_unknown_url_without_source_is_refused_clearly(tmp_path):
    result = invoke("fetch", "--db", tmp_path / "a.db", "https://example.org/some/page")
    assert result.exit_code == 1
    assert "Failed: https://example.org/some/page: no source recognises it (use --source NAME)" in result.stderr


def test_unknown_source_name(tmp_path):
    result = invoke("fetch", "--db", tmp_path / "a.db", "--source", "myspace", "https://example.org/x")
    assert "no such source (known: threadreaderapp, bluesky, nitter, mastodon)" in result.stderr


def test_import_warc_then_verify_and_reparse(tmp_path):
    db = tmp_path / "archive.db"
    result = invoke("import", "--db", db, EXAMPLES)
    assert result.exit_code == 0, result.output
    assert "5 threads saved" in result.stdout
    database = sqlite_utils.Database(db)
    assert {row["platform"] for row in database["threads"].rows} == {"twitter", "mastodon", "bluesky"}

    result = invoke("verify", "--db", db)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("0 corrupt, 0 unindexed")

    result = invoke("reparse", "--db", db)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["import", "reparse"])
def test_parse_workers_reach_the_parse_processes(tmp_path, monkeypatch, command):
    db = tmp_path / "archive.db"
    if command == "reparse":
        assert invoke("import", "--db", db, "--parse-workers", "0", EXAMPLES).exit_code == 0
    started = []

    @contextmanager
    def recorded(workers):
        started.append(workers)
        yield None  # and parsed in the command's own process

    monkeypatch.setattr(parsing, "PARSE_POOL_FROM", 1)
    monkeypatch.setattr(parsing, "parse_processes", recorded)
    result = invoke(command, "--db", db, "--parse-workers", "3", *([EXAMPLES] if command == "import" else []))

    assert result.exit_code == 0, result.output
    assert started == [3]


def test_import_reports_bad_lines_and_goes_on(tmp_path):
    good = (FIXTURES / "twarc2" / "twarc-csv-flat.jsonl").read_text().splitlines()[:5]
    broken = tmp_path / "collection.jsonl"
    broken.write_text("\n".join(good[:2] + ['{"id": "1", "text": '] + good[2:]) + "\n")
    db = tmp_path / "archive.db"
    result = invoke("import", "--db", db, broken)
    assert result.exit_code == 1
    assert f"Skipped: {broken}:3: not valid JSON" in result.stderr
    assert f"{broken} (twarc): 5 threads saved" in result.stdout


def test_import_of_an_unknown_format_names_the_file(tmp_path):
    blob = tmp_path / "photo.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    result = invoke("import", "--db", tmp_path / "a.db", blob)
    assert result.exit_code == 1
    assert f"Failed: {blob}: not a format threadvault can import (use --format NAME)" in result.stderr


def test_verify_fails_on_a_corrupt_record(tmp_path):
    db = tmp_path / "archive.db"
    invoke("import", "--db", db, EXAMPLES)
    row = next(iter(sqlite_utils.Database(db)["captures"].rows))
    warc = Path(row["warc_file"])
    copy = tmp_path / "copy.warc.gz"
    data = bytearray(warc.read_bytes())
    data[row["offset"] + row["length"] // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with sqlite_utils.Database(db).conn as conn:
        conn.execute("UPDATE captures SET warc_file = ?", [str(copy)])
    result = invoke("verify", "--db", db)
    assert result.exit_code == 1
    assert "Corrupt: " in result.stderr and str(copy) in result.stderr


def test_verify_warns_of_a_record_cut_off_by_a_killed_run_and_passes(tmp_path):
    db = tmp_path / "archive.db"
    invoke("import", "--db", db, EXAMPLES)
    exchange = Exchange("https://threadreaderapp.com/thread/1.html", "GET", (), "HTTP/1.1", 200, "OK", (),
                        REAL_PAGE.read_bytes(), "2026-11-30T06:00:00Z")
    with WarcWriter(tmp_path / "warc") as writer:
        row = writer.write(exchange)
    warc = tmp_path / "warc" / row["warc_file"]
    warc.write_bytes(warc.read_bytes()[: row["offset"] + 100])
    result = invoke("verify", "--db", db)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (f"Cut off: {warc} at offset {row['offset']}: the last record, cut short when "
                                     "the run writing it was killed; it was never indexed and is ignored")
    assert result.stdout.strip().endswith("0 corrupt, 0 unindexed, 1 cut off by a killed run")


def test_a_second_writer_is_refused(tmp_path):
    db = tmp_path / "archive.db"
    with jobs.writer_lock(db):
        result = invoke("import", "--db", db, EXAMPLES)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {db}: another threadvault process is writing to this archive; wait for it to finish"


def test_serve_refuses_a_missing_archive(tmp_path):
    result = invoke("serve", "--db", tmp_path / "nothing.db")
    assert result.exit_code == 1
    assert "no archive here yet" in result.stderr


def test_serve_brings_an_archive_from_an_older_version_up_to_date(tmp_path, monkeypatch):
    import uvicorn

    db_path = tmp_path / "threadvault.db"
    migrations.apply(sqlite_utils.Database(db_path), stop_before="count_posts_per_hashtag")
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)

    result = invoke("serve", "--db", db_path)

    assert result.exit_code == 0, result.output
    assert migrations.pending(sqlite_utils.Database(db_path)) == []
    assert "post_count" in sqlite_utils.Database(db_path)["hashtags"].columns_dict


@pytest.mark.parametrize("command", [[], ["fetch"], ["import"], ["serve"], ["verify"], ["reparse"], ["export"], ["forget"]])
def test_every_command_explains_itself_with_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert invoke(*command, "-h").output == result.output


def test_generated_pages_parse_like_real_ones(tmp_path, httpserver):
    thread = generated_thread(3, posts=4)
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request(f"/thread/{thread.root_id}.html").respond_with_data(thread.html, content_type="text/html")
    db = tmp_path / "archive.db"
    result = invoke("fetch", "--db", db, "--source", "threadreaderapp", "--delay", "0",
                    httpserver.url_for(f"/thread/{thread.root_id}.html"))
    assert result.exit_code == 0
    ids = [row["id"] for row in sqlite_utils.Database(db).query("select id from posts order by position")]
    assert ids == [f"twitter:{tweet_id}" for tweet_id in thread.tweet_ids]


def test_a_mastodon_token_is_sent_to_the_instance_only(httpserver, tmp_path):
    import yaml

    cassette = yaml.safe_load((FIXTURES / "mastodon" / "mastodon-cassette-long-thread-constructed.yaml").read_text())
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for interaction in cassette["interactions"]:
        path = "/" + interaction["request"]["uri"].split("/", 3)[3]
        httpserver.expect_request(path).respond_with_data(interaction["response"]["body"]["string"],
                                                          content_type="application/json")
    status_id = cassette["interactions"][0]["request"]["uri"].rstrip("/").split("/")[-1]
    db = tmp_path / "archive.db"
    result = invoke("fetch", "--db", db, "--source", "mastodon", "--delay", "0", "--token", "s3cret",
                    httpserver.url_for(f"/@mira/{status_id}"))
    assert result.exit_code == 0, result.output
    sent = {request.path: request.headers.get("Authorization") for request, _ in httpserver.log}
    assert sent.pop("/robots.txt") is None
    assert set(sent.values()) == {"Bearer s3cret"}
    warc_bytes = b"".join(path.read_bytes() for path in (tmp_path / "warc").glob("*.warc.gz"))
    import gzip
    assert b"s3cret" not in gzip.decompress(warc_bytes)


def test_export_writes_a_thread_and_names_an_unknown_one(tmp_path):
    db = tmp_path / "archive.db"
    invoke("import", "--db", db, EXAMPLES)
    result = invoke("export", "--db", db, "twitter:1215710451343904768")
    assert result.exit_code == 0
    assert "Okay. For every retweet" in result.stdout
    out = tmp_path / "thread.html"
    assert invoke("export", "--db", db, "twitter:1215710451343904768", "--format", "html", "-o", out).exit_code == 0
    assert out.read_text().lstrip().lower().startswith("<!doctype html>")
    result = invoke("export", "--db", db, "twitter:1")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: twitter:1: no such thread in the archive"


def test_a_warc_with_a_bad_gzip_member_imports_the_records_around_it(tmp_path):
    import gzip

    data = EXAMPLES.read_bytes()
    members, position = [], 0
    while position < len(data):  # split the per-record gzip members
        end = data.find(b"\x1f\x8b\x08", position + 1)
        members.append(data[position:end if end > 0 else len(data)])
        position = end if end > 0 else len(data)
    assert all(gzip.decompress(member).startswith(b"WARC/") for member in members)
    responses = [index for index, member in enumerate(members) if b"WARC-Type: response" in gzip.decompress(member)]
    victim = responses[0]  # the first Thread Reader App page
    damaged = bytearray(members[victim])
    damaged[len(damaged) // 2] ^= 0xFF
    warc = tmp_path / "crawl.warc.gz"
    warc.write_bytes(b"".join(members[:victim]) + bytes(damaged) + b"".join(members[victim + 1:]))

    db = tmp_path / "archive.db"
    result = invoke("import", "--db", db, warc)

    assert result.exit_code == 1
    offset = sum(len(member) for member in members[:victim])
    assert f"Skipped: {warc.resolve()} at offset {offset}: " in result.stderr
    assert f"{warc} (warc): 4 threads saved" in result.stdout
    assert "twitter:1215710451343904768" not in {row["id"] for row in sqlite_utils.Database(db)["threads"].rows}


def test_a_foreign_warc_skips_revisits_with_a_count(tmp_path):
    result = invoke("import", "--db", tmp_path / "archive.db", FIXTURES / "warc" / "warcio-example.warc")
    assert "1 revisit records skipped" in result.stdout
    assert "1 responses no source recognises skipped" in result.stdout


def test_an_imported_file_is_verified_and_reparsed_from_the_archive_alone(tmp_path):
    collection = tmp_path / "collection.jsonl"
    collection.write_bytes((FIXTURES / "twarc2" / "twarc-csv-flat.jsonl").read_bytes())
    db = tmp_path / "archive.db"
    assert invoke("import", "--db", db, collection).stdout.strip() == (
        f"{collection} (twarc): 99 threads saved, 0 unchanged, 0 bad records")
    assert invoke("import", "--db", db, collection).stdout.strip() == (
        f"{collection} (twarc): 0 threads saved, 99 unchanged, 0 bad records"
        " (already archived: the same bytes were imported before)")
    collection.unlink()

    result = invoke("verify", "--db", db)
    assert (result.exit_code, result.stdout.strip()) == (0, "1 records checked, 0 corrupt, 0 unindexed")
    result = invoke("reparse", "--db", db)
    assert (result.exit_code, result.stdout.strip()) == (0, "1 archived, 0 unchanged, 0 failed")


def test_importing_the_same_file_twice_says_it_is_already_archived(tmp_path):
    db = tmp_path / "archive.db"
    collection = FIXTURES / "twarc2" / "twarc-csv-two_tweets.jsonl"
    first = invoke("import", "--db", db, collection)
    assert "already archived" not in first.stdout
    second = invoke("import", "--db", db, collection)
    assert second.stdout.strip().endswith("(already archived: the same bytes were imported before)")
    assert "0 threads saved" in second.stdout
