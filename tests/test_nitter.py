import re
from pathlib import Path

import pytest

from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Media, Post, Thread
from threadvault.sources import nitter

NITTER = Path(__file__).parent / "fixtures" / "nitter"
HTML = "text/html;charset=utf-8"

SELFTHREAD = "https://nitter.net/archivist_ada/status/1764577059926974466"
PAGE1 = "https://nitter.net/archivist_ada/status/1800226420945854465"
PAGE2 = "https://nitter.net/archivist_ada/status/1800226924262334467"
MEDIA = "https://nitter.privacydev.net/bob_reads/status/1818912045265846275"
JAPANESE = "https://nitter.poast.org/yamada_taro/status/1852878357918646293"
UNAVAILABLE = "https://nitter.space/carolchen/status/1830216281748406306"
REPLY_TO_OTHER = "https://nitter.net/archivist_ada/status/1843316603089846315"

ADA = Author("twitter:archivist_ada", "twitter", "archivist_ada", "Ada Archivist", "https://twitter.com/archivist_ada")


def capture(url: str, body: bytes | str, status: int = 200, content_type: str = HTML) -> Capture:
    data = body.encode() if isinstance(body, str) else body
    headers = (("Content-Type", content_type),) if content_type else ()
    return Capture(url, status, headers, data, "2025-05-20T12:00:00Z", id=f"capture:{url.rsplit('/', 1)[1]}")


def page(url: str, name: str, status: int = 200) -> dict[str, Capture]:
    return {url: capture(url, (NITTER / name).read_bytes(), status)}


@pytest.mark.parametrize(
    "url, expected",
    [
        (SELFTHREAD + "#m", SELFTHREAD),
        ("https://Nitter.Example.ORG/Jack/status/20?lang=en#m", "https://nitter.example.org/Jack/status/20"),
        ("http://127.0.0.1:8080/jack/status/20/", "http://127.0.0.1:8080/jack/status/20"),
        ("https://xcancel.com/jack/status/20/photo/1", "https://xcancel.com/jack/status/20"),
        ("https://nitter.net/jack/statuses/20", "https://nitter.net/jack/status/20"),
    ],
)
def test_canonical_url(url, expected):
    assert nitter.canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://nitter.net/jack",
        "https://nitter.net/search?q=%23archives",
        "https://nitter.net/jack/status/abc",
        "https://nitter.net/jack/status/２０",  # digits, but not a tweet id's
        "https://nitter.net/jack/status/20/likes",
        "ftp://nitter.net/jack/status/20",
        "nitter.net/jack/status/20",
    ],
)
def test_canonical_url_rejects_other_paths(url):
    with pytest.raises(NotAThread) as caught:
        nitter.canonical_url(url)
    assert str(caught.value) == f"{url}: not a thread: not a Nitter status URL (https://<host>/<user>/status/<id>)"


@pytest.mark.parametrize(
    "url, matches",
    [
        *[(f"https://{host}/jack/status/20", True) for host in nitter.KNOWN_HOSTS],
        ("https://NITTER.NET/jack/status/20#m", True),
        ("https://nitter.net/jack", True),  # canonical_url then explains what is wrong
        ("https://nitter.example.org/jack/status/20", False),  # any host runs Nitter: --source nitter
        ("https://nitter.net.example.com/jack/status/20", False),
        ("https://twitter.com/jack/status/20", False),
    ],
)
def test_pattern_knows_only_well_known_hosts(url, matches):
    assert bool(nitter.PATTERN.match(url)) is matches


def test_plan_asks_for_the_status_page_first():
    assert nitter.plan(SELFTHREAD + "#m", {}) == [SELFTHREAD]


def test_plan_follows_more_replies_to_the_next_page_then_stops():
    captures = page(PAGE1, "status-page1-constructed.html")
    assert nitter.plan(PAGE1, captures) == [PAGE2]
    captures |= page(PAGE2, "status-page2-constructed.html")
    assert nitter.plan(PAGE1, captures) == []


