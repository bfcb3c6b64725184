"""Data the benchmarks make for themselves: pages, API answers, threads, archives and import files.

Thread Reader App pages come from ``tests/pagegen.py`` (the real saved page's
full chrome around generated posts).  Mastodon and Bluesky answers follow the
real captures in ``tests/fixtures/`` field for field.  Import files repeat the
real twarc lines with every id shifted, so each copy is a new set of tweets.
"""

from __future__ import annotations

import io
import json
import random
import re
import sys
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

from threadvault.model import Author, Capture, Link, Media, Post, Thread
from threadvault.sources import bluesky

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pagegen import TAGS, WORDS, generated_thread  # noqa: E402  (tests/ is not a package)

FIXTURES = ROOT / "tests" / "fixtures"
TWARC_LINES = FIXTURES / "twarc2" / "twarc-csv-flat.jsonl"
FETCHED_AT = "2026-01-01T00:00:00Z"
HTML = (("Content-Type", "text/html; charset=utf-8"),)
JSON = (("Content-Type", "application/json; charset=utf-8"),)
TRA_ROOT = 1_300_000_000_000_000_000


def tra_url(index: int, base: str = "https://threadreaderapp.com") -> str:
    return f"{base}/thread/{TRA_ROOT + index * 1_000_000}.html"


def tra_index(path: str) -> int | None:
    """The page index of ``/thread/<id>.html``, as ``tra_url`` built it."""
    match = re.fullmatch(r"/thread/(\d+)\.html", path)
    return (int(match[1]) - TRA_ROOT) // 1_000_000 if match else None


def tra_page(index: int, posts: int = 25) -> bytes:
    return generated_thread(index, posts=posts).html


def tra_capture(index: int, posts: int = 25) -> tuple[str, dict[str, Capture]]:
    url = tra_url(index)
    return url, {url: Capture(url, 200, HTML, tra_page(index, posts), FETCHED_AT, f"capture-{index}")}


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


# Mastodon: a status and its context, as /api/v1/statuses/<id> and /context answer.


def _account(index: int) -> dict:
    name = f"writer{index}"
    return {
        "id": str(109_000_000_000_000_000 + index), "username": name, "acct": name,
        "display_name": f"Writer {index}", "locked": False, "bot": False, "discoverable": True,
        "group": False, "created_at": "2022-11-07T00:00:00.000Z",
        "note": "<p>Archivist. Reads old web pages.</p>",
        "url": f"https://social.example/@{name}", "uri": f"https://social.example/users/{name}",
        "avatar": "https://files.social.example/accounts/avatars/original/avatar.png",
        "avatar_static": "https://files.social.example/accounts/avatars/original/avatar.png",
        "header": "https://files.social.example/accounts/headers/original/header.png",
        "header_static": "https://files.social.example/accounts/headers/original/header.png",
        "followers_count": 1200, "following_count": 300, "statuses_count": 4000,
        "last_status_at": "2024-03-02", "emojis": [], "fields": [],
    }


def _status(rng: random.Random, account: dict, local_id: int, parent: int | None, position: int) -> dict:
    tag = rng.choice(TAGS)
    content = f"<p>{_words(rng, 8, 20)} "
    tags, mentions, media = [], [], []
    if rng.random() < 0.5:
        content += (f'<a href="https://social.example/tags/{tag}" class="mention hashtag" rel="tag">'
                    f"#<span>{tag}</span></a> ")
        tags.append({"name": tag.lower(), "url": f"https://social.example/tags/{tag.lower()}"})
    if rng.random() < 0.3:
        content += ('<span class="h-card"><a href="https://other.example/@datasette" class="u-url mention">'
                    "@<span>datasette</span></a></span> ")
        mentions.append({"id": "1", "username": "datasette", "acct": "datasette@other.example",
                         "url": "https://other.example/@datasette"})
    content += f"{_words(rng, 8, 20)}<br />{_words(rng, 3, 8)}</p>"
    if rng.random() < 0.2:
        content += ('<p><a href="https://example.org/research/paper.html" rel="nofollow noopener" target="_blank">'
                    '<span class="invisible">https://</span><span class="ellipsis">example.org/research/pa</span>'
                    '<span class="invisible">per.html</span></a></p>')
    if rng.random() < 0.1:
        media.append({"id": str(local_id), "type": "image", "url": f"https://files.social.example/{local_id}.png",
                      "preview_url": f"https://files.social.example/small/{local_id}.png", "remote_url": None,
                      "description": "A shelf of archive boxes", "blurhash": "UFD]o8-;9F4n~qofIUofM{ofRjof"})
    return {
        "id": str(local_id), "created_at": f"2024-03-02T09:{position // 60:02d}:{position % 60:02d}.000Z",
        "in_reply_to_id": str(parent) if parent else None,
        "in_reply_to_account_id": account["id"] if parent else None,
        "sensitive": False, "spoiler_text": "", "visibility": "public", "language": "en",
        "uri": f"{account['uri']}/statuses/{local_id}", "url": f"{account['url']}/{local_id}",
        "replies_count": 1, "reblogs_count": rng.randint(0, 9), "favourites_count": rng.randint(0, 40),
        "edited_at": None, "favourited": False, "reblogged": False, "muted": False, "bookmarked": False,
        "content": content, "filtered": [], "reblog": None,
        "application": {"name": "Web", "website": None}, "account": account,
        "media_attachments": media, "mentions": mentions, "tags": tags, "emojis": [], "card": None, "poll": None,
    }


