"""Malformed input for every parser and importer: mutated real fixtures never crash, hang or let a broken thread in.

The inputs are the real (and constructed) fixtures of tests/fixtures/, mutated by
hypothesis: cut at a random byte, a slice dropped or repeated, random bytes or
invalid UTF-8 spliced in, elements, keys or lines dropped, repeated or swapped,
values of the wrong type, megabytes of text in one field, JSON nested 10,000
deep and HTML nested thousands deep.

A web source's ``parse`` either returns a well-formed Thread (or Listing) or
raises NotAThread.  An importer yields well-formed threads, reports each bad
record as an ImportLineError in its errors list and still yields the good ones.
Every thread that comes out is saved into a fresh archive.
"""

from __future__ import annotations

import copy
import json
import re
import sqlite3
import tempfile
import zipfile
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import lxml.html
import pytest
import sqlite_utils
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadvault import store
from threadvault.errors import ImportLineError, NotAThread, UnknownSource
from threadvault.migrations import migrations
from threadvault.model import Capture, Listing, Thread
from threadvault.sources import bluesky, mastodon, nitter, plaintext, threadreaderapp, twarc, twitter_archive

FIXTURES = Path(__file__).parent / "fixtures"
FETCHED_AT = "2026-05-01T12:00:00Z"
HTML = (("Content-Type", "text/html; charset=utf-8"),)
JSON = (("Content-Type", "application/json; charset=utf-8"),)

