"""Nitter conversation pages (``https://<nitter host>/<user>/status/<id>``).

Any host can run Nitter, so ``PATTERN`` knows only a few well-known instances;
``--source nitter`` reads any other, and ``canonical_url`` accepts every host.

A page's ``div.main-thread`` holds the ancestors (``div.before-tweet``), the
requested tweet (``div.main-tweet``) and the author's continuation
(``div.after-tweet``), which may end in a "more replies" link (to its last
tweet, or a cursor query) where the thread goes on: ``plan`` follows it.
``parse`` merges the pages' chains, keeping the thread author's tweets (the
author is the requested tweet's ``data-username``) and unavailable ones as
gaps; older Nitter gives those no link, so no id, and they are left out.
Replies by others are counted; their "Load more" cursor is not followed.

Media hrefs are Nitter proxy paths; those encoding a Twitter CDN address
(``/pic/orig/media%2FX.jpg``, ``/pic/video.twimg.com%2F…``, ``/video/<sig>/<url>``,
base64 ``enc/`` forms) become it again: ``https://pbs.twimg.com/media/X.jpg``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

from threadvault import entities
from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Media, Post, Thread, global_id, iso_utc, snowflake_time, twitter_author

NAME = "nitter"
KNOWN_HOSTS = ("nitter.net", "nitter.poast.org", "nitter.privacydev.net", "xcancel.com", "nitter.space")
PATTERN = re.compile(r"https?://(?:%s)(?::\d+)?(?:[/?#]|$)" % "|".join(map(re.escape, KNOWN_HOSTS)), re.IGNORECASE)

STATUS_PATH = re.compile(
    r"/(?P<user>[A-Za-z0-9_]+)/(?:status|statuses)/(?P<id>\d{1,19})(?:/(?:photo|video|history)(?:/\d+)?)?/?",
    re.ASCII,  # a tweet id is ASCII digits; \d alone would take "１２３" too
)
PROXIED = re.compile(
    r"/pic/(?:orig/)?(?P<pic_enc>enc/)?(?P<pic>[^/]+)|/video/(?P<video_enc>enc/)?[0-9A-Fa-f]+/(?P<video>[^/]+)"
)
HANDLE_PATH = re.compile(r"/[A-Za-z0-9_]{1,15}")
DATE = re.compile(r"(\w{3}) (\d{1,2}), (\d{4}) · (\d{1,2}):(\d{2}) ([AP]M) UTC")  # month day year hour minute half
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
TWITTER = "https://twitter.com"
STATS = ("icon-comment", "icon-retweet", "icon-heart")  # replies, reposts, likes


def canonical_url(url: str) -> str:
    """``scheme://host/<user>/status/<id>``, on whatever host the URL names."""
    parts = urlsplit(url)
    match = STATUS_PATH.fullmatch(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or not match:
        raise NotAThread(url, "not a Nitter status URL (https://<host>/<user>/status/<id>)")
    return f"{parts.scheme}://{parts.netloc.lower()}/{match['user']}/status/{match['id']}"


def plan(url: str, captures: Mapping[str, Capture]) -> list[str]:
    """The next page of the thread still to fetch; empty when done or when a page is an error (parse says which)."""
    try:
        _, missing = _walk(url, captures)
    except NotAThread:
        return []
    return [missing] if missing else []


def parse(url: str, captures: Mapping[str, Capture]) -> Thread:
    try:
        return _thread(url, captures)
    except RecursionError:  # the text is read recursively; no Nitter page nests a thousand deep
        raise NotAThread(url, "HTML nested too deeply to read") from None


def _thread(url: str, captures: Mapping[str, Capture]) -> Thread:
    pages, missing = _walk(url, captures)
    if missing:
        raise NotAThread(url, f"page {missing} was not captured")
    author = _handle(pages[0].main)
    chain = _merge([(page, item) for page in pages for item in page.chain(author)])
    natives = [native for native, _, _ in chain]
    posts = tuple(
        _post(page, item, native, position, natives[position - 2] if position > 1 else None)
        for position, (native, page, item) in enumerate(chain, start=1)
    )
    others, branches = _replies(pages, author)
    base = urlsplit(pages[0].url)
    return Thread(
        id=posts[0].id,
        platform="twitter",
        url=f"{base.scheme}://{base.netloc}/{author}/status/{natives[0]}",
        source=NAME,
        author=_author(pages[0].main, author),
        posts=posts,
        other_replies=len(others),
        branches=tuple(sorted(global_id("twitter", native) for native in branches - set(natives))),
    )


@dataclass(frozen=True)
class _Page:
    url: str
    capture_id: str | None
    thread: Tag  # div.main-thread
    main: Tag  # the requested tweet's div.timeline-item

    def chain(self, author: str) -> list[Tag]:
        """Ancestors back to the first tweet by someone else, the requested tweet, the author's continuation."""
        before = _items(self.thread.select_one(":scope > div.before-tweet"))
        after = _items(self.thread.select_one(":scope > div.after-tweet"))
        return list(_by(author, before[::-1]))[::-1] + [self.main] + list(_by(author, after))

    def next_url(self) -> str | None:
        link = self.thread.select_one(":scope > div.after-tweet > div.more-replies > a.more-replies-text[href]")
        return urldefrag(urljoin(self.url, str(link["href"]))).url if link else None

    def reply_chains(self) -> list[list[Tag]]:
        sections = self.thread.parent.select(":scope > div.replies > div.reply") if self.thread.parent else []
        return [items for items in map(_items, sections) if items]


def _walk(url: str, captures: Mapping[str, Capture]) -> tuple[list[_Page], str | None]:
    """The captured pages of the thread in order, and the first page still missing."""
    page_url: str | None = canonical_url(url)
    pages: list[_Page] = []
    while page_url and page_url not in {page.url for page in pages}:
        if page_url not in captures:
            return pages, page_url
        pages.append(_read_page(page_url, captures[page_url]))
        page_url = pages[-1].next_url()
    return pages, None


def _read_page(url: str, capture: Capture) -> _Page:
    if not capture.body.strip():
        raise NotAThread(url, f"empty response (HTTP {capture.status})")
    if capture.content_type not in ("text/html", "application/xhtml+xml", ""):
        raise NotAThread(url, f"not an HTML page ({capture.content_type}, HTTP {capture.status})")
    soup = BeautifulSoup(capture.text(), "lxml")
    panel = soup.select_one("div.error-panel")
    if panel:
        raise NotAThread(url, f"Nitter says: {' '.join(panel.stripped_strings)} (HTTP {capture.status})")
    if capture.status >= 400:
        raise NotAThread(url, f"HTTP {capture.status}")
    main = soup.select_one("div.conversation > div.main-thread > div.main-tweet > div.timeline-item")
    if not main or not main.parent or not main.parent.parent:
        raise NotAThread(url, "no div.main-tweet: not a Nitter status page")
    if _unavailable(main):
        raise NotAThread(url, f"the tweet is unavailable: {main.get_text(' ', strip=True)}")
    return _Page(url, capture.id, main.parent.parent, main)


def _items(section: Tag | None) -> list[Tag]:
    return section.select(":scope > div.timeline-item:not(.more-replies)") if section else []


def _by(author: str, items: list[Tag]) -> Iterator[Tag]:
    """Items up to the first available tweet by someone else (a gap has no known author and is kept)."""
    for item in items:
        if not _unavailable(item) and not _is_by(item, author):
            return
        yield item


def _merge(items: list[tuple[_Page, Tag]]) -> list[tuple[str, _Page, Tag]]:
    """One chain of (tweet id, page, item) from the pages' overlapping chains, each item where its page puts it."""
    order: list[str] = []
    found: dict[str, tuple[_Page, Tag]] = {}
    cursor = -1
    for page, item in items:
        native = _status_id(item) or (_path_id(page.url) if item is page.main else None)
        if native is None:
            continue
        if native not in found:
            order.insert(cursor + 1, native)
            found[native] = (page, item)
        cursor = order.index(native)
    return [(native, *found[native]) for native in order]


def _replies(pages: list[_Page], author: str) -> tuple[set[str], set[str]]:
    """Ids of replies by others, and of the reply chains the author started (self-replies off the main chain)."""
    chains = [chain for page in pages for chain in page.reply_chains()]
    others = {_status_id(item) for chain in chains for item in chain if not (_unavailable(item) or _is_by(item, author))}
    branches = {_status_id(chain[0]) for chain in chains if _is_by(chain[0], author)}
    return {i for i in others if i}, {i for i in branches if i}


def _post(page: _Page, item: Tag, native: str, position: int, previous: str | None) -> Post:
    reply_to = global_id("twitter", previous) if previous else None
    if _unavailable(item):
        return Post(id=global_id("twitter", native), author=None, text=None, position=position, missing=True,
                    url=f"{TWITTER}/i/web/status/{native}", reply_to_id=reply_to, capture_id=page.capture_id)
    handle = _handle(item)
    replies, reposts, likes = _stats(item)
    text, hashtags, mentions, links = _read_text(item.select_one(":scope > div.tweet-body > div.tweet-content"))
    quote = item.select_one(":scope > div.tweet-body > div.quote > a:is(.quote-link, .unavailable-quote)[href]")
    if quote and (quoted := STATUS_PATH.fullmatch(urlsplit(str(quote["href"])).path)):
        links.append(Link(url=f"{TWITTER}/{quoted['user']}/status/{quoted['id']}"))
    return Post(
        id=global_id("twitter", native),
        author=_author(item, handle),
        text=text,
        position=position,
        created_at=snowflake_time(native) or _created_at(item),
        url=f"{TWITTER}/{handle}/status/{native}",
        reply_to_id=reply_to,
        hashtags=tuple(dict.fromkeys(hashtags)),
        mentions=tuple(dict.fromkeys(mentions)),
        links=tuple(dict.fromkeys(links)),
        media=tuple(_media(item, page.url)),
        reply_count=replies,
        repost_count=reposts,
        like_count=likes,
        capture_id=page.capture_id,
    )


def _author(item: Tag, handle: str) -> Author:
    fullname = item.select_one("div.tweet-header a.fullname")
    name = str(fullname.get("title") or fullname.get_text(strip=True)) if fullname else None
    return twitter_author(handle, name)


def _read_text(content: Tag | None) -> tuple[str, list[str], list[str], list[Link]]:
    """Plain text and its entities: anchors decide what they mark, entities.extract reads the text between them."""
    text: list[str] = []
    run: list[str] = []  # text since the last anchor
    hashtags: list[str] = []
    mentions: list[str] = []
    links: list[Link] = []

    def flush() -> None:
        found = entities.extract("".join(run))
        hashtags.extend(found.hashtags)
        mentions.extend(found.mentions)
        links.extend(found.links)
        run.clear()

    for piece in _pieces(content) if content else ():
        if isinstance(piece, str):
            text.append(piece)
            run.append(piece)
            continue
        flush()
        shown, href = piece.get_text(), str(piece.get("href", ""))
        text.append(shown)
        if _is_hashtag_search(href) and shown[:1] in entities.HASH_SIGNS:
            hashtags.append(shown[1:])
        elif shown[:1] in entities.AT_SIGNS and HANDLE_PATH.fullmatch(href):
            mentions.append(shown[1:])
        elif href.startswith(("http://", "https://")):
            links.append(entities.link_from_display(shown, href))
    flush()
    return "".join(text).strip(), hashtags, mentions, links


def _is_hashtag_search(href: str) -> bool:
    """Nitter links a hashtag to a search for it: ``/search?q=%23tag`` (older: ``/search?f=tweets&q=%23tag``)."""
    return href.startswith("/search?") and parse_qs(urlsplit(href).query).get("q", [""])[0].startswith("#")


def _pieces(node: Tag) -> Iterator[str | Tag]:
    """The text, line breaks and anchors of a tweet's text in order, without the location line."""
    for child in node.children:
        if isinstance(child, NavigableString):
            yield str(child)
        elif isinstance(child, Tag) and child.name == "br":
            yield "\n"
        elif isinstance(child, Tag) and child.name == "a":
            yield child
        elif isinstance(child, Tag) and "tweet-geo" not in _classes(child):
            yield from _pieces(child)


def _media(item: Tag, page_url: str) -> Iterator[Media]:
    for attachment in item.select(":scope > div.tweet-body > div.attachments div.attachment"):
        image = attachment.select_one("a.still-image[href]")
        video = attachment.select_one("video")
        poster = attachment.select_one("img[src]")  # a video or GIF whose playback is switched off
        if image:
            yield Media(_media_url(str(image["href"]), page_url), "image", _alt(attachment))
        elif video:
            source = video.select_one("source[src]")
            target = source["src"] if source else video.get("data-url") or video.get("poster")
            kind = "gif" if "gif" in _classes(video) else "video"
            yield Media(_media_url(str(target), page_url), kind, _alt(attachment))
        elif poster:
            kind = "gif" if attachment.find_parent("div", class_="media-gif") else "video"
            yield Media(_media_url(str(poster["src"]), page_url), kind, _alt(attachment))


def _alt(attachment: Tag) -> str | None:
    image = attachment.select_one("img[alt]")
    if image and image["alt"]:
        return str(image["alt"])
    caption = attachment.select_one("p.alt-text")  # "ALT  <text>"
    return (caption.get_text().removeprefix("ALT").strip() or None) if caption else None


def _media_url(src: str, page_url: str) -> str:
    """The CDN address a Nitter media proxy path encodes, else the absolute Nitter URL."""
    absolute = urljoin(page_url, src)
    match = PROXIED.fullmatch(urlsplit(absolute).path)
    if not match:
        return absolute
    encoded = match["pic"] or match["video"]
    try:
        target = _unbase64(encoded) if match["pic_enc"] or match["video_enc"] else unquote(encoded)
    except (binascii.Error, UnicodeDecodeError):
        return absolute
    if target.startswith(("http://", "https://")):
        return target
    if "." in target.split("/", 1)[0]:  # video.twimg.com/...
        return f"https://{target}"
    return "https://pbs.twimg.com/" + target.split("?", 1)[0]  # media/X.jpg?name=small


def _unbase64(value: str) -> str:
    return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True).decode()