def test_plan_does_not_page_through_replies_by_others():
    # The self-thread page has a "Load more" cursor under the replies; it leads to other people's replies only.
    assert 'href="?cursor=' in (NITTER / "status-selfthread-constructed.html").read_text()
    assert nitter.plan(SELFTHREAD, page(SELFTHREAD, "status-selfthread-constructed.html")) == []


def test_plan_follows_a_cursor_link_in_the_after_tweet_section():
    body = (NITTER / "status-page1-constructed.html").read_text()
    body = body.replace('href="/archivist_ada/status/1800226924262334467#m">more replies', 'href="?cursor=QUJD#m">more replies')
    assert nitter.plan(PAGE1, {PAGE1: capture(PAGE1, body)}) == [PAGE1 + "?cursor=QUJD"]


def test_plan_stops_at_an_error_page_and_leaves_the_reason_to_parse():
    captures = page(SELFTHREAD, "error-rate-limited-constructed.html", status=429)
    assert nitter.plan(SELFTHREAD, captures) == []
    with pytest.raises(NotAThread, match="Instance has been rate limited"):
        nitter.parse(SELFTHREAD, captures)


def test_parse_self_thread():
    def post(native, position, text, created_at, previous=None, **fields):
        return Post(
            id=f"twitter:{native}",
            author=ADA,
            text=text,
            position=position,
            created_at=created_at,
            url=f"https://twitter.com/archivist_ada/status/{native}",
            reply_to_id=f"twitter:{previous}" if previous else None,
            capture_id="capture:1764577059926974466",
            **fields,
        )

    assert nitter.parse(SELFTHREAD + "#m", page(SELFTHREAD, "status-selfthread-constructed.html")) == Thread(
        id="twitter:1764576514667450369",
        platform="twitter",
        url="https://nitter.net/archivist_ada/status/1764576514667450369",
        source="nitter",
        author=ADA,
        posts=(
            post(
                "1764576514667450369", 1, "Why we archive threads, and what breaks when we don't. A short thread 🧵",
                "2024-03-04T09:00:00Z", reply_count=3, repost_count=12, like_count=40,
            ),
            post(
                "1764577059926974466", 2,
                "1/ Threads fall apart quietly: a deleted reply, a suspended account, and the middle of the story is gone."
                "\n\nThat is why 🎉#WebArchiving and #archives#OpenData matter. Thanks @bob_reads for the nudge & the data.",
                "2024-03-04T09:02:10Z", "1764576514667450369",
                hashtags=("WebArchiving", "archives", "OpenData"), mentions=("bob_reads",),
                reply_count=5, repost_count=4, like_count=18,
            ),
            post(
                "1764577898787778563", 3, "2/ The survey results are out: example.org/reports/2024/web…",
                "2024-03-04T09:05:30Z", "1764577059926974466",
                links=(Link("https://www.example.org/reports/2024/web-archiving-survey-results", "example.org/reports/2024/web…"),),
                reply_count=1, repost_count=2, like_count=9,
            ),
            post(
                "1764578968335302660", 4, "3/ Carol said it best last year:", "2024-03-04T09:09:45Z", "1764577898787778563",
                links=(Link("https://twitter.com/carolchen/status/1653436686136246349"),),
                reply_count=0, repost_count=1, like_count=7,
            ),
            post(
                "1764580037882826757", 5, "4/ Two charts from the survey. What would you add? #archives",
                "2024-03-04T09:14:00Z", "1764578968335302660",
                hashtags=("archives",),
                media=(
                    Media("https://pbs.twimg.com/media/GHx1aBcXoAA1234.jpg", "image",
                          "Bar chart: 62% of respondents lost a thread they cared about"),
                    Media("https://pbs.twimg.com/media/GHx1aBcXoAB5678.png", "image"),
                ),
                reply_count=2, repost_count=3, like_count=11,
            ),
        ),
        other_replies=2,  # @bob_reads and @carolchen; Ada's answer to Bob is hers
        branches=("twitter:1764591614161846286",),  # Ada's own reply that is not part of the thread
    )


