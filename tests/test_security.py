"""What the archive lets out and in: credentials never stored, the server local by default, the
served database read-only.  (Where discovered links may lead is tested in test_jobs.py.)"""

from __future__ import annotations

import gzip
import logging
import sqlite3
import sys
from pathlib import Path

import pytest
import uvicorn
import yaml
from click.testing import CliRunner
from werkzeug import Response

from sample_archive import build_archive
from threadvault.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
METADATA = Path(__file__).parent.parent / "metadata.yml"
TOKEN = "tok-3f9a1c77e2"
COOKIE = "sess-8d20b4e5aa"


def serve_mastodon_thread(httpserver) -> str:
    """A Mastodon instance that answers a thread's API calls and sets a session cookie on each."""
    cassette = yaml.safe_load((FIXTURES / "mastodon" / "mastodon-cassette-long-thread-constructed.yaml").read_text())
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for interaction in cassette["interactions"]:
        body = interaction["response"]["body"]["string"]
        headers = {"Set-Cookie": f"_session_id={COOKIE}; path=/; HttpOnly"}
        httpserver.expect_request("/" + interaction["request"]["uri"].split("/", 3)[3]).respond_with_response(
            Response(body, headers=headers, content_type="application/json"))
    status_id = cassette["interactions"][0]["request"]["uri"].rstrip("/").split("/")[-1]
    return httpserver.url_for(f"/@mira/{status_id}")


def stored_bytes(db_path: Path) -> bytes:
    """Everything the archive holds on disk: the database with its write-ahead log, the WARC files unzipped."""
    files = [Path(f"{db_path}{suffix}") for suffix in ("", "-wal", "-shm")]
    warcs = sorted((db_path.parent / "warc").glob("*.warc.gz"))
    return b"".join(path.read_bytes() for path in files if path.exists()) + b"".join(
        gzip.decompress(path.read_bytes()) for path in warcs)


@pytest.mark.parametrize("how", ["option", "environment"])
def test_tokens_and_cookies_never_reach_the_warc_the_database_or_the_logs(httpserver, tmp_path, caplog, how):
    url = serve_mastodon_thread(httpserver)
    db_path = tmp_path / "threadvault.db"
    args = ["fetch", "--db", str(db_path), "--source", "mastodon", "--delay", "0", url]
    env = {"THREADVAULT_MASTODON_TOKEN": TOKEN} if how == "environment" else {}
    caplog.set_level(logging.INFO)  # httpcore's DEBUG trace prints response headers, Set-Cookie too

    result = CliRunner().invoke(cli, args + (["--token", TOKEN] if how == "option" else []), env=env)

    assert result.exit_code == 0, result.output
    api_calls = [request for request, _ in httpserver.log if request.path != "/robots.txt"]
    assert {request.headers.get("Authorization") for request in api_calls} == {f"Bearer {TOKEN}"}  # it was used
    assert all("Cookie" not in request.headers for request, _ in httpserver.log)  # no cookie sent back
    on_disk = stored_bytes(db_path)
    assert b"Authorization: [redacted]" in on_disk and b"Set-Cookie: [redacted]" in on_disk
    for secret in (TOKEN, COOKIE):
        assert secret.encode() not in on_disk
        assert secret not in result.output + caplog.text
    with sqlite3.connect(db_path) as conn:
        dump = "\n".join(conn.iterdump())
    assert "mastodon:" in dump and TOKEN not in dump and COOKIE not in dump


def test_serve_listens_on_the_loopback_interface_unless_told_otherwise(tmp_path, monkeypatch):
    db_path = build_archive(tmp_path / "threadvault.db")
    listened = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: listened.append(options["host"]))

    for args in ([], ["--host", "0.0.0.0"]):
        result = CliRunner().invoke(cli, ["serve", "--db", str(db_path), "--metadata", str(METADATA), *args])
        assert result.exit_code == 0, result.output

    assert listened == ["127.0.0.1", "0.0.0.0"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("served") / "threadvault.db")


def table_counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: conn.execute(f"SELECT count(*) FROM [{name}]").fetchone()[0] for name in names}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "sql",
    [
        "delete from posts",
        "update posts set text = 'defaced'",
        "insert into forgotten (kind, id) values ('thread', 'x')",
        "drop table posts",
        "with doomed as (select id from posts) delete from posts where id in doomed",
        "select 1; delete from posts",
        "pragma journal_mode = delete",
        "attach database ':memory:' as other",
        "create table intruder (x)",
    ],
)
async def test_the_served_database_refuses_every_write(archive, sql):
    from threadvault.web.server import build_datasette

    before = table_counts(archive)
    response = await build_datasette(archive, METADATA).client.get("/threadvault.json", params={"sql": sql})
    if sql.startswith("select 1;") and sys.version_info < (3, 11):
        # Python 3.10's sqlite3 raises sqlite3.Warning on a second statement; Datasette answers 500.
        assert response.status_code == 500
    else:
        assert response.status_code == 400
        assert response.json()["ok"] is False
    assert table_counts(archive) == before


def test_no_canned_query_writes():
    queries = yaml.safe_load(METADATA.read_text())["databases"]["threadvault"].get("queries", {})
    assert queries and not any(query.get("write") for query in queries.values())
