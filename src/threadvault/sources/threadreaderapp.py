"""Thread Reader App: unrolled thread pages and author pages (FORMATS.md section 1).

A thread page holds the author's own chain of tweets as ``div.content-tweet``
elements carrying ``data-tweet``; everything around them (preview cards of
other threads, share buttons, ads) is page chrome.  Preview cards reuse the
``content-tweet`` class without ``data-tweet``, so posts are selected on it.

Thread pages are read with lxml directly: a BeautifulSoup tree of a whole
100 KB page costs about fifteen times what lxml takes to build and search
one, and parsing is the hot step of every fetch and reparse.  Author pages
and pages without posts are rare and stay with BeautifulSoup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup
from lxml import etree

from threadvault import entities
from threadvault.errors import NotAThread
from threadvault.model import Author, Capture, Link, Listing, Media, Post, Thread, global_id, iso_utc, snowflake_time, twitter_author

NAME = "threadreaderapp"
HOSTS = ("threadreaderapp.com", "www.threadreaderapp.com")
BASE = "https://threadreaderapp.com"
_PATH = r"/(?:(?:thread|unroll)/(?P<id>\d+)(?:\.html)?|user/(?P<handle>[A-Za-z0-9_]+)/?)"
PATH = re.compile(_PATH)
PATTERN = re.compile(r"(?i:https?://(?:www\.)?threadreaderapp\.com)" + _PATH + r"(?:[?#]\S*)?$")

HTML_TYPES = ("text/html", "application/xhtml+xml")


def _class(name: str) -> str:
    """An XPath test for one class among an element's classes, as CSS ``.name`` matches."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


# The posts: div.content-tweet[data-tweet], except inside a preview card (.thread-card).
POSTS = etree.XPath(f"//div[@data-tweet][{_class('content-tweet')}][not(ancestor::*[{_class('thread-card')}])]")
SCREEN_NAME = etree.XPath(f"(//*[{_class('screenName')}]//a[not(ancestor::*[{_class('thread-card')}])])[1]")
HEADER_TIME = etree.XPath(f"(//*[{_class('thread-info')}]//a[{_class('time')}][@data-time])[1]")
# Parts of a post that are not its text: media and embeds (read separately), the
# permalink icon (sup.tw-permalink), link previews and reveal buttons built by the page's scripts.
CHROME_TAGS = frozenset({"script", "style", "template", "noscript", "ins"})
CHROME_CLASSES = frozenset(
    {"entity-embed", "entity-image", "entity-video", "entity-video-gif", "entity-url-preview", "entity-reveal-action"}
)
ENTITY_CLASSES = frozenset({"entity-mention", "entity-hashtag"})
MEDIA_CLASSES = frozenset({"entity-image", "entity-video-gif", "entity-video"})
# BeautifulSoup keeps the strings of these elements out of get_text(); so does _plain_text.
OWN_STRINGS = frozenset({"script", "style", "template", "rt", "rp"})
# libxml2 stops nesting at 255 levels, which keeps the recursive walks below within Python's limit.
PARSER = etree.HTMLParser(encoding="utf-8")
TWEET_ID = re.compile(r"[0-9]{1,20}")
PLACEHOLDER = "/images/1px.png"
GENERIC_ALT = ("", "Image")  # what TRA and X write when the author gave no description
RESOLUTION = re.compile(r"/(\d+)x(\d+)/")
WHITESPACE = re.compile(r"[ \t\n\r\f]+")
SPACES = re.compile(" {2,}")
URL_NOISE = str.maketrans("", "", "\t\r\n")  # what urlsplit removes from anywhere in a URL
# An href whose path (after the C0 controls and spaces urlsplit strips from its start) ends in
# digits or digits.html, the last segment starting after a "/" or a scheme's ":" ("http:1.html").
THREAD_HREF = re.compile(r"[\x00-\x20]*(?:[^?#]*[/:])?\d+(?:\.html)?(?:[?#]|\Z)")
NEXT_TEXT = re.compile(r"^next\b", re.IGNORECASE)
PAGE_ERRORS = (
    (re.compile(r"rate.?limit|too many requests", re.I), "rate-limited by Thread Reader App"),
    (
        re.compile(r"not found|no longer available|deleted|suspended|protected", re.I),
        "Thread Reader App has no such thread",
    ),
    (re.compile(r"\berror\b|something went wrong", re.I), "Thread Reader App shows an error page"),
)