def test_parse_thread_across_two_pages():
    captures = page(PAGE1, "status-page1-constructed.html") | page(PAGE2, "status-page2-constructed.html")
    thread = nitter.parse(PAGE1, captures)
    natives = ["1800226420945854465", "1800226672604094466", "1800226924262334467", "1800227175920574468", "1800227427578814469"]
    assert [(post.id, post.position, post.reply_to_id, post.capture_id) for post in thread.posts] == [
        (f"twitter:{native}", position, f"twitter:{natives[position - 2]}" if position > 1 else None,
         f"capture:{PAGE1.rsplit('/', 1)[1] if position <= 3 else PAGE2.rsplit('/', 1)[1]}")
        for position, native in enumerate(natives, start=1)
    ]
    assert [post.text for post in thread.posts] == [
        "A longer thread about capture formats, part 1 of 5.",
        "2/5 WARC keeps the bytes exactly as they came.",
        "3/5 The index beside it makes them findable.",
        "4/5 A short clip of the replay:",
        "5/5 That is all. Questions welcome!",
    ]
    # HLS playback off (Nitter's default): the page names only the video's poster image.
    assert thread.posts[3].media == (
        Media("https://pbs.twimg.com/ext_tw_video_thumb/1800000000000000000/pu/img/Vt1.jpg", "video"),
    )
    assert (thread.id, thread.url, thread.other_replies) == (
        "twitter:1800226420945854465", "https://nitter.net/archivist_ada/status/1800226420945854465", 0,
    )


def test_parse_from_the_second_page_finds_the_ancestors_there():
    thread = nitter.parse(PAGE2, page(PAGE2, "status-page2-constructed.html"))
    assert [post.position for post in thread.posts] == [1, 2, 3, 4, 5]
    assert thread.id == "twitter:1800226420945854465"


def test_parse_refuses_a_thread_whose_next_page_is_missing():
    with pytest.raises(NotAThread) as caught:
        nitter.parse(PAGE1, page(PAGE1, "status-page1-constructed.html"))
    assert str(caught.value) == f"{PAGE1}: not a thread: page {PAGE2} was not captured"


def test_parse_video_and_gif_with_alt_text():
    thread = nitter.parse(MEDIA, page(MEDIA, "status-media-constructed.html"))
    assert [post.media for post in thread.posts] == [
        (Media("https://video.twimg.com/amplify_video/1818900000000000000/pl/Am9.m3u8", "video"),),
        (Media("https://video.twimg.com/tweet_video/GUc4tW1XkAAcat.mp4", "gif", "A grey cat yawning on a stack of boxes"),),
    ]
    assert thread.posts[1].reply_to_id == thread.posts[0].id


def test_parse_non_latin_thread():
    thread = nitter.parse(JAPANESE, page(JAPANESE, "status-japanese-constructed.html"))
    assert thread.url == "https://nitter.poast.org/yamada_taro/status/1852878357918646293"
    assert thread.author == Author("twitter:yamada_taro", "twitter", "yamada_taro", "山田太郎", "https://twitter.com/yamada_taro")
    assert [(post.text, post.hashtags, post.mentions) for post in thread.posts] == [
        ("ウェブアーカイブの話をします。\n#ウェブアーカイブ と #デジタル保存 について🧵", ("ウェブアーカイブ", "デジタル保存"), ()),
        ("2/ 消えたスレッドは戻りません。@archivist_ada さんの調査が参考になります。", (), ("archivist_ada",)),
        ("3/ 以上です。#アーカイブ", ("アーカイブ",), ()),
    ]
    assert [post.created_at for post in thread.posts] == ["2024-11-03T01:00:00Z", "2024-11-03T01:04:00Z", "2024-11-03T01:09:00Z"]


