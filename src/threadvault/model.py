"""The thread model every source produces and the store saves.

Ids are global and TEXT end to end: ``<platform>:<native id>``, where the
platform is where a post was written, not where it was read (a tweet read
through Thread Reader App or Nitter is ``twitter:<tweet id>``).  A thread's id
is the id of its first post.
"""

from __future__ import annotations

import email.message
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

TWITTER_EPOCH_MS = 1288834974657


def header_value(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of an HTTP header, its name compared without case."""
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


def global_id(platform: str, native_id: str) -> str:
    """``global_id("twitter", "1215710451343904768")`` -> ``"twitter:1215710451343904768"``."""
    return f"{platform}:{native_id}"


def iso_utc(moment: datetime) -> str:
    """A timezone-aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def snowflake_time(tweet_id: str) -> str | None:
    """The creation time encoded in a tweet id (ids after November 2010), else None."""
    if not tweet_id.isdigit() or int(tweet_id) < (1 << 32):
        return None
    millis = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    return iso_utc(datetime.fromtimestamp(millis / 1000, tz=timezone.utc))


@dataclass(frozen=True)
class Author:
    id: str
    platform: str
    handle: str
    display_name: str | None = None
    url: str | None = None


def twitter_author(handle: str, display_name: str | None = None) -> Author:
    """A Twitter/X account, keyed by its handle case-folded (every source that reads tweets agrees on this)."""
    return Author(
        id=global_id("twitter", handle.lower()),
        platform="twitter",
        handle=handle,
        display_name=display_name or None,
        url=f"https://twitter.com/{handle}",
    )


@dataclass(frozen=True)
class Link:
    """A link in a post.  ``url`` is the full target; None when only a cut display text is known."""

    url: str | None
    display_text: str | None = None
    short_url: str | None = None

    @property
    def truncated(self) -> bool:
        return self.url is None

    @property
    def domain(self) -> str | None:
        target = self.url or self.display_text or ""
        if "//" not in target:
            target = "//" + target
        host = urlsplit(target).hostname
        return host.removeprefix("www.") if host else None


@dataclass(frozen=True)
class Media:
    url: str
    kind: str  # image, video, gif, audio
    alt_text: str | None = None


@dataclass(frozen=True)
class Post:
    """One post.  Fields a source does not know stay None, so a richer capture can fill them later."""

    id: str
    author: Author | None
    text: str | None
    position: int | None = None  # 1-based place in the thread; None for replies by others
    created_at: str | None = None
    url: str | None = None
    reply_to_id: str | None = None
    lang: str | None = None
    hashtags: tuple[str, ...] = ()  # as written, without '#'
    mentions: tuple[str, ...] = ()  # handles without '@' (full acct on Mastodon)
    links: tuple[Link, ...] = ()
    media: tuple[Media, ...] = ()
    spoiler_text: str | None = None
    edited_at: str | None = None
    reply_count: int | None = None
    repost_count: int | None = None
    like_count: int | None = None
    missing: bool = False  # a gap: the post is known to exist (or have existed) but could not be read
    capture_id: str | None = None


@dataclass(frozen=True)
class Thread:
    id: str
    platform: str
    url: str
    source: str
    author: Author | None
    posts: tuple[Post, ...]
    discovered: tuple[str, ...] = ()  # other threads' URLs seen on the page; not fetched unless asked
    other_replies: int | None = None  # replies by other people that were not kept
    branches: tuple[str, ...] = ()  # ids of self-replies that left the main chain


@dataclass(frozen=True)
class Listing:
    """A page that lists threads (an author page) rather than being one."""

    url: str
    thread_urls: tuple[str, ...]


@dataclass(frozen=True)
class Capture:
    """One archived HTTP response as a parser sees it: the payload with content-encoding removed."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: str
    id: str | None = None

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        raw = self.header("content-type")
        if not raw:
            return None
        message = email.message.Message()
        message["content-type"] = raw
        return message.get_content_charset()

    def text(self) -> str:
        """The body decoded by its declared charset, UTF-8 when none is declared or it is unknown."""
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")
