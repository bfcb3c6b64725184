import json
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from threadvault.errors import ImportLineError, UnknownSource
from threadvault.model import Author, Link, Media, Post, Thread
from threadvault.sources import twitter_archive

ARCHIVE = Path(__file__).parent / "fixtures" / "twitter_archive"
TWEETS = ARCHIVE / "tweets-constructed.js"
ACCOUNT = ARCHIVE / "account-constructed.js"
OWNER = Author(
    id="twitter:threadvault_ex",
    platform="twitter",
    handle="threadvault_ex",
    display_name="Threadvault Example",  # from account.js
    url="https://twitter.com/threadvault_ex",
)
THREADS = [  # (first post, [(post, missing)]) in id order; the file is not
    (
        "1510180233016246273",
        ["1510180233016246273", "1510180526617526273", "1510180862161846273", "1510181239649206273"],
    ),
    ("1510587919365046273", ["1510587919365046273"]),  # reply to someone else
    ("1510589177656246273", ["1510589177656246273"]),  # reply to someone else
    ("1510897459000246273", ["1510897459000246273"]),  # retweet
    ("1511403292062646273", ["1511403292062646273", "1511403543720886273"]),  # self-reply to a deleted tweet
]


def read_all(path: Path) -> tuple[list[Thread], list[ImportLineError]]:
    errors: list[ImportLineError] = []
    return list(twitter_archive.read(path, errors)), errors


def shape(threads: list[Thread]) -> list[tuple[str, list[str]]]:
    return [
        (thread.id.removeprefix("twitter:"), [post.id.removeprefix("twitter:") for post in thread.posts])
        for thread in threads
    ]


def element_line(text: str, tweet_id: str) -> int:
    """The line where the array element holding a tweet starts."""
    start = text.rindex("\n  {", 0, text.index(f'"id_str" : "{tweet_id}"'))
    return text.count("\n", 0, start) + 2


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def archive_zip(tmp_path: Path) -> Path:
    return make_zip(
        tmp_path / "twitter-2022-04-06-constructed.zip",
        {
            "Your archive.html": b"<html></html>",
            "data/account.js": ACCOUNT.read_bytes(),
            "data/tweets.js": TWEETS.read_bytes(),
        },
    )


def elements() -> list[dict]:
    text = TWEETS.read_text()
    return json.loads(text[text.index("[") :])


def tweets_js(items: list[dict], variable: str = "tweets") -> str:
    return f"window.YTD.{variable}.part0 = " + json.dumps(items, indent=2, separators=(",", " : "))


@pytest.mark.parametrize(
    "head, expected",
    [
        (TWEETS.read_bytes()[:65536], True),
        (b"window.YTD.tweet.part0 = [ {\n", True),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", True),
        (ACCOUNT.read_bytes(), False),
        (b'{"data": [{"id": "1", "author_id": "2"}]}\n', False),
        (b"Thread by @someone\n1/ a thread", False),
        (b"", False),
    ],
)
def test_sniff(head, expected):
    assert twitter_archive.sniff(head) is expected


def test_zip_with_account_gives_the_owners_threads(tmp_path):
    threads, errors = read_all(archive_zip(tmp_path))
    assert errors == []
    assert shape(threads) == THREADS
    assert {post.author for thread in threads for post in thread.posts} == {OWNER}
    assert {thread.source for thread in threads} == {"twitter-archive"}


