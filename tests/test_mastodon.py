import json
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Media, Post, Thread, iso_utc
from threadvault.sources import mastodon

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
SELF_THREAD = "mastodonpy-cassette-context-110446983926957470-selfthread.yaml"
SELF_THREAD_STATUS = "mastodonpy-cassette-status-110446983926957470-constructed.yaml"
HASHTAG_MEDIA = "mastodonpy-cassette-status-110446223051565765-hashtag-mention-media.yaml"
CHAIN_ROOT = "mastodonpy-cassette-status-110447001287656894-video-chain-root.yaml"
CHAIN_REPLIES = "mastodonpy-cassette-status-110447012773105565-reply-chain-media.yaml"
LINK_CARD = "mastodonpy-cassette-status-110447098625216345-link-card.yaml"
API = "https://mastodon.social/api/v1/statuses/"
HALCY = Author(
    "mastodon:https://mastodon.social/@halcy",
    "mastodon",
    "halcy@mastodon.social",
    "autumnal halcy",
    "https://mastodon.social/@halcy",
)
REMOTE_HALCY = Author(
    "mastodon:https://icosahedron.website/@halcy",
    "mastodon",
    "halcy@icosahedron.website",
    "halcy\u200b :icosahedron:",
    "https://icosahedron.website/@halcy",
)
HALCY_STATUSES = "mastodon:https://mastodon.social/users/halcy/statuses/"


def load_cassette(*names: str) -> dict[str, Capture]:
    """The responses recorded in vcrpy cassettes, as Captures keyed by URL (id: ``<file>#<index>``)."""
    captures = {}
    for name in names:
        for index, interaction in enumerate(yaml.safe_load((FIXTURES / name).read_text())["interactions"]):
            response = interaction["response"]
            headers = tuple((key, value) for key, values in response["headers"].items() for value in values)
            url = interaction["request"]["uri"]
            date = parsedate_to_datetime(response["headers"]["Date"][0])
            body = response["body"]["string"].encode()
            captures[url] = Capture(url, response["status"]["code"], headers, body, iso_utc(date), f"{name}#{index}")
    return captures


def status_json(captures: dict[str, Capture], status_id: str) -> dict[str, Any]:
    return json.loads(captures[API + status_id].body)  # type: ignore[no-any-return]


def context_capture(
    status_id: str, ancestors: list[dict[str, Any]], descendants: list[dict[str, Any]]
) -> dict[str, Capture]:
    """A context response built from real statuses, for a status whose context was not recorded."""
    body = json.dumps({"ancestors": ancestors, "descendants": descendants}, separators=(",", ":"), ensure_ascii=False)
    url = f"{API}{status_id}/context"
    headers = (("content-type", "application/json; charset=utf-8"),)
    return {url: Capture(url, 200, headers, body.encode(), "2026-04-11T23:14:24Z", "built-context")}


def real_chain(status_id: str) -> dict[str, Capture]:
    """The real 3-status chain (video post <- image post <- remote audio reply) with a context for ``status_id``."""
    captures = load_cassette(CHAIN_ROOT, CHAIN_REPLIES)
    order = ["110447001287656894", "110447003454258227", "110447012773105565"]
    statuses = [status_json(captures, each) for each in order]
    at = order.index(status_id)
    return captures | context_capture(status_id, statuses[:at], statuses[at + 1 :])


def single(status_id: str, *names: str) -> dict[str, Capture]:
    captures = load_cassette(*names)
    return captures | context_capture(status_id, [], [])


def summary(thread: Thread) -> list[tuple[int | None, str, str | None, str | None]]:
    return [(post.position, post.id, post.reply_to_id, post.text) for post in thread.posts]


