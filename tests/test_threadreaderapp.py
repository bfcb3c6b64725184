import re
from pathlib import Path

import pytest

from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Listing, Media, Post, Thread
from threadvault.sources import threadreaderapp as tra

FIXTURES = Path(__file__).parent / "fixtures" / "threadreaderapp"
QUINNY = FIXTURES / "thread-1215710451343904768-QuinnyPig.html"
ANA = FIXTURES / "thread-2090104857600000000-archivist_ana-2026-constructed.html"
QUINNY_URL = "https://threadreaderapp.com/thread/1215710451343904768.html"
ANA_URL = "https://threadreaderapp.com/thread/2090104857600000000.html"
USER_URL = "https://threadreaderapp.com/user/QuinnyPig"
USER_PAGE_2 = "https://threadreaderapp.com/user/QuinnyPig?page=2"
HTML = (("Content-Type", "text/html; charset=UTF-8"),)


def capture(url: str, body: bytes, status: int = 200, headers: tuple[tuple[str, str], ...] = HTML) -> Capture:
    return Capture(url, status, headers, body, "2026-08-20T10:00:00Z", id="capture-1")


def parse_thread(url: str, body: bytes) -> Thread:
    thread = tra.parse(url, {url: capture(url, body)})
    assert isinstance(thread, Thread)
    return thread


@pytest.fixture(scope="module")
def quinny() -> Thread:
    return parse_thread(QUINNY_URL, QUINNY.read_bytes())


# The saved 2020 page


def test_real_page_posts_in_document_order(quinny: Thread) -> None:
    in_file = re.findall(r'id="tweet_(\d+)" data-screenname="QuinnyPig" data-tweet="(\d+)"', QUINNY.read_text())
    assert len(in_file) == 102
    assert [(post.position, post.id) for post in quinny.posts] == [(int(n), f"twitter:{id_}") for n, id_ in in_file]
    assert [post.reply_to_id for post in quinny.posts] == [None] + [post.id for post in quinny.posts[:-1]]


def test_real_page_thread_and_author(quinny: Thread) -> None:
    author = Author("twitter:quinnypig", "twitter", "QuinnyPig", "Corey Quinn", "https://twitter.com/QuinnyPig")
    assert (quinny.id, quinny.platform, quinny.url, quinny.source, quinny.author) == (
        "twitter:1215710451343904768",
        "twitter",
        QUINNY_URL,
        "threadreaderapp",
        author,
    )
    assert {post.author for post in quinny.posts} == {author}
    assert {post.capture_id for post in quinny.posts} == {"capture-1"}
    # tweet_1's snowflake time is the header's data-time (1578682933)
    assert quinny.posts[0].created_at == "2020-01-10T19:02:13Z"
    assert quinny.posts[-1].created_at == "2020-01-11T08:06:17Z"


@pytest.mark.parametrize(
    "position, text",
    [
        (
            1,
            "Okay. For every retweet this gets (TO A POINT!) I'll add a thought / tip / observation about speaking "
            "at conferences.",
        ),
        (
            9,
            "Go read the comments section on a random YouTube video, then expect those people to ask questions during "
            "your Q&A section. Are you sure you want to do Q&A after all?\n\nAre you REALLY sure?",
        ),
        (
            66,
            "We continue! I've gotten some pushback on this one:\n\nI stand by it. Build two decks--one to present, "
            "and one to distribute! Alternately, build a talk *and* a blog post.",
        ),
        (102, "For a few hundred bucks you can have a bespoke slide deck template made. I highly recommend it."),
    ],
)
def test_real_page_text(quinny: Thread, position: int, text: str) -> None:
    assert quinny.posts[position - 1].text == text


def test_real_page_post_with_reply_prefix_mentions(quinny: Thread) -> None:
    post = quinny.posts[101 - 1]
    assert post == Post(
        id="twitter:1215754339202945024",
        author=quinny.author,
        text="@mattstratton @editingemily @soniagupta504 If you're used to speaking, make yourself available to "
        "new speakers. Remember what it was like getting started?",
        position=101,
        created_at="2020-01-10T21:56:36Z",
        url="https://twitter.com/QuinnyPig/status/1215754339202945024",
        reply_to_id=quinny.posts[99].id,
        mentions=("mattstratton", "editingemily", "soniagupta504"),
        capture_id="capture-1",
    )


