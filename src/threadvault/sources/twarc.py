"""twarc files: Twitter API v2 JSONL, flattened or not, and v1.1 JSON lines (FORMATS.md section 5).

A line is one of:

- an API v2 response page (``data``, ``includes``, ``meta``, ``__twarc``), as ``twarc2 search`` writes;
- one v2 tweet with its ``author``, media and referenced tweets merged in, as ``twarc2 flatten`` writes;
- one v1.1 tweet (``id_str``, ``user``, ``full_text``), as twarc 1 wrote.

A page is flattened the way ``twarc2 flatten`` does, so both forms give the same
posts.  The posts are a line's result tweets (a page's ``data``) plus the parent
of a self-reply when the API included it, since it belongs to the thread; other
included tweets are context only.  A retweet is kept as its retweeter's post,
with the full text of the tweet it repeats where that was included (``text``
cuts it to "RT @x: …"); it is in the collection but in nobody's self-thread.

Tweets of one conversation may be spread over a file, so threads are rebuilt by
``chains.Chains`` and come out after the last line; see there for the memory
bound.  Lines are read one at a time, and a page line (up to a few MB) is the
largest thing held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from threadvault.errors import ImportLineError
from threadvault.model import Author, Media, Post, Thread, global_id, snowflake_time, twitter_author
from threadvault.sources.chains import Chains
from threadvault.sources.tweets import (
    BAD_RECORD,
    MEDIA_KINDS,
    Tweet,
    api_time,
    best_video,
    checked_id,
    count,
    edit_times,
    is_own_media,
    link,
    problem,
    report,
    retweet_text,
    shown_text,
    status_url,
    string,
    unique,
    user_id,
    v1_post,
)

NAME = "twarc"
SNIFF_KEYS = (b'"__twarc"', b'"conversation_id"', b'"author_id"', b'"id_str"')
PAGE_KEYS = ("data", "includes", "meta", "errors")

Entry = tuple[Post, str, str | None]  # a post, its author's user id, the user id it replies to


def sniff(head: bytes) -> bool:
    """A first line that is a JSON object naming tweet fields (a pretty-printed document is not JSONL)."""
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
    return first.startswith(b"{") and any(key in first for key in SNIFF_KEYS)


def read(path: Path, errors: list[ImportLineError] | None = None) -> Iterator[Thread]:
    """The threads of a twarc file, once all of it is read.

    An unusable line (invalid JSON, such as a cut-off last line) or tweet is
    appended to ``errors`` as ``ImportLineError(file, line, reason)`` and the
    import goes on; without a list the first one is raised.
    """
    with Chains(NAME) as chains:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                for item in _read_line(line):
                    if isinstance(item, str):
                        report(errors, ImportLineError(str(path), number, item))
                    else:
                        chains.add(*item)
        yield from chains.threads()


def _read_line(line: bytes) -> Iterator[Entry | str]:
    """The line's posts, and a reason for each part of it that cannot be used."""
    if not line.strip():
        return
    try:
        record = json.loads(line.decode("utf-8-sig"))  # strict: json.loads(bytes) lets encoded surrogates through
    except ValueError as error:
        yield f"not valid JSON: {error}"
        return
    except RecursionError:
        yield "JSON nested too deeply to read"
        return
    try:
        tweets = list(_tweets(record))
    except BAD_RECORD as error:
        yield problem(error)
        return
    for tweet, entry in tweets:
        try:
            yield entry(tweet)
        except BAD_RECORD as error:
            yield f"tweet {tweet.get('id') or tweet.get('id_str')}: {problem(error)}"


def _tweets(record: Any) -> Iterator[tuple[Tweet, Callable[[Tweet], Entry]]]:
    if not isinstance(record, dict):
        raise TypeError(f"a JSON {type(record).__name__}, not a tweet or an API response page")
    if "id_str" in record and "user" in record:
        yield record, _v1_entry
    elif "id" in record and "text" in record:
        yield from _with_parent(record)
    elif any(key in record for key in PAGE_KEYS):
        for tweet in _flatten(record):
            yield from _with_parent(tweet)
    else:
        raise ValueError("a JSON object that is neither a tweet nor an API response page")


def _with_parent(tweet: Tweet) -> Iterator[tuple[Tweet, Callable[[Tweet], Entry]]]:
    """The tweet, and the tweet it replies to when that is included and by the same author."""
    yield tweet, _v2_entry
    for ref in tweet.get("referenced_tweets") or ():
        if ref.get("type") == "replied_to" and "text" in ref and ref.get("author_id") == tweet.get("author_id"):
            yield ref, _v2_entry


