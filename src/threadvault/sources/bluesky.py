"""Bluesky: a self-thread read through the AppView's ``app.bsky.feed.getPostThread``.

The thread is the chain of posts by one author that holds the requested post:
up through ``parent`` while the author stays the same, down through the
author's own replies (the earliest when they branch; the others are noted in
``Thread.branches``).  A deleted or blocked post of the author in that chain
is kept as a gap.  ``plan`` resolves a handle to a DID, asks for the thread,
then asks again from the chain's first or last post while the chain goes on
beyond what a call returned.

A URL's canonical form is ``https://bsky.app/profile/<handle or did>/post/<rkey>``.
A URL on another host (a forced source, a test server) keeps its host, which
then also serves the API; otherwise the API is ``THREADVAULT_BSKY_APPVIEW`` or
the public AppView.  Captures are looked up by the exact URLs ``plan`` builds,
so the API base must be the same when a thread is reparsed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from threadvault.entities import normalise_tag
from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Media, Post, Thread, global_id, iso_utc
from threadvault.sources.api import read_json

NAME = "bluesky"
PATTERN = re.compile(
    r"(?:https?://(?:www\.)?bsky\.app/profile/[\w.:%-]+/post/[\w.:~-]+"
    r"|at://[\w.:%-]+/app\.bsky\.feed\.post/[\w.:~-]+)/?(?:[?#]|$)"
    r"|https?://[^/?#\s]+/xrpc/app\.bsky\.feed\.getPostThread\?"  # an API answer, as found in a WARC file
)
DEFAULT_APPVIEW = "https://public.api.bsky.app"
APPVIEW_VARIABLE = "THREADVAULT_BSKY_APPVIEW"
WEB = "https://bsky.app"
# Levels asked for per getPostThread call, up (parentHeight) and down (depth); plan asks again past them.
# Each level down nests two JSON containers, and Python's json module raises RecursionError
# at about a thousand, so the lexicon's maximum of 1000 would make long threads unreadable.
DEPTH = 200
RESOLVE_HANDLE = "com.atproto.identity.resolveHandle"
GET_POST_THREAD = "app.bsky.feed.getPostThread"
POST_COLLECTION = "app.bsky.feed.post"

_WEB_URL = re.compile(
    r"(?P<origin>https?://[^/?#\s]+)/profile/(?P<actor>[\w.:%-]+)/post/(?P<rkey>[\w.:~-]+)/?(?:[?#].*)?"
)
_API_URL = re.compile(r"(?P<origin>https?://[^/?#\s]+)/xrpc/app\.bsky\.feed\.getPostThread\?.*")
_AT_URI = re.compile(r"at://(?P<actor>[\w.:%-]+)/app\.bsky\.feed\.post/(?P<rkey>[\w.:~-]+)/?")
_WEB_HOSTS = ("https://bsky.app", "http://bsky.app", "https://www.bsky.app", "http://www.bsky.app")
_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?([Zz]|[+-]\d\d:\d\d)?")

Json = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class _Target:
    origin: str | None  # scheme and host of a URL not on bsky.app
    actor: str  # a handle (lower-cased) or a DID
    rkey: str


@dataclass(frozen=True)
class _Answers:
    """What was captured for one requested URL, and where its API is."""

    url: str
    base: str
    captures: Mapping[str, Capture]


@dataclass(frozen=True)
class _Step:
    """A thread node (``threadViewPost``, ``notFoundPost`` or ``blockedPost``) and the capture it came from."""

    node: Json
    capture: Capture


def canonical_url(url: str) -> str:
    target = _target(url)
    return f"{target.origin or WEB}/profile/{target.actor}/post/{target.rkey}"


MALFORMED = (KeyError, TypeError, AttributeError, ValueError)  # what reading a value of the wrong type raises


def plan(url: str, captures: Mapping[str, Capture]) -> list[str]:
    try:
        return _plan(url, captures)
    except MALFORMED as error:
        raise _malformed(url, error) from None


def _plan(url: str, captures: Mapping[str, Capture]) -> list[str]:
    answers, needed, anchor = _start(url, captures)
    if anchor is None:
        return [needed]
    steps, _ = _chain(answers, anchor)
    ends = [(steps[0].node, _cut_above), (steps[-1].node, _cut_below)]
    more = [_thread_url(answers.base, _uri(node)) for node, cut in ends if cut(node)]
    return [next_url for next_url in dict.fromkeys(more) if next_url not in captures]


def parse(url: str, captures: Mapping[str, Capture], with_replies: bool = False) -> Thread:
    """The author's chain through the requested post; ``with_replies`` also keeps every other reply captured."""
    try:
        return _thread(url, captures, with_replies)
    except MALFORMED as error:
        raise _malformed(url, error) from None