def test_real_page_mentions(quinny: Thread) -> None:
    assert sum(len(post.mentions) for post in quinny.posts) == 36
    assert quinny.posts[1].mentions == ("mattstratton",)
    assert quinny.posts[27].mentions == ("quinnypig",)  # as written: "@quinnypig" linking to /QuinnyPig


def test_real_page_links_and_quoted_tweets(quinny: Thread) -> None:
    assert [(post.position, post.links) for post in quinny.posts if post.links] == [
        (32, (Link("https://doitlive.readthedocs.io/en/stable/", "doitlive.readthedocs.io/en/stable/"),)),
        (49, (Link("http://twitterforpets.com", "twitterforpets.com"),)),
        (55, (Link("http://cloudcloudinthecloud.cloud", "cloudcloudinthecloud.cloud"),)),
        (
            66,
            (
                Link(
                    "https://twitter.com/QuinnyPig/status/1215720347384705024",
                    "https://twitter.com/QuinnyPig/status/1215720347384705024?s=20",
                ),
            ),
        ),
        (
            68,
            (
                Link(
                    "https://twitter.com/sakjur/status/1215732534710980608",
                    "https://twitter.com/sakjur/status/1215732534710980608?s=20",
                ),
            ),
        ),
        (
            82,
            (
                Link(
                    "https://twitter.com/jpaulreed/status/1215743973320355841",
                    "https://twitter.com/jpaulreed/status/1215743973320355841?s=20",
                ),
            ),
        ),
    ]


def test_real_page_cards_do_not_leak_into_posts(quinny: Thread) -> None:
    # the 9 preview cards hold 34 hashtags, 6 images and other authors' mentions
    assert [post for post in quinny.posts if post.hashtags or post.media] == []
    card_mentions = {"jesse_derose", "mike_julian", "MicrosoftTeams"}
    assert card_mentions.isdisjoint(mention for post in quinny.posts for mention in post.mentions)


def test_real_page_discovers_card_threads(quinny: Thread) -> None:
    ids = [
        "1215689025735946241",
        "1214771197952421889",
        "1214231887964598272",
        "1212718418920652800",
        "1147549417622425605",
        "1135478289546407936",
        "1084477852731482112",
        "1032857989596700672",
        "1032328915434594304",
    ]
    assert quinny.discovered == tuple(f"https://threadreaderapp.com/thread/{id_}.html" for id_ in ids)


@pytest.mark.parametrize(
    "chrome",
    [
        "Missing some Tweet",
        "force a refresh",
        "Keep Current with",
        "This Thread may be Removed",
        "More from",
        "Related threads",
        "Trending hashtags",
        "Did Thread Reader help you today",
        "Read 4 tweets",
        "External Tweet",
        "twitter.com/",
        "Thread Reader",
        "imgErr",
    ],
)
def test_real_page_chrome_is_not_text(quinny: Thread, chrome: str) -> None:
    assert [post.position for post in quinny.posts if post.text and chrome in post.text] == []


def test_real_page_text_is_trimmed(quinny: Thread) -> None:
    texts = [post.text or "" for post in quinny.posts]
    assert all(text == text.strip() and "\n\n\n" not in text and "  " not in text for text in texts)


# A constructed page in the 2026 markup

ANA_AUTHOR = Author(
    "twitter:archivist_ana", "twitter", "archivist_ana", "Ana 📚 アーカイブ", "https://twitter.com/archivist_ana"
)
ANA_IDS = [
    "2090104857600000000",
    "2090105012789248000",
    "2090105167978496000",
    "2090105323167744000",
    "2090105478356992000",
    "2090105633546240000",
]
ANA_TIMES = ["15:53:24", "15:54:01", "15:54:38", "15:55:15", "15:55:52", "15:56:29"]


def ana_post(n: int, text: str, **fields: object) -> Post:
    tweet_id = ANA_IDS[n - 1]
    return Post(
        id=f"twitter:{tweet_id}",
        author=ANA_AUTHOR,
        text=text,
        position=n,
        created_at=f"2026-08-19T{ANA_TIMES[n - 1]}Z",
        url=f"https://twitter.com/archivist_ana/status/{tweet_id}",
        reply_to_id=f"twitter:{ANA_IDS[n - 2]}" if n > 1 else None,
        capture_id="capture-1",
        **fields,  # type: ignore[arg-type]
    )


