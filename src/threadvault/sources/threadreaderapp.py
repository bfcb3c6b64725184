"""Thread Reader App: unrolled thread pages and author pages (FORMATS.md section 1).

A thread page holds the author's own chain of tweets as ``div.content-tweet``
elements carrying ``data-tweet``; everything around them (preview cards of
other threads, share buttons, ads) is page chrome.  Preview cards reuse the
``content-tweet`` class without ``data-tweet``, so posts are selected on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PreformattedString, Tag

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
POSTS = "div.content-tweet[data-tweet]:not(.thread-card *)"
# Parts of a post that are not its text: media and embeds (read separately), the
# permalink icon, link previews and reveal buttons built by the page's scripts.
CHROME = (
    "sup.tw-permalink, .entity-embed, .entity-image, .entity-video, .entity-video-gif, "
    ".entity-url-preview, .entity-reveal-action, script, style, template, noscript, ins"
)
CONTENT = f":not(:is({CHROME}) *)"
MEDIA = ".entity-image, .entity-video-gif, .entity-video"
PLACEHOLDER = "/images/1px.png"
GENERIC_ALT = ("", "Image")  # what TRA and X write when the author gave no description
RESOLUTION = re.compile(r"/(\d+)x(\d+)/")
WHITESPACE = re.compile(r"[ \t\n\r\f]+")
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
    capture = captures.get(url)
    if capture is None:
        raise NotAThread(url, "the page has not been captured")
    if capture.status != 200:
        raise NotAThread(url, f"HTTP {capture.status}")
    if not capture.body.strip():
        raise NotAThread(url, "empty body")
    if capture.content_type and capture.content_type not in HTML_TYPES:
        raise NotAThread(url, f"content type {capture.content_type}, not HTML")
    return BeautifulSoup(capture.text(), "lxml"), capture


def _parse_thread(url: str, captures: Mapping[str, Capture]) -> Thread:
    soup, capture = _soup(url, captures)
    divs = soup.select(POSTS)
    if not divs:
        raise NotAThread(url, _no_posts_reason(soup))
    author = _author(soup, divs[0])
    posts: list[Post] = []
    for position, div in enumerate(divs, start=1):
        previous = posts[-1].id if posts else None
        posts.append(_post(div, position, previous, author, capture.id))
    if posts[0].created_at is None:
        posts[0] = replace(posts[0], created_at=_header_time(soup))
    own_ids = {_thread_id(url), *(str(div["data-tweet"]) for div in divs)}
    chrome_links = _thread_links(url, soup.select(f"a[href]:not({POSTS} *)"))
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


def _author(soup: BeautifulSoup, first: Tag) -> Author:
    handle = str(first.get("data-screenname") or "")
    header = soup.select_one(".screenName a:not(.thread-card *)")
    if not handle and header is not None:
        handle = header.get_text(strip=True).lstrip("@")
    name = soup.select_one(".twitter_name a, .t-user .username a")
    return twitter_author(handle, name.get_text(" ", strip=True) if name else None)




def _header_time(soup: BeautifulSoup) -> str | None:
    """The thread's date: the header's ``a.time``; cards carry ``span.time`` of other threads."""
    stamp = soup.select_one(".thread-info a.time[data-time]")
    value = str(stamp["data-time"]) if stamp else ""
    return iso_utc(datetime.fromtimestamp(int(value), tz=timezone.utc)) if value.isdigit() else None


def _thread_id(canonical: str) -> str:
    return canonical.rsplit("/", 1)[1].removesuffix(".html")


def _post(div: Tag, position: int, previous: str | None, author: Author, capture_id: str | None) -> Post:
    tweet_id = str(div["data-tweet"])
    handle = str(div.get("data-screenname") or author.handle)
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
        hashtags=_unique([*_anchor_texts(div, "a.entity-hashtag", "#\uff03"), *found.hashtags], entities.normalise_tag),
        mentions=_unique([*_anchor_texts(div, "a.entity-mention", "@\uff20"), *found.mentions], str.lower),
        links=(*_links(div), *found.links),
        media=tuple(media for media in map(_media, div.select(MEDIA)) if media),
        capture_id=capture_id,
    )


def _text(div: Tag) -> tuple[str, str]:
    """The post's text, and the same text with every link's words blanked out."""
    pieces = list(_pieces(div))
    text = "".join(piece for piece, _ in pieces)
    return _tidy(text), _tidy("".join(" " if linked else piece for piece, linked in pieces))


def _pieces(node: Tag, linked: bool = False) -> Iterator[tuple[str, bool]]:
    for child in node.children:
        if isinstance(child, Tag):
            if child.name == "br":
                yield "\n", False
            elif not child.css.match(CHROME):
                yield from _pieces(child, linked or (child.name == "a" and _is_entity(child)))
        elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
            yield WHITESPACE.sub(" ", str(child)), linked


def _tidy(raw: str) -> str:
    lines = (re.sub(" {2,}", " ", line).strip(" ") for line in raw.split("\n"))
    return "\n".join(lines).strip("\n")


def _is_entity(anchor: Tag) -> bool:
    """Whether an anchor is a mention, hashtag or link the page marked; other anchors' words stay plain text."""
    if anchor.css.match("a.entity-mention, a.entity-hashtag"):
        return True
    href = str(anchor.get("href", ""))
    return href.startswith(("http://", "https://")) and not _is_advert(href)


