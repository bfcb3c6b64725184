"""Constructed Thread Reader App pages for tests and benchmarks.

Each page is the real saved page (tests/fixtures/threadreaderapp/, January 2020)
with its chrome kept byte for byte and its 102 posts replaced by generated ones
written in the same markup as the real posts and preview cards (mentions,
links with a cut display text, hashtags, images).  Thread id and handle are
substituted throughout, so every page is a distinct thread.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path

REAL_PAGE = Path(__file__).parent / "fixtures" / "threadreaderapp" / "thread-1215710451343904768-QuinnyPig.html"
REAL_ROOT = "1215710451343904768"
REAL_HANDLE = "QuinnyPig"
WORDS = (
    "archive thread post reader search index capture record history memory public web page link image "
    "people words time place story note source library digital preserve keep read write share"
).split()
TAGS = ["archives", "OpenData", "WebArchiving", "Café", "history", "datasette", "GLAM", "digitalpreservation"]

POST = """<div class="row t-tweet">
<div class="col-12">
<div id="tweet_{position}" data-screenname="{handle}" data-tweet="{tweet_id}" class="content-tweet allow-preview" dir="auto">
{body}
<sup class="tw-permalink"><i class="fas fa-link"></i></sup>
</div>
</div>
</div>
"""


@dataclass(frozen=True)
class GeneratedThread:
    root_id: str
    handle: str
    tweet_ids: tuple[str, ...]
    html: bytes


@lru_cache(maxsize=1)
def _template() -> tuple[str, str]:
    page = REAL_PAGE.read_text(encoding="utf-8")
    start = page.index('<div class="t-main">') + len('<div class="t-main">\n')
    end = page.index("</div>\n</article>", start)
    return page[:start], page[end:]


def thread_page(root_id: str, handle: str, bodies: list[str], tweet_ids: list[str] | None = None) -> bytes:
    """A page for a thread whose posts have these HTML bodies (in Thread Reader App markup)."""
    head, tail = _template()
    tweet_ids = tweet_ids or [str(int(root_id) + 1000 * index) for index in range(len(bodies))]
    posts = "".join(
        POST.format(position=index + 1, handle=handle, tweet_id=tweet_id, body=body)
        for index, (tweet_id, body) in enumerate(zip(tweet_ids, bodies))
    )
    page = (head + posts + tail).replace(REAL_ROOT, root_id).replace(REAL_HANDLE, handle)
    return page.encode("utf-8")


def post_body(rng: random.Random, position: int, total: int) -> str:
    """One post's inner HTML with the entity markup Thread Reader App uses."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(12, 40))]
    parts = [escape(" ".join(words[:6]))]
    if rng.random() < 0.5:
        parts.append(f'<a class="entity-hashtag" href="/hashtag/{rng.choice(TAGS)}">#{rng.choice(TAGS)}</a>')
    if rng.random() < 0.3:
        handle = rng.choice(["mattstratton", "archivist", "datasette"])
        parts.append(f'<a class="entity-mention" href="https://twitter.com/{handle}">@{handle}</a>')
    parts.append(escape(" ".join(words[6:])))
    if rng.random() < 0.2:
        parts.append('<a class="entity-url" data-preview="true" href="https://example.org/research/paper-'
                     f'{position}.html">example.org/research/pap…</a>')
    if rng.random() < 0.1:
        image = f"https://pbs.twimg.com/media/EOG{position:05d}.jpg"
        parts.append(f'<span class="entity-image"><a href="{image}" target="_blank">'
                     f'<img alt="A photo {position}" src="/images/1px.png" data-src="{image}"></a></span>')
    return f"{' '.join(parts)}<br />\n{position}/{total}"


def generated_thread(index: int, posts: int = 25, seed: int = 0) -> GeneratedThread:
    """The index-th generated thread: ids and handle derived from the index, text from the seed."""
    rng = random.Random(seed * 1_000_003 + index)
    root_id = str(1_300_000_000_000_000_000 + index * 1_000_000)
    handle = f"author{index % 500}"
    tweet_ids = [str(int(root_id) + 1000 * position) for position in range(posts)]
    bodies = [post_body(rng, position + 1, posts) for position in range(posts)]
    return GeneratedThread(root_id, handle, tuple(tweet_ids), thread_page(root_id, handle, bodies, tweet_ids))
