import copy
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Media, Post, Thread
from threadvault.sources import bluesky

FIXTURES = Path(__file__).parent / "fixtures" / "bluesky"
API = "https://public.api.bsky.app/xrpc"
ALICE = "did:plc:kfya6hnnopewsmpabcjwdohk"
ALICE_AUTHOR = Author(f"bluesky:{ALICE}", "bluesky", "alice.test", "Alice Archivist", "https://bsky.app/profile/alice.test")


@pytest.fixture(autouse=True)
def public_appview(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bluesky.APPVIEW_VARIABLE, raising=False)


def body(name: str) -> bytes:
    """A fixture's bytes; the Morpho files are Kotlin raw strings, where ``${"$"}`` stands for ``$``."""
    raw = (FIXTURES / name).read_bytes()
    return raw.replace(b'${"$"}', b"$") if name.endswith(".kotlin-escaped.txt") else raw


def answer(url: str, content: bytes, status: int = 200, number: int = 0) -> Capture:
    return Capture(url, status, (("content-type", "application/json; charset=utf-8"),), content, "2026-01-02T03:04:05Z", f"c{number}")


def archive(url: str, *names: str) -> dict[str, Capture]:
    """Captures as the fetch job makes them: every URL plan asks for, answered by the next fixture in turn."""
    captures: dict[str, Capture] = {}
    answers = list(names)
    while todo := bluesky.plan(url, captures):
        for next_url in todo:
            assert answers, f"plan asked for more: {next_url}"
            captures[next_url] = answer(next_url, body(answers.pop(0)), number=len(captures))
    assert answers == [], "plan stopped before every answer was used"
    return captures


def post_id(did: str, rkey: str) -> str:
    return f"bluesky:at://{did}/app.bsky.feed.post/{rkey}"


def alice_post(rkey: str) -> str:
    return post_id(ALICE, rkey)


@pytest.mark.parametrize(
    "url, matches",
    [
        ("https://bsky.app/profile/alice.test/post/3lbelkc2n6c2l", True),
        ("https://bsky.app/profile/did:plc:kfya6hnnopewsmpabcjwdohk/post/3lbelkc2n6c2l/", True),
        ("http://www.bsky.app/profile/alice.test/post/3lbelkc2n6c2l?ref=share", True),
        ("at://did:plc:kfya6hnnopewsmpabcjwdohk/app.bsky.feed.post/3lbelkc2n6c2l", True),
        ("at://alice.test/app.bsky.feed.post/3lbelkc2n6c2l", True),
        ("https://bsky.app/profile/alice.test", False),
        ("https://bsky.app/profile/alice.test/post/3lbelkc2n6c2l/liked-by", False),
        ("at://alice.test/app.bsky.feed.like/3lbelkc2n6c2l", False),
        ("https://example.com/profile/alice.test/post/3lbelkc2n6c2l", False),  # only with --source bluesky
    ],
)
def test_pattern(url: str, matches: bool) -> None:
    assert bool(bluesky.PATTERN.match(url)) is matches