def canonical_url(url: str) -> str:
    """``https://threadreaderapp.com/thread/<id>.html`` or ``…/user/<handle>``, keeping any other host."""
    parts = urlsplit(url)
    match = PATH.fullmatch(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or match is None:
        raise NotAThread(url, "not a Thread Reader App thread or author URL")
    base = BASE if parts.netloc.lower() in HOSTS else f"{parts.scheme}://{parts.netloc}"
    if match["id"]:
        return f"{base}/thread/{match['id']}.html"
    return f"{base}/user/{match['handle']}"


def plan(url: str, captures: Mapping[str, Capture]) -> list[str]:
    page = canonical_url(url)
    if page not in captures:
        return [page]
    if not _is_author_page(page):
        return []
    try:
        _, next_page = _listing_pages(page, captures)
    except NotAThread:
        return []  # a broken page ends the listing; parse() reports it
    return [next_page] if next_page else []


def parse(url: str, captures: Mapping[str, Capture]) -> Thread | Listing:
    page = canonical_url(url)
    if _is_author_page(page):
        return _parse_listing(page, captures)
    return _parse_thread(page, captures)


def _is_author_page(canonical: str) -> bool:
    return "/user/" in urlsplit(canonical).path


def _soup(url: str, captures: Mapping[str, Capture]) -> tuple[BeautifulSoup, Capture]:
    capture = _html_capture(url, captures)
    return BeautifulSoup(capture.text(), "lxml"), capture


def _html_capture(url: str, captures: Mapping[str, Capture]) -> Capture:
    capture = captures.get(url)
    if capture is None:
        raise NotAThread(url, "the page has not been captured")
    if capture.status != 200:
        raise NotAThread(url, f"HTTP {capture.status}")
    if not capture.body.strip():
        raise NotAThread(url, "empty body")
    if capture.content_type and capture.content_type not in HTML_TYPES:
        raise NotAThread(url, f"content type {capture.content_type}, not HTML")
    return capture


def _parse_thread(url: str, captures: Mapping[str, Capture]) -> Thread:
    capture = _html_capture(url, captures)
    text = capture.text()
    page = etree.fromstring(text.encode("utf-8"), PARSER)  # None for a page of nothing but comments
    divs = _post_divs(url, page) if page is not None else []
    if not divs:
        raise NotAThread(url, _no_posts_reason(BeautifulSoup(text, "lxml")))
    author = _author(page, divs[0])
    posts: list[Post] = []
    for position, div in enumerate(divs, start=1):
        previous = posts[-1].id if posts else None
        posts.append(_post(div, position, previous, author, capture.id))
    if posts[0].created_at is None:
        posts[0] = replace(posts[0], created_at=_header_time(page))
    own_ids = {_thread_id(url), *(str(div.get("data-tweet")) for div in divs)}
    chrome_links = _thread_links(url, _chrome_hrefs(page, divs))
    discovered = _unique(link for link in chrome_links if _thread_id(link) not in own_ids)
    return Thread(
        id=posts[0].id,
        platform="twitter",
        url=url,
        source=NAME,
        author=author,
        posts=tuple(posts),
        discovered=discovered,
    )


def _chrome_hrefs(page: etree._Element, divs: list[etree._Element]) -> Iterator[str]:
    """The links of the page outside its posts (a set of lxml elements is faster than an XPath test here)."""
    in_posts = {anchor for div in divs for anchor in div.iter("a")}
    return (str(href) for anchor in page.iter("a") if (href := anchor.get("href")) is not None and anchor not in in_posts)


def _post_divs(url: str, page: etree._Element) -> list[etree._Element]:
    """The posts in order, a tweet the page repeats (as a botched save can) only where it first appears."""
    first: dict[str, etree._Element] = {}
    for div in POSTS(page):
        tweet_id = str(div.get("data-tweet"))
        if not TWEET_ID.fullmatch(tweet_id):
            raise NotAThread(url, f"a post's data-tweet is {tweet_id[:40]!r}, not a tweet id")
        first.setdefault(tweet_id, div)
    return list(first.values())


def _no_posts_reason(soup: BeautifulSoup) -> str:
    for element in soup.select("title, h1, h2, h3, .alert, .box-error"):
        said = element.get_text(" ", strip=True)
        for pattern, reason in PAGE_ERRORS:
            if pattern.search(said):
                return f"{reason} ({said[:100]!r})"
    app = soup.select_one('meta[name="application-name"]')
    title = soup.title.get_text() if soup.title else ""
    if "Thread Reader" not in title + (str(app.get("content", "")) if app else ""):
        return "not a Thread Reader App page"
    return "no posts (div.content-tweet[data-tweet]) on the page"


def _author(page: etree._Element, first: etree._Element) -> Author:
    handle = str(first.get("data-screenname") or "")
    header = SCREEN_NAME(page) if not handle else []
    if header:
        handle = _plain_text(header[0]).lstrip("@")
    name = _display_name(page)
    return twitter_author(handle, _plain_text(name, " ") if name is not None else None)


def _display_name(page: etree._Element) -> etree._Element | None:
    """The first of ``.twitter_name a, .t-user .username a``: one scan of the page's classes in Python
    costs less than half of what libxml2's XPath takes to test every element's class."""
    found = set()
    for element in page.iter(etree.Element):
        classes = element.get("class")
        if not classes or "name" not in classes:  # a cheap test before splitting
            continue
        tokens = classes.split()
        if "twitter_name" in tokens or (
            "username" in tokens and any("t-user" in str(up.get("class") or "").split() for up in element.iterancestors())
        ):
            found.update(element.iterdescendants("a"))
    return next((anchor for anchor in page.iter("a") if anchor in found), None) if found else None


def _header_time(page: etree._Element) -> str | None:
    """The thread's date: the header's ``a.time``; cards carry ``span.time`` of other threads."""
    stamp = HEADER_TIME(page)
    value = str(stamp[0].get("data-time")) if stamp else ""
    return iso_utc(datetime.fromtimestamp(int(value), tz=timezone.utc)) if value.isdigit() else None


def _thread_id(canonical: str) -> str:
    return canonical.rsplit("/", 1)[1].removesuffix(".html")


class _Element:
    """An element of a post with its classes, and whether it lies inside chrome or inside an embed."""

    __slots__ = ("node", "classes", "in_chrome", "in_embed")

    def __init__(self, node: etree._Element, in_chrome: bool = False, in_embed: bool = False) -> None:
        self.node, self.classes = node, frozenset(str(node.get("class") or "").split())
        self.in_chrome, self.in_embed = in_chrome, in_embed


def _post(div: etree._Element, position: int, previous: str | None, author: Author, capture_id: str | None) -> Post:
    tweet_id = str(div.get("data-tweet"))
    handle = str(div.get("data-screenname") or author.handle)
    elements = list(_elements(div))
    text, unlinked = _text(div)
    found = entities.extract(unlinked)  # what the page left unlinked; its anchors decide the rest
    return Post(
        id=global_id("twitter", tweet_id),
        author=author if handle == author.handle else twitter_author(handle),
        text=text,
        position=position,
        created_at=snowflake_time(tweet_id),
        url=f"https://twitter.com/{handle}/status/{tweet_id}",
        reply_to_id=previous,
        hashtags=_unique([*_anchor_texts(elements, "entity-hashtag", "#\uff03"), *found.hashtags], entities.normalise_tag),
        mentions=_unique([*_anchor_texts(elements, "entity-mention", "@\uff20"), *found.mentions], str.lower),
        links=(*_links(elements), *found.links),
        media=tuple(media for media in map(_media, (e for e in elements if e.classes & MEDIA_CLASSES)) if media),
        capture_id=capture_id,
    )


def _elements(div: etree._Element) -> Iterator[_Element]:
    """Every element in a post in document order; what lies around the post counts too."""
    around = [_Element(node) for node in div.iterancestors()]
    in_chrome = any(map(_is_chrome, around))
    in_embed = any("entity-embed" in element.classes for element in (_Element(div), *around))
    return _descendants(div, in_chrome, in_embed)


def _descendants(node: etree._Element, in_chrome: bool, in_embed: bool) -> Iterator[_Element]:
    for child in node:
        if isinstance(child.tag, str):  # not a comment or processing instruction
            element = _Element(child, in_chrome, in_embed)
            yield element
            yield from _descendants(child, in_chrome or _is_chrome(element), in_embed or "entity-embed" in element.classes)


def _is_chrome(element: _Element) -> bool:
    tag, classes = element.node.tag, element.classes
    return tag in CHROME_TAGS or bool(classes & CHROME_CLASSES) or (tag == "sup" and "tw-permalink" in classes)


def _plain_text(node: etree._Element, separator: str = "") -> str:
    """What BeautifulSoup's ``get_text(separator, strip=True)`` gives for the element."""
    return separator.join(piece for piece in map(str.strip, _strings(node)) if piece)


def _strings(node: etree._Element) -> Iterator[str]:
    if node.text:
        yield node.text
    for child in node:
        if isinstance(child.tag, str) and child.tag not in OWN_STRINGS:
            yield from _strings(child)
        if child.tail:
            yield child.tail


def _text(div: etree._Element) -> tuple[str, str]:
    """The post's text, and the same text with every link's words blanked out."""
    pieces = list(_pieces(div))
    text = "".join(piece for piece, _ in pieces)
    return _tidy(text), _tidy("".join(" " if linked else piece for piece, linked in pieces))


def _pieces(node: etree._Element, linked: bool = False) -> Iterator[tuple[str, bool]]:
    if node.text:
        yield WHITESPACE.sub(" ", node.text), linked
    for child in node:
        if isinstance(child.tag, str):
            element = _Element(child)
            if child.tag == "br":
                yield "\n", False
            elif not _is_chrome(element):
                yield from _pieces(child, linked or (child.tag == "a" and _is_entity(element)))
        if child.tail:
            yield WHITESPACE.sub(" ", child.tail), linked


def _tidy(raw: str) -> str:
    lines = (SPACES.sub(" ", line).strip(" ") for line in raw.split("\n"))
    return "\n".join(lines).strip("\n")


def _is_entity(anchor: _Element) -> bool:
    """Whether an anchor is a mention, hashtag or link the page marked; other anchors' words stay plain text."""
    if anchor.node.tag == "a" and anchor.classes & ENTITY_CLASSES:
        return True
    href = str(anchor.node.get("href", ""))
    return href.startswith(("http://", "https://")) and not _is_advert(href)


def _is_advert(href: str) -> bool:
    """TRA turns ordinary words into links to itself that advertise; the word is the author's, the link is not."""
    parts = urlsplit(href)
    return parts.netloc.lower() in HOSTS and "utm_campaign" in parts.query


def _anchor_texts(elements: Iterable[_Element], kind: str, signs: str) -> list[str]:
    anchors = (e for e in elements if e.node.tag == "a" and kind in e.classes and not e.in_chrome)
    texts = (_plain_text(anchor.node).lstrip(signs) for anchor in anchors)
    return [text for text in texts if text]


def _links(elements: Iterable[_Element]) -> Iterator[Link]:
    """The text's links, then quoted tweets, in document order."""
    for element in elements:
        node = element.node
        if node.tag == "a" and node.get("href") is not None and not element.in_chrome:
            if not element.classes & ENTITY_CLASSES and _is_entity(element):
                yield Link(url=str(node.get("href")), display_text=_plain_text(node) or None)
        elif node.tag == "blockquote" and element.in_embed:
            quoted = next((a for a in node.iterdescendants("a") if "/status/" in str(a.get("href", ""))), None)
            if quoted is not None:
                shown = _plain_text(quoted)  # the old fallback's "view original on Twitter" is chrome
                yield Link(url=str(quoted.get("href")), display_text=shown if "/status/" in shown else None)


def _media(element: _Element) -> Media | None:
    if "entity-image" in element.classes:
        return _image(element.node)
    found = (source.get("src") for source in element.node.iterdescendants("source", "video"))
    sources = [str(src) for src in found if src is not None]
    if not sources:
        return None
    if "entity-video-gif" in element.classes:
        return Media(url=sources[0], kind="gif")
    mp4s = [src for src in sources if urlsplit(src).path.endswith(".mp4")]
    return Media(url=max(mp4s, key=_pixels) if mp4s else sources[0], kind="video")


def _image(element: etree._Element) -> Media | None:
    """The real image URL is in the link or ``data-src``; ``src`` is a lazy-load placeholder until scripts run."""
    anchor, image = next(element.iterdescendants("a"), None), next(element.iterdescendants("img"), None)
    places = ((anchor, "href"), (image, "data-src"), (image, "src"))
    candidates = [str(tag.get(key) or "") for tag, key in places if tag is not None]
    url = next((c for c in candidates if c.startswith("http") and not c.endswith(PLACEHOLDER)), None)
    alt = str(image.get("alt") or "") if image is not None else ""
    return Media(url=url, kind="image", alt_text=None if alt in GENERIC_ALT else alt) if url else None


def _pixels(src: str) -> int:
    size = RESOLUTION.search(urlsplit(src).path)
    return int(size[1]) * int(size[2]) if size else 0


def _thread_links(page: str, hrefs: Iterable[str]) -> Iterator[str]:
    """Canonical thread URLs among links on a TRA page (on threadreaderapp.com or the page's own host)."""
    for href in filter(_may_be_thread, hrefs):
        target = urljoin(page, href)
        parts = urlsplit(target)
        match = PATH.fullmatch(parts.path)
        if match and match["id"] and parts.netloc.lower() in (*HOSTS, urlsplit(page).netloc.lower()):
            yield canonical_url(target)


def _may_be_thread(href: str) -> bool:
    """Whether ``href`` can resolve to a thread URL; a cheap test that spares urljoin most of a page's links.

    Resolving keeps an href's last path segment unless it is a dot segment, so a
    thread link's href (as urlsplit cleans it) ends in the thread id.
    """
    return THREAD_HREF.match(href.translate(URL_NOISE)) is not None


def _parse_listing(url: str, captures: Mapping[str, Capture]) -> Listing:
    pages, _ = _listing_pages(url, captures)
    hrefs = ((page, [str(a["href"]) for a in card.select("a[href]")]) for page, soup in pages
             for card in soup.select("div.thread-card"))
    thread_urls = _unique(next(_thread_links(page, card_hrefs), None) for page, card_hrefs in hrefs)
    if not thread_urls:
        raise NotAThread(url, "no thread cards on the author page")
    return Listing(url=url, thread_urls=thread_urls)


def _listing_pages(first: str, captures: Mapping[str, Capture]) -> tuple[list[tuple[str, BeautifulSoup]], str | None]:
    """The captured pages of an author listing in order, and the next page still to fetch (None when done)."""
    pages = [(first, _soup(first, captures)[0])]
    while (page := _next_page(*pages[-1])) is not None and page not in dict(pages):
        if page not in captures:
            return pages, page
        pages.append((page, _soup(page, captures)[0]))
    return pages, None


def _next_page(page: str, soup: BeautifulSoup) -> str | None:
    links = soup.select("link[rel~=next][href], a[href]:not(.thread-card *)")
    for link in links:
        if "next" in (link.get("rel") or []) or NEXT_TEXT.match(link.get_text(strip=True)):
            return urljoin(page, str(link["href"]))
    return None


def _unique(items: Iterable[str | None], key: Callable[[str], str] = str) -> tuple[str, ...]:
    """Items in order without repeats (as judged by ``key``) or Nones."""
    seen: set[str] = set()
    kept = []
    for item in items:
        if item is not None and key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return tuple(kept)