def test_parse_unavailable_tweet_is_a_gap_in_the_chain():
    thread = nitter.parse(UNAVAILABLE, page(UNAVAILABLE, "status-unavailable-constructed.html"))
    assert [(post.id, post.missing, post.author is None, post.text, post.reply_to_id) for post in thread.posts] == [
        ("twitter:1830214016824246303", False, False, "Notes from the archiving meetup, a thread.", None),
        ("twitter:1830214771798966304", True, True, None, "twitter:1830214016824246303"),
        ("twitter:1830215526773686305", False, False, "Third: keep the raw responses, not just the text.",
         "twitter:1830214771798966304"),
        ("twitter:1830216281748406306", False, False, "Last: test your restores.", "twitter:1830215526773686305"),
    ]
    assert thread.posts[1].url == "https://twitter.com/i/web/status/1830214771798966304"


def test_parse_keeps_only_the_authors_run_of_ancestors():
    # Ada's question, Bob's answer, then Ada's reply to Bob and its continuation: the thread starts at her reply.
    thread = nitter.parse(REPLY_TO_OTHER, page(REPLY_TO_OTHER, "status-reply-to-other-constructed.html"))
    assert [(post.id, post.reply_to_id, post.text) for post in thread.posts] == [
        ("twitter:1843316603089846315", None, "Agreed. A few reasons, from the conference floor:"),  # no " – at Berlin"
        ("twitter:1843317106406326316", "twitter:1843316603089846315", "It keeps headers, and it is easy to verify."),
    ]
    assert thread.posts[0].hashtags == thread.posts[0].links == ()
    assert thread.url == REPLY_TO_OTHER


def test_parse_reads_a_capture_without_content_type_as_html():
    body = (NITTER / "status-japanese-constructed.html").read_bytes()
    thread = nitter.parse(JAPANESE, {JAPANESE: capture(JAPANESE, body, content_type="")})
    assert len(thread.posts) == 3


def test_parse_leaves_out_a_gap_that_older_nitter_renders_without_a_link():
    body = (NITTER / "status-unavailable-constructed.html").read_text()
    body = body.replace('<a class="unavailable-box" href="/i/status/1830214771798966304#m">', '<a class="unavailable-box">')
    thread = nitter.parse(UNAVAILABLE, {UNAVAILABLE: capture(UNAVAILABLE, body)})
    assert [post.id for post in thread.posts] == [
        "twitter:1830214016824246303", "twitter:1830215526773686305", "twitter:1830216281748406306",
    ]


def test_parse_without_data_username_reads_the_handle_from_the_header():
    # Nitter before data-username: the same thread from a.username.
    body = re.sub(r' data-username="[^"]*"', "", (NITTER / "status-selfthread-constructed.html").read_text())
    original = nitter.parse(SELFTHREAD, page(SELFTHREAD, "status-selfthread-constructed.html"))
    assert nitter.parse(SELFTHREAD, {SELFTHREAD: capture(SELFTHREAD, body)}) == original


def test_parse_reads_br_as_a_line_break():
    body = (NITTER / "status-selfthread-constructed.html").read_text()
    body = body.replace("the story is gone.\n\nThat is why", "the story is gone.<br><br>That is why", 1)
    thread = nitter.parse(SELFTHREAD, {SELFTHREAD: capture(SELFTHREAD, body)})
    assert thread.posts[1].text.startswith("1/ Threads fall apart quietly: a deleted reply, a suspended account, and "
                                           "the middle of the story is gone.\n\nThat is why 🎉#WebArchiving")


def test_text_nested_thousands_deep_is_not_a_thread():
    body = (NITTER / "status-selfthread-constructed.html").read_text()
    content = '<div class="tweet-content media-body" dir="auto">'
    body = body.replace(content, content + "<span>" * 3000 + "deep" + "</span>" * 3000, 1)
    with pytest.raises(NotAThread) as raised:
        nitter.parse(SELFTHREAD, {SELFTHREAD: capture(SELFTHREAD, body)})
    assert raised.value.reason == "HTML nested too deeply to read"


CHALLENGE = "<!DOCTYPE html><html><head><title>Verifying your browser</title></head><body><p>One moment</p></body></html>"
BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"


