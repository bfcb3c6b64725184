"""Mastodon, Bluesky and Nitter through the whole pipeline: a fetch job against a server on 127.0.0.1
serving the recorded answers (tests/fixtures/), into the archive."""

import asyncio
import json
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from werkzeug import Response

from threadvault import jobs, store
from threadvault.fetch import FetchSettings

FIXTURES = Path(__file__).parent / "fixtures"
SETTINGS = FetchSettings(delay=0, retries=2, backoff=0.01, concurrency=2)


def run_job(db_path, urls, source):
    db = store.open_archive(db_path)
    queued = jobs.enqueue(db, urls, forced_source=source)
    report = asyncio.run(jobs.FetchJob(db_path, SETTINGS, jobs.JobOptions()).run())
    report.failed[:0] = queued.rejected
    return report


def serve_cassette(httpserver, name):
    """Every answer of a recorded Mastodon cassette, at its path on the local server."""
    for interaction in yaml.safe_load((FIXTURES / "mastodon" / name).read_text())["interactions"]:
        path = "/" + interaction["request"]["uri"].split("/", 3)[3]
        response = interaction["response"]
        httpserver.expect_request(path).respond_with_data(
            response["body"]["string"], status=response["status"]["code"], content_type="application/json")


@pytest.fixture
def server(httpserver):
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    return httpserver


def posts(db_path, thread_id):
    db = sqlite_utils.Database(db_path)
    return [row["text"] for row in db.query(
        "select text from posts where thread_id = ? and position is not null order by position", [thread_id])]


def test_a_mastodon_thread_read_from_its_middle(server, tmp_path):
    serve_cassette(server, "mastodon-cassette-long-thread-constructed.yaml")
    url = server.url_for("/@mira/112025282813496319")
    report = run_job(tmp_path / "a.db", [url], "mastodon")
    assert (report.archived, report.failed) == ([url], [])
    texts = posts(tmp_path / "a.db", "mastodon:https://social.example/users/mira/statuses/112025273054269555")
    assert len(texts) == 5 and texts[0].startswith("A thread on keeping a web archive honest.")


@pytest.mark.parametrize("status_id, reason", [
    ("112000000000000001", "status not found or not public (HTTP 404)"),
    ("112000000000000002", "status not found or not public (HTTP 401)"),
])
def test_a_deleted_or_private_mastodon_post_fails_with_its_reason(server, tmp_path, status_id, reason):
    serve_cassette(server, "mastodon-cassette-errors-constructed.yaml")
    gone = {"error": "Record not found"}  # what Mastodon answers for the context of a status it will not show
    server.expect_request(f"/api/v1/statuses/{status_id}/context").respond_with_json(gone, status=404)
    url = server.url_for(f"/@someone/{status_id}")
    report = run_job(tmp_path / "a.db", [url], "mastodon")
    assert report.failed == [(url, f"{url}: not a thread: {reason}")]


def test_a_rate_limited_instance_is_waited_for_then_archived(server, tmp_path):
    cassette = yaml.safe_load((FIXTURES / "mastodon" / "mastodon-cassette-japanese-thread-constructed.yaml").read_text())
    answers = {"/" + item["request"]["uri"].split("/", 3)[3]: item["response"]["body"]["string"]
               for item in cassette["interactions"]}
    limited = {path: [True] for path in answers}

    def answer(request):
        if limited[request.path].pop() if limited[request.path] else False:
            return Response("Too many requests", status=429, headers={"Retry-After": "0"})
        return Response(answers[request.path], content_type="application/json")

    for path in answers:
        server.expect_request(path).respond_with_handler(answer)
    status_path = next(path for path in answers if not path.endswith("/context"))
    url = server.url_for("/@yuki/" + status_path.rsplit("/", 1)[1])
    report = run_job(tmp_path / "a.db", [url], "mastodon")
    assert (report.archived, report.failed) == ([url], [])
    statuses = [request.path for request, _ in server.log if request.path != "/robots.txt"]
    assert sorted(statuses) == sorted([*answers, *answers])  # each answered 429 once, then 200
    texts = [text for text in posts(tmp_path / "a.db", sqlite_utils.Database(tmp_path / "a.db")["threads"].rows
                                    .__next__()["id"])]
    assert any("\u3042" <= char <= "\u30ff" or "\u4e00" <= char <= "\u9fff" for text in texts for char in text)