def mastodon_capture(index: int, posts: int = 25) -> tuple[str, dict[str, Capture]]:
    """The captures of a thread read from its first post: the status and its context."""
    rng = random.Random(index)
    account = _account(index % 5000)
    first = 112_000_000_000_000_000 + index * 1000
    statuses = [_status(rng, account, first + n, first + n - 1 if n else None, n) for n in range(posts)]
    base = "https://social.example/api/v1/statuses"
    status_url, context_url = f"{base}/{first}", f"{base}/{first}/context"
    context = {"ancestors": [], "descendants": statuses[1:]}
    return f"https://social.example/@{account['username']}/{first}", {
        status_url: Capture(status_url, 200, JSON, json.dumps(statuses[0]).encode(), FETCHED_AT, "status"),
        context_url: Capture(context_url, 200, JSON, json.dumps(context).encode(), FETCHED_AT, "context"),
    }


# Bluesky: one getPostThread answer holding a 25-post self-thread.


def _bsky_post(rng: random.Random, did: str, handle: str, rkey: str, parent: str | None, root: str) -> dict:
    text = _words(rng, 10, 30)
    facets: list[dict] = []
    if rng.random() < 0.5:
        tag = rng.choice(TAGS)
        start = len(text.encode()) + 1
        text += f" #{tag}"
        facets.append({"index": {"byteStart": start, "byteEnd": start + len(tag.encode()) + 1},
                       "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}]})
    if rng.random() < 0.2:
        start = len(text.encode()) + 1
        text += " example.org/research/pa..."
        facets.append({"index": {"byteStart": start, "byteEnd": start + 26},
                       "features": [{"$type": "app.bsky.richtext.facet#link",
                                     "uri": "https://example.org/research/paper.html"}]})
    uri = f"at://{did}/app.bsky.feed.post/{rkey}"
    record: dict = {"$type": "app.bsky.feed.post", "createdAt": "2025-04-01T10:00:00.000Z", "langs": ["en"],
                    "text": text, "facets": facets}
    if parent:
        ref = {"cid": "bafyreihoqwagmf2tzcrurmtukq5bgkecgbks67obspzhyxwzyhs2yupk7d"}
        record["reply"] = {"parent": {**ref, "uri": parent}, "root": {**ref, "uri": root}}
    view = {
        "uri": uri, "cid": "bafyreiqr2qvdtwofmn6oplsaqkl5mzts67lhweqy3viomzewvclav5weoi",
        "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0].title(),
                   "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkreigyf3ff@jpeg",
                   "viewer": {"muted": False, "blockedBy": False}, "labels": [],
                   "createdAt": "2023-05-02T10:11:12.345Z"},
        "record": record, "replyCount": 1, "repostCount": 0, "likeCount": rng.randint(0, 40),
        "indexedAt": "2025-04-01T10:00:00.001Z", "viewer": {"threadMuted": False}, "labels": [],
    }
    if rng.random() < 0.1:
        view["embed"] = {"$type": "app.bsky.embed.images#view", "images": [{
            "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{did}/bafkrei{rkey}@jpeg",
            "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/bafkrei{rkey}@jpeg",
            "alt": "A reading room", "aspectRatio": {"height": 1500, "width": 2000}}]}
    return view


def bluesky_capture(index: int, posts: int = 25) -> tuple[str, dict[str, Capture]]:
    """The captures of a thread read from its first post, whose URL names the DID (no handle to resolve)."""
    rng = random.Random(index)
    did, handle = f"did:plc:bench{index % 5000:020d}", f"writer{index % 5000}.bsky.social"
    rkeys = [f"3l{index:08d}{n:03d}" for n in range(posts)]
    root = f"at://{did}/app.bsky.feed.post/{rkeys[0]}"
    node: dict | None = None
    for n in reversed(range(posts)):
        parent = f"at://{did}/app.bsky.feed.post/{rkeys[n - 1]}" if n else None
        post = _bsky_post(rng, did, handle, rkeys[n], parent, root)
        node = {"$type": "app.bsky.feed.defs#threadViewPost", "post": post, "replies": [node] if node else []}
    url = f"https://bsky.app/profile/{did}/post/{rkeys[0]}"
    captures: dict[str, Capture] = {}
    for next_url in bluesky.plan(url, captures):
        captures[next_url] = Capture(next_url, 200, JSON, json.dumps({"thread": node}).encode(), FETCHED_AT, "t")
    return url, captures


# Threads for the store and the search archive, without parsing.


def zipf_tags(count: int, seed: int = 0) -> tuple[list[str], list[float]]:
    """``count`` hashtags and Zipf-like weights (the n-th most used about 1/n as often as the first)."""
    rng = random.Random(seed)
    tags = [f"{rng.choice(TAGS)}{n}" if n >= len(TAGS) else TAGS[n] for n in range(count)]
    return tags, [1 / (n + 1) for n in range(count)]


def vocabulary(count: int, seed: int = 0) -> list[str]:
    """``count`` made-up words, to be drawn with Zipf weights (the n-th about 1/n as often as the first)."""
    rng = random.Random(seed)
    syllables = [a + b for a in "bdfgklmnprstvz" for b in "aeiou"]
    words = dict.fromkeys(WORDS)
    while len(words) < count:
        words["".join(rng.choices(syllables, k=rng.randint(2, 4)))] = None
    return list(words)[:count]


def synthetic_threads(count: int, *, posts: int = 25, authors: int = 5000, tags: int = 20_000,
                      words: int = 50_000, seed: int = 0, first: int = 0) -> Iterator[Thread]:
    """Parsed threads as the Thread Reader App source makes them, with Zipf-spread words and hashtags."""
    rng = random.Random(seed * 7919 + first)
    names, weights = zipf_tags(tags, seed)
    tag_weights = list(accumulate(weights))
    lexicon = vocabulary(words, seed)
    word_weights = list(accumulate(1 / (n + 1) for n in range(words)))
    for index in range(first, first + count):
        handle = f"author{index % authors}"
        author = Author(f"twitter:{handle}", "twitter", handle, f"Author {index % authors}",
                        f"https://twitter.com/{handle}")
        root = 1_400_000_000_000_000_000 + index * 100_000
        chain: list[Post] = []
        for position in range(1, posts + 1):
            tweet_id = str(root + position - 1)
            hashtags = tuple(dict.fromkeys(rng.choices(names, cum_weights=tag_weights, k=rng.choice((0, 0, 1, 1, 2, 3)))))
            links = (Link(url=None, display_text="example.org/research/pap…"),) if rng.random() < 0.2 else ()
            media = (Media(f"https://pbs.twimg.com/media/{tweet_id}.jpg", "image", "A photo"),) if rng.random() < 0.1 else ()
            said = rng.choices(lexicon, cum_weights=word_weights, k=rng.randint(10, 40))
            text = " ".join([*said, *(f"#{tag}" for tag in hashtags), f"{position}/{posts}"])
            chain.append(Post(
                id=f"twitter:{tweet_id}", author=author, text=text, position=position,
                created_at=f"{2020 + index % 6}-{1 + index % 12:02d}-{1 + index % 28:02d}T{position % 24:02d}:00:00Z",
                url=f"https://twitter.com/{handle}/status/{tweet_id}",
                reply_to_id=chain[-1].id if chain else None, hashtags=hashtags,
                mentions=("archivist",) if rng.random() < 0.3 else (), links=links, media=media,
            ))
        yield Thread(id=chain[0].id, platform="twitter", url=f"https://threadreaderapp.com/thread/{root}.html",
                     source="threadreaderapp", author=author, posts=tuple(chain))


# Import files.

ID_NUMBER = re.compile(rb'"(\d{6,20})"')


def write_twarc(path: Path, target_bytes: int) -> int:
    """Repeat the real flattened twarc lines with every id shifted until ``target_bytes``; returns the lines."""
    lines = TWARC_LINES.read_bytes().splitlines()
    written = copies = count = 0
    with open(path, "wb") as out:
        while written < target_bytes:
            shift = copies * 10_000_000
            copies += 1
            for line in lines:
                line = ID_NUMBER.sub(lambda m: b'"%d"' % (int(m[1]) + shift), line) + b"\n"
                out.write(line)
                written += len(line)
                count += 1
    return count


def write_warc(path: Path, target_bytes: int) -> int:
    """A crawler's WARC file (gzipped records) of thread pages and their requests; returns the pages."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = 0
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        while out.tell() < target_bytes:
            url, body = tra_url(pages), tra_page(pages)
            http = StatusAndHeaders("200 OK", [*HTML, ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
            pages += 1
    return pages