@pytest.mark.parametrize(
    "url, canonical",
    [
        ("https://bsky.app/profile/Alice.Test/post/3lbelkc2n6c2l", "https://bsky.app/profile/alice.test/post/3lbelkc2n6c2l"),
        ("http://www.bsky.app/profile/alice.test/post/3lbelkc2n6c2l/?ref=share#x", "https://bsky.app/profile/alice.test/post/3lbelkc2n6c2l"),
        (f"at://{ALICE}/app.bsky.feed.post/3lbelkc2n6c2l", f"https://bsky.app/profile/{ALICE}/post/3lbelkc2n6c2l"),
        ("at://alice.test/app.bsky.feed.post/3lbelkc2n6c2l", "https://bsky.app/profile/alice.test/post/3lbelkc2n6c2l"),
        (f"https://bsky.app/profile/{ALICE.replace(':', '%3A')}/post/3lbelkc2n6c2l", f"https://bsky.app/profile/{ALICE}/post/3lbelkc2n6c2l"),
        ("http://127.0.0.1:8123/profile/alice.test/post/3lbelkc2n6c2l", "http://127.0.0.1:8123/profile/alice.test/post/3lbelkc2n6c2l"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert bluesky.canonical_url(url) == canonical


@pytest.mark.parametrize("url", ["https://bsky.app/profile/alice.test", "at://alice.test/app.bsky.feed.like/3lbelkc2n6c2l"])
def test_canonical_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(NotAThread, match="not a Bluesky post URL"):
        bluesky.canonical_url(url)


def test_plan_resolves_the_handle_then_asks_for_the_thread() -> None:
    url = "https://bsky.app/profile/alice.test/post/3llqmgsl4222w"
    resolve = f"{API}/com.atproto.identity.resolveHandle?handle=alice.test"
    thread = (
        f"{API}/app.bsky.feed.getPostThread?uri=at%3A%2F%2Fdid%3Aplc%3Akfya6hnnopewsmpabcjwdohk%2Fapp.bsky.feed.post"
        "%2F3llqmgsl4222w&depth=200&parentHeight=200"
    )
    assert bluesky.plan(url, {}) == [resolve]
    captures = {resolve: answer(resolve, body("resolveHandle-alice-constructed.json"))}
    assert bluesky.plan(url, captures) == [thread]
    captures[thread] = answer(thread, body("getPostThread-constructed-media.json"))
    assert bluesky.plan(url, captures) == []


def test_plan_skips_resolution_for_a_did() -> None:
    assert bluesky.plan(f"at://{ALICE}/app.bsky.feed.post/3llqmgsl4222w", {}) == [
        f"{API}/app.bsky.feed.getPostThread?uri=at%3A%2F%2F{ALICE.replace(':', '%3A')}%2Fapp.bsky.feed.post"
        "%2F3llqmgsl4222w&depth=200&parentHeight=200"
    ]


@pytest.mark.parametrize(
    "url, variable, expected",
    [
        ("https://bsky.app/profile/alice.test/post/3l", "http://appview.test:2584/", "http://appview.test:2584/xrpc/"),
        ("http://127.0.0.1:8123/profile/alice.test/post/3l", "http://appview.test:2584", "http://127.0.0.1:8123/xrpc/"),
        ("at://alice.test/app.bsky.feed.post/3l", "", f"{API}/"),
    ],
)
def test_plan_api_base(monkeypatch: pytest.MonkeyPatch, url: str, variable: str, expected: str) -> None:
    monkeypatch.setenv(bluesky.APPVIEW_VARIABLE, variable)
    assert bluesky.plan(url, {}) == [f"{expected}com.atproto.identity.resolveHandle?handle=alice.test"]


@pytest.mark.parametrize("through", ["variable", "url"])
def test_fetch_from_a_local_appview(httpserver, monkeypatch: pytest.MonkeyPatch, through: str) -> None:
    """The query strings plan builds arrive intact at a real server, found either way to the API."""
    for method, query, name in [
        ("com.atproto.identity.resolveHandle", {"handle": "alice.test"}, "resolveHandle-alice-constructed.json"),
        ("app.bsky.feed.getPostThread", {"uri": f"at://{ALICE}/app.bsky.feed.post/3lbelkc2n6c2l", "depth": "200",
                                          "parentHeight": "200"}, "getPostThread-constructed-long-1.json"),
        ("app.bsky.feed.getPostThread", {"uri": f"at://{ALICE}/app.bsky.feed.post/3lbelnwlv4c2k", "depth": "200",
                                          "parentHeight": "200"}, "getPostThread-constructed-long-2.json"),
    ]:
        httpserver.expect_ordered_request(f"/xrpc/{method}", query_string=query).respond_with_data(
            body(name), content_type="application/json")
    origin = httpserver.url_for("/").rstrip("/")
    if through == "variable":
        monkeypatch.setenv(bluesky.APPVIEW_VARIABLE, origin)
        url = "https://bsky.app/profile/alice.test/post/3lbelkc2n6c2l"
    else:
        url = f"{origin}/profile/alice.test/post/3lbelkc2n6c2l"
    captures: dict[str, Capture] = {}
    with httpx.Client() as client:
        while todo := bluesky.plan(url, captures):
            for next_url in todo:
                response = client.get(next_url)
                captures[next_url] = answer(next_url, response.content, response.status_code)
    httpserver.check_assertions()
    assert len(bluesky.parse(url, captures).posts) == 5


def test_conversation_between_two_people_keeps_the_requested_authors_chain() -> None:
    """Real: a 6-deep parent chain of 4 authors; the requested post's parent is someone else's, its reply is its author's."""
    orual = "did:plc:yfvwmnlztr4dwkb7hwz55r2g"
    url = f"https://bsky.app/profile/{orual}/post/3kosdondcpl2i"
    thread = bluesky.parse(url, archive(url, "morpho-getPostThread-3kosdondcpl2i.kotlin-escaped.txt"))
    author = Author(f"bluesky:{orual}", "bluesky", "nonbinary.computer", "Orual", "https://bsky.app/profile/nonbinary.computer")
    assert thread == Thread(
        id=post_id(orual, "3kosdondcpl2i"),
        platform="bluesky",
        url=url,
        source="bluesky",
        author=author,
        posts=(
            Post(
                id=post_id(orual, "3kosdondcpl2i"),
                author=author,
                text="Yeah, it's a tradeoff. 5GHz is clearly a lot harder to make cheap, tiny, low-power radios for. It's "
                "almost impossible to find an embedded WiFi module that supports it. A client was complaining about it. "
                "900MHz is ok for IoT stuff specifically, but you run into bandwidth limitations HARD.",
                position=1,
                created_at="2024-03-29T01:18:01Z",
                url=f"https://bsky.app/profile/{orual}/post/3kosdondcpl2i",
                reply_to_id=post_id("did:plc:jmszivbbbadpztauju5dev26", "3kosdkjzaua2f"),
                lang="en",
                reply_count=1,
                repost_count=0,
                like_count=3,
                capture_id="c0",
            ),
            Post(
                id=post_id(orual, "3kosdty4sbj2q"),
                author=author,
                text="One thing that manufacturers don't always do a good job of is choosing case materials with good radio "
                "transparency. They also tend to skimp on antennas bc of cost.",
                position=2,
                created_at="2024-03-29T01:21:00Z",
                url=f"https://bsky.app/profile/{orual}/post/3kosdty4sbj2q",
                reply_to_id=post_id(orual, "3kosdondcpl2i"),
                lang="en",
                reply_count=0,
                repost_count=0,
                like_count=3,
                capture_id="c0",
            ),
        ),
        other_replies=0,
    )


def test_replies_by_others_are_counted_or_kept() -> None:
    """Real: a reply with 5 posts by 5 other people below it, in two branches."""
    chad = "did:plc:uy7ehrx332p6dow5sk32hxzq"
    url = f"at://{chad}/app.bsky.feed.post/3k7rmyigapw2y"
    captures = archive(url, "morpho-getPostThread-3k7rmyigapw2y.kotlin-escaped.txt")
    alone = bluesky.parse(url, captures)
    assert [post.id for post in alone.posts] == [post_id(chad, "3k7rmyigapw2y")]
    assert alone.other_replies == 5
    kept = bluesky.parse(url, captures, with_replies=True)
    assert kept.other_replies == 0
    assert [(post.id, post.position, post.reply_to_id) for post in kept.posts[1:]] == [
        (post_id("did:plc:3vqyk736eakmlwkmfraauemo", "3k7rob7ugc72d"), None, post_id(chad, "3k7rmyigapw2y")),
        (post_id("did:plc:3vqyk736eakmlwkmfraauemo", "3k7rocw2w6u2t"), None,
         post_id("did:plc:3vqyk736eakmlwkmfraauemo", "3k7rob7ugc72d")),
        (post_id("did:plc:w2gsbanugiw67kud7sieilh7", "3k7rn6uemfg2c"), None, post_id(chad, "3k7rmyigapw2y")),
        (post_id("did:plc:afppko2gwdw53mqt7kzdx27g", "3k7rngaexam2t"), None,
         post_id("did:plc:w2gsbanugiw67kud7sieilh7", "3k7rn6uemfg2c")),
        (post_id("did:plc:wbfs32kk4w264yy4smjx5b4t", "3k7rnexppqa2g"), None,
         post_id("did:plc:w2gsbanugiw67kud7sieilh7", "3k7rn6uemfg2c")),
    ]
    assert kept.posts[-1].author == Author("bluesky:did:plc:wbfs32kk4w264yy4smjx5b4t", "bluesky", "dankguyjeff.bsky.social",
                                           None, "https://bsky.app/profile/dankguyjeff.bsky.social")


def test_shortened_link_text_keeps_the_full_facet_uri() -> None:
    """Real: the text shows ``mashable.com/article/blue...``; the facet and the external card hold the whole URL."""
    view = json.loads(body("morpho-getPostThread-3k7rmyigapw2y.kotlin-escaped.txt"))["thread"]["parent"]["post"]
    post = bluesky.post_from_view(view)
    full = "https://mashable.com/article/bluesky-record-new-signups-after-musk-says-charge-x-twitter-users-fee"
    assert post.links == (Link(url=full, display_text="mashable.com/article/blue..."),)
    assert (post.position, post.media, post.created_at) == (None, (), "2023-09-19T20:52:25Z")


def test_record_with_media_and_no_text() -> None:
    """Real: an image and a quoted post, and an empty text."""
    did = "did:plc:kvwvcn5iqfooopmyzvb4qzba"
    url = f"https://bsky.app/profile/{did}/post/3kaheyt6vpc22"
    (post,) = bluesky.parse(url, archive(url, "marshalx-getPostThread-3kaheyt6vpc22-recordWithMedia.json")).posts
    assert post == Post(
        id=post_id(did, "3kaheyt6vpc22"),
        author=Author(f"bluesky:{did}", "bluesky", "test.marshal.dev", "Python SDK", "https://bsky.app/profile/test.marshal.dev"),
        text="",
        position=1,
        created_at="2023-09-28T12:49:36Z",
        url=url,
        lang="en",
        links=(Link(url=f"https://bsky.app/profile/{did}/post/3kahesw26il2z"),),
        media=(Media(f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/bafkreic3cp5ky525vsukjvrzxsc2h3jka2gud74l2hgeatw2rhj2qycnmq@jpeg",
                     "image"),),
        reply_count=0,
        repost_count=0,
        like_count=0,
        capture_id="c0",
    )


LONG_THREAD = [
    ("3lbelkc2n6c2l", "How we archive a thread, step by step (1/5)"),
    ("3lbelm4db5c27", "First, resolve the handle to a DID (2/5)"),
    ("3lbelnwlv4c2k", "Then ask the AppView for the thread (3/5)"),
    ("3lbelpquj3c2z", "If the chain is deeper, ask again from the last post (4/5)"),
    ("3lbelrl552c2c", "And keep the gaps as gaps (5/5)"),
]


@pytest.mark.parametrize(
    "rkey, answers, captures_used",
    [
        ("3lbelkc2n6c2l", ["getPostThread-constructed-long-1.json", "getPostThread-constructed-long-2.json"],
         ["c1", "c1", "c2", "c2", "c2"]),
        ("3lbelrl552c2c", ["getPostThread-constructed-long-3.json", "getPostThread-constructed-long-2.json"],
         ["c2", "c2", "c2", "c1", "c1"]),
    ],
    ids=["asked-from-the-first-post", "asked-from-the-last-post"],
)
def test_thread_longer_than_one_call(rkey: str, answers: list[str], captures_used: list[str]) -> None:
    url = f"https://bsky.app/profile/alice.test/post/{rkey}"
    thread = bluesky.parse(url, archive(url, "resolveHandle-alice-constructed.json", *answers))
    assert [(post.id, post.text, post.position, post.capture_id) for post in thread.posts] == [
        (alice_post(key), text, position, capture)
        for position, ((key, text), capture) in enumerate(zip(LONG_THREAD, captures_used), start=1)
    ]
    assert [post.reply_to_id for post in thread.posts] == [None] + [alice_post(key) for key, _ in LONG_THREAD[:-1]]
    assert thread.id == alice_post(LONG_THREAD[0][0])


def test_the_earliest_self_reply_continues_and_the_others_are_branches() -> None:
    url = f"at://{ALICE}/app.bsky.feed.post/3lcb6tpmm222v"
    captures = archive(url, "getPostThread-constructed-branches.json")
    thread = bluesky.parse(url, captures)
    assert [post.text for post in thread.posts] == [
        "Three things I learned running an archive",
        "One: captures are cheap, parsers are not.",
        "Two: keep the bytes as they came.",
    ]
    assert (thread.branches, thread.other_replies) == ((alice_post("3lcb7xhzp222z"),), 1)
    bob = post_id("did:plc:hsthj26qcpzb657bwbn6kitl", "3lcb6y6oag22b")
    kept = bluesky.parse(url, captures, with_replies=True)
    assert [(post.id, post.position, post.reply_to_id) for post in kept.posts[3:]] == [
        (bob, None, alice_post("3lcb6tpmm222v")),
        (alice_post("3lcb74npus22v"), None, bob),
        (alice_post("3lcb7xhzp222z"), None, alice_post("3lcb6tpmm222v")),
    ]


def test_a_deleted_post_in_the_chain_is_a_gap() -> None:
    url = f"https://bsky.app/profile/{ALICE}/post/3ley5qmw5k22c"
    thread = bluesky.parse(url, archive(url, "getPostThread-constructed-deleted-parent.json"))
    gap = Post(
        id=alice_post("3ley5otp3s22s"),
        author=ALICE_AUTHOR,
        text=None,
        position=1,
        url=f"https://bsky.app/profile/{ALICE}/post/3ley5otp3s22s",
        missing=True,
        capture_id="c0",
    )
    assert thread.posts[0] == gap
    assert [(post.position, post.text, post.reply_to_id) for post in thread.posts[1:]] == [
        (2, "Part three", alice_post("3ley5otp3s22s")),
        (3, "Part four", alice_post("3ley5qmw5k22c")),
    ]
    assert thread.id == gap.id


def test_a_missing_parent_by_someone_else_is_not_part_of_the_chain() -> None:
    data = json.loads(body("getPostThread-constructed-deleted-parent.json"))
    data["thread"]["parent"]["uri"] = post_id("did:plc:hsthj26qcpzb657bwbn6kitl", "3ley5otp3s22s").removeprefix("bluesky:")
    url = f"at://{ALICE}/app.bsky.feed.post/3ley5qmw5k22c"
    (thread_url,) = bluesky.plan(url, {})
    thread = bluesky.parse(url, {thread_url: answer(thread_url, json.dumps(data).encode())})
    assert [(post.position, post.text, post.missing) for post in thread.posts] == [(1, "Part three", False), (2, "Part four", False)]


def test_facets_count_utf8_bytes() -> None:
    """Emoji and accents before the facets: a slice by characters would cut the wrong text."""
    url = "at://did:plc:amedt63rqq4viralotsdnhwc/app.bsky.feed.post/3li57nji3kc2t"
    (post,) = bluesky.parse(url, archive(url, "getPostThread-constructed-emoji-facets.json")).posts
    assert (post.hashtags, post.mentions, post.links, post.lang) == (
        ("Archivage", "WebArchive", "préservation"),
        ("bob.test",),
        (Link(url="https://example.org/articles/archiver-le-web-en-2025", display_text="example.org/articles/archi..."),),
        "fr",
    )
    assert post.created_at == "2025-02-14T12:34:56Z"


def test_facets_with_broken_offsets_fall_back() -> None:
    view = copy.deepcopy(json.loads(body("getPostThread-constructed-emoji-facets.json"))["thread"]["post"])
    tag, mention, link, _ = view["record"]["facets"]
    mention["index"] = {"byteStart": 100, "byteEnd": 120}  # past the end of the text
    link["index"] = {"byteStart": 4, "byteEnd": 8}  # starts inside "é" and ends inside the coffee cup
    post = bluesky.post_from_view(view)
    assert post.mentions == ("did:plc:hsthj26qcpzb657bwbn6kitl",)
    assert post.links == (Link(url="https://example.org/articles/archiver-le-web-en-2025"),)
    assert post.hashtags == ("Archivage", "WebArchive", "préservation")


def test_thread_in_japanese() -> None:
    yuki = "did:plc:dnontbp5riv27pquowbn57qn"
    url = "https://bsky.app/profile/yuki.test/post/3ljgxmkgdus2p"
    thread = bluesky.parse(url, archive(url, "resolveHandle-yuki-constructed.json", "getPostThread-constructed-japanese.json"))
    assert thread.author == Author(f"bluesky:{yuki}", "bluesky", "yuki.test", "ゆき", "https://bsky.app/profile/yuki.test")
    assert [(post.hashtags, post.mentions, post.links, post.lang) for post in thread.posts] == [
        (("ウェブ保存",), (), (), "ja"),
        ((), ("bob.test",), (Link(
            url="https://example.jp/%E8%A8%98%E4%BA%8B/%E4%BF%9D%E5%AD%98%E3%81%AE%E6%96%B9%E6%B3%95",
            display_text="example.jp/記事/保存...",
        ),), "ja"),
    ]


def test_images_without_text_and_videos() -> None:
    url = f"at://{ALICE}/app.bsky.feed.post/3llqmgsl4222w"
    thread = bluesky.parse(url, archive(url, "getPostThread-constructed-media.json"))
    cdn, video = f"https://cdn.bsky.app/img/feed_fullsize/plain/{ALICE}", f"https://video.bsky.app/watch/{ALICE.replace(':', '%3A')}"
    assert [(post.text, post.media) for post in thread.posts] == [
        ("", (
            Media(f"{cdn}/bafkreiivsvcl3ppzsptcskkgktnzu4hmdy2bbytxxu623qobs6btfx74bu@jpeg", "image",
                  "A reading room with rows of archive boxes"),
            Media(f"{cdn}/bafkreicupdp4tg2ud2g34lwp3pua2ds3m6p6d6pdte4nfuyqyb2dwwvmzb@jpeg", "image"),
        )),
        ("The same room, moving", (
            Media(f"{video}/bafkreif3oryowysz3hnic6uv3j5pofw5kk2agizwglxzf7roafee2jaasc/playlist.m3u8", "gif",
                  "A slow pan across the shelves"),
        )),
        ("And the talk about it", (Media(f"{video}/bafkreiy36uevg2yt5xskehvmewacjgzohwi73y3khsa7wewyb2ijx5whpm/playlist.m3u8", "video"),)),
    ]


@pytest.mark.parametrize(
    "url, name, status, reason",
    [
        ("https://bsky.app/profile/alice.test/post/3ley5otp3s22s", "resolveHandle-400-constructed.json", 400,
         "handle alice.test could not be resolved (Unable to resolve handle)"),
        (f"at://{ALICE}/app.bsky.feed.post/3ley5otp3s22s", "getPostThread-400-constructed.json", 400, "post not found"),
        (f"at://{ALICE}/app.bsky.feed.post/3ley5otp3s22s", "getPostThread-constructed-notfound-anchor.json", 200,
         "post not found"),
        ("at://did:plc:hsthj26qcpzb657bwbn6kitl/app.bsky.feed.post/3lcb6y6oag22b",
         "getPostThread-constructed-blocked-anchor.json", 200, "post is blocked"),
    ],
)
def test_answers_without_a_thread(url: str, name: str, status: int, reason: str) -> None:
    (first_url,) = bluesky.plan(url, {})
    captures = {first_url: answer(first_url, body(name), status)}
    for step in (bluesky.plan, bluesky.parse):
        with pytest.raises(NotAThread) as raised:
            step(url, captures)
        assert raised.value.reason == reason


def test_an_answer_that_is_not_json() -> None:
    url = f"at://{ALICE}/app.bsky.feed.post/3ley5otp3s22s"
    (thread_url,) = bluesky.plan(url, {})
    captures = {thread_url: answer(thread_url, b"<html><body>502 Bad Gateway</body></html>", 502)}
    with pytest.raises(NotAThread, match="answered HTTP 502 with a body that is not JSON"):
        bluesky.parse(url, captures)


def test_an_answer_nested_too_deep_for_json() -> None:
    url = f"at://{ALICE}/app.bsky.feed.post/3ley5otp3s22s"
    (thread_url,) = bluesky.plan(url, {})
    captures = {thread_url: answer(thread_url, b'{"thread": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")}
    for step in (bluesky.plan, bluesky.parse):
        with pytest.raises(NotAThread, match="answered with JSON nested too deeply to read$"):
            step(url, captures)


def morpho_with(change: Callable[[dict], object]) -> tuple[str, dict[str, Capture]]:
    """The real conversation 3k7rmyigapw2y, its answer changed in place by ``change``."""
    url = "at://did:plc:uy7ehrx332p6dow5sk32hxzq/app.bsky.feed.post/3k7rmyigapw2y"
    data = json.loads(body("morpho-getPostThread-3k7rmyigapw2y.kotlin-escaped.txt"))
    change(data["thread"])
    (thread_url,) = bluesky.plan(url, {})
    return url, {thread_url: answer(thread_url, json.dumps(data).encode())}


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda thread: thread["post"]["record"].update(reply=True), "AttributeError: 'bool' object has no attribute 'get'"),
        (lambda thread: thread["post"]["record"].update(langs=True), "TypeError: 'bool' object is not iterable"),
        (lambda thread: thread["post"].update(author=[]), "TypeError: list indices must be integers or slices, not str"),
        (lambda thread: thread["post"]["record"]["reply"]["parent"].update(uri="3k7rob7ugc72d"),
         "ValueError: '3k7rob7ugc72d' is not the at:// URI of a post"),
    ],
)
def test_values_of_the_wrong_type_are_not_a_thread(change: Callable[[dict], object], error: str) -> None:
    url, captures = morpho_with(change)
    with pytest.raises(NotAThread) as raised:
        bluesky.parse(url, captures)
    assert raised.value.reason == f"malformed getPostThread answer ({error})"


def test_counts_and_texts_of_the_wrong_type_are_unknown() -> None:
    def change(thread: dict) -> None:
        thread["post"].update(replyCount=1 << 64, repostCount=True, likeCount=1.5)
        thread["post"]["record"].update(text=["x"], langs=[{"en": 1}])
        thread["post"]["author"].update(handle=7, displayName={})

    url, captures = morpho_with(change)
    (post,) = bluesky.parse(url, captures).posts
    assert (post.reply_count, post.repost_count, post.like_count, post.text, post.lang) == (None, None, None, "", None)
    assert post.author == Author("bluesky:did:plc:uy7ehrx332p6dow5sk32hxzq", "bluesky", "did:plc:uy7ehrx332p6dow5sk32hxzq",
                                 None, "https://bsky.app/profile/did:plc:uy7ehrx332p6dow5sk32hxzq")


def test_a_reply_listed_twice_is_kept_once() -> None:
    url, captures = morpho_with(lambda thread: thread["replies"].append(thread["replies"][0]))
    thread = bluesky.parse(url, captures, with_replies=True)
    assert len(thread.posts) == 6 and len({post.id for post in thread.posts}) == 6
    assert bluesky.parse(url, captures).other_replies == 5


def test_parse_needs_the_captures() -> None:
    with pytest.raises(NotAThread, match="has not been captured yet"):
        bluesky.parse("https://bsky.app/profile/alice.test/post/3ley5otp3s22s", {})


def test_an_answer_as_deep_as_plan_asks_for_can_be_read() -> None:
    """``DEPTH`` levels of replies nest twice as deep in JSON; Python's json module gives up near a thousand."""
    template = json.loads(body("getPostThread-constructed-long-1.json"))["thread"]["post"]
    node: dict = {"$type": "app.bsky.feed.defs#threadViewPost", "replies": []}
    for level in reversed(range(bluesky.DEPTH + 1)):
        view = copy.deepcopy(template)
        view["uri"] = f"at://{ALICE}/app.bsky.feed.post/3lbel{level:08d}"
        view["record"]["reply"] = {"parent": {"uri": f"at://{ALICE}/app.bsky.feed.post/3lbel{level - 1:08d}", "cid": "x"}}
        node = {**node, "post": view} if level == bluesky.DEPTH else {"$type": node["$type"], "post": view, "replies": [node]}
    del node["post"]["record"]["reply"]
    url = f"at://{ALICE}/app.bsky.feed.post/3lbel00000000"
    (thread_url,) = bluesky.plan(url, {})
    thread = bluesky.parse(url, {thread_url: answer(thread_url, json.dumps({"thread": node}).encode())})
    assert len(thread.posts) == bluesky.DEPTH + 1


def test_a_getpostthread_url_found_in_a_warc_file_names_its_post() -> None:
    did = "did:plc:dnontbp5riv27pquowbn57qn"
    api = bluesky._thread_url(bluesky.DEFAULT_APPVIEW, f"at://{did}/app.bsky.feed.post/3ljgxmkgdus2p")
    assert bluesky.PATTERN.match(api)
    assert bluesky.canonical_url(api) == f"https://bsky.app/profile/{did}/post/3ljgxmkgdus2p"
    assert bluesky.plan(bluesky.canonical_url(api), {}) == [api]
    local = api.replace(bluesky.DEFAULT_APPVIEW, "http://127.0.0.1:8080")
    assert bluesky.canonical_url(local) == f"http://127.0.0.1:8080/profile/{did}/post/3ljgxmkgdus2p"