def test_self_thread_posts(tmp_path):
    thread = read_all(archive_zip(tmp_path))[0][0]
    url = "https://twitter.com/threadvault_ex/status/"
    assert thread.posts[0] == Post(
        id="twitter:1510180233016246273",
        author=OWNER,
        text="A short thread on why web archives matter & how to start one. #archives #WebArchiving \U0001f9f5",
        position=1,
        created_at="2022-04-02T09:00:00Z",
        url=url + "1510180233016246273",
        lang="en",
        hashtags=("archives", "WebArchiving"),
        repost_count=4,
        like_count=12,
    )
    assert thread.posts[1].links == (
        Link(
            url="https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            display_text="iipc.github.io/warc-specificat\u2026",
            short_url="https://t.co/Wq1Xk9PzLa",
        ),
    )
    assert (thread.posts[2].text, thread.posts[2].media) == (
        "Keep the bytes as they came: headers, payload and the time of capture > a screenshot.",
        (Media(url="https://pbs.twimg.com/media/FPRqzXbWQAE3kQd.jpg", kind="image"),),
    )
    assert thread.posts[3] == Post(
        id="twitter:1510181239649206273",
        author=OWNER,
        text="Last: replay them with @webrecorder tools and share the WARC, not just the link. /end",
        position=4,
        created_at="2022-04-02T09:04:00Z",
        url=url + "1510181239649206273",
        reply_to_id="twitter:1510180862161846273",
        lang="en",
        mentions=("webrecorder",),
        media=(
            Media(
                url="https://video.twimg.com/ext_tw_video/1510181155763146753/pu/vid/1280x720/Hg3Fd4Sa5Qw6Er7T.mp4?tag=12",
                kind="video",
            ),
        ),
        repost_count=2,
        like_count=7,
    )


def test_replies_retweets_and_gaps(tmp_path):
    threads = read_all(archive_zip(tmp_path))[0]
    reply, retweet, gapped = threads[1].posts[0], threads[3].posts[0], threads[4]
    assert (reply.text, reply.mentions, reply.reply_to_id) == (
        "@other_archivist Agreed <3 \u2014 the CDX index is the part people forget.",
        ("other_archivist",),
        "twitter:1510266409786445826",
    )
    assert retweet.text.startswith("RT @example_library: Our reading room is open again this weekend & the new")
    assert retweet.text.endswith("how we scan rare bo\u2026")  # archives keep the cut text
    assert [(post.position, post.missing, post.text is None, post.author) for post in gapped.posts] == [
        (1, True, True, OWNER),
        (2, False, False, OWNER),
    ]


def test_bare_tweets_file_takes_the_owner_from_a_self_reply():
    threads, errors = read_all(TWEETS)
    assert errors == []
    assert shape(threads) == THREADS  # the owner's user id is known too, so the gap is found
    assert {post.author for thread in threads for post in thread.posts} == {
        Author(
            id="twitter:threadvault_ex",
            platform="twitter",
            handle="threadvault_ex",
            url="https://twitter.com/threadvault_ex",
        )
    }


def test_bare_tweets_file_reads_account_js_beside_it(tmp_path):
    shutil.copy(TWEETS, tmp_path / "tweets.js")
    shutil.copy(ACCOUNT, tmp_path / "account.js")
    threads, _ = read_all(tmp_path / "tweets.js")
    assert threads[0].author == OWNER


def test_without_owner_or_self_replies_posts_have_no_author(tmp_path):
    path = tmp_path / "tweets.js"
    path.write_text(tweets_js([item for item in elements() if "in_reply_to_screen_name" not in item["tweet"]]))
    threads, errors = read_all(path)
    assert errors == []
    assert [(thread.id, thread.author, thread.url) for thread in threads] == [
        ("twitter:1510180233016246273", None, "https://twitter.com/i/web/status/1510180233016246273"),
        ("twitter:1510897459000246273", None, "https://twitter.com/i/web/status/1510897459000246273"),
    ]


def test_old_tweet_js_and_parts_in_a_zip(tmp_path):
    items = elements()
    path = make_zip(
        tmp_path / "old.zip",
        {
            "twitter-2020/data/account.js": ACCOUNT.read_bytes(),
            "twitter-2020/data/tweet.js": tweets_js(items[:4], "tweet").encode(),
            "twitter-2020/data/tweet-part1.js": tweets_js(items[4:], "tweet_part1").encode(),
        },
    )
    threads, errors = read_all(path)
    assert (shape(threads), errors) == (THREADS, [])


