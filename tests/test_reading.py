import pytest
import sqlite_utils

from sample_archive import ANA, LONG_ID, MIRA, build_archive
from threadvault.errors import ThreadvaultError
from threadvault.model import Link
from threadvault.reading import NotInArchive, Segment, read_thread, safe_url, segments


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> sqlite_utils.Database:
    return sqlite_utils.Database(build_archive(tmp_path_factory.mktemp("archive") / "threadvault.db"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=1&c=2#d", "https://example.org/a?b=1&c=2#d"),
        ("http://example.org", "http://example.org"),
        ("HTTPS://EXAMPLE.ORG/", "HTTPS://EXAMPLE.ORG/"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        (" javascript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox(1)", None),
        ("//evil.example/x", None),
        ("http:/no-host", None),
        ("https://example.org/a b", None),
        ("example.org/research/pap…", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    ("text", "links", "hashtags", "mentions", "expected"),
    [
        (
            "on #archives#OpenData & memory",
            (),
            ("archives", "opendata"),
            (),
            [("on ", "text", None), ("#archives", "hashtag", "archives"), ("#OpenData", "hashtag", "opendata"),
             (" & memory", "text", None)],
        ),
        (
            "a # alone, #notatag and ＃Café",
            (),
            ("café",),
            (),
            [("a # alone, #notatag and ", "text", None), ("＃Café", "hashtag", "café")],
        ),
        (
            "bug: github.com/webrecorder/war… — thanks @webrecorder_io!",
            (Link("https://github.com/webrecorder/warcio/issues/123", "github.com/webrecorder/war…"),),
            (),
            ("webrecorder_io",),
            [("bug: ", "text", None),
             ("github.com/webrecorder/war…", "link", "https://github.com/webrecorder/warcio/issues/123"),
             (" — thanks ", "text", None), ("@webrecorder_io", "mention", "webrecorder_io"), ("!", "text", None)],
        ),
        (
            "see example.org/a#frag and @Someone",
            (Link(None, "example.org/a#frag"),),
            ("frag",),
            ("someone",),
            [("see ", "text", None), ("example.org/a#frag", "link", None), (" and ", "text", None),
             ("@Someone", "mention", "someone")],
        ),
        (
            "hi @archivist and @archivist@social.example, not @other",
            (),
            (),
            ("archivist@social.example",),
            [("hi ", "text", None), ("@archivist", "mention", "archivist@social.example"), (" and ", "text", None),
             ("@archivist@social.example", "mention", "archivist@social.example"), (", not @other", "text", None)],
        ),
        (
            "click me",
            (Link("javascript:alert(1)", "click me"),),
            (),
            (),
            [("click me", "link", None)],
        ),
        ("twice: x.org and x.org", (Link("http://x.org", "x.org"), Link("http://x.org", "x.org")), (), (),
         [("twice: ", "text", None), ("x.org", "link", "http://x.org"), (" and ", "text", None),
          ("x.org", "link", "http://x.org")]),
        ("", (), (), (), []),
    ],
)
def test_segments(
    text: str, links: tuple[Link, ...], hashtags: tuple[str, ...], mentions: tuple[str, ...], expected: list
) -> None:
    assert segments(text, links, hashtags, mentions) == tuple(Segment(*each) for each in expected)


def test_read_thread_reads_one_window_of_positions_with_entities(db: sqlite_utils.Database) -> None:
    thread = read_thread(db.conn, LONG_ID, 201, 400)
    assert [post.position for post in thread.posts] == list(range(201, 401))
    assert (thread.last_position, thread.replies, thread.row["post_count"]) == (520, 0, 520)
    assert [capture["url"] for capture in thread.captures] == [thread.row["url"]]
    stored: dict[str, list[str]] = {}
    for row in db.query("SELECT post_id, tag FROM post_hashtags ORDER BY tag"):
        stored.setdefault(row["post_id"], []).append(row["tag"])
    assert {post.id: list(post.hashtags) for post in thread.posts if post.hashtags} == {
        post.id: stored[post.id] for post in thread.posts if post.id in stored
    }
    assert any(post.hashtags for post in thread.posts)


def test_read_thread_media_links_and_author(db: sqlite_utils.Database) -> None:
    thread = read_thread(db.conn, ANA)
    assert thread.author is not None and thread.author.handle == "archivist_ana"
    third = thread.posts[2]
    assert [(media.kind, media.alt_text) for media in third.media] == [
        ("image", "Reading room of the archive, rows of grey boxes"), ("image", None), ("image", None),
    ]
    last = thread.posts[-1]
    assert last.unseen_links == (Link("https://twitter.com/tpflug/status/961004669714731010"),)


def test_read_thread_counts_replies_by_others_and_keeps_ids_with_slashes(db: sqlite_utils.Database) -> None:
    thread = read_thread(db.conn, MIRA)
    assert thread.id == MIRA
    assert [post.position for post in thread.posts] == [1, 2, 3, 4, 5]
    assert len(thread.captures) == 2  # the status and its context


def test_unknown_thread(db: sqlite_utils.Database) -> None:
    with pytest.raises(NotInArchive, match=r"^twitter:1: no such thread in the archive$") as raised:
        read_thread(db.conn, "twitter:1")
    assert isinstance(raised.value, ThreadvaultError)
    assert (raised.value.kind, raised.value.id) == ("thread", "twitter:1")
