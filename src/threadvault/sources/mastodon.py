"""Mastodon: a thread from any instance's public API (a status and its contexts).

Rules this module keeps:

- ``canonical_url`` keeps the form the URL was given in (``/@user/ID``,
  ``/@user@other.host/ID``, ``/users/user/statuses/ID`` or ``/api/v1/statuses/ID``),
  lower-cases scheme and host, and drops a trailing slash, ``/context``, the
  query and the fragment.  The same status reached through two forms is two
  queue entries but one stored thread, because post ids do not depend on it.
- A thread is the author's self-reply chain through the given status.  Where
  the author replied to one post twice, the earliest reply (lowest id) is
  followed and the others are listed in ``Thread.branches``.
- ``plan`` asks for the status and its context, then asks again from the
  chain's first or last status while the chain goes on beyond what the
  contexts returned: Mastodon answers anonymous callers with at most 40
  ancestors and 60 descendants, 20 levels deep.  The first status goes on when
  it replies to the author's own status that no context returned; the last
  when it has more replies (``replies_count``) than the contexts returned.
  Only uncaptured URLs are planned, so a context that adds nothing ends it.
- ``parse`` reads the context of every status it reaches, when captured, and
  merges them: each status is read from the first capture that has it, the
  requested status from its own.  Other people's replies are the statuses
  listed as descendants in any of them, each once.
- Post ids are ``mastodon:<status uri>`` (the ActivityPub id), so one post read
  through two instances is one row.  A parent that was not captured has no
  known uri: ``reply_to_id`` is then None, except for a gap (below).
- A gap is the author's own parent that no context has, not even its child's
  own, which ``plan`` asks for (deleted or hidden).  Only its instance-local
  id is known, so its id is ``mastodon:<base>/api/v1/statuses/<local id>``,
  the API address of that status on the instance read, and its url the
  instance's ``/@acct/<id>`` page.  One gap stands for everything above it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from threadvault.entities import normalise_tag
from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Media, Post, Thread, global_id, iso_utc
from threadvault.sources.api import read_json

NAME = "mastodon"
PATTERN = re.compile(
    r"""
    (?P<base>(?i:https?)://[^/?#@\s]+)
    (?P<path>
        /@[\w.-]+(?:@[\w.-]+)?/(?P<id>\d+)               # /@user/ID, /@user@other.host/ID
      | /users/[\w.-]+/statuses/(?P<uri_id>\d+)          # the ActivityPub form
      | /api/v1/statuses/(?P<api_id>\d+)(?:/context)?    # the API forms
    )
    /?(?:[?\#].*)?\Z
    """,
    re.VERBOSE,
)
UNREADABLE = {401, 403, 404, 410}
MALFORMED = (KeyError, TypeError, AttributeError)  # what a value of the wrong type where a status nests one raises
MEDIA_KINDS = {"image": "image", "gifv": "gif", "video": "video", "audio": "audio"}
STATUS_KEYS = {"id": str, "uri": str, "content": str, "account": dict}
ACCOUNT_KEYS = {"id": str, "acct": str, "url": str}
WEB_ADDRESS = re.compile(r"https?://\S+")
LOCAL_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # Mastodon's snowflakes, Pleroma's flake ids, GoToSocial's ULIDs

# Content HTML, read as BeautifulSoup did: strings in these elements are not text, and
# whitespace in these is kept as it is.  libxml2 stops nesting at 255 levels.
PARSER = etree.HTMLParser(encoding="utf-8")
OWN_STRINGS = frozenset({"script", "style", "template", "rt", "rp"})
PRESERVED = frozenset({"pre", "textarea"})
ASCII_SPACES = " \n\t\f\r"

Status = dict[str, Any]


@dataclass(frozen=True)
class _Reading:
    """Everything captured for one request: statuses by local id, the capture each came from,
    and the ids listed as descendants in a context."""

    base: str
    statuses: dict[str, Status]
    capture_ids: dict[str, str | None]
    descendants: tuple[str, ...]

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc


def canonical_url(url: str) -> str:
    match = _match(url)
    return match["base"].lower() + match["path"].removesuffix("/context")


def plan(url: str, captures: Mapping[str, Capture]) -> list[str]:
    """The status and its context, then the context of each end of the chain that goes on beyond them.
    Nothing more once a capture cannot be read: ``parse`` says why."""
    first = [api for api in _api_urls(url) if api not in captures]
    if first:
        return first
    try:
        reading, focus = _read(url, captures)
        chain, _ = _chain(reading.statuses, focus)
    except (NotAThread, *MALFORMED):
        return []
    ends = [_context_url(reading.base, status["id"]) for status in _open_ends(reading, chain)]
    return [api for api in dict.fromkeys(ends) if api not in captures]


def parse(url: str, captures: Mapping[str, Capture], with_replies: bool = False) -> Thread:
    """The author's thread through the status at ``url``.  Other people's replies are
    counted, or kept as posts without a position when ``with_replies`` is set."""
    try:
        return _thread(url, captures, with_replies)
    except MALFORMED as error:
        raise NotAThread(url, f"malformed status JSON ({type(error).__name__}: {error})") from None


def _thread(url: str, captures: Mapping[str, Capture], with_replies: bool) -> Thread:
    reading, focus = _read(url, captures)
    chain, branches = _chain(reading.statuses, focus)
    posts = [gap] if (gap := _gap(reading, chain[0])) else []
    posts += [_post(reading, status, position) for position, status in enumerate(chain, len(posts) + 1)]
    replies = [reading.statuses[status_id] for status_id in reading.descendants]
    others = [status for status in replies if status["account"]["id"] != focus["account"]["id"]]
    if with_replies:
        posts += [_post(reading, status, None) for status in others]
    return Thread(
        id=posts[0].id,
        platform=NAME,
        url=posts[0].url or url,
        source=NAME,
        author=_author(focus["account"], reading.host),
        posts=tuple(posts),
        other_replies=0 if with_replies else len(others),
        branches=tuple(_post_id(status) for status in branches),
    )


def _match(url: str) -> re.Match[str]:
    match = PATTERN.match(url)
    if not match:
        raise NotAThread(url, "not a Mastodon status URL (https://INSTANCE/@user/ID)")
    return match


def _api_urls(url: str) -> tuple[str, str]:
    """The API addresses of the requested status and of its context."""
    match = _match(url)
    base, status_id = match["base"].lower(), match["id"] or match["uri_id"] or match["api_id"]
    return _status_url(base, status_id), _context_url(base, status_id)


def _status_url(base: str, status_id: str) -> str:
    return f"{base}/api/v1/statuses/{status_id}"


def _context_url(base: str, status_id: str) -> str:
    return f"{base}/api/v1/statuses/{status_id}/context"


def _read(url: str, captures: Mapping[str, Capture]) -> tuple[_Reading, Status]:
    """The requested status, then its context and the captured context of every status reached."""
    base = _match(url)["base"].lower()
    status_url, context_url = _api_urls(url)
    status_capture = _capture(url, captures, status_url)
    focus = _checked(url, _json(url, status_capture))
    statuses, capture_ids = {focus["id"]: focus}, {focus["id"]: status_capture.id}
    descendants: dict[str, None] = {}  # an ordered set
    contexts = [_capture(url, captures, context_url)]
    for capture in contexts:  # grows while the statuses read have contexts of their own captured
        ancestors, listed = _context_answer(url, capture)
        descendants |= dict.fromkeys(status["id"] for status in listed)
        for status in ancestors + listed:
            if status["id"] in statuses:  # read already: the first capture to have it stays its source
                continue
            statuses[status["id"]] = status
            capture_ids[status["id"]] = capture.id
            if (more := _context_url(base, status["id"])) in captures:
                contexts.append(captures[more])
    return _Reading(base, statuses, capture_ids, tuple(descendants)), focus


def _context_answer(url: str, capture: Capture) -> tuple[list[Status], list[Status]]:
    """A context answer's ancestors and descendants."""
    context = _json(url, capture)
    if not (isinstance(context, dict) and all(isinstance(context.get(k), list) for k in ("ancestors", "descendants"))):
        raise NotAThread(url, f"{capture.url} is not a Mastodon context (ancestors, descendants)")
    return ([_checked(url, status) for status in context["ancestors"]],
            [_checked(url, status) for status in context["descendants"]])


def _capture(url: str, captures: Mapping[str, Capture], api_url: str) -> Capture:
    if api_url not in captures:
        raise NotAThread(url, f"{api_url} was not captured")
    return captures[api_url]


def _json(url: str, capture: Capture) -> Any:
    if capture.status in UNREADABLE and capture.url in _api_urls(url):
        raise NotAThread(url, f"status not found or not public (HTTP {capture.status})")
    if capture.status != 200:
        raise NotAThread(url, f"HTTP {capture.status} from {capture.url}")
    data = read_json(url, capture)
    if isinstance(data, dict) and "error" in data:
        raise NotAThread(url, f"{capture.url} answered with an error: {data['error']}")
    return data


def _checked(url: str, status: Any) -> Status:
    """The status itself, once it has the fields every post needs."""
    account = status.get("account") if isinstance(status, dict) else None
    if not (_has(status, STATUS_KEYS) and _has(account, ACCOUNT_KEYS)):
        raise NotAThread(url, "malformed status JSON (needs id, uri, content, and account with id, acct, url)")
    if not (WEB_ADDRESS.fullmatch(status["uri"]) and WEB_ADDRESS.fullmatch(account["url"])):  # they make the ids
        raise NotAThread(url, "malformed status JSON (a uri or account url that is not an http(s) URL)")
    parent = status.get("in_reply_to_id")  # ids go into API URLs and gaps' ids
    if not (LOCAL_ID.fullmatch(status["id"]) and (parent is None or LOCAL_ID.fullmatch(str(parent)))):
        raise NotAThread(url, "malformed status JSON (an id or in_reply_to_id that is not an instance's status id)")
    return status  # type: ignore[no-any-return]


def _has(record: Any, keys: Mapping[str, type]) -> bool:
    return isinstance(record, dict) and all(isinstance(record.get(key), kind) for key, kind in keys.items())


def _id_order(status: Status) -> tuple[int, str]:
    """Vanilla Mastodon ids sort by length, then lexically."""
    return len(status["id"]), status["id"]


def _chain(statuses: dict[str, Status], focus: Status) -> tuple[list[Status], list[Status]]:
    """The author's self-reply chain through ``focus``, and the self-replies that branch off it."""
    author = focus["account"]["id"]
    self_replies: dict[str, list[Status]] = {}
    for status in sorted(statuses.values(), key=_id_order):
        if status["account"]["id"] == author and status.get("in_reply_to_id"):
            self_replies.setdefault(status["in_reply_to_id"], []).append(status)
    chain, seen = [focus], {focus["id"]}
    while (
        (parent := statuses.get(chain[0].get("in_reply_to_id") or ""))
        and parent["account"]["id"] == author
        and parent["id"] not in seen
    ):
        chain.insert(0, parent)
        seen.add(parent["id"])
    branches: list[Status] = []
    while (replies := self_replies.get(chain[-1]["id"])) and replies[0]["id"] not in seen:
        chain.append(replies[0])
        seen.add(replies[0]["id"])
        branches += replies[1:]
    return chain, branches


def _open_ends(reading: _Reading, chain: list[Status]) -> list[Status]:
    """The chain's first status while its own parent was not read, and its last while
    it has more replies than were read: their contexts may go on."""
    first, last = chain[0], chain[-1]
    ends = [first] if _missing_parent(reading, first) else []
    replies_read = sum(status.get("in_reply_to_id") == last["id"] for status in reading.statuses.values())
    if (_count(last.get("replies_count")) or 0) > replies_read:
        ends.append(last)
    return ends


def _missing_parent(reading: _Reading, status: Status) -> str | None:
    """The local id of the author's own status that ``status`` replies to, when none was read."""
    parent_id = status.get("in_reply_to_id")
    if not parent_id or parent_id in reading.statuses or status.get("in_reply_to_account_id") != status["account"]["id"]:
        return None
    return str(parent_id)


def _gap(reading: _Reading, first: Status) -> Post | None:
    """The author's own post above ``first`` when no context has it."""
    parent_id = _missing_parent(reading, first)
    if parent_id is None:
        return None
    return Post(
        id=_local_id(reading.base, parent_id),
        author=_author(first["account"], reading.host),
        text=None,
        position=1,
        url=f"{reading.base}/@{first['account']['acct']}/{parent_id}",
        missing=True,
    )


def _post(reading: _Reading, status: Status, position: int | None) -> Post:
    text, links, hashtags = _read_content(status)
    return Post(
        id=_post_id(status),
        author=_author(status["account"], reading.host),
        text=text,
        position=position,
        created_at=_time(status.get("created_at")),
        url=_string(status.get("url")) or status["uri"],
        reply_to_id=_reply_to(reading, status),
        lang=_string(status.get("language")),
        hashtags=hashtags,
        mentions=tuple(_full_acct(mention["acct"], reading.host) for mention in status.get("mentions") or ()),
        links=links,
        media=tuple(_media(each) for each in status.get("media_attachments") or () if each.get("type") in MEDIA_KINDS),
        spoiler_text=_string(status.get("spoiler_text")) or None,
        edited_at=_time(status.get("edited_at")),
        reply_count=_count(status.get("replies_count")),
        repost_count=_count(status.get("reblogs_count")),
        like_count=_count(status.get("favourites_count")),
        capture_id=reading.capture_ids.get(status["id"]),
    )


def _post_id(status: Status) -> str:
    return global_id(NAME, status["uri"])


def _local_id(base: str, local_id: str) -> str:
    return global_id(NAME, _status_url(base, local_id))


def _reply_to(reading: _Reading, status: Status) -> str | None:
    parent_id = status.get("in_reply_to_id")
    if not parent_id:
        return None
    if parent_id in reading.statuses:
        return _post_id(reading.statuses[parent_id])
    missing = _missing_parent(reading, status)
    return _local_id(reading.base, missing) if missing else None  # the gap's id


def _author(account: dict[str, Any], host: str) -> Author:
    return Author(
        id=global_id(NAME, account["url"]),
        platform=NAME,
        handle=_full_acct(account["acct"], host),
        display_name=_string(account.get("display_name")) or None,
        url=account["url"],
    )


def _full_acct(acct: str, host: str) -> str:
    """``user@domain``; a local account's acct is a bare username on its own instance."""
    return acct if "@" in acct else f"{acct}@{host}"


def _media(attachment: dict[str, Any]) -> Media:
    return Media(
        url=_string(attachment.get("remote_url")) or attachment["url"],
        kind=MEDIA_KINDS[attachment["type"]],
        alt_text=_string(attachment.get("description")) or None,
    )


def _string(value: object) -> str | None:
    """A text field, or None where the JSON holds something else."""
    return value if isinstance(value, str) else None


def _count(value: object) -> int | None:
    """A count, or None where the JSON holds something else (a bool, a float, more than SQLite's 64 bits)."""
    return value if type(value) is int and 0 <= value < 1 << 63 else None


def _time(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return iso_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _read_content(status: Status) -> tuple[str, tuple[Link, ...], tuple[str, ...]]:
    """Plain text, links and hashtags (as written) of a status.

    Paragraphs are separated by a blank line, ``<br>`` becomes a line break, and
    a shortened link keeps only its visible text (Mastodon hides the rest in
    ``span.invisible`` and adds no ellipsis character).  Hashtags come from
    ``tags``, spelled as the content shows them.

    The content is read with lxml directly, giving the text BeautifulSoup's
    ``get_text()`` gave (but for whitespace after stray end tags or comments
    before any content, which libxml2's tree leaves out): a BeautifulSoup
    tree for each status was nine tenths of this parser's time (benchmarks/).
    """
    tags = [tag["name"] for tag in status.get("tags") or ()]
    content = status["content"]
    root = etree.fromstring(content.encode("utf-8", "replace"), PARSER) if content else None
    if root is None:  # empty, or nothing but comments
        return "", (), tuple(tags)
    links, spellings = _anchors(root, status, {normalise_tag(tag) for tag in tags})
    blocks = [p for p in root.iter("p") if not _is_hidden(p)] or [root]
    text = "\n\n".join("".join(_strings(block, *_context(block))) for block in blocks)
    return text, links, tuple(spellings.get(normalise_tag(tag), tag) for tag in tags)


def _anchors(root: etree._Element, status: Status, tags: set[str]) -> tuple[tuple[Link, ...], dict[str, str]]:
    """Links, and hashtag spellings keyed by normalised tag.  Hashtag and mention anchors are not links.

    Mastodon marks them with the classes ``hashtag`` and ``mention``; for content
    from servers whose markup lost the classes, the status's tags and mentions decide.
    """
    mention_urls = {mention.get("url") for mention in status.get("mentions") or ()}
    links: list[Link] = []
    spellings: dict[str, str] = {}
    for anchor in root.iter("a"):
        href = anchor.get("href")
        if href is None or _is_hidden(anchor):
            continue
        shown, classes = "".join(_strings(anchor, *_context(anchor))), str(anchor.get("class") or "").split()
        tag = shown.removeprefix("#")
        if "hashtag" in classes or (shown.startswith("#") and normalise_tag(tag) in tags):
            spellings[normalise_tag(tag)] = tag
        elif not ("mention" in classes or href in mention_urls):
            links.append(Link(url=str(href), display_text=shown or None))
    return tuple(links), spellings


def _is_hidden(element: etree._Element) -> bool:
    """Inside (or itself) a ``span.invisible``."""
    return any(node.tag == "span" and "invisible" in str(node.get("class") or "").split()
               for node in (element, *element.iterancestors()))


def _context(element: etree._Element) -> tuple[bool, bool]:
    """Whether the element's own strings are kept out of get_text(), and whether its whitespace is kept."""
    around = {node.tag for node in (element, *element.iterancestors())}
    return not around.isdisjoint(OWN_STRINGS), not around.isdisjoint(PRESERVED)


def _strings(node: etree._Element, quiet: bool, preserved: bool) -> Iterator[str]:
    """The element's text as BeautifulSoup reads it: a line break for each ``<br>``, hidden spans left out,
    a run of nothing but ASCII whitespace as one space or newline, no comments, no script or ruby text."""
    if node.text and not quiet:
        yield node.text if preserved else _collapsed(node.text)
    for child in node:
        if isinstance(child.tag, str):  # not a comment or processing instruction
            if child.tag == "br":
                yield "\n"
            elif not (child.tag == "span" and "invisible" in str(child.get("class") or "").split()):
                yield from _strings(child, quiet or child.tag in OWN_STRINGS, preserved or child.tag in PRESERVED)
        if child.tail and not quiet:
            yield child.tail if preserved else _collapsed(child.tail)


def _collapsed(string: str) -> str:
    if string.strip(ASCII_SPACES):
        return string
    return "\n" if "\n" in string else " "