VIDEO = "https://video.twimg.com/amplify_video/2090105400000000000/vid/avc1/1736x1080/WhU9WNIe-3PJYa2F.mp4"
ANA_POSTS = [
    ana_post(
        1,
        "1/ Why we archive threads: a short thread on #archives#OpenData & memory. 📚\n\n"
        "Also filed under #DigitalPreservation#WebArchiving and #opendata.",
        hashtags=("archives", "OpenData", "DigitalPreservation", "WebArchiving"),
    ),
    ana_post(
        2,
        "@archivist_ana 2/ Tools matter. The bug that bit us: github.com/webrecorder/war… — thanks @webrecorder_io! "
        "Open it in any browser you like.",
        mentions=("archivist_ana", "webrecorder_io"),
        links=(Link("https://github.com/webrecorder/warcio/issues/123", "github.com/webrecorder/war…"),),
    ),
    ana_post(
        3,
        "3/ 東京の公文書館で撮影しました。\nАрхивы — это память. 🏛️✨",
        media=(
            Media(
                "https://pbs.twimg.com/media/HAnaRdRm01Xq.jpg", "image", "Reading room of the archive, rows of grey boxes"
            ),
            Media("https://pbs.twimg.com/media/HAnaStck02Yr.png", "image"),
            Media("https://pbs.twimg.com/media/HAnaBox003Zs.jpg", "image"),
        ),
    ),
    ana_post(
        4,
        "4/ When the WARC finally validates:",
        media=(Media("https://video.twimg.com/tweet_video/HAnaGif04At.mp4", "gif"),),
    ),
    ana_post(5, "5/ A two-minute walk through the stacks:", media=(Media(VIDEO, "video"),)),
    ana_post(
        6,
        "As a colleague put it:\nThat's all. Thanks for reading!\n6/6",
        links=(Link("https://twitter.com/tpflug/status/961004669714731010"),),
    ),
]


def test_constructed_2026_page() -> None:
    assert parse_thread(ANA_URL, ANA.read_bytes()) == Thread(
        id="twitter:2090104857600000000",
        platform="twitter",
        url=ANA_URL,
        source="threadreaderapp",
        author=ANA_AUTHOR,
        posts=tuple(ANA_POSTS),
        discovered=(
            "https://threadreaderapp.com/thread/2080000000000000001.html",
            "https://threadreaderapp.com/thread/2070000000000000002.html",
        ),
    )


def test_thread_id_is_the_first_post_even_when_the_url_names_a_later_one() -> None:
    url = f"https://threadreaderapp.com/thread/{ANA_IDS[1]}.html"
    thread = parse_thread(url, ANA.read_bytes())
    assert (thread.id, thread.url, len(thread.posts)) == (f"twitter:{ANA_IDS[0]}", url, 6)
    assert ANA_URL not in thread.discovered


def test_first_post_time_falls_back_to_the_header_date() -> None:
    # tweet 20 predates snowflake ids, so only the header's data-time can date it
    body = ANA.read_bytes().replace(f'data-tweet="{ANA_IDS[0]}"'.encode(), b'data-tweet="20"')
    posts = parse_thread(ANA_URL, body).posts
    assert [(post.id, post.created_at) for post in posts[:2]] == [
        ("twitter:20", "2026-08-19T15:53:24Z"),
        (f"twitter:{ANA_IDS[1]}", "2026-08-19T15:54:01Z"),
    ]


def test_a_post_the_page_repeats_is_one_post() -> None:
    """A page saved twice over (a botched save) repeats a tweet; numbering it twice would leave a hole."""
    page = ANA.read_text()
    first = page.index('<div class="content-tweet')
    second = page.index('<div class="content-tweet', first + 1)
    repeated = page[:second] + page[first:second] + page[second:]
    assert parse_thread(ANA_URL, repeated.encode()).posts == tuple(ANA_POSTS)


@pytest.mark.parametrize("value", ["", "x", f" {ANA_IDS[1]} ", "１２３"])
def test_a_post_without_a_tweet_id_is_a_broken_page(value: str) -> None:
    body = ANA.read_bytes().replace(f'data-tweet="{ANA_IDS[1]}"'.encode(), f'data-tweet="{value}"'.encode())
    with pytest.raises(NotAThread) as raised:
        parse_thread(ANA_URL, body)
    assert raised.value.reason == f"a post's data-tweet is {value!r}, not a tweet id"