def test_zip_without_tweets_is_an_error_naming_the_file(tmp_path):
    path = make_zip(tmp_path / "photos.zip", {"data/account.js": ACCOUNT.read_bytes(), "cat.jpg": b"\xff\xd8"})
    with pytest.raises(UnknownSource, match=rf"^{path}: no data/tweets\.js or data/tweet\.js in this zip"):
        read_all(path)


@pytest.mark.parametrize("content", [b"", b"window.YTD.tweets.part0 = "])
def test_a_file_without_a_tweets_array_is_an_error(tmp_path, content):
    path = tmp_path / "tweets.js"
    path.write_bytes(content)
    with pytest.raises(UnknownSource, match=rf"^{path}: no tweets array"):
        read_all(path)


def test_empty_archive_has_no_threads(tmp_path):
    path = tmp_path / "tweets.js"
    path.write_text("window.YTD.tweets.part0 = [ ]")
    assert read_all(path) == ([], [])


def test_a_corrupt_tweet_is_reported_and_the_others_import(tmp_path):
    text = TWEETS.read_text()
    broken = text.replace('"full_text" : "@other_archivist Agreed', '"full_text" : @other_archivist Agreed', 1)
    path = tmp_path / "tweets.js"
    path.write_text(broken)
    threads, errors = read_all(path)
    assert [thread.id for thread in threads] == [
        f"twitter:{first}" for first, _ in THREADS if first != "1510587919365046273"
    ]
    assert [(error.file, error.line) for error in errors] == [(str(path), element_line(text, "1510587919365046273"))]
    assert errors[0].reason == "unreadable tweet: Expecting value"


def test_a_cut_file_keeps_the_tweets_before_the_cut(tmp_path):
    text = TWEETS.read_text()
    path = tmp_path / "tweets.js"
    path.write_text(text[: text.index("1510589177656246273")])  # inside the third element
    threads, errors = read_all(path)
    # No account.js and no self-reply left to name the owner: the reply to a deleted tweet has no gap.
    assert [thread.id for thread in threads] == ["twitter:1510897459000246273", "twitter:1511403543720886273"]
    third = element_line(text, "1510589177656246273")
    assert [(error.line, error.reason.split(":")[0]) for error in errors] == [(third, "unreadable tweet")]


def test_a_cut_tweet_does_not_swallow_the_tweets_after_it(tmp_path):
    """Cut inside an array, the rest of the file reads as more items of that array until the end."""
    text = TWEETS.read_text()
    cut = text.index('"1511403543720886273"') + len('"1511403543720886273"')  # in the first tweet's editTweetIds
    path = tmp_path / "tweets.js"
    path.write_text(text[:cut] + text[text.index("\n  },\n  {", cut) + len("\n  }") :])
    shutil.copy(ACCOUNT, tmp_path / "account.js")
    threads, errors = read_all(path)
    assert shape(threads) == THREADS[:-1]  # the last thread was the cut tweet (and the gap above it)
    assert [(error.line, error.reason.split(":")[0]) for error in errors] == [(2, "unreadable tweet")]


def test_a_tweet_nested_too_deep_for_json_is_reported(tmp_path):
    deep = '{"tweet" : ' + "[" * 10_000 + "]" * 10_000 + "},\n"
    path = tmp_path / "tweets.js"
    path.write_text(tweets_js(elements()).replace("[\n", "[\n" + deep, 1))
    shutil.copy(ACCOUNT, tmp_path / "account.js")
    threads, errors = read_all(path)
    assert shape(threads) == [(first, posts) for first, posts in THREADS]
    assert [error.reason for error in errors] == ["unreadable tweet: JSON nested too deeply"]


def test_invalid_utf8_costs_nothing_after_it(tmp_path):
    data = TWEETS.read_bytes().replace(b"A short thread", b"A short \xff thread", 1)
    path = tmp_path / "tweets.js"
    path.write_bytes(data)
    shutil.copy(ACCOUNT, tmp_path / "account.js")
    threads, errors = read_all(path)
    assert (shape(threads), errors) == ([(first, posts) for first, posts in THREADS], [])
    assert "A short \ufffd thread" in threads[0].posts[0].text


