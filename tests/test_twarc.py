import copy
import json
import tracemalloc
from pathlib import Path

import pytest

from threadvault.errors import ImportLineError
from threadvault.model import Author, Link, Media, Post, Thread
from threadvault.sources import twarc

TWARC = Path(__file__).parent / "fixtures" / "twarc2"
LAURA = Author(
    id="twitter:lauraisomitted",
    platform="twitter",
    handle="LauraisOmitted",
    display_name="AssButt\U0001f308Vampire Diaries Era",
    url="https://twitter.com/LauraisOmitted",
)


def read_all(path: Path) -> tuple[list[Thread], list[ImportLineError]]:
    errors: list[ImportLineError] = []
    return list(twarc.read(path, errors)), errors


def only_thread(name: str) -> Thread:
    threads, errors = read_all(TWARC / name)
    assert errors == []
    (thread,) = threads
    return thread


def by_id(threads: list[Thread]) -> dict[str, Thread]:
    return {thread.id: thread for thread in threads}


def where(error: ImportLineError) -> tuple[str, int]:
    return error.file, error.line


@pytest.mark.parametrize(
    "name",
    [
        "twarc-csv-noflat.jsonl",
        "twarc-csv-flat.jsonl",
        "twarc-csv-many_urls.jsonl",
        "twarc-csv-edited.jsonl",
        "twarc1-constructed.jsonl",
    ],
)
def test_sniff_recognises_twarc_files(name):
    assert twarc.sniff((TWARC / name).read_bytes()[:65536])


@pytest.mark.parametrize(
    "head",
    [
        b'{\n  "data": [{"id": "1", "conversation_id": "1"}]\n}',  # one pretty-printed document, not JSONL
        b'window.YTD.tweets.part0 = [ {"tweet": {"id_str": "1"}} ]',
        b'{"id": "110446223051565765", "content": "<p>hello</p>", "account": {}}',  # a Mastodon status
        b"Thread by @someone\n1/ a thread",
        b"",
    ],
)
def test_sniff_rejects_other_files(head):
    assert not twarc.sniff(head)


def test_self_thread_with_a_missing_parent_starts_with_a_gap():
    threads, errors = read_all(TWARC / "twarc-csv-noflat.jsonl")
    thread = by_id(threads)["twitter:1380242339449438216"]
    assert errors == []
    assert (thread.author, thread.url, thread.source) == (
        LAURA,
        "https://twitter.com/LauraisOmitted/status/1380242339449438216",
        "twarc",
    )
    assert [(post.id, post.position, post.missing, post.reply_to_id) for post in thread.posts] == [
        ("twitter:1380242339449438216", 1, True, None),
        ("twitter:1380242340925874179", 2, False, "twitter:1380242339449438216"),  # only in includes.tweets
        ("twitter:1380242345652785166", 3, False, "twitter:1380242340925874179"),
        ("twitter:1380242347905183747", 4, False, "twitter:1380242345652785166"),
    ]
    assert thread.posts[0] == Post(
        id="twitter:1380242339449438216",
        author=LAURA,
        text=None,
        position=1,
        created_at="2021-04-08T19:33:12Z",  # from the id
        url="https://twitter.com/LauraisOmitted/status/1380242339449438216",
        missing=True,
    )


def test_post_with_a_photo_drops_the_photo_link_from_text_and_links():
    threads, _ = read_all(TWARC / "twarc-csv-noflat.jsonl")
    post = by_id(threads)["twitter:1380242339449438216"].posts[2]
    assert post == Post(
        id="twitter:1380242345652785166",
        author=LAURA,
        text=(
            "Alright now let\u2019s talk about who @/mishamakeugohmm is following\nPASTEL PURPLE AND WHITE -Jensen of"
            " course!! For a while, he was only following Barack Obama and Misha Collins, but recently he followed"
            " @/Jensenmakeuhuh, and then he followed Jensen. Maybe he told Jensen about this+"
        ),
        position=3,
        created_at="2021-04-08T19:33:13Z",
        url="https://twitter.com/LauraisOmitted/status/1380242345652785166",
        reply_to_id="twitter:1380242340925874179",
        lang="en",
        media=(Media(url="https://pbs.twimg.com/media/EyebGPCXIAMP9xj.jpg", kind="image"),),
        reply_count=1,
        repost_count=0,
        like_count=0,
    )


def test_flattened_and_page_forms_give_the_same_threads():
    pages, page_errors = read_all(TWARC / "twarc-csv-noflat.jsonl")
    flat, flat_errors = read_all(TWARC / "twarc-csv-flat.jsonl")
    assert page_errors == flat_errors == []
    assert len(pages) == 99  # 100 results + 1 included parent + 1 gap, 4 of them in one thread
    assert pages == flat


def test_every_tweet_is_in_exactly_one_thread():
    threads, _ = read_all(TWARC / "twarc-csv-noflat.jsonl")
    ids = [post.id for thread in threads for post in thread.posts]
    assert len(ids) == len(set(ids)) == 102
    assert all(post.position == 1 for thread in threads[1:] for post in thread.posts[:1])