def _malformed(url: str, error: Exception) -> NotAThread:
    return NotAThread(url, f"malformed getPostThread answer ({type(error).__name__}: {error})")


def _thread(url: str, captures: Mapping[str, Capture], with_replies: bool) -> Thread:
    answers, _, anchor = _start(url, captures)
    if anchor is None:
        raise NotAThread(url, "the thread has not been captured yet")
    author = _author(anchor.node["post"]["author"])
    steps, branches = _chain(answers, anchor)
    posts = _chain_posts(steps, author)
    others = list(_off_chain(steps))
    if with_replies:
        posts += [post_from_view(step.node["post"], capture_id=step.capture.id) for step in others]
    return Thread(
        id=posts[0].id,
        platform=NAME,
        url=canonical_url(url),
        source=NAME,
        author=author,
        posts=tuple(posts),
        other_replies=0 if with_replies else sum(_did(step.node) != _did(anchor.node) for step in others),
        branches=tuple(_post_id(uri) for uri in branches),
    )


def post_from_view(view: Json, position: int | None = None, capture_id: str | None = None) -> Post:
    """A post from an AppView ``postView``: entities from the record's facets, media from the embed view."""
    record = view.get("record") or {}
    text = _string(record.get("text")) or ""
    hashtags, mentions, links = _facets(text, record.get("facets") or [])
    embed_links, media = _embed(view.get("embed"))
    parent_uri = (record.get("reply") or {}).get("parent", {}).get("uri")
    return Post(
        id=_post_id(view["uri"]),
        author=_author(view["author"]),
        text=text,
        position=position,
        created_at=_created_at(record.get("createdAt")),
        url=_web_url(view["uri"]),
        reply_to_id=_post_id(parent_uri) if parent_uri else None,
        lang=_string(next(iter(record.get("langs") or []), None)),
        hashtags=_unique(hashtags + list(record.get("tags") or []), normalise_tag),
        mentions=_unique(mentions, str.lower),
        links=_unique(links + embed_links, lambda link: link.url),
        media=tuple(media),
        reply_count=_count(view.get("replyCount")),
        repost_count=_count(view.get("repostCount")),
        like_count=_count(view.get("likeCount")),
        capture_id=capture_id,
    )


# Inputs and API URLs


def _target(url: str) -> _Target:
    if api := _API_URL.fullmatch(url.strip()):
        return _api_target(url, api.group("origin").lower())
    web = _WEB_URL.fullmatch(url.strip())
    match = web or _AT_URI.fullmatch(url.strip())
    if not match:
        expected = f"{WEB}/profile/NAME/post/KEY or at://NAME/{POST_COLLECTION}/KEY"
        raise NotAThread(url, f"not a Bluesky post URL ({expected})")
    origin = web.group("origin").lower() if web else None
    return _Target(None if origin in _WEB_HOSTS else origin, _actor(match.group("actor")), match.group("rkey"))


def _actor(raw: str) -> str:
    actor = unquote(raw)
    return actor if actor.startswith("did:") else actor.lower()  # handles are case-insensitive, DIDs are not