def test_a_bluesky_thread_with_emoji_before_its_hashtags(server, tmp_path, monkeypatch):
    monkeypatch.setenv("THREADVAULT_BSKY_APPVIEW", server.url_for("/").rstrip("/"))
    resolve = json.loads((FIXTURES / "bluesky" / "resolveHandle-alice-constructed.json").read_text())
    server.expect_request("/xrpc/com.atproto.identity.resolveHandle").respond_with_json(resolve)
    answer = json.loads((FIXTURES / "bluesky" / "getPostThread-constructed-emoji-facets.json").read_text())
    server.expect_request("/xrpc/app.bsky.feed.getPostThread").respond_with_json(answer)
    rkey = answer["thread"]["post"]["uri"].rsplit("/", 1)[1]
    url = f"https://bsky.app/profile/alice.test/post/{rkey}"
    report = run_job(tmp_path / "a.db", [url], None)
    assert (report.archived, report.failed) == ([url], [])
    db = sqlite_utils.Database(tmp_path / "a.db")
    tags = {row["display"] for row in db["hashtags"].rows}
    assert {"Archivage", "WebArchive", "préservation"} <= tags


def test_a_nitter_thread_on_two_pages(server, tmp_path):
    page1 = (FIXTURES / "nitter" / "status-page1-constructed.html").read_bytes()
    page2 = (FIXTURES / "nitter" / "status-page2-constructed.html").read_bytes()
    server.expect_request("/archivist_ada/status/1800226420945854465").respond_with_data(page1, content_type="text/html")
    server.expect_request("/archivist_ada/status/1800226924262334467").respond_with_data(page2, content_type="text/html")
    url = server.url_for("/archivist_ada/status/1800226420945854465")
    report = run_job(tmp_path / "a.db", [url], "nitter")
    assert (report.archived, report.failed) == ([url], [])
    assert len(posts(tmp_path / "a.db", "twitter:1800226420945854465")) == 5


def test_a_nitter_error_page_fails_with_nitters_own_words(server, tmp_path):
    body = (FIXTURES / "nitter" / "error-not-found-constructed.html").read_bytes()
    server.expect_request("/someone/status/1").respond_with_data(body, status=404, content_type="text/html")
    url = server.url_for("/someone/status/1")
    [(failed, reason)] = run_job(tmp_path / "a.db", [url], "nitter").failed
    assert failed == url and "Tweet not found" in reason


@pytest.mark.parametrize("start, contexts", [
    (1, [1, 21, 41]),  # each context goes 20 levels down
    (45, [45, 5]),  # the context of post 45 has 40 ancestors, from post 5
])
def test_a_mastodon_thread_longer_than_a_context_answer(server, tmp_path, start, contexts):
    serve_cassette(server, "mastodon-cassette-capped-thread-constructed.yaml")
    first, last = "112022205245358098", "112022358182002750"  # posts 1 and 45
    status_id = first if start == 1 else last
    url = server.url_for(f"/@mira/{status_id}")
    report = run_job(tmp_path / "a.db", [url], "mastodon")
    assert (report.archived, report.failed) == ([url], [])
    db = sqlite_utils.Database(tmp_path / "a.db")
    rows = list(db.query("select id, text from posts where thread_id = ? and position is not null order by position",
                         [f"mastodon:https://social.example/users/mira/statuses/{first}"]))
    assert [row["text"].split(" ", 1)[0] for row in rows] == [f"{n}/45" for n in range(1, 46)]
    ids = [row["id"].rsplit("/", 1)[1] for row in rows]
    asked = [request.path for request, _ in server.log if request.path != "/robots.txt"]
    expected = [f"/api/v1/statuses/{status_id}", *(f"/api/v1/statuses/{ids[n - 1]}/context" for n in contexts)]
    assert sorted(asked) == sorted(expected)