def test_included_parent_by_the_same_author_joins_the_thread():
    thread = only_thread("twarc-csv-many_urls.jsonl")
    assert [post.id for post in thread.posts] == ["twitter:1610623087061471232", "twitter:1610692575752601600"]
    reply = thread.posts[1]
    assert reply.text.endswith("Grab it 35% OFF this week only\U0001f447\nuiadrian.gumroad.com/l/web-design-g\u2026")
    assert reply.links == (
        Link(
            url="https://uiadrian.gumroad.com/l/web-design-guide/?offer_code=twk0uc9f7",
            display_text="uiadrian.gumroad.com/l/web-design-g\u2026",
            short_url="https://t.co/C73mC2F5nY",
        ),
    )


def test_video_is_its_highest_bitrate_mp4():
    (post,) = only_thread("twarc-csv-media_tweet.jsonl").posts
    assert (post.text, post.links, post.media) == (
        "She's GOING with it! \U0001f40d",
        (),
        (
            Media(
                url="https://video.twimg.com/ext_tw_video/1558552952549277696/pu/vid/1280x720/WiZrNZKT2lMzK5zA.mp4?tag=12",
                kind="video",
            ),
        ),
    )


def test_edited_tweet_keeps_the_first_version_time():
    (post,) = only_thread("twarc-csv-edited.jsonl").posts
    assert (post.id, post.created_at, post.edited_at, post.lang) == (
        "twitter:1576994789110992896",
        "2022-10-03T17:57:01Z",  # id 1576994746135764992, the first version
        "2022-10-03T17:57:11Z",
        "qst",
    )


def test_hashtags_links_and_media_but_no_cashtags():
    (post,) = only_thread("twarc-csv-cashtags.jsonl").posts
    assert post.hashtags == ("business", "NFT", "StockMarket", "option")
    assert post.links == (
        Link(
            url="http://go.trade-ideas.com/SHHb",
            display_text="go.trade-ideas.com/SHHb",
            short_url="https://t.co/H8r2bJrh4i",
        ),
    )
    assert post.media == (Media(url="https://pbs.twimg.com/media/Flux6uuaAAAq9Ap.png", kind="image"),)
    assert "t.co" not in post.text and post.text.endswith("$SPX $NIO $ETC $META")


def test_retweet_keeps_the_full_text_of_the_included_tweet():
    threads, _ = read_all(TWARC / "twarc-csv-noflat.jsonl")
    (post,) = by_id(threads)["twitter:1380242611781386245"].posts
    assert post.text == (
        "RT @williamserafino: De manera simult\u00e1nea, vuelven a asediar la frontera oeste de Rusia a trav\u00e9s de"
        " Ucrania y la de Venezuela mediante Colombia. De esa forma, EEUU revive dos blancos geopol\u00edticos de"
        " primer orden de la administraci\u00f3n Obama. La pandilla del Partido Dem\u00f3crata hace sentir su regreso."
    )
    assert (post.author.handle, post.mentions, post.reply_to_id) == ("Alexandravm12", ("williamserafino",), None)


def test_html_entities_are_unescaped():
    threads, _ = read_all(TWARC / "twarc-csv-noflat.jsonl")
    texts = [post.text for thread in threads for post in thread.posts if post.text]
    assert not [text for text in texts if "&amp;" in text or "&gt;" in text]
    assert any("Slick Willie & the Peanut Farmer" in text for text in texts)


def test_v1_lines_use_id_str_and_rebuild_the_thread():
    threads, errors = read_all(TWARC / "twarc1-constructed.jsonl")
    assert errors == []
    assert [[post.id for post in thread.posts] for thread in threads] == [
        ["twitter:1510180233016246273", "twitter:1510180526617526273"],
        ["twitter:1510897459000246273"],
    ]
    first, retweet = threads[0].posts[0], threads[1].posts[0]
    assert first == Post(
        id="twitter:1510180233016246273",
        author=Author(
            id="twitter:threadvault_ex",
            platform="twitter",
            handle="threadvault_ex",
            display_name="Threadvault Example",
            url="https://twitter.com/threadvault_ex",
        ),
        text="Web archives in three tweets & a picture. #WebArchiving",
        position=1,
        created_at="2022-04-02T09:00:00Z",
        url="https://twitter.com/threadvault_ex/status/1510180233016246273",
        lang="en",
        hashtags=("WebArchiving",),
        media=(
            Media(
                url="https://pbs.twimg.com/media/FPRq1aXWQAIpL2m.jpg", kind="image", alt_text="A rack of tape drives"
            ),
        ),
        repost_count=2,
        like_count=9,
    )
    assert retweet.text.startswith("RT @example_library: Our reading room is open again this weekend & the new")
    assert retweet.text.endswith("rare books, maps and letters.")