def _api_target(url: str, origin: str) -> _Target:
    """The post a getPostThread URL asks about; its API host stays only when it is not the default one."""
    post_uri = parse_qs(urlsplit(url).query).get("uri", [""])[0]
    match = _AT_URI.fullmatch(post_uri)
    if not match:
        raise NotAThread(url, "a getPostThread URL without an at:// post URI")
    return _Target(None if origin == DEFAULT_APPVIEW else origin, _actor(match.group("actor")), match.group("rkey"))


def _xrpc_url(base: str, method: str, **params: str | int) -> str:
    return f"{base.rstrip('/')}/xrpc/{method}?{urlencode(params)}"


def _resolve_url(base: str, handle: str) -> str:
    return _xrpc_url(base, RESOLVE_HANDLE, handle=handle)


def _thread_url(base: str, post_uri: str) -> str:
    return _xrpc_url(base, GET_POST_THREAD, uri=post_uri, depth=DEPTH, parentHeight=DEPTH)


def _read(url: str, capture: Capture) -> Json:
    """A captured XRPC answer as JSON: the output on success, ``{"error", "message"}`` on failure."""
    data = read_json(url, capture)
    if not isinstance(data, dict):
        raise NotAThread(url, f"{capture.url} answered with JSON that is not an object")
    return data


def _start(url: str, captures: Mapping[str, Capture]) -> tuple[_Answers, str, _Step | None]:
    """The answers, the next URL needed to reach the requested post, and the post's node once that is captured."""
    target = _target(url)
    answers = _Answers(url, target.origin or os.environ.get(APPVIEW_VARIABLE) or DEFAULT_APPVIEW, captures)
    did = _resolved_did(answers, target.actor)
    if did is None:
        return answers, _resolve_url(answers.base, target.actor), None
    post_uri = f"at://{did}/{POST_COLLECTION}/{target.rkey}"
    return answers, _thread_url(answers.base, post_uri), _anchor(answers, post_uri)


def _resolved_did(answers: _Answers, actor: str) -> str | None:
    """The DID behind the URL's handle or DID; None while the handle is not resolved yet."""
    if actor.startswith("did:"):
        return actor
    capture = answers.captures.get(_resolve_url(answers.base, actor))
    if capture is None:
        return None
    data = _read(answers.url, capture)
    if capture.status != 200 or not isinstance(data.get("did"), str):
        reason = data.get("message") or f"HTTP {capture.status}"
        raise NotAThread(answers.url, f"handle {actor} could not be resolved ({reason})")
    return str(data["did"])


def _anchor(answers: _Answers, post_uri: str) -> _Step | None:
    """A post's node from the captured getPostThread answer anchored on it; None when not captured."""
    capture = answers.captures.get(_thread_url(answers.base, post_uri))
    if capture is None:
        return None
    data = _read(answers.url, capture)
    if capture.status == 400 and data.get("error") == "NotFound":
        raise NotAThread(answers.url, "post not found")
    node = data.get("thread")
    if capture.status != 200 or not isinstance(node, dict):
        reason = data.get("message") or data.get("error")
        raise NotAThread(answers.url, f"getPostThread failed (HTTP {capture.status}: {reason})")
    if "post" not in node:
        raise NotAThread(answers.url, "post is blocked" if node.get("blocked") else "post not found")
    return _Step(node, capture)


# The chain


def _chain(answers: _Answers, anchor: _Step) -> tuple[list[_Step], list[str]]:
    """The author's posts through the anchor, top first, and the URIs of self-replies that left the chain."""
    did = _did(anchor.node)
    above = list(_ancestors(answers, anchor, did))
    below, branches = _descendants(answers, anchor, did)
    return above[::-1] + below, branches


