"""Tweets as Twitter's APIs and account archives spell them, turned into Posts.

Shared by the twarc importer (API v2 and v1.1 lines) and the account-archive
importer, whose tweets have the v1.1 shape with every number written as a
string.  Text is kept as people saw it: HTML entities unescaped (the APIs
send ``&amp;``), each t.co link replaced by its display form (the Link keeps
the full target and the t.co address), and the t.co link of the tweet's own
attached media dropped, as Twitter hides it.  Quoted-tweet links stay: they
are the only record of what was quoted.

``report`` is how every file importer hands over a bad record.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from threadvault.errors import ImportLineError
from threadvault.model import Author, Link, Media, Post, global_id, iso_utc, snowflake_time, twitter_author

Tweet = Mapping[str, Any]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MEDIA_KINDS = {"photo": "image", "video": "video", "animated_gif": "gif"}
OWN_MEDIA = re.compile(r"/status/(\d+)/(?:photo|video)/\d+$")
TWEET_ID = re.compile(r"[0-9]{1,20}")
# What converting a record of the wrong shape raises: reported per record, never past it.
BAD_RECORD = (KeyError, TypeError, ValueError, AttributeError, IndexError)




def status_url(tweet_id: str, author: Author | None) -> str:
    """The tweet's page; ``/i/web/status/<id>`` works when the handle is unknown."""
    return f"https://twitter.com/{author.handle if author else 'i/web'}/status/{tweet_id}"


def api_time(value: str) -> str:
    """``2021-04-08T19:33:14.000Z`` (API v2) as ``2021-04-08T19:33:14Z``."""
    return iso_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def classic_time(value: str) -> str:
    """``Wed Mar 22 07:41:49 +0000 2017`` (API v1.1, archives), read without the locale."""
    _, month, day, clock, offset, year = value.split()
    stamp = f"{year}-{MONTHS.index(month) + 1:02d}-{int(day):02d}T{clock}{offset[:3]}:{offset[3:]}"
    return iso_utc(datetime.fromisoformat(stamp))


def edit_times(tweet_id: str, created_at: str | None, history: Sequence[str]) -> tuple[str | None, str | None]:
    """(created, edited): a later version of an edited tweet was created when the first version was."""
    if len(history) > 1 and tweet_id != history[0]:
        return snowflake_time(history[0]) or created_at, created_at
    return created_at, None


def string(value: Any) -> str | None:
    """A text field, or None where the record holds something else."""
    return value if isinstance(value, str) else None


def checked_id(value: Any) -> str:
    """A tweet id, ASCII digits in a string in every tweet format; anything else makes the record unusable."""
    if not (isinstance(value, str) and TWEET_ID.fullmatch(value)):
        raise ValueError(f"{str(value)[:40]!r} is not a tweet id")
    return value


def user_id(value: Any) -> str:
    """A user id, which every tweet format writes as a string; anything else makes the record unusable."""
    if not isinstance(value, str):
        raise TypeError(f"a user id that is a JSON {type(value).__name__}")
    return value


def count(value: Any) -> int | None:
    """A metric that the API writes as a number and archives as a string."""
    if value is None:
        return None
    number = int(value)
    if not 0 <= number < 1 << 63:  # what SQLite can hold
        raise ValueError(f"count {value} out of range")
    return number


def best_video(variants: Iterable[Mapping[str, Any]]) -> str | None:
    """The highest-bitrate MP4 of a video's variants (``bit_rate`` in v2, ``bitrate`` in v1.1)."""
    mp4s = [variant for variant in variants if variant.get("content_type") == "video/mp4"]
    best = max(mp4s, key=lambda variant: int(variant.get("bit_rate") or variant.get("bitrate") or 0), default=None)
    return string(best["url"]) if best else None


def is_own_media(entity: Mapping[str, Any], tweet_id: str) -> bool:
    """Whether a url entity is the t.co link of the tweet's own attached media."""
    if "media_key" in entity:
        return True
    own = OWN_MEDIA.search(entity.get("expanded_url") or "")
    return own is not None and own.group(1) == tweet_id