def test_a_corrupt_line_is_reported_and_the_good_ones_still_import(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = [(TWARC / name).read_bytes() for name in ("twarc-csv-media_tweet.jsonl", "twarc-csv-edited.jsonl")]
    path.write_bytes(good[0] + b'{"data": [{"id": "1", "text": \n' + good[1])
    threads, errors = read_all(path)
    assert [thread.id for thread in threads] == ["twitter:1558553189766631429", "twitter:1576994789110992896"]
    assert [where(error) for error in errors] == [(str(path), 2)]
    assert errors[0].reason.startswith("not valid JSON: ")
    assert str(errors[0]).startswith(f"{path}:2: not valid JSON: ")


def test_a_truncated_last_line_is_reported(tmp_path):
    path = tmp_path / "cut.jsonl"
    whole = (TWARC / "twarc-csv-flat.jsonl").read_bytes()
    path.write_bytes(whole[: len(whole) - 500])
    threads, errors = read_all(path)
    assert sum(len(thread.posts) for thread in threads) == 101  # 99 results, an included parent, a gap
    assert [where(error) for error in errors] == [(str(path), 100)]


def test_a_bad_tweet_is_reported_and_its_page_mates_still_import(tmp_path):
    page = json.loads((TWARC / "twarc-csv-two_tweets.jsonl").read_text())
    page["data"].append({"id": "1394735776701816834", "text": "no author"})
    path = tmp_path / "page.jsonl"
    path.write_text(json.dumps(page) + "\n" + json.dumps(["not", "a", "tweet"]) + "\n")
    threads, errors = read_all(path)
    assert [thread.id for thread in threads] == ["twitter:1394735776701816833"]
    assert [(error.line, error.reason) for error in errors] == [
        (1, "tweet 1394735776701816834: missing field 'author_id'"),
        (2, "a JSON list, not a tweet or an API response page"),
    ]


def two_tweets(change=lambda tweet, user: None) -> bytes:
    """The real one-tweet page (a retweet) with a plain tweet of the same author added; ``change`` alters the
    added tweet and the author in place."""
    page = json.loads((TWARC / "twarc-csv-two_tweets.jsonl").read_text())
    retweet = page["data"][0]
    tweet = {key: copy.deepcopy(value) for key, value in retweet.items() if key != "referenced_tweets"}
    page["data"].append(tweet | {"id": "1394735776701816834", "text": "a plain tweet", "entities": {}})
    change(page["data"][1], page["includes"]["users"][0])
    return json.dumps(page).encode() + b"\n"


@pytest.mark.parametrize(
    "line, reason",
    [
        (b'{"data": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n", "JSON nested too deeply to read"),
        (b'{"data": [{"id": "1", "text": "cut \xed\xa0\xbd"}]}\n',  # a surrogate encoded as if it were a character
         "not valid JSON: 'utf-8' codec can't decode byte 0xed in position 35: invalid continuation byte"),
    ],
)
def test_a_line_json_cannot_read_is_reported(tmp_path, line, reason):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(line + two_tweets())
    threads, errors = read_all(path)
    assert len(threads) == 2
    assert [(error.line, error.reason) for error in errors] == [(1, reason)]


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda tweet, user: tweet["public_metrics"].update(retweet_count=1 << 64),
         "tweet 1394735776701816834: count 18446744073709551616 out of range"),
        (lambda tweet, user: tweet.update(author_id=1379899464345923590),
         "tweet 1394735776701816834: a user id that is a JSON int"),
        (lambda tweet, user: tweet.update(id="１３９４７３５７７６７０１８１６８３４"),  # digits, but not ASCII
         "tweet １３９４７３５７７６７０１８１６８３４: '１３９４７３５７７６７０１８１６８３４' is not a tweet id"),
    ],
)
def test_a_tweet_with_a_value_sqlite_cannot_hold_is_reported(tmp_path, change, reason):
    path = tmp_path / "page.jsonl"
    path.write_bytes(two_tweets(change))
    threads, errors = read_all(path)
    assert [thread.id for thread in threads] == ["twitter:1394735776701816833"]
    assert [(error.line, error.reason) for error in errors] == [(1, reason)]


def test_texts_of_the_wrong_type_are_unknown(tmp_path):
    def change(tweet, user):
        tweet.update(lang=["und"], entities={"urls": [{"url": 7, "expanded_url": [], "display_url": {}}]})
        user.update(name={"first": "x"})

    path = tmp_path / "page.jsonl"
    path.write_bytes(two_tweets(change))
    threads, errors = read_all(path)
    post = threads[1].posts[0]
    assert (errors, post.lang, post.links, post.author and post.author.display_name) == (
        [], None, (Link(url=None),), None)


def test_without_an_error_list_the_first_bad_line_is_raised(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("{oops\n")
    with pytest.raises(ImportLineError, match=r"bad\.jsonl:1: not valid JSON"):
        list(twarc.read(path))


def test_an_empty_file_has_no_threads(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert read_all(path) == ([], [])


def test_memory_stays_far_below_the_file_size(tmp_path):
    """Python allocations only (tracemalloc); SQLite's own page cache is bounded separately."""
    template = json.loads((TWARC / "twarc-csv-flat.jsonl").read_text().splitlines()[1])
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for number in range(1700):
            tweet_id = str(1380000000000000000 + number)
            out.write(json.dumps({**template, "id": tweet_id, "conversation_id": tweet_id}) + "\n")
    size = path.stat().st_size
    assert size > 8_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in twarc.read(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 1700
    assert peak < size / 10