def _ancestors(answers: _Answers, step: _Step, did: str) -> Iterator[_Step]:
    """The author's posts above ``step``, nearest first; a gap ends them, as the AppView gives nothing above one."""
    seen = {_uri(step.node)}
    while True:
        parent = step.node.get("parent")
        if not (isinstance(parent, dict) and _did(parent) == did) or _uri(parent) in seen:  # the top, or a loop
            return
        seen.add(_uri(parent))
        step = _reread(answers, _Step(parent, step.capture), _cut_above)
        yield step


def _descendants(answers: _Answers, step: _Step, did: str) -> tuple[list[_Step], list[str]]:
    """``step`` and the author's replies below it, the earliest where the author branched; the other branches' URIs."""
    steps: list[_Step] = []
    branches: list[str] = []
    seen: set[str] = set()
    while True:
        step = _reread(answers, step, _cut_below)
        steps.append(step)
        seen.add(_uri(step.node))
        own = sorted((reply for reply in _replies(step.node) if _did(reply) == did), key=_reply_order)
        branches += [_uri(reply) for reply in own[1:]]
        if not own or _uri(own[0]) in seen:  # the end, or a loop
            return steps, branches
        step = _Step(own[0], step.capture)


def _reread(answers: _Answers, step: _Step, cut: Callable[[Json], bool]) -> _Step:
    """The same post from a later call anchored on it, when the earlier call stopped short of its parent or replies."""
    if cut(step.node):
        return _anchor(answers, _uri(step.node)) or step
    return step


def _cut_above(node: Json) -> bool:
    return "post" in node and "parent" not in node and bool(node["post"]["record"].get("reply"))


def _cut_below(node: Json) -> bool:
    return "post" in node and "replies" not in node and (node["post"].get("replyCount") or 0) > 0


def _replies(node: Json) -> list[Json]:
    return [reply for reply in node.get("replies") or [] if isinstance(reply, dict)]


def _off_chain(steps: list[_Step]) -> Iterator[_Step]:
    """Every other readable post captured below the chain, once, each before its own replies (a loop: they nest deep)."""
    seen = {_uri(step.node) for step in steps}
    stack = [_Step(reply, step.capture) for step in reversed(steps) for reply in reversed(_replies(step.node))]
    while stack:
        step = stack.pop()
        if _uri(step.node) in seen:  # on the chain, or listed twice
            continue
        seen.add(_uri(step.node))
        if "post" in step.node:
            yield step
            stack += [_Step(reply, step.capture) for reply in reversed(_replies(step.node))]


def _reply_order(node: Json) -> tuple[bool, str, str]:
    """Readable posts first, then the earliest written (record keys are timestamps, so they break ties)."""
    created = _created_at(node["post"]["record"].get("createdAt")) if "post" in node else None
    return ("post" not in node, created or "~", _uri(node).rsplit("/", 1)[-1])


def _chain_posts(steps: list[_Step], author: Author) -> list[Post]:
    """Numbered posts; a gap keeps its place, with the author's profile (it was the author's post)."""
    posts: list[Post] = []
    for position, step in enumerate(steps, start=1):
        if "post" in step.node:
            posts.append(post_from_view(step.node["post"], position, step.capture.id))
            continue
        uri = _uri(step.node)
        posts.append(Post(id=_post_id(uri), author=author, text=None, position=position, url=_web_url(uri),
                          reply_to_id=posts[-1].id if posts else None, missing=True, capture_id=step.capture.id))
    return posts


def _uri(node: Json) -> str:
    return str(node["post"]["uri"] if "post" in node else node["uri"])


def _did(node: Json) -> str:
    """The author's DID, read from the post's at:// URI (gaps have no author profile)."""
    return _uri(node).removeprefix("at://").split("/", 1)[0]


# One post


def _author(profile: Json) -> Author:
    did = profile["did"]
    handle = _string(profile.get("handle")) or did
    display_name = _string(profile.get("displayName")) or None
    return Author(global_id(NAME, did), NAME, handle, display_name, url=f"{WEB}/profile/{handle}")