@pytest.mark.parametrize(
    "url, matches",
    [
        ("https://mastodon.social/@halcy/110446983926957470", True),
        ("https://mastodon.social/@halcy@icosahedron.website/110446223051565765", True),
        ("https://mastodon.social/users/halcy/statuses/110446983926957470", True),
        ("https://mastodon.social/api/v1/statuses/110446983926957470", True),
        ("https://mastodon.social/api/v1/statuses/110446983926957470/context", True),
        ("http://127.0.0.1:8123/@mira/112025282813496319/?utm_source=x#reply", True),
        ("https://fosstodon.org/@some.one/109999999999999999", True),
        ("https://mastodon.social/@halcy", False),
        ("https://mastodon.social/@halcy/media", False),
        ("https://mastodon.social/@halcy/110446983926957470/context", False),
        ("https://mastodon.social/users/halcy/statuses/110446983926957470/activity", False),
        ("https://nitter.net/jack/status/20", False),
        ("https://twitter.com/jack/status/20", False),
        ("https://bsky.app/profile/jay.bsky.team/post/3k7rmyigapw2y", False),
        ("https://threadreaderapp.com/thread/1215710451343904768.html", False),
        ("ftp://mastodon.social/@halcy/110446983926957470", False),
    ],
)
def test_pattern(url: str, matches: bool) -> None:
    assert bool(mastodon.PATTERN.match(url)) is matches