def _flatten(page: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """A page's result tweets with ``includes`` merged in, as ``twarc2 flatten`` writes them."""
    includes = page.get("includes") or {}
    users = {user["id"]: user for user in includes.get("users") or ()}
    media = {item["media_key"]: item for item in includes.get("media") or ()}
    tweets = {tweet["id"]: tweet for tweet in includes.get("tweets") or ()}
    data = page.get("data") or []
    for tweet in [data] if isinstance(data, dict) else data:  # a lookup of one tweet gives an object
        yield _expand(tweet, users, media, tweets, depth=1)


def _expand(
    tweet: Tweet, users: Mapping[str, Tweet], media: Mapping[str, Tweet], tweets: Mapping[str, Tweet], depth: int
) -> dict[str, Any]:
    flat = dict(tweet)
    if tweet.get("author_id") in users:
        flat["author"] = users[tweet["author_id"]]
    keys = (tweet.get("attachments") or {}).get("media_keys") or ()
    if keys:
        flat["attachments"] = {**tweet["attachments"], "media": [media[key] for key in keys if key in media]}
    if depth and "referenced_tweets" in tweet:
        flat["referenced_tweets"] = [
            {**ref, **_expand(tweets[ref["id"]], users, media, tweets, depth - 1)} if ref.get("id") in tweets else ref
            for ref in tweet["referenced_tweets"]
        ]
    return flat


def _v1_entry(tweet: Tweet) -> Entry:
    return v1_post(tweet), user_id(tweet["user"]["id_str"]), string(tweet.get("in_reply_to_user_id_str"))


def _v2_entry(tweet: Tweet) -> Entry:
    return _v2_post(tweet), user_id(tweet["author_id"]), string(tweet.get("in_reply_to_user_id"))


def _v2_post(tweet: Tweet) -> Post:
    """A flattened v2 tweet as a Post."""
    tweet_id = checked_id(tweet["id"])
    author = _author(tweet.get("author"))
    original = _retweeted(tweet)
    content = original or tweet
    content = {**content, **(content.get("note_tweet") or {})}  # a long post's full text and entities
    found = content.get("entities") or {}
    urls = found.get("urls") or []
    links = [link(entity) for entity in urls if not is_own_media(entity, content["id"])]
    hidden = [entity["url"] for entity in urls if is_own_media(entity, content["id"])]
    text = shown_text(content["text"], links, hidden)
    mentions = [mention["username"] for mention in found.get("mentions") or []]
    if original:
        text = retweet_text(original["author"]["username"], text)
        mentions.insert(0, original["author"]["username"])
    created = api_time(tweet["created_at"]) if tweet.get("created_at") else snowflake_time(tweet_id)
    created_at, edited_at = edit_times(tweet_id, created, tweet.get("edit_history_tweet_ids") or ())
    metrics = tweet.get("public_metrics") or {}
    return Post(
        id=global_id("twitter", tweet_id),
        author=author,
        text=text,
        created_at=created_at,
        edited_at=edited_at,
        url=status_url(tweet_id, author),
        reply_to_id=_reply_to(tweet),
        lang=string(tweet.get("lang")),
        hashtags=unique((tag["tag"] for tag in found.get("hashtags") or []), str.casefold),
        mentions=unique(mentions),
        links=tuple(links),
        media=tuple(_media((content.get("attachments") or {}).get("media") or ())),
        reply_count=count(metrics.get("reply_count")),
        repost_count=count(metrics.get("retweet_count")),
        like_count=count(metrics.get("like_count")),
    )


def _author(user: Mapping[str, Any] | None) -> Author | None:
    return twitter_author(user["username"], string(user.get("name"))) if user else None


def _retweeted(tweet: Tweet) -> Tweet | None:
    """The tweet a retweet repeats, when it was included with its author."""
    for ref in tweet.get("referenced_tweets") or ():
        if ref.get("type") == "retweeted" and "text" in ref and ref.get("author"):
            original: Tweet = ref
            return original
    return None


def _reply_to(tweet: Tweet) -> str | None:
    for ref in tweet.get("referenced_tweets") or ():
        if ref.get("type") == "replied_to":
            return global_id("twitter", checked_id(ref["id"]))
    return None


def _media(attached: Iterable[Mapping[str, Any]]) -> Iterator[Media]:
    for media in attached:
        variants = media.get("variants") or ()
        url = best_video(variants) or string(media.get("url")) or string(media.get("preview_image_url"))
        if url:
            kind = MEDIA_KINDS.get(media.get("type", ""), "image")
            yield Media(url=url, kind=kind, alt_text=string(media.get("alt_text")) or None)