@pytest.mark.parametrize(
    "account, reason",
    [
        ({"username": "threadvault_ex", "accountId": 1498235197345288193}, "a user id that is a JSON int"),
        ({"username": ["threadvault_ex"]}, "'list' object has no attribute 'lower'"),
    ],
)
def test_an_account_of_the_wrong_shape_is_reported(tmp_path, account, reason):
    shutil.copy(TWEETS, tmp_path / "tweets.js")
    (tmp_path / "account.js").write_text(tweets_js([{"account": account}], "account"))
    threads, errors = read_all(tmp_path / "tweets.js")
    assert len(threads) == len(THREADS)  # the owner comes from a self-reply instead
    assert [(error.file, error.reason) for error in errors] == [(str(tmp_path / "account.js"), f"unreadable account: {reason}")]


def damaged(path: Path, member: str) -> Path:
    """The zip with bytes in the middle of one member's compressed data flipped."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + info.compress_size // 2, start + info.compress_size // 2 + 8):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_tweets_member_is_reported(tmp_path):
    path = damaged(archive_zip(tmp_path), "data/tweets.js")
    threads, errors = read_all(path)
    assert [(error.file, error.reason.split(":")[0]) for error in errors] == [
        (f"{path}:data/tweets.js", "unreadable from here on")
    ]


def test_a_damaged_account_member_is_reported_and_the_tweets_still_import(tmp_path):
    path = damaged(archive_zip(tmp_path), "data/account.js")
    threads, errors = read_all(path)
    assert len(threads) == len(THREADS)
    assert [(error.file, error.reason.split(":")[0]) for error in errors] == [
        (f"{path}:data/account.js", "unreadable account")
    ]


def test_a_zip_with_a_damaged_directory_is_reported(tmp_path):
    path = archive_zip(tmp_path)
    data = path.read_bytes()
    directory = data.rindex(b"PK\x01\x02")  # the last central directory entry
    path.write_bytes(data[:directory] + b"XX" + data[directory + 2 :])
    threads, errors = read_all(path)
    assert threads == []
    assert [(error.file, error.reason.split(":")[0]) for error in errors] == [(str(path), "unreadable zip")]


def test_a_tweet_of_the_wrong_shape_is_reported(tmp_path):
    items = elements()
    del items[1]["tweet"]["created_at"]
    path = tmp_path / "tweets.js"
    path.write_text(tweets_js(items))
    threads, errors = read_all(path)
    assert len(threads) == 4
    line = element_line(path.read_text(), "1510897459000246273")
    assert [(error.line, error.reason) for error in errors] == [
        (line, "tweet 1510897459000246273: missing field 'created_at'")
    ]


def test_without_an_error_list_the_first_bad_tweet_is_raised(tmp_path):
    path = tmp_path / "tweets.js"
    path.write_text('window.YTD.tweets.part0 = [ {"tweet" : {"id_str" : "1"}} ]')
    with pytest.raises(ImportLineError, match=r"tweets\.js:1: tweet 1: missing field"):
        list(twitter_archive.read(path))


def test_memory_stays_far_below_the_file_size(tmp_path):
    """The tweets array is decoded element by element (tracemalloc sees Python allocations only)."""
    template = {"tweet": {key: value for key, value in elements()[5]["tweet"].items() if "reply" not in key}}
    path = tmp_path / "tweets.js"
    with path.open("w") as out:
        out.write("window.YTD.tweets.part0 = [\n")
        for number in range(4000):
            tweet_id = str(1510180526617526273 + number)
            item = {"tweet": {**template["tweet"], "id": tweet_id, "id_str": tweet_id}}
            out.write(("" if number == 0 else ",\n") + json.dumps(item, indent=2, separators=(",", " : ")))
        out.write("\n]")
    shutil.copy(ACCOUNT, tmp_path / "account.js")
    size = path.stat().st_size
    assert size > 6_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in twitter_archive.read(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 4000
    assert peak < size / 3