def _created_at(item: Tag) -> str | None:
    """From the date link's title (to the minute), for ids too old to carry their time.

    The visible text is relative to when the page was rendered, so it is never used."""
    date = item.select_one("div.tweet-header span.tweet-date > a[title]")
    return _parse_date(str(date["title"])) if date else None


def _parse_date(title: str) -> str | None:
    """Nitter's ``MMM d', 'YYYY' · 'h:mm tt' UTC'`` (``Mar 4, 2024 · 9:02 AM UTC``), read without the locale."""
    match = DATE.fullmatch(title)
    if not match or match[1] not in MONTHS:
        return None
    day, year, hour, minute = (int(value) for value in match.groups()[1:5])
    hour = hour % 12 + (12 if match[6] == "PM" else 0)
    try:
        return iso_utc(datetime(year, MONTHS.index(match[1]) + 1, day, hour, minute, tzinfo=timezone.utc))
    except ValueError:
        return None


def _stats(item: Tag) -> tuple[int | None, int | None, int | None]:
    """Replies, reposts, likes as Nitter shows them: empty is zero; an abbreviated count ("1.2K") stays unknown."""
    shown: dict[str, str] = {}
    for icon in item.select(":scope > div.tweet-body > div.tweet-stats span.tweet-stat span[class]"):
        for name in _classes(icon):
            shown[name] = icon.parent.get_text(strip=True).replace(",", "") if icon.parent else ""
    replies, reposts, likes = (_count(shown[name]) if name in shown else None for name in STATS)
    return replies, reposts, likes


def _count(shown: str) -> int | None:
    return int(shown) if shown.isdigit() else None if shown else 0


def _is_by(item: Tag, author: str) -> bool:
    return _handle(item).lower() == author.lower()


def _handle(item: Tag) -> str:
    if item.get("data-username"):
        return str(item["data-username"])
    username = item.select_one("div.tweet-header a.username")  # Nitter before data-username
    return username.get_text(strip=True).lstrip("@") if username else ""


def _unavailable(item: Tag) -> bool:
    return "unavailable" in _classes(item)


def _classes(tag: Tag) -> list[str]:
    return [str(name) for name in tag.get_attribute_list("class") if name]


def _status_id(item: Tag) -> str | None:
    """The tweet id in the item's own link: tweet link, unavailable box or date link."""
    link = item.select_one(
        ":scope > a.tweet-link[href], :scope > a.unavailable-box[href], div.tweet-header span.tweet-date > a[href]"
    )
    return _path_id(str(link["href"])) if link else None


def _path_id(url: str) -> str | None:
    match = STATUS_PATH.fullmatch(urlsplit(url).path)
    return match["id"] if match else None