def test_a_forced_mirror_keeps_its_host() -> None:
    url = "http://127.0.0.1:8123/thread/2090104857600000000.html"
    thread = parse_thread(url, ANA.read_bytes())
    assert (thread.url, thread.posts) == (url, tuple(ANA_POSTS))


# Pages that are not threads

RATE_LIMITED = b"""<!DOCTYPE html><html><head><meta name="application-name" content="Thread Reader">
<title>Thread Reader App</title></head><body>
<div class="alert alert-error">Rate limit exceeded, try again in a few minutes.</div></body></html>"""
NOT_FOUND = b"""<!DOCTYPE html><html><head><title>Thread Reader App</title></head>
<body><h1>Sorry, this thread was not found</h1></body></html>"""
OTHER_SITE = b"""<!doctype html><html><head><title>Example Domain</title></head>
<body><div><h1>Example Domain</h1><p>This domain is for use in illustrative examples in documents.</p></div></body></html>"""


@pytest.mark.parametrize(
    "status, headers, body, reason",
    [
        (200, HTML, b"", "empty body"),
        (200, HTML, b"  \n", "empty body"),
        (404, HTML, NOT_FOUND, "HTTP 404"),
        (429, HTML, b"Too Many Requests", "HTTP 429"),
        (
            200,
            HTML,
            RATE_LIMITED,
            "rate-limited by Thread Reader App ('Rate limit exceeded, try again in a few minutes.')",
        ),
        (200, HTML, NOT_FOUND, "Thread Reader App has no such thread ('Sorry, this thread was not found')"),
        (200, HTML, OTHER_SITE, "not a Thread Reader App page"),
        (
            200,
            (("Content-Type", "application/json"),),
            b'{"code":404,"message":"Thread not found"}',
            "content type application/json, not HTML",
        ),
        (
            200,
            HTML,
            (FIXTURES / "user-QuinnyPig-page1-constructed.html").read_bytes(),
            "no posts (div.content-tweet[data-tweet]) on the page",
        ),
    ],
    ids=["empty", "blank", "404", "429", "rate-limit-page", "not-found-page", "other-site", "json", "author-page"],
)
def test_not_a_thread(status: int, headers: tuple[tuple[str, str], ...], body: bytes, reason: str) -> None:
    with pytest.raises(NotAThread) as raised:
        tra.parse(QUINNY_URL, {QUINNY_URL: capture(QUINNY_URL, body, status, headers)})
    assert raised.value.reason == reason
    assert str(raised.value) == f"{QUINNY_URL}: not a thread: {reason}"


def test_not_captured() -> None:
    with pytest.raises(NotAThread, match="the page has not been captured"):
        tra.parse(QUINNY_URL, {})


# URLs


