from pathlib import Path

import pytest

from threadvault.errors import ImportLineError, NotAThread
from threadvault.model import Author, Link, Thread
from threadvault.sources import plaintext

PLAINTEXT = Path(__file__).parent / "fixtures" / "plaintext"
TWO_THREADS = PLAINTEXT / "two-threads-constructed.txt"


def read_all(path: Path) -> tuple[list[Thread], list[ImportLineError]]:
    errors: list[ImportLineError] = []
    return list(plaintext.read(path, errors)), errors


def texts(tmp_path: Path, content: str) -> list[list[str]]:
    path = tmp_path / "thread.txt"
    path.write_text(content)
    return [[post.text for post in thread.posts] for thread in read_all(path)[0]]


@pytest.mark.parametrize(
    "head, expected",
    [
        (TWO_THREADS.read_bytes(), True),
        (b"[Thread] on archives\n1/ first", True),
        ("\ufeff1/ a thread with a byte order mark".encode(), True),
        ("1/ cut inside a character \u00e9".encode()[:-1], True),
        (b'{"data": []}', False),
        (b'[{"tweet": {}}]', False),
        (b"<!DOCTYPE html><html>", False),
        (b"WARC/1.0\r\nWARC-Type: warcinfo\r\n", False),
        (b"window.YTD.tweets.part0 = [", False),
        (b"PK\x03\x04\x14\x00", False),
        (b"\x1f\x8b\x08\x00", False),  # gzip
        (b"text\x00with a NUL", False),
        (b"  \n", False),
    ],
)
def test_sniff(head, expected):
    assert plaintext.sniff(head) is expected


def test_two_threads_separated_by_reader_chrome():
    threads, errors = read_all(TWO_THREADS)
    assert errors == []
    assert [(thread.author, [post.text for post in thread.posts]) for thread in threads] == [
        (
            Author(
                id="twitter:threadvault_ex",
                platform="twitter",
                handle="threadvault_ex",
                display_name="Threadvault Example",
                url="https://twitter.com/threadvault_ex",
            ),
            [
                "1/ A short thread on why web archives matter & how to start one. #archives #WebArchiving \U0001f9f5",
                "2/ Capture pages with tools that write WARC files; the format is an ISO standard (ISO 28500)."
                " More: iipc.github.io/warc-specificat\u2026",
                "3/ Keep the bytes as they came: headers, payload and the time of capture > a screenshot.\n\n"
                "Three things to keep:\n1) the request\n2) the response\n3) the time",
                "4/ Last: replay them with @webrecorder tools and share the WARC, not just the link. /end",
            ],
        ),
        (
            Author(
                id="twitter:example_library",
                platform="twitter",
                handle="example_library",
                display_name="Example Library",
                url="https://twitter.com/example_library",
            ),
            [
                "Our reading room is open again this weekend & the new digitisation lab is ready for visitors.",
                "We scanned 40 maps this week; the oldest is from 1790. #maps #DigitalHeritage",
                "The scans are online at https://example.org/maps/1790 and the catalogue links each one to its record."
                " Thanks @threadvault_ex!",
            ],
        ),
    ]


def test_posts_carry_entities_positions_and_the_chain():
    first, second = read_all(TWO_THREADS)[0]
    assert [(post.hashtags, post.mentions, post.links) for post in first.posts] == [
        (("archives", "WebArchiving"), (), ()),
        ((), (), (Link(url=None, display_text="iipc.github.io/warc-specificat\u2026"),)),
        ((), (), ()),
        ((), ("webrecorder",), ()),
    ]
    assert second.posts[2].links == (
        Link(url="https://example.org/maps/1790", display_text="https://example.org/maps/1790"),
    )
    assert [post.position for post in first.posts] == [1, 2, 3, 4]
    assert [post.reply_to_id for post in first.posts] == [None, *(post.id for post in first.posts[:3])]
    assert (first.id, first.platform, first.source, first.url) == (first.posts[0].id, "text", "text", "")


def test_ids_are_stable_content_digests(tmp_path):
    ids = [[post.id for post in thread.posts] for thread in read_all(TWO_THREADS)[0]]
    copy = tmp_path / "copy.txt"
    copy.write_bytes(TWO_THREADS.read_bytes().replace(b"\n", b"\r\n"))
    assert [[post.id for post in thread.posts] for thread in read_all(copy)[0]] == ids
    assert all(post_id.startswith("text:") and len(post_id) == 29 for thread in ids for post_id in thread)
    assert len({post_id for thread in ids for post_id in thread}) == 7


