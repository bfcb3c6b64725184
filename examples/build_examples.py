"""Build examples/example-threads-constructed.warc.gz, the archive `make demo` imports.

Each thread is answered from a test fixture (tests/fixtures/, provenance in its
README.md): real pages and API bodies where the project has them, constructed
ones elsewhere.  The WARC is *constructed*: the HTTP exchanges wrapping those
bodies are made up (status line, minimal headers, fixed times and record ids),
so the file is byte-for-byte reproducible.  The URLs are the ones each source's
own plan() asks for, so importing the file parses exactly as a fetch would.

    .venv/bin/python examples/build_examples.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import yaml

from threadvault.captures import WarcWriter
from threadvault.fetch import Exchange
from threadvault.model import Capture
from threadvault.sources import bluesky, mastodon, nitter, threadreaderapp

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
OUTPUT = ROOT / "examples" / "example-threads-constructed.warc.gz"
FETCHED_AT = "2026-11-30T06:00:00Z"
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"


def fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def cassette_bodies(path: str) -> dict[str, bytes]:
    interactions = yaml.safe_load((FIXTURES / path).read_text(encoding="utf-8"))["interactions"]
    return {item["request"]["uri"]: item["response"]["body"]["string"].encode() for item in interactions}


def bluesky_fixture(path: str) -> bytes:
    return json.dumps(json.loads(fixture(path))).encode()


# (source, URL a user would give, answer for each URL the plan asks for, content type)
THREADS: list[tuple[object, str, Callable[[str], bytes], str]] = [
    (threadreaderapp, "https://threadreaderapp.com/thread/1215710451343904768.html",
     lambda url: fixture("threadreaderapp/thread-1215710451343904768-QuinnyPig.html"), HTML),
    (threadreaderapp, "https://threadreaderapp.com/thread/2090104857600000000.html",
     lambda url: fixture("threadreaderapp/thread-2090104857600000000-archivist_ana-2026-constructed.html"), HTML),
    (nitter, "https://nitter.net/archivist_ada/status/1764577898787778563",
     lambda url: fixture("nitter/status-selfthread-constructed.html"), HTML),
    (mastodon, "https://social.example/@mira/112025282813496319",
     lambda url: cassette_bodies("mastodon/mastodon-cassette-long-thread-constructed.yaml")[url], JSON),
    (bluesky, "https://bsky.app/profile/yuki.test/post/3ljgxmkgdus2p",
     lambda url: bluesky_fixture("bluesky/resolveHandle-yuki-constructed.json" if "resolveHandle" in url
                                 else "bluesky/getPostThread-constructed-japanese.json"), JSON),
]


def exchange(url: str, body: bytes, content_type: str) -> Exchange:
    host = url.split("/")[2]
    return Exchange(
        url=url, method="GET",
        request_headers=(("Host", host), ("User-Agent", "threadvault example builder"), ("Accept", "*/*")),
        http_version="HTTP/1.1", status=200, reason="OK",
        response_headers=(("Content-Type", content_type), ("Content-Length", str(len(body)))),
        body=body, fetched_at=FETCHED_AT,
    )


def main() -> None:
    ids = (f"<urn:uuid:{uuid.UUID(int=number)}>" for number in range(1, 1000))
    clock = lambda: datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # noqa: E731
    with tempfile.TemporaryDirectory() as folder:
        with WarcWriter(Path(folder), clock=clock, record_id=lambda: next(ids)) as writer:
            for source, url, answer, content_type in THREADS:
                canonical = source.canonical_url(url)  # type: ignore[attr-defined]
                captures: dict[str, Capture] = {}
                while todo := [u for u in source.plan(canonical, captures) if u not in captures]:  # type: ignore[attr-defined]
                    for next_url in todo:
                        body = answer(next_url)
                        writer.write(exchange(next_url, body, content_type))
                        captures[next_url] = Capture(next_url, 200, (("Content-Type", content_type),), body, FETCHED_AT)
                source.parse(canonical, captures)  # type: ignore[attr-defined]  # fails loudly if a fixture no longer parses
        [written] = Path(folder).glob("*.warc.gz")
        shutil.copyfile(written, OUTPUT)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({OUTPUT.stat().st_size:,} bytes, {len(THREADS)} threads)")


if __name__ == "__main__":
    main()