@pytest.mark.parametrize(
    "url, canonical",
    [
        (QUINNY_URL, QUINNY_URL),
        ("http://www.threadreaderapp.com/thread/1215710451343904768", QUINNY_URL),
        ("https://threadreaderapp.com/unroll/1215710451343904768?utm_campaign=topunroll", QUINNY_URL),
        ("https://threadreaderapp.com/unroll/1215710451343904768.html#tweet_5", QUINNY_URL),
        ("https://ThreadReaderApp.com/thread/1215710451343904768.html?refreshed=yes#tweet_3", QUINNY_URL),
        ("https://threadreaderapp.com/user/QuinnyPig", USER_URL),
        ("https://www.threadreaderapp.com/user/QuinnyPig/?page=2", USER_URL),
        ("http://127.0.0.1:8123/thread/1215710451343904768", "http://127.0.0.1:8123/thread/1215710451343904768.html"),
        ("https://mirror.example/unroll/55", "https://mirror.example/thread/55.html"),
        ("http://127.0.0.1:8123/user/QuinnyPig", "http://127.0.0.1:8123/user/QuinnyPig"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert tra.canonical_url(url) == canonical
    assert tra.canonical_url(canonical) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "https://threadreaderapp.com/",
        "https://threadreaderapp.com/thread/?utm_campaign=topunroll#",
        "https://threadreaderapp.com/hashtag/archives",
        "https://threadreaderapp.com/thread/12x.html",
        "https://twitter.com/QuinnyPig/status/1215710451343904768",
        "ftp://threadreaderapp.com/thread/1215710451343904768.html",
        "threadreaderapp.com/thread/1215710451343904768.html",
    ],
)
def test_canonical_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(NotAThread) as raised:
        tra.canonical_url(url)
    assert raised.value.reason == "not a Thread Reader App thread or author URL"


@pytest.mark.parametrize(
    "url, matches",
    [
        (QUINNY_URL, True),
        ("http://www.threadreaderapp.com/unroll/1215710451343904768", True),
        ("https://threadreaderapp.com/thread/1215710451343904768?x=1#y", True),
        ("https://threadreaderapp.com/user/QuinnyPig", True),
        ("https://threadreaderapp.com/thread/1215710451343904768.htmlx", False),
        ("https://threadreaderapp.com.example/thread/1215710451343904768.html", False),
        ("https://example.com/?u=https://threadreaderapp.com/thread/1215710451343904768.html", False),
        ("http://127.0.0.1:8123/thread/1215710451343904768.html", False),
        ("https://threadreaderapp.com/hashtag/archives", False),
    ],
)
def test_pattern(url: str, matches: bool) -> None:
    assert bool(tra.PATTERN.match(url)) is matches


# Planning and author pages


def test_plan_thread() -> None:
    assert tra.plan("https://threadreaderapp.com/unroll/1215710451343904768", {}) == [QUINNY_URL]
    assert tra.plan(QUINNY_URL, {QUINNY_URL: capture(QUINNY_URL, b"")}) == []


def user_pages(first: bytes | None = None) -> dict[str, Capture]:
    page1 = first if first is not None else (FIXTURES / "user-QuinnyPig-page1-constructed.html").read_bytes()
    page2 = (FIXTURES / "user-QuinnyPig-page2-constructed.html").read_bytes()
    return {USER_URL: capture(USER_URL, page1), USER_PAGE_2: capture(USER_PAGE_2, page2)}


@pytest.mark.parametrize(
    "page1",
    [
        (FIXTURES / "user-QuinnyPig-page1-constructed.html").read_bytes(),
        (FIXTURES / "user-QuinnyPig-page1-constructed.html").read_bytes().replace(b' rel="next"', b""),
    ],
    ids=["rel-next", "next-text"],
)
def test_plan_author_pages(page1: bytes) -> None:
    pages = user_pages(page1)
    assert tra.plan("https://www.threadreaderapp.com/user/QuinnyPig/", {}) == [USER_URL]
    assert tra.plan(USER_URL, {USER_URL: pages[USER_URL]}) == [USER_PAGE_2]
    assert tra.plan(USER_URL, pages) == []


def test_plan_author_pages_stops_at_a_loop_or_a_broken_page() -> None:
    looping = (FIXTURES / "user-QuinnyPig-page1-constructed.html").read_bytes().replace(b"?page=2", b"")
    assert tra.plan(USER_URL, {USER_URL: capture(USER_URL, looping)}) == []
    assert tra.plan(USER_URL, {USER_URL: capture(USER_URL, b"gone", status=404)}) == []


def test_parse_author_pages() -> None:
    ids = ["1215689025735946241", "1214771197952421889", "1214231887964598272"]
    assert tra.parse(USER_URL, user_pages()) == Listing(
        url=USER_URL, thread_urls=tuple(f"https://threadreaderapp.com/thread/{id_}.html" for id_ in ids)
    )


def test_parse_author_pages_captured_so_far() -> None:
    captured = {USER_URL: user_pages()[USER_URL]}
    assert tra.parse(USER_URL, captured) == Listing(
        url=USER_URL,
        thread_urls=(
            "https://threadreaderapp.com/thread/1215689025735946241.html",
            "https://threadreaderapp.com/thread/1214771197952421889.html",
        ),
    )


@pytest.mark.parametrize(
    "captured, reason",
    [
        ({}, "the page has not been captured"),
        ({USER_URL: capture(USER_URL, OTHER_SITE)}, "no thread cards on the author page"),
        ({**user_pages(), USER_PAGE_2: capture(USER_PAGE_2, b"", status=503)}, "HTTP 503"),
    ],
)
def test_author_page_not_a_listing(captured: dict[str, Capture], reason: str) -> None:
    with pytest.raises(NotAThread) as raised:
        tra.parse(USER_URL, captured)
    assert raised.value.reason == reason