def test_same_short_post_in_two_threads_gets_two_ids(tmp_path):
    path = tmp_path / "ends.txt"
    path.write_text("1/ One thread.\n2/ /end\n• • •\n1/ Another thread.\n2/ /end\n")
    first, second = read_all(path)[0]
    assert first.posts[1].text == second.posts[1].text == "2/ /end"
    assert first.posts[1].id != second.posts[1].id


@pytest.mark.parametrize(
    "content, expected",
    [
        ("1/ one\n2/ two\n3/ three", ["1/ one", "2/ two", "3/ three"]),
        ("1/n one\ngoes on\n2/n two", ["1/n one\ngoes on", "2/n two"]),
        ("(1/3) one\n(2/3) two\n(3/3) three", ["(1/3) one", "(2/3) two", "(3/3) three"]),
        ("1) one\n2) two", ["1) one", "2) two"]),
        ("/1 one\n/2 two", ["/1 one", "/2 two"]),
        ("A thread 🧵 1/\nSecond point 2/\nThe end", ["A thread 🧵 1/", "Second point 2/", "The end"]),
        ("Intro without a number\n2/ two\n3/ three", ["Intro without a number", "2/ two", "3/ three"]),
        ("1/ steps:\n1) one\n2) two\n2/ done", ["1/ steps:\n1) one\n2) two", "2/ done"]),  # the list stays
        ("1/ first\n3/ not next\n2/ second", ["1/ first\n3/ not next", "2/ second"]),
        ("First paragraph\nstill first\n\n\nSecond\n\nThird", ["First paragraph\nstill first", "Second", "Third"]),
        ("1/ one\n\n\n\nstill one\n2/ two", ["1/ one\n\nstill one", "2/ two"]),
    ],
)
def test_posts_split_at_numbering_else_at_blank_lines(tmp_path, content, expected):
    assert texts(tmp_path, content) == [expected]


@pytest.mark.parametrize(
    "content, handle, name",
    [
        ("Thread by @someone: 1/ The title is the first post, cut…\n1/ The post", "someone", None),
        ("Someone Else\n@someone\n\n1/ The post", "someone", "Someone Else"),
        ("@someone\n1/ The post", "someone", None),
        ("1/ The post", None, None),
    ],
)
def test_header_lines_give_the_author(tmp_path, content, handle, name):
    path = tmp_path / "thread.txt"
    path.write_text(content)
    (thread,) = read_all(path)[0]
    assert [post.text for post in thread.posts] == ["1/ The post"]
    assert (thread.author and thread.author.handle, thread.author and thread.author.display_name) == (handle, name)


def test_a_thread_by_header_starts_a_new_thread(tmp_path):
    content = "Thread by @one\nFirst thread.\nThread by @two\nSecond thread."
    assert texts(tmp_path, content) == [["First thread."], ["Second thread."]]


def test_preview_sections_are_dropped_up_to_the_next_thread(tmp_path):
    content = "Kept.\nMore from @someone\nA preview of another thread #tag\nRead 9 tweets\n• • •\nAlso kept."
    assert texts(tmp_path, content) == [["Kept."], ["Also kept."]]


@pytest.mark.parametrize("name", ["chrome-only-constructed.txt", None])
def test_a_file_without_post_text_is_not_a_thread(tmp_path, name):
    path = PLAINTEXT / name if name else tmp_path / "empty.txt"
    if name is None:
        path.write_bytes(b"")
    with pytest.raises(NotAThread, match=rf"^{path}: not a thread: no post text"):
        read_all(path)


def test_a_line_that_is_not_utf8_drops_its_thread_only(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"1/ good\n2/ thread\n\xe2\x80\xa2 \xe2\x80\xa2 \xe2\x80\xa2\n1/ bad \xff\xfe line\n2/ gone\n")
    threads, errors = read_all(path)
    assert [[post.text for post in thread.posts] for thread in threads] == [["1/ good", "2/ thread"]]
    assert [(error.file, error.line, error.reason) for error in errors] == [
        (str(path), 4, "not UTF-8 text (invalid start byte)")
    ]


def test_threads_are_yielded_before_the_rest_of_the_file_is_read(tmp_path):
    """Without an error list a bad line raises, but only once reading reaches it."""
    path = tmp_path / "stream.txt"
    path.write_bytes(b"1/ first thread\n\xe2\x80\xa2 \xe2\x80\xa2 \xe2\x80\xa2\n\xff\n")
    threads = plaintext.read(path)
    assert [post.text for post in next(threads).posts] == ["1/ first thread"]
    with pytest.raises(ImportLineError, match=r"stream\.txt:3: not UTF-8"):
        next(threads)