DEEP = 10_000  # JSON nesting: ten times what Python's json module can decode
DEEP_HTML = (300, 3_000)  # HTML nesting: deeper than any real page, and past Python's recursion limit
HUGE = 2_000_000  # characters of text put into one field
HUGE_TEXT = ("Mégaoctets of text #WebArchiving @someone https://example.org/x?a=1 🎉\n" * (HUGE // 60))[:HUGE]
DEEP_MARK = "deep-nesting-goes-here"
DUPLICATE_MARK = "\x00written-twice"
WRONG_VALUES = [None, True, 0, -1, 2**64, 1.5, 1e308, "", "x", "1215710451343904768", [], {}, [None], {"": None}]
WRONG_ATTRIBUTES = ["", "x", "-1", "99999999999999999999999", " 1215710451343904768 ", "１２３", "javascript:x", "/"]
BAD_UTF8 = [b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\xef\xbb\xbf"]

# Tuned so that the module takes well under a minute on two cores; runs with ten times as many
# examples found nothing more.
SETTINGS = settings(
    max_examples=30,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# Mutations


def mutated_bytes(raw: bytes) -> st.SearchStrategy[bytes]:
    """The bytes cut short, with a slice dropped or repeated, with random bytes or invalid UTF-8 spliced in, or none."""
    at = st.integers(0, len(raw))
    pair = st.tuples(at, at).map(sorted)
    return st.one_of(
        st.just(b""),
        at.map(lambda cut: raw[:cut]),
        pair.map(lambda ends: raw[: ends[0]] + raw[ends[1] :]),
        pair.map(lambda ends: raw[: ends[1]] + raw[ends[0] :]),
        st.tuples(at, st.binary(min_size=1, max_size=64) | st.sampled_from(BAD_UTF8)).map(
            lambda spliced: raw[: spliced[0]] + spliced[1] + raw[spliced[0] :]
        ),
    )


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) of a JSON document, found without recursion."""
    stack = [node]
    while stack:
        container = stack.pop()
        keys = list(container) if isinstance(container, dict) else range(len(container))
        for key in reversed(keys):
            yield container, key
            if isinstance(container[key], (dict, list)):
                stack.append(container[key])


@st.composite
def mutated_json(draw: st.DrawFn, raw: bytes, indent: int | None = None) -> bytes:
    """A JSON document with one value dropped, repeated, swapped for another, of the wrong type, huge or deep."""
    doc = json.loads(raw)
    slots = list(_slots(doc))
    if not slots:
        return draw(mutated_bytes(raw))
    container, key = draw(st.sampled_from(slots))
    operation = draw(st.sampled_from(["drop", "repeat", "wrong type", "swap", "huge", "deep"]))
    if operation == "drop":
        del container[key]
    elif operation == "repeat" and isinstance(container, list):
        container.insert(key, copy.deepcopy(container[key]))
    elif operation == "repeat":  # the key written twice, with another value from the document (the later one wins)
        other, other_key = draw(st.sampled_from(slots))
        container[key + DUPLICATE_MARK] = copy.deepcopy(other[other_key])
    elif operation == "wrong type":
        container[key] = draw(st.sampled_from(WRONG_VALUES))
    elif operation == "swap":
        other, other_key = draw(st.sampled_from(slots))
        container[key] = copy.deepcopy(other[other_key])
    elif operation == "huge":
        container[key] = HUGE_TEXT
    else:
        container[key] = DEEP_MARK
    text = json.dumps(doc, indent=indent).replace(json.dumps(DUPLICATE_MARK)[1:-1] + '"', '"')
    opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return text.replace(json.dumps(DEEP_MARK), opening * DEEP + "1" + closing * DEEP).encode()


@st.composite
def mutated_html(draw: st.DrawFn, raw: bytes, focus: str) -> bytes:
    """An HTML page with one element (preferably one the parser reads) dropped, repeated, unwrapped,
    with an attribute removed or garbled, with megabytes of text, or nested thousands deep."""
    root = lxml.html.document_fromstring(raw)
    elements = root.xpath(focus) if draw(st.booleans()) else list(root.iter())
    element = draw(st.sampled_from(elements or [root]))
    operation = draw(st.sampled_from(["drop", "repeat", "unwrap", "attribute", "huge", "deep"]))
    if operation == "drop" and element is not root:
        element.drop_tree()
    elif operation == "repeat" and element is not root:
        element.addnext(copy.deepcopy(element))
    elif operation == "unwrap" and element is not root:
        element.drop_tag()
    elif operation == "attribute" and element.attrib:
        name = draw(st.sampled_from(sorted(element.attrib)))
        value = draw(st.sampled_from([None, *WRONG_ATTRIBUTES]))
        if value is None:
            del element.attrib[name]
        else:
            element.attrib[name] = value
    elif operation == "huge":
        element.text = HUGE_TEXT + (element.text or "")
    elif operation == "deep":
        element.text = DEEP_MARK + (element.text or "")
    html = lxml.html.tostring(root, encoding="utf-8", doctype="<!DOCTYPE html>")
    depth, tag = draw(st.sampled_from(DEEP_HTML)), draw(st.sampled_from([b"span", b"div", b"a"]))
    return html.replace(DEEP_MARK.encode(), b"<%s>" % tag * depth + b"deep" + b"</%s>" % tag * depth)


# What comes out


POST_ID = {  # a post's global id on each platform
    "twitter": re.compile(r"twitter:[0-9]{1,20}"),
    "mastodon": re.compile(r"mastodon:https?://\S+"),
    "bluesky": re.compile(r"bluesky:at://\S+"),
    "text": re.compile(r"text:[0-9a-f]{24}"),
}


def check_thread(thread: Thread, platform: str) -> None:
    """Ids are the platform's, the numbered posts are 1..n without holes, no id is repeated."""
    prefix = f"{platform}:"
    ids = [post.id for post in thread.posts]
    assert ids and thread.id == ids[0] and thread.platform == platform
    assert all(isinstance(post_id, str) and POST_ID[platform].fullmatch(post_id) for post_id in ids), ids
    assert len(set(ids)) == len(ids), "a post appears twice"
    positions = [post.position for post in thread.posts if post.position is not None]
    assert positions == list(range(1, len(positions) + 1))
    assert all(post.reply_to_id is None or post.reply_to_id.startswith(prefix) for post in thread.posts)
    authors = [thread.author, *(post.author for post in thread.posts)]
    assert all(author.id.startswith(f"{author.platform}:") for author in authors if author is not None)


def fresh_archive() -> sqlite_utils.Database:
    db = sqlite_utils.Database(memory=True)
    migrations.apply(db)
    return db


def check_saves(thread: Thread) -> None:
    """The thread saves into a fresh archive, every post of it."""
    db = fresh_archive()
    store.save_thread(db, thread, captured_at=FETCHED_AT, capture_ids=["capture-1"])
    assert db["posts"].count == len(thread.posts)
    positioned = sum(post.position is not None for post in thread.posts)
    assert db["threads"].get(thread.id)["post_count"] == positioned


# Web sources


@dataclass(frozen=True)
class Page:
    """A source, a URL of it, and the fixtures that answer its plan in turn."""

    source: ModuleType
    url: str
    answers: tuple[Callable[[], bytes], ...]
    platform: str
    focus: str = "//body//*"

    @property
    def html(self) -> bool:
        return self.source in (threadreaderapp, nitter)

    def captures(self) -> dict[str, Capture]:
        """Captures as the fetch job makes them: each URL the plan asks for, answered by the next fixture."""
        captures: dict[str, Capture] = {}
        answers = list(self.answers)
        while todo := self.source.plan(self.url, captures):
            for url in todo:
                body = answers.pop(0)()
                captures[url] = Capture(url, 200, HTML if self.html else JSON, body, FETCHED_AT, f"c{len(captures)}")
        assert answers == []
        return captures


def fixture(path: str) -> Callable[[], bytes]:
    return lambda: (FIXTURES / path).read_bytes()


def kotlin(path: str) -> Callable[[], bytes]:
    """A Morpho fixture: a Kotlin raw string, where ``${"$"}`` stands for ``$``."""
    return lambda: (FIXTURES / path).read_bytes().replace(b'${"$"}', b"$")


def cassette(path: str, url: str) -> Callable[[], bytes]:
    """The body of the answer to ``url`` in a vcrpy cassette."""

    def body() -> bytes:
        interactions = yaml.safe_load((FIXTURES / path).read_text())["interactions"]
        answer = next(each["response"] for each in interactions if each["request"]["uri"] == url)
        return answer["body"]["string"].encode()

    return body


TRA_POSTS = "//div[@data-tweet]/descendant-or-self::*"
TRA_CARDS = "//div[contains(@class, 'thread-card')]/descendant-or-self::*|//a"
NITTER_THREAD = "//div[contains(@class, 'main-thread')]/descendant-or-self::*"
HALCY = "https://mastodon.social/api/v1/statuses/110446983926957470"
SOCIAL = "https://social.example/api/v1/statuses/"
LONG, GAP = SOCIAL + "112025282813496319", SOCIAL + "111914164676657554"


def status_and_context(path: str, status: str, context_path: str | None = None) -> tuple[Callable[[], bytes], ...]:
    return cassette(f"mastodon/{path}", status), cassette(f"mastodon/{context_path or path}", status + "/context")


PAGES = {
    "tra-real": Page(threadreaderapp, "https://threadreaderapp.com/thread/1215710451343904768.html",
                     (fixture("threadreaderapp/thread-1215710451343904768-QuinnyPig.html"),), "twitter", TRA_POSTS),
    "tra-2026": Page(threadreaderapp, "https://threadreaderapp.com/thread/2090104857600000000.html",
                     (fixture("threadreaderapp/thread-2090104857600000000-archivist_ana-2026-constructed.html"),),
                     "twitter", TRA_POSTS),
    "tra-author": Page(threadreaderapp, "https://threadreaderapp.com/user/QuinnyPig",
                       (fixture("threadreaderapp/user-QuinnyPig-page1-constructed.html"),
                        fixture("threadreaderapp/user-QuinnyPig-page2-constructed.html")), "twitter", TRA_CARDS),
    "nitter-selfthread": Page(nitter, "https://nitter.net/archivist_ada/status/1764577059926974466",
                              (fixture("nitter/status-selfthread-constructed.html"),), "twitter", NITTER_THREAD),
    "nitter-two-pages": Page(nitter, "https://nitter.net/archivist_ada/status/1800226420945854465",
                             (fixture("nitter/status-page1-constructed.html"),
                              fixture("nitter/status-page2-constructed.html")), "twitter", NITTER_THREAD),
    "nitter-media": Page(nitter, "https://nitter.privacydev.net/bob_reads/status/1818912045265846275",
                         (fixture("nitter/status-media-constructed.html"),), "twitter", NITTER_THREAD),
    "nitter-gap": Page(nitter, "https://nitter.space/carolchen/status/1830216281748406306",
                       (fixture("nitter/status-unavailable-constructed.html"),), "twitter", NITTER_THREAD),
    "mastodon-real": Page(mastodon, HALCY, status_and_context(
        "mastodonpy-cassette-status-110446983926957470-constructed.yaml", HALCY,
        "mastodonpy-cassette-context-110446983926957470-selfthread.yaml"), "mastodon"),
    "mastodon-long": Page(mastodon, LONG, status_and_context("mastodon-cassette-long-thread-constructed.yaml", LONG),
                          "mastodon"),
    "mastodon-gap": Page(mastodon, GAP, status_and_context("mastodon-cassette-gap-constructed.yaml", GAP) + (
        cassette("mastodon/mastodon-cassette-gap-constructed.yaml", SOCIAL + "111914158223525373/context"),), "mastodon"),
    "bluesky-real-conversation": Page(
        bluesky, "https://bsky.app/profile/did:plc:yfvwmnlztr4dwkb7hwz55r2g/post/3kosdondcpl2i",
        (kotlin("bluesky/morpho-getPostThread-3kosdondcpl2i.kotlin-escaped.txt"),), "bluesky"),
    "bluesky-real-replies": Page(
        bluesky, "at://did:plc:uy7ehrx332p6dow5sk32hxzq/app.bsky.feed.post/3k7rmyigapw2y",
        (kotlin("bluesky/morpho-getPostThread-3k7rmyigapw2y.kotlin-escaped.txt"),), "bluesky"),
    "bluesky-real-media": Page(
        bluesky, "https://bsky.app/profile/did:plc:kvwvcn5iqfooopmyzvb4qzba/post/3kaheyt6vpc22",
        (fixture("bluesky/marshalx-getPostThread-3kaheyt6vpc22-recordWithMedia.json"),), "bluesky"),
    "bluesky-long": Page(
        bluesky, "https://bsky.app/profile/alice.test/post/3lbelkc2n6c2l",
        (fixture("bluesky/resolveHandle-alice-constructed.json"),
         fixture("bluesky/getPostThread-constructed-long-1.json"),
         fixture("bluesky/getPostThread-constructed-long-2.json")), "bluesky"),
}


def parse_page(page: Page, captures: dict[str, Capture], with_replies: bool) -> None:
    """Parse; a result must be well-formed and save, a failure must be NotAThread."""
    try:
        assert all(isinstance(url, str) for url in page.source.plan(page.url, captures))
        if with_replies and page.source in (mastodon, bluesky):
            result = page.source.parse(page.url, captures, with_replies=True)
        else:
            result = page.source.parse(page.url, captures)
    except NotAThread as error:
        assert error.url in (page.url, *captures) and "\n" not in str(error)
        return
    if isinstance(result, Listing):
        assert result.thread_urls and all(isinstance(url, str) and url.startswith("http") for url in result.thread_urls)
        return
    check_thread(result, page.platform)
    check_saves(result)


@st.composite
def mutated_captures(draw: st.DrawFn, page: Page) -> dict[str, Capture]:
    """The page's captures with one body mutated."""
    captures = page.captures()
    url = draw(st.sampled_from(list(captures)))
    raw = captures[url].body
    if draw(st.booleans()):
        body = draw(mutated_bytes(raw))
    elif page.html:
        body = draw(mutated_html(raw, page.focus))
    else:
        body = draw(mutated_json(raw))
    return {**captures, url: Capture(url, 200, captures[url].headers, body, FETCHED_AT, captures[url].id)}


@pytest.mark.parametrize("name", [name for name in PAGES if name != "tra-real"])
@SETTINGS
@given(data=st.data())
def test_web_source_parses_or_refuses(name: str, data: st.DataObject) -> None:
    page = PAGES[name]
    parse_page(page, data.draw(mutated_captures(page)), data.draw(st.booleans()))


@pytest.mark.slow
@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_real_thread_reader_page_parses_or_refuses(data: st.DataObject) -> None:
    page = PAGES["tra-real"]
    parse_page(page, data.draw(mutated_captures(page)), False)


# Importers


def read_file(
    reader: ModuleType, path: Path, refusals: tuple[type[Exception], ...] = ()
) -> tuple[list[Thread], list[ImportLineError]]:
    """The threads a file yields and the errors reported; a refusal of the whole file counts as nothing read."""
    errors: list[ImportLineError] = []
    try:
        threads = list(reader.read(path, errors))
    except refusals as refused:
        assert "\n" not in str(refused)
        return [], errors
    assert all(isinstance(error, ImportLineError) and error.line >= 1 for error in errors)
    for thread in threads:
        check_thread(thread, thread.platform)
    if threads:
        check_saves_all(threads)
    return threads, errors


def check_saves_all(threads: list[Thread]) -> None:
    db = fresh_archive()
    for thread in threads:
        store.save_thread(db, thread, captured_at=FETCHED_AT)
    assert db["posts"].count == len({post.id for thread in threads for post in thread.posts})


@contextmanager
def written(name: str, content: bytes, **beside: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        for other, data in beside.items():
            (Path(directory) / other).write_bytes(data)
        path = Path(directory) / name
        path.write_bytes(content)
        yield path


@st.composite
def mutated_lines(draw: st.DrawFn, raw: bytes, line: Callable[[bytes], st.SearchStrategy[bytes]]) -> bytes:
    """A file with one line mutated, dropped, repeated or swapped with another, or the whole file's bytes mutated."""
    lines = raw.splitlines(keepends=True)
    index = draw(st.integers(0, len(lines) - 1))
    operation = draw(st.sampled_from(["line", "drop", "repeat", "swap", "bytes"]))
    if operation == "line":
        lines[index] = draw(line(lines[index].rstrip(b"\n"))) + b"\n"
    elif operation == "drop":
        del lines[index]
    elif operation == "repeat":
        lines.insert(index, lines[index])
    elif operation == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        lines[index], lines[other] = lines[other], lines[index]
    else:
        return draw(mutated_bytes(raw))
    return b"".join(lines)


def json_line(raw: bytes) -> st.SearchStrategy[bytes]:
    return mutated_json(raw) | mutated_bytes(raw)


TWARC_FILES = [pytest.param("twarc2/twarc-csv-flat.jsonl", marks=pytest.mark.slow), "twarc2/twarc-csv-noflat.jsonl",
               "twarc2/twarc1-constructed.jsonl", "twarc2/twarc-csv-edited.jsonl"]


@pytest.mark.parametrize("name", TWARC_FILES)
@SETTINGS
@given(data=st.data())
def test_twarc_file_imports_or_reports(name: str, data: st.DataObject) -> None:
    content = data.draw(mutated_lines((FIXTURES / name).read_bytes(), json_line))
    with written("collection.jsonl", content) as path:
        read_file(twarc, path)


TWEETS_JS = FIXTURES / "twitter_archive" / "tweets-constructed.js"
ACCOUNT_JS = FIXTURES / "twitter_archive" / "account-constructed.js"


@st.composite
def mutated_archive_file(draw: st.DrawFn, raw: bytes) -> bytes:
    """A ``window.YTD.… = [...]`` file with its JSON mutated (written with two-space indents, as Twitter does)
    or its bytes."""
    prefix, _, array = raw.partition(b"= ")
    if draw(st.booleans()):
        return draw(mutated_bytes(raw))
    return prefix + b"= " + draw(mutated_json(array, indent=2))


@SETTINGS
@given(data=st.data())
def test_twitter_archive_tweets_file_imports_or_reports(data: st.DataObject) -> None:
    tweets, account = TWEETS_JS.read_bytes(), ACCOUNT_JS.read_bytes()
    if data.draw(st.booleans()):
        tweets = data.draw(mutated_archive_file(tweets))
    else:
        account = data.draw(mutated_archive_file(account))
    with written("tweets.js", tweets, **{"account.js": account}) as path:
        read_file(twitter_archive, path, refusals=(UnknownSource,))


def archive_zip(tweets: bytes, account: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "archive.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data/account.js", account)
            archive.writestr("data/tweets.js", tweets)
        return path.read_bytes()


@SETTINGS
@given(data=st.data())
def test_twitter_archive_zip_imports_or_reports(data: st.DataObject) -> None:
    content = data.draw(mutated_bytes(archive_zip(TWEETS_JS.read_bytes(), ACCOUNT_JS.read_bytes())))
    with written("twitter-archive.zip", content) as path:
        read_file(twitter_archive, path, refusals=(UnknownSource,))


def text_line(raw: bytes) -> st.SearchStrategy[bytes]:
    chrome = st.sampled_from(["• • •".encode(), b"1/", b"Thread by @x", b"More from @x"])  # lines that split threads
    return mutated_bytes(raw) | st.just(HUGE_TEXT.encode()) | chrome


@SETTINGS
@given(data=st.data())
def test_plain_text_imports_or_reports(data: st.DataObject) -> None:
    content = data.draw(mutated_lines((FIXTURES / "plaintext" / "two-threads-constructed.txt").read_bytes(), text_line))
    with written("threads.txt", content) as path:
        read_file(plaintext, path, refusals=(NotAThread,))


# The good ones still come through


@pytest.mark.parametrize("name", [pytest.param("twarc2/twarc-csv-flat.jsonl", marks=pytest.mark.slow),
                                  "twarc2/twarc1-constructed.jsonl"])
@SETTINGS
@given(data=st.data())
def test_a_broken_twarc_line_costs_only_its_own_tweets(name: str, data: st.DataObject) -> None:
    lines = (FIXTURES / name).read_bytes().splitlines(keepends=True)
    index = data.draw(st.integers(0, len(lines) - 1))
    line = lines[index].rstrip(b"\n")
    broken = data.draw(
        st.integers(1, len(line) - 1).map(lambda cut: line[:cut])  # a JSON object cut short is never JSON
        | st.tuples(st.integers(0, len(line)), st.sampled_from(BAD_UTF8[:5])).map(
            lambda bad: line[: bad[0]] + bad[1] + line[bad[0] :]
        )
    )
    with written("broken.jsonl", b"".join([*lines[:index], broken + b"\n", *lines[index + 1 :]])) as path:
        threads, errors = read_file(twarc, path)
    with written("without.jsonl", b"".join(lines[:index] + lines[index + 1 :])) as path:
        expected, _ = read_file(twarc, path)
    assert [error.line for error in errors] == [index + 1]
    assert threads == expected


def tweet_ids(threads: list[Thread]) -> set[str]:
    return {post.id for thread in threads for post in thread.posts if not post.missing}


@SETTINGS
@given(data=st.data())
def test_a_broken_archive_tweet_costs_only_itself(data: st.DataObject) -> None:
    prefix, _, array = TWEETS_JS.read_bytes().partition(b"= ")
    elements = [json.dumps(element, indent=2, ensure_ascii=False) for element in json.loads(array)]
    index = data.draw(st.integers(0, len(elements) - 1))
    cut = data.draw(st.integers(1, len(elements[index]) - 1))  # an object cut short is never JSON

    def tweets_js(items: list[str]) -> bytes:
        return prefix + b"= [" + ",".join(items).encode() + b"]"

    account = {"account.js": ACCOUNT_JS.read_bytes()}
    before, after = elements[:index], elements[index + 1 :]
    with written("tweets.js", tweets_js([*before, elements[index][:cut], *after]), **account) as path:
        threads, errors = read_file(twitter_archive, path)
    with written("tweets.js", tweets_js(before + after), **account) as path:
        expected, _ = read_file(twitter_archive, path)
    assert errors
    assert tweet_ids(threads) >= tweet_ids(expected)


@SETTINGS
@given(data=st.data())
def test_a_line_that_is_not_utf8_costs_only_its_own_thread(data: st.DataObject) -> None:
    lines = (FIXTURES / "plaintext" / "two-threads-constructed.txt").read_bytes().splitlines(keepends=True)
    index = data.draw(st.integers(0, len(lines) - 1))
    at = data.draw(st.integers(0, len(lines[index]) - 1))
    lines_with_bad_byte = [*lines[:index], lines[index][:at] + b"\xff" + lines[index][at:], *lines[index + 1 :]]
    with written("threads.txt", b"".join(lines_with_bad_byte)) as path:
        threads, errors = read_file(plaintext, path, refusals=(NotAThread,))
    with written("threads.txt", b"".join(lines)) as path:
        expected, _ = read_file(plaintext, path)
    assert [error.line for error in errors] == [index + 1]
    assert set(threads) <= set(expected) and len(threads) >= len(expected) - 1


# A save that fails midway


class Interrupted(Exception):
    pass


class FailingConnection:
    """A connection that counts the statements run through it and fails the one numbered ``fail_at``."""

    def __init__(self, connection: sqlite3.Connection, fail_at: int | None = None) -> None:
        self.connection, self.fail_at, self.statements = connection, fail_at, 0

    def _next(self) -> None:
        if self.statements == self.fail_at:
            self.fail_at = None  # once: the rollback must run
            raise Interrupted(f"statement {self.statements}")
        self.statements += 1

    def execute(self, *args: Any) -> sqlite3.Cursor:
        self._next()
        return self.connection.execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        self._next()
        return self.connection.executemany(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def everything(db: sqlite_utils.Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, FTS tables included."""
    return {table: sorted(db.execute(f"SELECT * FROM [{table}]").fetchall(), key=repr) for table in db.table_names()}


def parsed(name: str, body: Callable[[bytes], bytes] = lambda raw: raw) -> Thread:
    page = PAGES[name]
    captures = {url: Capture(url, 200, capture.headers, body(capture.body), FETCHED_AT, capture.id)
                for url, capture in page.captures().items()}
    thread = page.source.parse(page.url, captures)
    assert isinstance(thread, Thread)
    return thread


SAVED_FIRST = parsed("tra-2026")
RECAPTURED = parsed("tra-2026", lambda raw: raw.replace(b"archive", b"ARCHIVE"))  # every post's text changed
SAVED_STATEMENTS = 40  # more than save_thread runs for one thread


@SETTINGS
@given(fail_at=st.integers(0, SAVED_STATEMENTS))
def test_a_save_that_fails_midway_leaves_the_archive_as_it_was(fail_at: int) -> None:
    db = fresh_archive()
    store.save_thread(db, SAVED_FIRST, captured_at="2026-04-01T00:00:00Z", capture_ids=["c1"])
    before = everything(db)
    db.conn = FailingConnection(db.conn, fail_at)
    try:
        store.save_thread(db, RECAPTURED, captured_at=FETCHED_AT, capture_ids=["c2"])
    except Interrupted:
        db.conn = db.conn.connection
        assert everything(db) == before
    else:
        assert db.conn.statements < SAVED_STATEMENTS
        db.conn = db.conn.connection
        assert everything(db) != before


# Text that is not Unicode


LONE_SURROGATE = "cut \ud83d"  # as a tweet cut inside an emoji's UTF-16 pair reads: JSON writes it "cut \ud83d"


def with_lone_surrogate(name: str, change: Callable[[Any], None]) -> dict[str, Capture]:
    page = PAGES[name]
    captures = page.captures()
    url = next(iter(captures)) if page.source is mastodon else list(captures)[-1]
    doc = json.loads(captures[url].body)
    change(doc)
    body = json.dumps(doc).encode()  # ASCII: the surrogate is the escape \ud83d
    return {**captures, url: Capture(url, 200, JSON, body, FETCHED_AT, captures[url].id)}


@pytest.mark.parametrize(
    "name, change",
    [
        ("mastodon-long", lambda status: status["account"].update(display_name=LONE_SURROGATE)),
        ("bluesky-real-media", lambda answer: answer["thread"]["post"]["author"].update(displayName=LONE_SURROGATE)),
    ],
    ids=["mastodon", "bluesky"],
)
def test_a_lone_surrogate_is_refused_or_saved(name: str, change: Callable[[Any], None]) -> None:
    parse_page(PAGES[name], with_lone_surrogate(name, change), False)


def test_a_lone_surrogate_in_a_twarc_line_is_reported_or_saved() -> None:
    line = json.loads((FIXTURES / "twarc2" / "twarc-csv-edited.jsonl").read_text())
    line["data"][0]["text"] = LONE_SURROGATE
    with written("collection.jsonl", json.dumps(line).encode() + b"\n") as path:
        read_file(twarc, path)