@pytest.mark.parametrize(
    "url, canonical",
    [
        ("https://mastodon.social/@halcy/110446983926957470", "https://mastodon.social/@halcy/110446983926957470"),
        (
            "HTTPS://Mastodon.Social/@Halcy/110446983926957470/?s=1#x",
            "https://mastodon.social/@Halcy/110446983926957470",
        ),
        (
            "https://mastodon.social/@halcy@icosahedron.website/110446223051565765",
            "https://mastodon.social/@halcy@icosahedron.website/110446223051565765",
        ),
        (
            "https://mastodon.social/users/halcy/statuses/110446983926957470",
            "https://mastodon.social/users/halcy/statuses/110446983926957470",
        ),
        (
            "https://mastodon.social/api/v1/statuses/110446983926957470/context",
            "https://mastodon.social/api/v1/statuses/110446983926957470",
        ),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert mastodon.canonical_url(url) == canonical


def test_canonical_url_refuses_other_urls() -> None:
    with pytest.raises(NotAThread, match=r"^https://mastodon.social/@halcy: not a thread: not a Mastodon status URL"):
        mastodon.canonical_url("https://mastodon.social/@halcy")


@pytest.mark.parametrize(
    "captured, expected",
    [
        ([], ["{api}", "{api}/context"]),
        (["{api}"], ["{api}/context"]),
        (["{api}/context"], ["{api}"]),
        (["{api}", "{api}/context"], []),
    ],
)
@pytest.mark.parametrize(
    "url, api",
    [
        (
            "https://mastodon.social/@halcy/110446983926957470?x=1",
            "https://mastodon.social/api/v1/statuses/110446983926957470",
        ),
        ("http://127.0.0.1:8123/users/mira/statuses/5", "http://127.0.0.1:8123/api/v1/statuses/5"),
    ],
)
def test_plan(url: str, api: str, captured: list[str], expected: list[str]) -> None:
    capture = Capture(api, 200, (), b"{}", "2026-04-11T23:14:24Z")
    captures = {each.format(api=api): capture for each in captured}
    assert mastodon.plan(url, captures) == [each.format(api=api) for each in expected]


def test_real_self_thread_around_the_requested_status() -> None:
    captures = load_cassette(SELF_THREAD, SELF_THREAD_STATUS)
    thread = mastodon.parse("https://mastodon.social/@halcy/110446983926957470", captures)

    def post(status_id: str, text: str, position: int, created_at: str, reply_to: str | None, capture: str) -> Post:
        return Post(
            id=HALCY_STATUSES + status_id,
            author=HALCY,
            text=text,
            position=position,
            created_at=created_at,
            url=f"https://mastodon.social/@halcy/{status_id}",
            reply_to_id=reply_to and HALCY_STATUSES + reply_to,
            lang="de",
            reply_count=0,
            repost_count=0,
            like_count=0,
            capture_id=capture,
        )

    assert thread == Thread(
        id=HALCY_STATUSES + "110446983178245440",
        platform="mastodon",
        url="https://mastodon.social/@halcy/110446983178245440",
        source="mastodon",
        author=HALCY,
        posts=(
            post("110446983178245440", "first status", 1, "2023-05-28T15:20:18Z", None, SELF_THREAD + "#0"),
            post(
                "110446983926957470",
                "second status",
                2,
                "2023-05-28T15:20:30Z",
                "110446983178245440",
                SELF_THREAD_STATUS + "#0",
            ),
            post(
                "110446984249325790",
                "final status",
                3,
                "2023-05-28T15:20:35Z",
                "110446983926957470",
                SELF_THREAD + "#0",
            ),
        ),
        other_replies=0,
    )


def test_real_chain_keeps_the_author_and_counts_the_foreign_reply() -> None:
    thread = mastodon.parse("https://mastodon.social/@halcy/110447001287656894", real_chain("110447001287656894"))
    assert summary(thread) == [
        (1, HALCY_STATUSES + "110447001287656894", None, "video post"),
        (2, HALCY_STATUSES + "110447003454258227", HALCY_STATUSES + "110447001287656894", "image post"),
    ]
    assert [post.media for post in thread.posts] == [
        (
            Media(
                "https://files.mastodon.social/media_attachments/files/110/446/998/744/903/560/original/de8b837b9615a35c.mp4",
                "video",
                "bae hololive gangnam style",
            ),
        ),
        (
            Media(
                "https://files.mastodon.social/media_attachments/files/110/447/002/079/181/641/original/97232afa341c291e.jpg",
                "image",
                "furry cube",
            ),
        ),
    ]
    assert (thread.other_replies, thread.branches) == (1, ())


def test_real_chain_with_replies_keeps_the_foreign_reply_without_a_position() -> None:
    thread = mastodon.parse(
        "https://mastodon.social/@halcy/110447003454258227", real_chain("110447003454258227"), with_replies=True
    )
    assert [post.position for post in thread.posts] == [1, 2, None]
    assert thread.other_replies == 0
    assert thread.posts[2] == Post(
        id="mastodon:https://icosahedron.website/users/halcy/statuses/110447012380248325",
        author=REMOTE_HALCY,
        text="@halcy@mastodon.social audio post, but remote",
        position=None,
        created_at="2023-05-28T15:27:44Z",
        url="https://icosahedron.website/@halcy/110447012380248325",
        reply_to_id=HALCY_STATUSES + "110447003454258227",
        lang="de",
        mentions=("halcy@mastodon.social",),
        media=(
            Media(
                "https://icosahedron.website/system/media_attachments/files/110/447/009/175/249/326/original/8e2be16453b30958.mp3",
                "audio",
                None,
            ),
        ),
        reply_count=0,
        repost_count=0,
        like_count=0,
        capture_id="built-context",
    )


def test_real_reply_by_someone_else_is_their_own_thread() -> None:
    thread = mastodon.parse(
        "https://mastodon.social/@halcy@icosahedron.website/110447012773105565", real_chain("110447012773105565")
    )
    assert thread.author == REMOTE_HALCY
    assert summary(thread) == [
        (
            1,
            "mastodon:https://icosahedron.website/users/halcy/statuses/110447012380248325",
            HALCY_STATUSES + "110447003454258227",
            "@halcy@mastodon.social audio post, but remote",
        )
    ]
    assert thread.other_replies == 0


def test_real_remote_status_with_hashtag_mention_emoji_and_gif() -> None:
    captures = single("110446223051565765", HASHTAG_MEDIA)
    thread = mastodon.parse("https://mastodon.social/@halcy@icosahedron.website/110446223051565765", captures)
    assert thread.url == "https://icosahedron.website/@halcy/110446222386355655"
    assert thread.posts == (
        Post(
            id="mastodon:https://icosahedron.website/users/halcy/statuses/110446222386355655",
            author=REMOTE_HALCY,
            text="@halcy you're a doo-doo head\n\nedit: editing this to have the maximum amount of fields filled :trans_heart: #ThisIsAHashtag",
            position=1,
            created_at="2023-05-28T12:06:50Z",
            url="https://icosahedron.website/@halcy/110446222386355655",
            lang="de",
            hashtags=("ThisIsAHashtag",),
            mentions=("halcy@icosahedron.website",),
            media=(
                Media(
                    "https://icosahedron.website/system/media_attachments/files/110/446/231/362/377/421/original/7011ca5f75a12487.mp4",
                    "gif",
                    "a furry cube breakdancing",
                ),
            ),
            spoiler_text="test post for mastodon.py stuff",
            edited_at="2023-05-28T12:09:44Z",
            reply_count=0,
            repost_count=0,
            like_count=1,
            capture_id=HASHTAG_MEDIA + "#0",
        ),
    )


def test_real_shortened_link_keeps_its_full_target_and_visible_text() -> None:
    captures = single("110447098625216345", LINK_CARD)
    (post,) = mastodon.parse("https://mastodon.social/@halcy/110447098625216345", captures).posts
    assert post.text == "soundcloud.com/wakarangirl/pop link to soundcloud that should generate a card"
    assert post.links == (
        Link(
            "https://soundcloud.com/wakarangirl/popstars-dj-wakaran-girl-khard-bass-flex-1",
            "soundcloud.com/wakarangirl/pop",
        ),
    )


MISSKEY_TAG = {"name": "foo", "url": "https://mastodon.social/tags/foo"}
MISSKEY_BOB = {"id": "2", "username": "bob", "url": "https://misskey.example/@bob", "acct": "bob@misskey.example"}


@pytest.mark.parametrize(
    "changes, text, hashtags, links",
    [
        ({"content": "<p>one<br />two</p><p>three</p>"}, "one\ntwo\n\nthree", (), ()),
        ({"content": "<p>&lt;b&gt; &amp; co</p>"}, "<b> & co", (), ()),
        ({"content": "plain<br/>lines, no paragraphs"}, "plain\nlines, no paragraphs", (), ()),
        ({"content": ""}, "", (), ()),
        ({"content": "<p>tagged elsewhere</p>", "tags": [MISSKEY_TAG]}, "tagged elsewhere", ("foo",), ()),
        (
            {
                "content": '<p><a href="https://misskey.example/tags/Foo" rel="nofollow noopener" target="_blank">#Foo</a> and '
                '<a href="https://misskey.example/@bob" rel="nofollow noopener" target="_blank">@bob</a> '
                '<a href="https://example.org/" rel="nofollow noopener" target="_blank">#1 site</a></p>',
                "tags": [MISSKEY_TAG],
                "mentions": [MISSKEY_BOB],
            },
            "#Foo and @bob #1 site",
            ("Foo",),
            (Link("https://example.org/", "#1 site"),),
        ),
    ],
)
def test_content(changes: dict[str, Any], text: str, hashtags: tuple[str, ...], links: tuple[Link, ...]) -> None:
    """A real status with its content (and tags, mentions) replaced."""
    captures = load_cassette(HASHTAG_MEDIA)
    status = status_json(captures, "110446183735368325") | changes
    url = API + "110446183735368325"
    captures[url] = Capture(url, 200, (), json.dumps(status).encode(), "2026-04-11T23:14:13Z")
    (post,) = mastodon.parse(url, captures | context_capture("110446183735368325", [], [])).posts
    assert (post.text, post.hashtags, post.links) == (text, hashtags, links)


def test_unreadable_times_are_unknown() -> None:
    captures = load_cassette(HASHTAG_MEDIA)
    status = status_json(captures, "110446183735368325") | {
        "created_at": "yesterday",
        "edited_at": "2023-13-01T00:00:00Z",
    }
    url = API + "110446183735368325"
    captures[url] = Capture(url, 200, (), json.dumps(status).encode(), "2026-04-11T23:14:13Z")
    (post,) = mastodon.parse(url, captures | context_capture("110446183735368325", [], [])).posts
    assert (post.created_at, post.edited_at) == (None, None)


def test_nesting_too_deep_for_json_is_not_a_thread() -> None:
    captures = load_cassette(SELF_THREAD_STATUS)
    url = API + "110446983926957470/context"
    captures[url] = Capture(url, 200, (), b'{"ancestors": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "2026-04-11T23:14:24Z")
    with pytest.raises(NotAThread, match=r"/context answered with JSON nested too deeply to read$"):
        mastodon.parse(API + "110446983926957470", captures)


def one_status(**change: Any) -> dict[str, Capture]:
    """The real status 110446183735368325 with some values changed, and an empty context."""
    status = status_json(load_cassette(HASHTAG_MEDIA), "110446183735368325") | change
    url = API + "110446183735368325"
    return {url: Capture(url, 200, (), json.dumps(status).encode(), "2026-04-11T23:14:13Z")} | context_capture(
        "110446183735368325", [], []
    )


@pytest.mark.parametrize(
    "change, error",
    [
        ({"tags": [True]}, "TypeError: 'bool' object is not subscriptable"),
        ({"mentions": {"acct": "x"}}, "AttributeError: 'str' object has no attribute 'get'"),
        ({"in_reply_to_id": ["110446183735368325"]},
         "an id or in_reply_to_id that is not an instance's status id"),
        ({"in_reply_to_id": "1104461837 and more"}, "an id or in_reply_to_id that is not an instance's status id"),
        ({"id": "../110446183735368325"}, "an id or in_reply_to_id that is not an instance's status id"),
    ],
)
def test_values_of_the_wrong_type_inside_a_status_are_not_a_thread(change: dict[str, Any], error: str) -> None:
    with pytest.raises(NotAThread) as raised:
        mastodon.parse(API + "110446183735368325", one_status(**change))
    assert raised.value.reason == f"malformed status JSON ({error})"


@pytest.mark.parametrize("uri", ["", "110446183735368325", "https://mastodon.social/users/halcy/statuses/1 and more"])
def test_a_status_uri_that_is_not_a_url_is_not_a_thread(uri: str) -> None:
    """The uri is the post's id: it must be one."""
    with pytest.raises(NotAThread) as raised:
        mastodon.parse(API + "110446183735368325", one_status(uri=uri))
    assert raised.value.reason == "malformed status JSON (a uri or account url that is not an http(s) URL)"


def test_counts_and_texts_of_the_wrong_type_are_unknown() -> None:
    account = status_json(load_cassette(HASHTAG_MEDIA), "110446183735368325")["account"] | {"display_name": {}}
    captures = one_status(
        replies_count=1 << 64, reblogs_count=True, favourites_count="3", language={"en": True}, spoiler_text=["cw"],
        url=7, account=account,
    )
    (post,) = mastodon.parse(API + "110446183735368325", captures).posts
    assert (post.reply_count, post.repost_count, post.like_count, post.lang, post.spoiler_text) == (None,) * 5
    assert (post.url, post.author and post.author.display_name) == (
        "https://mastodon.social/users/halcy/statuses/110446183735368325", None)


def test_invalid_utf8_is_read_as_replacement_characters() -> None:
    """json.loads of the bytes would keep an encoded surrogate, which SQLite cannot store."""
    captures = one_status(content="<p>cut CUT here</p>")
    url = API + "110446183735368325"
    body = captures[url].body.replace(b"CUT", b"\xed\xb3\xad")
    captures[url] = Capture(url, 200, (), body, "2026-04-11T23:14:13Z")
    (post,) = mastodon.parse(url, captures).posts
    assert post.text == "cut \ufffd\ufffd\ufffd here"


def test_a_reply_listed_twice_is_one_post() -> None:
    captures = load_cassette("mastodon-cassette-long-thread-constructed.yaml")
    url = "https://social.example/api/v1/statuses/112025282813496319/context"
    context = json.loads(captures[url].body)
    context["descendants"].append(context["descendants"][-1])
    captures[url] = Capture(url, 200, (), json.dumps(context).encode(), "2026-04-11T23:14:24Z")
    thread = mastodon.parse("https://social.example/@mira/112025282813496319", captures, with_replies=True)
    assert len(thread.posts) == 6 and len({post.id for post in thread.posts}) == 6


def test_reply_cycle_in_corrupt_data_ends() -> None:
    """Real data cannot have one; a corrupt capture must not hang the job."""
    captures = load_cassette(SELF_THREAD, SELF_THREAD_STATUS)
    context = json.loads(captures[API + "110446983926957470/context"].body)
    context["ancestors"][0]["in_reply_to_id"] = "110446984249325790"  # "first" now replies to "final"
    captures |= context_capture("110446983926957470", context["ancestors"], context["descendants"])
    thread = mastodon.parse("https://mastodon.social/@halcy/110446983926957470", captures)
    assert [post.text for post in thread.posts] == ["final status", "first status", "second status"]


MIRA = "mastodon:https://social.example/users/mira/statuses/"
LONG = ["112025273054269555", "112025276443198317", "112025282813496319", "112025288412431626", "112025297883629565"]


def test_long_thread_from_its_middle() -> None:
    captures = load_cassette("mastodon-cassette-long-thread-constructed.yaml")
    thread = mastodon.parse("https://social.example/@mira/112025282813496319", captures)
    assert [(post.position, post.id, post.reply_to_id) for post in thread.posts] == [
        (position, MIRA + status_id, MIRA + LONG[position - 2] if position > 1 else None)
        for position, status_id in enumerate(LONG, 1)
    ]
    assert thread.id == MIRA + LONG[0]
    assert thread.author == Author(
        "mastodon:https://social.example/@mira",
        "mastodon",
        "mira@social.example",
        "Mira Okafor",
        "https://social.example/@mira",
    )
    assert thread.other_replies == 1
    first, image_only, middle = thread.posts[:3]
    assert (first.hashtags, first.mentions, first.links) == (
        ("WebArchiving",),
        ("archivist@social.example",),
        (
            Link(
                "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "iipc.github.io/warc-specificati",
            ),
        ),
    )
    assert (
        middle.text
        == "First rule: keep the bytes you fetched.\nNot a cleaned copy.\nThe bytes.\n\nEverything else can be derived again later."
    )
    assert (image_only.text, image_only.lang, image_only.media) == (
        "",
        None,
        (
            Media(
                "https://social.example/system/media_attachments/files/112/025/275/465/793/548/original/8c0f2b5e1d4a7c39.jpg",
                "image",
                "A shelf of tape cartridges, each labelled with a date",
            ),
        ),
    )


def test_long_thread_with_replies() -> None:
    captures = load_cassette("mastodon-cassette-long-thread-constructed.yaml")
    thread = mastodon.parse("https://social.example/@mira/112025282813496319", captures, with_replies=True)
    reply = thread.posts[-1]
    assert len(thread.posts) == 6
    assert (reply.position, reply.id, reply.reply_to_id, reply.text, reply.mentions) == (
        None,
        "mastodon:https://elsewhere.example/users/reader/statuses/112024117563360012",
        MIRA + LONG[3],
        "@mira and keep the request too",
        ("mira@social.example",),
    )


def test_japanese_thread_with_emoji_before_hashtags() -> None:
    captures = load_cassette("mastodon-cassette-japanese-thread-constructed.yaml")
    thread = mastodon.parse("https://social.example/@haruka/111677760766741733", captures)
    assert thread.author is not None and thread.author.display_name == "春香"
    assert [(post.position, post.text, post.hashtags, post.lang) for post in thread.posts] == [
        (1, "あけましておめでとうございます。今年は毎朝、川沿いを歩いて写真を撮ります。", (), "ja"),
        (2, "一枚目は初日の出。寒かったけれど、空がとても澄んでいました🌅#初日の出", ("初日の出",), "ja"),
        (3, "続きはまた明日🎉#PhotoWalk", ("PhotoWalk",), "ja"),
    ]


def test_branching_author_follows_the_earliest_reply() -> None:
    """The two first replies were posted on the day ids grew from 17 to 18 digits: the
    earlier one has the shorter id, though it sorts last as a plain string."""
    tomas = "mastodon:https://social.example/users/tomas/statuses/"
    captures = load_cassette("mastodon-cassette-branching-constructed.yaml")
    thread = mastodon.parse("https://social.example/@tomas/99998584012800012", captures)
    assert [(post.position, post.id) for post in thread.posts] == [
        (1, tomas + "99998584012800012"),
        (2, tomas + "99999861964800040"),
        (3, tomas + "100000491110400091"),
    ]
    assert thread.branches == (tomas + "100000196198400007",)
    assert thread.other_replies == 0


def test_gap_where_the_first_post_was_deleted() -> None:
    captures = load_cassette("mastodon-cassette-gap-constructed.yaml")
    thread = mastodon.parse("https://social.example/@mira/111914164676657554", captures)
    gap = "mastodon:https://social.example/api/v1/statuses/111914149478400077"
    assert thread.posts[0] == Post(
        id=gap,
        author=thread.author,
        text=None,
        position=1,
        url="https://social.example/@mira/111914149478400077",
        missing=True,
    )
    assert summary(thread)[1:] == [
        (2, MIRA + "111914158223525373", gap, "(2) The catalogue is the archive's memory."),
        (3, MIRA + "111914164676657554", MIRA + "111914158223525373", "(3) Lose it and you have a pile of files."),
    ]
    assert (thread.id, thread.url) == (gap, "https://social.example/@mira/111914149478400077")


ERRORS = {
    "112000000000000001": "status not found or not public (HTTP 404)",
    "112000000000000002": "status not found or not public (HTTP 401)",
    "112000000000000003": "https://social.example/api/v1/statuses/112000000000000003 answered HTTP 200 with a body that is not JSON",
    "112000000000000004": "https://social.example/api/v1/statuses/112000000000000004 answered with an error: Service temporarily unavailable",
    "112000000000000005": "https://social.example/api/v1/statuses/112000000000000005 answered HTTP 200 with a body that is not JSON",
    "112000000000000006": "malformed status JSON (needs id, uri, content, and account with id, acct, url)",
    "112000000000000007": "HTTP 502 from https://social.example/api/v1/statuses/112000000000000007",
}


@pytest.mark.parametrize("status_id, reason", ERRORS.items())
def test_unreadable_statuses(status_id: str, reason: str) -> None:
    captures = load_cassette("mastodon-cassette-errors-constructed.yaml")
    url = f"https://social.example/@mira/{status_id}"
    with pytest.raises(NotAThread) as raised:
        mastodon.parse(url, captures)
    assert (raised.value.url, raised.value.reason) == (url, reason)


def test_every_error_fixture_is_tested() -> None:
    recorded = load_cassette("mastodon-cassette-errors-constructed.yaml")
    assert {url.rsplit("/", 1)[1] for url in recorded} == set(ERRORS)


def test_missing_context_capture() -> None:
    captures = load_cassette(SELF_THREAD_STATUS)
    with pytest.raises(
        NotAThread, match=r"https://mastodon.social/api/v1/statuses/110446983926957470/context was not captured$"
    ):
        mastodon.parse("https://mastodon.social/@halcy/110446983926957470", captures)


def test_malformed_context() -> None:
    captures = load_cassette(SELF_THREAD_STATUS)
    url = API + "110446983926957470/context"
    captures[url] = Capture(url, 200, (), b'{"ancestors": []}', "2026-04-11T23:14:24Z")
    with pytest.raises(NotAThread, match=r"is not a Mastodon context \(ancestors, descendants\)$"):
        mastodon.parse("https://mastodon.social/@halcy/110446983926957470", captures)


CAPPED = "mastodon-cassette-capped-thread-constructed.yaml"
SOCIAL = "https://social.example/api/v1/statuses/"


def capped_ids() -> list[str]:
    """The local ids of the 45 statuses of mira's thread in the capped cassette, oldest first."""
    contexts = [json.loads(capture.body) for capture in load_cassette(CAPPED).values() if capture.url.endswith("/context")]
    listed = (status for context in contexts for status in context["ancestors"] + context["descendants"])
    return sorted({status["id"] for status in listed if status["account"]["acct"] == "mira"}, key=int)


CAPPED_IDS = capped_ids()


def fetched(url: str, recorded: dict[str, Capture]) -> tuple[list[list[str]], dict[str, Capture]]:
    """What a fetch job asks for, round by round, answered from ``recorded``; and the captures it ends with."""
    rounds: list[list[str]] = []
    captures: dict[str, Capture] = {}
    while (todo := mastodon.plan(url, captures)) and len(rounds) < 10:
        rounds.append(todo)
        captures |= {each: recorded[each] for each in todo}
    return rounds, captures


def capped(position: int, context: bool = True) -> str:
    return f"{SOCIAL}{CAPPED_IDS[position - 1]}" + ("/context" if context else "")


@pytest.mark.parametrize(
    "start, rounds, answers, other_replies",
    [
        (  # the depth cap: each context goes 20 levels below its status
            1,
            [[capped(1, context=False), capped(1)], [capped(21)], [capped(41)]],
            [0] + [1] * 20 + [2] * 20 + [3] * 4,
            2,
        ),
        (  # the ancestor cap: the context of post 45 begins at post 5
            45,
            [[capped(45, context=False), capped(45)], [capped(5)]],
            [6] * 4 + [5] * 40 + [4],
            1,
        ),
    ],
)
def test_a_thread_beyond_the_context_caps_is_read_from_more_contexts(
    start: int, rounds: list[list[str]], answers: list[int], other_replies: int
) -> None:
    url = f"https://social.example/@mira/{CAPPED_IDS[start - 1]}"
    asked, captures = fetched(url, load_cassette(CAPPED))
    assert asked == rounds
    thread = mastodon.parse(url, captures)
    assert [(post.position, post.id, post.reply_to_id, post.capture_id) for post in thread.posts] == [
        (position, MIRA + status_id, MIRA + CAPPED_IDS[position - 2] if position > 1 else None, f"{CAPPED}#{answer}")
        for position, (status_id, answer) in enumerate(zip(CAPPED_IDS, answers), 1)
    ]
    assert thread.posts[-1].text == "45/45 All tapes read back. Two needed a second pass, none lost a byte. Until next quarter."
    assert (thread.id, thread.other_replies, thread.branches) == (MIRA + CAPPED_IDS[0], other_replies, ())


def test_a_reply_in_two_contexts_is_kept_once() -> None:
    """With every answer captured, the contexts of posts 1 and 5 both list reader's reply to post 10."""
    thread = mastodon.parse(f"https://social.example/@mira/{CAPPED_IDS[0]}", load_cassette(CAPPED), with_replies=True)
    replies = [(post.reply_to_id, post.text) for post in thread.posts if post.position is None]
    assert replies == [
        (MIRA + CAPPED_IDS[9], "@mira which checksum do you use?"),
        (MIRA + CAPPED_IDS[29], "@mira we found the same with our LTO-5 tapes"),
    ]
    assert [post.position for post in thread.posts[:45]] == list(range(1, 46))


def answer(url: str, body: Any, status: int = 200) -> dict[str, Capture]:
    return {url: Capture(url, status, (), json.dumps(body).encode(), "2026-04-11T23:31:00Z", "test-answer")}


def capped_context(position: int) -> dict[str, Any]:
    return json.loads(load_cassette(CAPPED)[capped(position)].body)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "context_of_21",
    [
        pytest.param(lambda: capped_context(1), id="the same answer as for post 1"),
        pytest.param(lambda: {"ancestors": capped_context(21)["ancestors"], "descendants": []}, id="no descendants"),
    ],
)
def test_a_context_that_adds_nothing_ends_the_plan(context_of_21: Any) -> None:
    """Post 21 still counts a reply that its own context does not list: it is the last post known."""
    url = f"https://social.example/@mira/{CAPPED_IDS[0]}"
    recorded = load_cassette(CAPPED) | answer(capped(21), context_of_21())
    asked, captures = fetched(url, recorded)
    assert asked == [[capped(1, context=False), capped(1)], [capped(21)]]
    thread = mastodon.parse(url, captures)
    assert [post.id for post in thread.posts] == [MIRA + status_id for status_id in CAPPED_IDS[:21]]
    assert thread.posts[-1].reply_count == 1


def test_an_unreadable_context_of_an_end_is_not_a_thread() -> None:
    url = f"https://social.example/@mira/{CAPPED_IDS[0]}"
    recorded = load_cassette(CAPPED) | answer(capped(21), {"error": "Record not found"}, status=404)
    asked, captures = fetched(url, recorded)
    assert asked == [[capped(1, context=False), capped(1)], [capped(21)]]
    with pytest.raises(NotAThread) as raised:
        mastodon.parse(url, captures)
    assert raised.value.reason == f"HTTP 404 from {capped(21)}"


def test_a_parent_missing_from_its_own_context_is_a_gap() -> None:
    """The first post read is asked for its own context; the deleted parent is not in it either."""
    url = "https://social.example/@mira/111914164676657554"
    recorded = load_cassette("mastodon-cassette-gap-constructed.yaml")
    asked, captures = fetched(url, recorded)
    assert asked == [[SOCIAL + "111914164676657554", SOCIAL + "111914164676657554/context"],
                     [SOCIAL + "111914158223525373/context"]]
    thread = mastodon.parse(url, captures)
    gap = "mastodon:https://social.example/api/v1/statuses/111914149478400077"
    assert [(post.position, post.id, post.reply_to_id, post.missing) for post in thread.posts] == [
        (1, gap, None, True),
        (2, MIRA + "111914158223525373", gap, False),
        (3, MIRA + "111914164676657554", MIRA + "111914158223525373", False),
    ]


def test_a_reply_cycle_plans_nothing_more() -> None:
    captures = load_cassette(SELF_THREAD, SELF_THREAD_STATUS)
    context = json.loads(captures[API + "110446983926957470/context"].body)
    context["ancestors"][0]["in_reply_to_id"] = "110446984249325790"  # "first" now replies to "final"
    context["ancestors"][0]["in_reply_to_account_id"] = context["ancestors"][0]["account"]["id"]
    captures |= context_capture("110446983926957470", context["ancestors"], context["descendants"])
    assert mastodon.plan("https://mastodon.social/@halcy/110446983926957470", captures) == []
