import pytest

from threadvault.model import Link, Media
from threadvault.sources.tweets import (
    api_time,
    best_video,
    classic_time,
    edit_times,
    is_own_media,
    link,
    shown_text,
    status_url,
    twitter_author,
    v1_post,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Wed Mar 22 07:41:49 +0000 2017", "2017-03-22T07:41:49Z"),
        ("Sat Jan 01 00:30:00 +0100 2022", "2021-12-31T23:30:00Z"),
        ("Tue Apr 5 18:01:00 +0000 2022", "2022-04-05T18:01:00Z"),
    ],
)
def test_classic_time(value, expected):
    assert classic_time(value) == expected


def test_api_time():
    assert api_time("2021-04-08T19:33:14.000Z") == "2021-04-08T19:33:14Z"


@pytest.mark.parametrize(
    "variants, expected",
    [
        (  # v1.1 archive: strings, in no order, with an HLS playlist
            [
                {"bitrate": "832000", "content_type": "video/mp4", "url": "https://v/640.mp4"},
                {"content_type": "application/x-mpegURL", "url": "https://v/pl.m3u8"},
                {"bitrate": "2176000", "content_type": "video/mp4", "url": "https://v/1280.mp4"},
                {"bitrate": "256000", "content_type": "video/mp4", "url": "https://v/480.mp4"},
            ],
            "https://v/1280.mp4",
        ),
        ([{"bit_rate": 0, "content_type": "video/mp4", "url": "https://v/gif.mp4"}], "https://v/gif.mp4"),  # v2 GIF
        ([{"content_type": "application/x-mpegURL", "url": "https://v/pl.m3u8"}], None),
        ([], None),
    ],
)
def test_best_video(variants, expected):
    assert best_video(variants) == expected


def test_shown_text_unescapes_shows_links_and_hides_media():
    links = [
        Link(
            url="https://example.org/a/long/path",
            display_text="example.org/a/long/p\u2026",
            short_url="https://t.co/AAAAAAAAAA",
        )
    ]
    raw = "Fish &amp; chips &lt;3 https://t.co/AAAAAAAAAA https://t.co/BBBBBBBBBB"
    assert shown_text(raw, links, ["https://t.co/BBBBBBBBBB"]) == "Fish & chips <3 example.org/a/long/p\u2026"


@pytest.mark.parametrize(
    "entity, expected",
    [
        ({"url": "https://t.co/x", "media_key": "3_1"}, True),
        ({"url": "https://t.co/x", "expanded_url": "https://twitter.com/a/status/7/photo/1"}, True),
        ({"url": "https://t.co/x", "expanded_url": "https://twitter.com/a/status/7/video/1"}, True),
        ({"url": "https://t.co/x", "expanded_url": "https://twitter.com/b/status/8/photo/1"}, False),  # another tweet's
        ({"url": "https://t.co/x", "expanded_url": "https://twitter.com/b/status/8"}, False),  # a quoted tweet
    ],
)
def test_is_own_media(entity, expected):
    assert is_own_media(entity, "7") is expected


@pytest.mark.parametrize(
    "entity, expected",
    [
        (
            {
                "url": "https://t.co/x",
                "expanded_url": "https://bit.ly/y",
                "unwound_url": "https://example.org/y",
                "display_url": "bit.ly/y",
            },
            Link(url="https://example.org/y", display_text="bit.ly/y", short_url="https://t.co/x"),
        ),
        (
            {"url": "https://t.co/x", "expanded_url": "https://example.org/y", "display_url": "example.org/y"},
            Link(url="https://example.org/y", display_text="example.org/y", short_url="https://t.co/x"),
        ),
        ({"url": "https://t.co/x"}, Link(url=None, short_url="https://t.co/x")),  # never the t.co as the target
    ],
)
def test_link(entity, expected):
    assert link(entity) == expected


@pytest.mark.parametrize(
    "history, expected",
    [
        ((), ("2022-10-03T17:57:11Z", None)),
        (("1576994789110992896",), ("2022-10-03T17:57:11Z", None)),
        (("1576994746135764992", "1576994789110992896"), ("2022-10-03T17:57:01Z", "2022-10-03T17:57:11Z")),
    ],
)
def test_edit_times(history, expected):
    assert edit_times("1576994789110992896", "2022-10-03T17:57:11Z", history) == expected


def test_status_url():
    assert status_url("1", twitter_author("Ana")) == "https://twitter.com/Ana/status/1"
    assert status_url("1", None) == "https://twitter.com/i/web/status/1"


def test_v1_post_reads_an_edited_archive_tweet_and_its_video():
    post = v1_post(
        {
            "edit_info": {
                "edit": {
                    "initialTweetId": "1576994746135764992",
                    "editControlInitial": {"editTweetIds": ["1576994746135764992", "1576994789110992896"]},
                }
            },
            "id_str": "1576994789110992896",
            "created_at": "Mon Oct 03 17:57:11 +0000 2022",
            "full_text": "a clip https://t.co/V1de0L1nkB",
            "favorite_count": "27",
            "retweet_count": "2",
            "entities": {"hashtags": [], "urls": [], "user_mentions": []},
            "extended_entities": {
                "media": [
                    {
                        "url": "https://t.co/V1de0L1nkB",
                        "type": "animated_gif",
                        "media_url_https": "https://pbs.twimg.com/tweet_video_thumb/X.jpg",
                        "video_info": {
                            "variants": [
                                {
                                    "bitrate": "0",
                                    "content_type": "video/mp4",
                                    "url": "https://video.twimg.com/tweet_video/X.mp4",
                                }
                            ]
                        },
                    }
                ]
            },
        },
        twitter_author("wongmjane"),
    )
    assert (post.text, post.created_at, post.edited_at, post.like_count, post.repost_count, post.media) == (
        "a clip",
        "2022-10-03T17:57:01Z",
        "2022-10-03T17:57:11Z",
        27,
        2,
        (Media(url="https://video.twimg.com/tweet_video/X.mp4", kind="gif"),),
    )