def _post_id(uri: str) -> str:
    if not _AT_URI.fullmatch(uri):
        raise ValueError(f"{uri[:80]!r} is not the at:// URI of a post")
    return global_id(NAME, uri)


def _web_url(uri: str) -> str | None:
    match = _AT_URI.fullmatch(uri)
    return f"{WEB}/profile/{match.group('actor')}/post/{match.group('rkey')}" if match else None


def _created_at(value: object) -> str | None:
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if not match:
        return None
    offset = match.group(2) or "Z"
    try:
        return iso_utc(datetime.fromisoformat(match.group(1) + ("+00:00" if offset in "Zz" else offset)))
    except ValueError:
        return None


def _facets(text: str, facets: list[Json]) -> tuple[list[str], list[str], list[Link]]:
    """Hashtags, mentions and links marked in rich text; facet offsets count UTF-8 bytes."""
    raw = text.encode()
    hashtags: list[str] = []
    mentions: list[str] = []
    links: list[Link] = []
    for facet in sorted(facets, key=lambda facet: (facet.get("index") or {}).get("byteStart") or 0):
        shown = _byte_slice(raw, facet.get("index") or {})
        for feature in facet.get("features") or []:
            kind = feature.get("$type")
            if kind == "app.bsky.richtext.facet#tag" and feature.get("tag"):
                hashtags.append(feature["tag"])
            elif kind == "app.bsky.richtext.facet#mention" and feature.get("did"):
                mentions.append(shown[1:] if shown and shown.startswith("@") else feature["did"])
            elif kind == "app.bsky.richtext.facet#link" and (uri := _string(feature.get("uri"))):
                links.append(Link(url=uri, display_text=shown))
    return hashtags, mentions, links


def _byte_slice(raw: bytes, index: Json) -> str | None:
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(raw)):
        return None
    try:
        return raw[start:end].decode()
    except UnicodeDecodeError:  # offsets that cut a character: the facet is broken
        return None


def _embed(embed: object) -> tuple[list[Link], list[Media]]:
    """Links and media from an embed *view* (full CDN URLs), not from the record's blob references."""
    if not isinstance(embed, dict):
        return [], []
    kind = embed.get("$type")
    if kind == "app.bsky.embed.images#view":
        images = [(_string(image.get("fullsize")), _string(image.get("alt"))) for image in embed.get("images") or []]
        return [], [Media(url, "image", alt or None) for url, alt in images if url]
    if kind == "app.bsky.embed.video#view":
        shown_as = "gif" if embed.get("presentation") == "gif" else "video"
        playlist = _string(embed.get("playlist"))
        return [], [Media(playlist, shown_as, _string(embed.get("alt")) or None)] if playlist else []
    if kind == "app.bsky.embed.external#view":
        uri = _string(embed["external"].get("uri"))
        return [Link(url=uri)] if uri else [], []
    if kind == "app.bsky.embed.record#view":
        return _quoted(embed.get("record")), []
    if kind == "app.bsky.embed.recordWithMedia#view":
        links, media = _embed(embed.get("media"))
        return _quoted((embed.get("record") or {}).get("record")) + links, media
    return [], []


def _quoted(record: object) -> list[Link]:
    """A quoted post as a link to it (also when the quote is deleted or blocked: it was quoted)."""
    url = _web_url(record["uri"]) if isinstance(record, dict) and isinstance(record.get("uri"), str) else None
    return [Link(url=url)] if url else []


def _string(value: object) -> str | None:
    """A text field, or None where the answer holds something else."""
    return value if isinstance(value, str) else None


def _count(value: object) -> int | None:
    """A count, or None where the answer holds something else (a bool, a float, more than SQLite's 64 bits)."""
    return value if type(value) is int and 0 <= value < 1 << 63 else None


def _unique(items: Iterable[T], key: Callable[[T], object]) -> tuple[T, ...]:
    seen: set[object] = set()
    kept = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return tuple(kept)