@pytest.mark.parametrize(
    "body, status, content_type, reason",
    [
        ((NITTER / "error-not-found-constructed.html").read_bytes(), 404, HTML, "Nitter says: Tweet not found (HTTP 404)"),
        ((NITTER / "error-suspended-constructed.html").read_bytes(), 404, HTML,
         "Nitter says: This Post is from a suspended account. (HTTP 404)"),
        ((NITTER / "error-rate-limited-constructed.html").read_bytes(), 429, HTML,
         "Nitter says: Instance has been rate limited. Use another instance or try again later. (HTTP 429)"),
        (BAD_GATEWAY, 502, "text/html", "HTTP 502"),
        (CHALLENGE, 200, HTML, "no div.main-tweet: not a Nitter status page"),
        (b"", 200, HTML, "empty response (HTTP 200)"),
        (b'{"error": "not found"}', 200, "application/json", "not an HTML page (application/json, HTTP 200)"),
        (b"\x89PNG\r\n\x1a\n", 200, "image/png", "not an HTML page (image/png, HTTP 200)"),
    ],
)
def test_parse_error_pages(body, status, content_type, reason):
    with pytest.raises(NotAThread) as caught:
        nitter.parse(SELFTHREAD, {SELFTHREAD: capture(SELFTHREAD, body, status, content_type)})
    assert (caught.value.url, caught.value.reason) == (SELFTHREAD, reason)


@pytest.mark.parametrize(
    "title, expected",
    [
        ("Mar 4, 2024 · 9:02 AM UTC", "2024-03-04T09:02:00Z"),
        ("Dec 31, 2023 · 12:05 AM UTC", "2023-12-31T00:05:00Z"),
        ("Jul 14, 2022 · 12:30 PM UTC", "2022-07-14T12:30:00Z"),
        ("Oct 7, 2024 · 11:59 PM UTC", "2024-10-07T23:59:00Z"),
        ("Feb 30, 2024 · 1:00 PM UTC", None),
        ("Mär 4, 2024 · 9:02 AM UTC", None),
        ("4 Mar 2024", None),  # the relative text shown on the page, never used
    ],
)
def test_parse_date(title, expected):
    assert nitter._parse_date(title) == expected


@pytest.mark.parametrize(
    "src, expected",
    [
        ("/pic/orig/media%2FGHx1aBcXoAA1234.jpg", "https://pbs.twimg.com/media/GHx1aBcXoAA1234.jpg"),
        ("/pic/media%2FGHx1aBcXoAA1234.jpg%3Fname%3Dsmall%26format%3Dwebp", "https://pbs.twimg.com/media/GHx1aBcXoAA1234.jpg"),
        ("/pic/orig/enc/bWVkaWEvR0h4MWFCY1hvQUExMjM0LmpwZw==", "https://pbs.twimg.com/media/GHx1aBcXoAA1234.jpg"),
        ("/pic/orig/enc/bWVkaWEvR0h4MWFCY1hvQUExMjM0LmpwZw", "https://pbs.twimg.com/media/GHx1aBcXoAA1234.jpg"),
        ("/pic/video.twimg.com%2Ftweet_video%2FGUc4.mp4", "https://video.twimg.com/tweet_video/GUc4.mp4"),
        ("/video/ED1274DD3C87D/https%3A%2F%2Fvideo.twimg.com%2Fext_tw_video%2F1%2Fpu%2Fvid%2F720x1280%2Fa.mp4%3Ftag%3D12",
         "https://video.twimg.com/ext_tw_video/1/pu/vid/720x1280/a.mp4?tag=12"),
        ("/video/enc/ED1274DD3C87D/aHR0cHM6Ly92aWRlby50d2ltZy5jb20vYS5tM3U4", "https://video.twimg.com/a.m3u8"),
        ("https://video.twimg.com/ext_tw_video/1/pu/vid/a.mp4", "https://video.twimg.com/ext_tw_video/1/pu/vid/a.mp4"),
        ("/pic/orig/enc/!!!", "https://nitter.net/pic/orig/enc/!!!"),  # not base64: left as Nitter gives it
        ("/logo.png", "https://nitter.net/logo.png"),
    ],
)
def test_media_url_maps_nitter_proxy_paths_back_to_the_cdn(src, expected):
    assert nitter._media_url(src, SELFTHREAD) == expected