def _is_advert(href: str) -> bool:
    """TRA turns ordinary words into links to itself that advertise; the word is the author's, the link is not."""
    parts = urlsplit(href)
    return parts.netloc.lower() in HOSTS and "utm_campaign" in parts.query


def _anchor_texts(div: Tag, selector: str, signs: str) -> list[str]:
    texts = (anchor.get_text(strip=True).lstrip(signs) for anchor in div.select(selector + CONTENT))
    return [text for text in texts if text]


def _links(div: Tag) -> Iterator[Link]:
    """The text's links, then quoted tweets, in document order."""
    for element in div.select(f"a[href]:not(.entity-mention, .entity-hashtag){CONTENT}, .entity-embed blockquote"):
        if element.name == "a":
            if _is_entity(element):
                yield Link(url=str(element["href"]), display_text=element.get_text(strip=True) or None)
        elif (quoted := element.select_one('a[href*="/status/"]')) is not None:
            shown = quoted.get_text(strip=True)  # the old fallback's "view original on Twitter" is chrome
            yield Link(url=str(quoted["href"]), display_text=shown if "/status/" in shown else None)


def _media(element: Tag) -> Media | None:
    classes = element.get_attribute_list("class")
    if "entity-image" in classes:
        return _image(element)
    sources = [str(source["src"]) for source in element.select("source[src], video[src]")]
    if not sources:
        return None
    if "entity-video-gif" in classes:
        return Media(url=sources[0], kind="gif")
    mp4s = [src for src in sources if urlsplit(src).path.endswith(".mp4")]
    return Media(url=max(mp4s, key=_pixels) if mp4s else sources[0], kind="video")


def _image(element: Tag) -> Media | None:
    """The real image URL is in the link or ``data-src``; ``src`` is a lazy-load placeholder until scripts run."""
    anchor, image = element.find("a"), element.find("img")
    places = ((anchor, "href"), (image, "data-src"), (image, "src"))
    candidates = [str(tag.get(key) or "") for tag, key in places if tag]
    url = next((c for c in candidates if c.startswith("http") and not c.endswith(PLACEHOLDER)), None)
    alt = str(image.get("alt") or "") if image else ""
    return Media(url=url, kind="image", alt_text=None if alt in GENERIC_ALT else alt) if url else None


def _pixels(src: str) -> int:
    size = RESOLUTION.search(urlsplit(src).path)
    return int(size[1]) * int(size[2]) if size else 0


def _thread_links(page: str, anchors: Iterable[Tag]) -> Iterator[str]:
    """Canonical thread URLs among links on a TRA page (on threadreaderapp.com or the page's own host)."""
    for anchor in anchors:
        target = urljoin(page, str(anchor["href"]))
        parts = urlsplit(target)
        match = PATH.fullmatch(parts.path)
        if match and match["id"] and parts.netloc.lower() in (*HOSTS, urlsplit(page).netloc.lower()):
            yield canonical_url(target)


def _parse_listing(url: str, captures: Mapping[str, Capture]) -> Listing:
    pages, _ = _listing_pages(url, captures)
    anchors = ((page, card.select("a[href]")) for page, soup in pages for card in soup.select("div.thread-card"))
    thread_urls = _unique(next(_thread_links(page, card_anchors), None) for page, card_anchors in anchors)
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
