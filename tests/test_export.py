import json

import pytest
import sqlite_utils
from bs4 import BeautifulSoup

from sample_archive import ANA, HOSTILE, LONG_ID, MIRA, UNSAFE, build_archive, save_unsafe_targets
from threadvault import store
from threadvault.export import FORMATS, export_thread, render
from threadvault.model import Author, Post, Thread
from threadvault.reading import NotInArchive, read_thread

ANA_MARKDOWN = """\
# 1/ Why we archive threads: a short thread on #archives#OpenData & memory. 📚…

**Ana 📚 アーカイブ** ([@archivist_ana](<https://twitter.com/archivist_ana>)) · 6 posts · 2026-08-19 15:53 UTC to 2026-08-19 15:56 UTC

Archived from <https://threadreaderapp.com/thread/2090104857600000000.html> (threadreaderapp).

---

<a id="post-1"></a>

1/ Why we archive threads: a short thread on #archives#OpenData & memory. 📚

Also filed under #DigitalPreservation#WebArchiving and #opendata.

[1 · 2026-08-19 15:53 UTC](<https://twitter.com/archivist_ana/status/2090104857600000000>)

---

<a id="post-2"></a>

@archivist_ana 2/ Tools matter. The bug that bit us: [github.com/webrecorder/war…](<https://github.com/webrecorder/warcio/issues/123>) — thanks @webrecorder_io! Open it in any browser you like.

[2 · 2026-08-19 15:54 UTC](<https://twitter.com/archivist_ana/status/2090105012789248000>)

---

<a id="post-3"></a>

3/ 東京の公文書館で撮影しました。\\
Архивы — это память. 🏛️✨

![Reading room of the archive, rows of grey boxes](<https://pbs.twimg.com/media/HAnaRdRm01Xq.jpg>)
![](<https://pbs.twimg.com/media/HAnaStck02Yr.png>)
![](<https://pbs.twimg.com/media/HAnaBox003Zs.jpg>)

[3 · 2026-08-19 15:54 UTC](<https://twitter.com/archivist_ana/status/2090105167978496000>)

---

<a id="post-4"></a>

4/ When the WARC finally validates:

[gif](<https://video.twimg.com/tweet_video/HAnaGif04At.mp4>)

[4 · 2026-08-19 15:55 UTC](<https://twitter.com/archivist_ana/status/2090105323167744000>)

---

<a id="post-5"></a>

5/ A two-minute walk through the stacks:

[video](<https://video.twimg.com/amplify_video/2090105400000000000/vid/avc1/1736x1080/WhU9WNIe-3PJYa2F.mp4>)

[5 · 2026-08-19 15:55 UTC](<https://twitter.com/archivist_ana/status/2090105478356992000>)

---

<a id="post-6"></a>

As a colleague put it:\\
That's all. Thanks for reading!\\
6/6

- [https://twitter.com/tpflug/status/961004669714731010](<https://twitter.com/tpflug/status/961004669714731010>)

[6 · 2026-08-19 15:56 UTC](<https://twitter.com/archivist_ana/status/2090105633546240000>)

---

Captures:

- 2026-08-20T09:00:00Z https://threadreaderapp.com/thread/2090104857600000000.html \
sha256:43565c1510f3be5a629ce91d76ca7b07fc066c5eaacafbf5546f7095b7f6b838
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> sqlite_utils.Database:
    return sqlite_utils.Database(build_archive(tmp_path_factory.mktemp("archive") / "threadvault.db"))


def test_markdown_of_a_thread(db: sqlite_utils.Database) -> None:
    assert export_thread(db, ANA, "markdown") == ANA_MARKDOWN


def test_markdown_keeps_archived_markup_as_text(db: sqlite_utils.Database) -> None:
    markdown = export_thread(db, HOSTILE, "markdown")
    assert "Markup is only text here: \\<script\\>window.\\_\\_pwned = 'script'\\</script\\> #inert\n" in markdown
    assert "\\<img src=x onerror=\"window.\\_\\_pwned = 'onerror'\"\\> and click me\n" in markdown
    assert "Data too: a data link and [example.org/a?b=1&c=\\<2\\>](<https://example.org/a?b=1&c=%3C2%3E>)" in markdown
    assert "javascript:" not in markdown and "data:" not in markdown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# not a heading", "\\# not a heading"),
        ("- not a list\n2. nor this\n> nor a quote", "\\- not a list\\\n2\\. nor this\\\n\\> nor a quote"),
        ("*not bold* and _not em_ in snake_case", "\\*not bold\\* and \\_not em\\_ in snake_case"),
        ("`code` [a](b) <b>x</b> | ~y~", "\\`code\\` \\[a\\](b) \\<b\\>x\\</b\\> \\| \\~y\\~"),
        ("A & B, &amp; and &#38;", "A & B, \\&amp; and \\&#38;"),
        ("one\n\ntwo\nthree", "one\n\ntwo\\\nthree"),
    ],
)
def test_markdown_escapes_what_would_be_markup(tmp_path, text: str, expected: str) -> None:
    db = store.open_archive(tmp_path / "threadvault.db")
    author = Author("text:someone", "text", "someone")
    thread = Thread("text:1", "text", "file:///notes.txt", "text", author, (Post("text:1", author, text, 1),))
    store.save_thread(db, thread, captured_at="2025-01-01T00:00:00Z")
    post = export_thread(db, "text:1", "markdown").split('<a id="post-1"></a>\n\n')[1]
    assert post.split("\n\n1 · ")[0] == expected


def test_json_keeps_every_field_and_ids_as_text(db: sqlite_utils.Database) -> None:
    document = json.loads(export_thread(db, MIRA, "json"))
    assert document["thread"]["id"] == MIRA
    assert document["author"] == {
        "id": "mastodon:https://social.example/@mira", "platform": "mastodon", "handle": "mira@social.example",
        "display_name": "Mira Okafor", "url": "https://social.example/@mira",
    }
    posts = document["posts"]
    assert [post["position"] for post in posts] == [1, 2, 3, 4, 5]
    assert posts[0]["hashtags"] == ["webarchiving"] and posts[0]["mentions"] == ["archivist@social.example"]
    assert posts[0]["links"] == [{
        "url": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "display_text": "iipc.github.io/warc-specificati", "short_url": None,
    }]
    assert posts[1]["media"] == [{
        "url": "https://social.example/system/media_attachments/files/112/025/275/465/793/548/original/"
               "8c0f2b5e1d4a7c39.jpg",
        "kind": "image", "alt_text": "A shelf of tape cartridges, each labelled with a date",
    }]
    stored = {row["id"]: row for row in db.query("SELECT * FROM captures")}
    assert document["captures"] == [stored[capture["id"]] for capture in document["captures"]]
    assert [capture["url"] for capture in document["captures"]] == [
        "https://social.example/api/v1/statuses/112025282813496319",
        "https://social.example/api/v1/statuses/112025282813496319/context",
    ]


def test_json_of_a_long_thread_has_every_post(db: sqlite_utils.Database) -> None:
    posts = json.loads(export_thread(db, LONG_ID, "json"))["posts"]
    assert [post["position"] for post in posts] == list(range(1, 521))
    assert all(isinstance(post["id"], str) and post["id"].startswith("twitter:13") for post in posts)


def test_html_is_self_contained_and_inert(db: sqlite_utils.Database) -> None:
    soup = BeautifulSoup(export_thread(db, HOSTILE, "html"), "html.parser")
    assert soup.find("script") is None and soup.find("img") is None
    assert soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"].startswith("default-src 'none'")
    assert soup.find("link") is None  # the style is inline: nothing else to fetch
    texts = [article.select_one(".text").get_text() for article in soup.select("article.post")]
    assert texts == [
        "Markup is only text here: <script>window.__pwned = 'script'</script> #inert",
        "An image that must not load: <img src=x onerror=\"window.__pwned = 'onerror'\"> and click me",
        "Data too: a data link and example.org/a?b=1&c=<2>",
    ]
    hrefs = [anchor["href"] for anchor in soup.find_all("a")]
    assert "https://example.org/a?b=1&c=<2>" in hrefs
    assert all(href.startswith("https://") for href in hrefs)


def test_html_shows_images_with_alt_text_and_anchors(db: sqlite_utils.Database) -> None:
    soup = BeautifulSoup(export_thread(db, ANA, "html"), "html.parser")
    assert soup.title.string == "1/ Why we archive threads: a short thread on #archives#OpenData & memory. 📚…"
    assert [article["id"] for article in soup.select("article.post")] == [f"post-{n}" for n in range(1, 7)]
    assert [(img["src"], img["alt"]) for img in soup.find_all("img")] == [
        ("https://pbs.twimg.com/media/HAnaRdRm01Xq.jpg", "Reading room of the archive, rows of grey boxes"),
        ("https://pbs.twimg.com/media/HAnaStck02Yr.png", ""),
        ("https://pbs.twimg.com/media/HAnaBox003Zs.jpg", ""),
    ]
    assert soup.find("figcaption").get_text() == "Reading room of the archive, rows of grey boxes"


def test_unsafe_targets_are_never_links(tmp_path) -> None:
    db = store.open_archive(tmp_path / "threadvault.db")
    save_unsafe_targets(db)
    for fmt in FORMATS:
        document = export_thread(db, UNSAFE, fmt)
        if fmt != "json":
            assert "javascript:" not in document and "data:" not in document, fmt
    soup = BeautifulSoup(export_thread(db, UNSAFE, "html"), "html.parser")
    assert [anchor.get("href") for anchor in soup.find_all("a")] == []
    assert soup.select_one("figcaption").get_text() == "image: a picture"


def test_every_format_of_an_unknown_thread(db: sqlite_utils.Database) -> None:
    for fmt in FORMATS:
        with pytest.raises(NotInArchive, match=r"^twitter:404: no such thread in the archive$"):
            export_thread(db, "twitter:404", fmt)


def test_unknown_format(db: sqlite_utils.Database) -> None:
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        render(read_thread(db.conn, ANA), "pdf")