def link(entity: Mapping[str, Any]) -> Link:
    """A url entity: the unwound (v2) or expanded target, never the t.co address, as the target."""
    target = string(entity.get("unwound_url")) or string(entity.get("expanded_url"))
    return Link(url=target, display_text=string(entity.get("display_url")) or None, short_url=string(entity.get("url")))


def shown_text(raw: str, links: Iterable[Link], hidden: Iterable[str]) -> str:
    """The text as Twitter showed it: entities unescaped, t.co links as their display form, media links gone."""
    text = html.unescape(raw)
    for short in hidden:
        text = text.replace(short, "")
    for shown in links:
        if shown.short_url and shown.display_text:
            text = text.replace(shown.short_url, shown.display_text)
    return text.strip()


def retweet_text(handle: str, text: str) -> str:
    return f"RT @{handle}: {text}"


def unique(values: Iterable[str], key: Callable[[str], str] = str.lower) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(key(value), value)
    return tuple(seen.values())


def v1_post(tweet: Tweet, author: Author | None = None) -> Post:
    """A v1.1 tweet (an API line, or an archive entry with ``author`` given, since those carry no user)."""
    tweet = {**tweet, **tweet.get("extended_tweet", {})}  # the streaming API's long tweets
    if author is None and "user" in tweet:
        author = twitter_author(tweet["user"]["screen_name"], string(tweet["user"].get("name")))
    content = tweet.get("retweeted_status") or tweet
    found = content.get("entities") or {}
    attached = (content.get("extended_entities") or found).get("media") or []
    links = [link(entity) for entity in found.get("urls") or []]
    text = shown_text(content.get("full_text") or content["text"], links, [media["url"] for media in attached])
    mentions = [mention["screen_name"] for mention in found.get("user_mentions") or []]
    if content is not tweet:
        text = retweet_text(content["user"]["screen_name"], text)
        mentions.insert(0, content["user"]["screen_name"])
    tweet_id = checked_id(tweet["id_str"])
    created_at, edited_at = edit_times(tweet_id, classic_time(tweet["created_at"]), _v1_edits(tweet))
    return Post(
        id=global_id("twitter", tweet_id),
        author=author,
        text=text,
        created_at=created_at,
        edited_at=edited_at,
        url=status_url(tweet_id, author),
        reply_to_id=_reply_to(tweet.get("in_reply_to_status_id_str")),
        lang=string(tweet.get("lang")),
        hashtags=unique((tag["text"] for tag in found.get("hashtags") or []), str.casefold),
        mentions=unique(mentions),
        links=tuple(links),
        media=tuple(_v1_media(attached)),
        reply_count=count(tweet.get("reply_count")),
        repost_count=count(tweet.get("retweet_count")),
        like_count=count(tweet.get("favorite_count")),
    )


def _reply_to(parent: str | None) -> str | None:
    return global_id("twitter", checked_id(parent)) if parent else None


def _v1_edits(tweet: Tweet) -> Sequence[str]:
    """The ids of every version of an edited tweet, from an archive's ``edit_info``."""
    info = tweet.get("edit_info") or {}
    versions = info.get("initial") or (info.get("edit") or {}).get("editControlInitial") or {}
    return versions.get("editTweetIds") or ()


def _v1_media(attached: Iterable[Mapping[str, Any]]) -> Iterator[Media]:
    for media in attached:
        variants = (media.get("video_info") or {}).get("variants") or ()
        url = best_video(variants) or string(media.get("media_url_https")) or string(media.get("media_url"))
        if url:
            kind = MEDIA_KINDS.get(media.get("type", ""), "image")
            yield Media(url=url, kind=kind, alt_text=string(media.get("ext_alt_text")) or None)


def problem(error: Exception) -> str:
    """A record's conversion error as the reason of an ImportLineError."""
    if isinstance(error, KeyError):
        return f"missing field {error}"
    return str(error) or type(error).__name__


def report(errors: list[ImportLineError] | None, error: ImportLineError) -> None:
    """Collect a bad record's error, or raise it when the caller gave no list (strict mode)."""
    if errors is None:
        raise error
    errors.append(error)
