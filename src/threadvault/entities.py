"""Hashtag, mention and link rules shared by every source.

The rules follow twitter-text (its conformance suite ``extract.yml``) with one
deliberate difference: text copied out of thread readers often lost the
space between two entities, so a ``#`` or ``@`` directly after a hashtag or
mention starts a new entity (``#archives#OpenData`` is two hashtags,
``#cdnpoli@CBCNews`` a hashtag and a mention).  A ``#`` or ``@`` inside a URL
starts nothing.  Where a page marks entities with anchors, the source uses
the anchors and these rules only fill the gaps.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from threadvault.model import Link

HASH_SIGNS = "#\uff03"
AT_SIGNS = "@\uff20"
SIGNS = re.compile(f"[{HASH_SIGNS}{AT_SIGNS}]")
ELLIPSES = ("\u2026", "...")
# Characters twitter-text accepts inside a hashtag besides letters, marks and digits.
TAG_EXTRA = "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b\u0f0c\u00b7"
HANDLE = re.compile(r"[A-Za-z0-9_]{1,30}")
FEDIVERSE_DOMAIN = re.compile(r"@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
COMMON_TLDS = (
    "com|org|net|edu|gov|int|mil|info|biz|io|co|ai|app|dev|me|ly|fm|tv|social|news|blog|page|"
    "uk|us|ca|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|pl|pt|ie|au|nz|jp|cn|in|br|mx|ru|eu|online|site|xyz"
)
URL = re.compile(
    r"""
    (?<![\w@.\-/])                                   # not inside a word, handle or path
    (?:
        https?://[^\s<>"\u2026]+(?:\u2026|\.\.\.)?    # with a scheme
      | (?:www\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:%s)\b
        (?:/[^\s<>"\u2026]*)?(?:\u2026|\.\.\.)?      # a bare domain on a common TLD
    )
    """
    % COMMON_TLDS,
    re.VERBOSE | re.IGNORECASE,
)
# Every URL has a scheme's "://" or a dot before one of COMMON_TLDS: text without either has none.
MAY_HOLD_URL = re.compile(r"://|\.(?:%s)\b" % COMMON_TLDS, re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?'\"”’»"


def normalise_tag(tag: str) -> str:
    """The form a hashtag is stored, compared and faceted under: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", tag).casefold()


@dataclass(frozen=True)
class Entities:
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    links: tuple[Link, ...]


def extract(text: str) -> Entities:
    """Hashtags (as written, without '#'), mentions (without '@') and links found in plain text."""
    spans = list(_url_spans(text))
    hashtags: list[str] = []
    mentions: list[str] = []
    entity_end = -1  # where the last hashtag or mention ended
    position = 0
    url = 0  # the first URL span not yet behind position (spans are in order and do not overlap)
    while (sign := SIGNS.search(text, position)) is not None:  # only a sign can start an entity
        position = sign.start()
        while url < len(spans) and spans[url][1] <= position:
            url += 1
        if url < len(spans) and spans[url][0] <= position:  # a sign inside a URL starts nothing
            position = spans[url][1]
            continue
        char = text[position]
        if char in HASH_SIGNS and _may_start(text, position, entity_end, hashtag=True):
            tag_end = _tag_end(text, position + 1)
            tag = text[position + 1 : tag_end]
            if tag and not all(unicodedata.category(c) == "Nd" for c in tag):
                hashtags.append(tag)
                entity_end = position = tag_end
                continue
        elif char in AT_SIGNS and _may_start(text, position, entity_end, hashtag=False):
            handle = HANDLE.match(text, position + 1)
            if handle:
                end = handle.end()
                domain = FEDIVERSE_DOMAIN.match(text, end)
                if domain:
                    end = domain.end()
                mentions.append(text[position + 1 : end])
                entity_end = position = end
                continue
        position += 1
    return Entities(tuple(hashtags), tuple(mentions), tuple(link for _, _, link in spans))


def extract_links(text: str) -> tuple[Link, ...]:
    return tuple(link for _, _, link in _url_spans(text))


def link_from_display(display_text: str, href: str | None = None) -> Link:
    """A link as a page shows it: ``href`` is the full target when the page gives one."""
    display_text = display_text.strip()
    if href and href.startswith(("http://", "https://")):
        return Link(url=href, display_text=display_text or None)
    if is_truncated(display_text):
        return Link(url=None, display_text=display_text)
    url = display_text if "://" in display_text else "http://" + display_text
    return Link(url=url, display_text=display_text)


def is_truncated(display_text: str) -> bool:
    return display_text.endswith(ELLIPSES)


def _may_start(text: str, position: int, entity_end: int, *, hashtag: bool) -> bool:
    if position == 0 or position == entity_end:
        return True
    before = text[position - 1]
    if hashtag:
        return not (_is_tag_char(before) or before == "&")
    return not (before.isalnum() or before in "_!#$%&*" + AT_SIGNS)


def _tag_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and _is_tag_char(text[end]):
        end += 1
    return end


def _is_tag_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LM" or category == "Nd" or char in TAG_EXTRA


def _url_spans(text: str) -> list[tuple[int, int, Link]]:
    spans: list[tuple[int, int, Link]] = []
    if not MAY_HOLD_URL.search(text):  # URL tries its long pattern at every word
        return spans
    for match in URL.finditer(text):
        raw = match.group(0)
        if not is_truncated(raw):
            raw = _strip_trailing(raw)
        spans.append((match.start(), match.start() + len(raw), link_from_display(raw)))
    return spans


def _strip_trailing(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL, keeping balanced brackets."""
    while url and (url[-1] in TRAILING_PUNCTUATION or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url
