"""A thread as a document a reader can keep: Markdown, a self-contained HTML page, or JSON.

    export_thread(db, thread_id, fmt)   the whole thread in one of FORMATS
    render(thread, fmt)                 the same from a ThreadView already read
    text_html(segments, href)           a post's text as escaped HTML (shared with the thread page)

Archived text is inert in every format: HTML is escaped, Markdown has its markup
characters backslash-escaped, and only http(s) targets become links.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict
from html import escape
from urllib.parse import quote

import sqlite_utils

from threadvault import __version__
from threadvault.model import Link, Media
from threadvault.reading import PostView, Segment, ThreadView, read_thread, safe_url

FORMATS = ("markdown", "html", "json")
EXTENSIONS = {"markdown": "md", "html": "html", "json": "json"}
MEDIA_TYPES = {"markdown": "text/markdown", "html": "text/html", "json": "application/json"}
MISSING = "This post could not be read (deleted, protected or otherwise unavailable)."
LINK_REL = "nofollow noopener noreferrer"
MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|~]|(?<![^\W_])_|_(?![^\W_]))")  # "_" inside a word is no markup
MARKDOWN_LINE_START = re.compile(r"^(\s*)(\d+)?([#>+=-]|(?<=\d)[.)])", re.MULTILINE)  # "- ", "# ", "> ", "1. "
MARKDOWN_ENTITY = re.compile(r"&(?=#?\w+;)")
ISO_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d)?Z$")


def export_thread(db: sqlite_utils.Database, thread_id: str, fmt: str) -> str:
    """The whole thread ``thread_id`` as ``fmt`` (one of FORMATS); NotInArchive if there is no such thread."""
    return render(read_thread(db.conn, thread_id), fmt)


def render(thread: ThreadView, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return {"markdown": to_markdown, "html": to_html, "json": to_json}[fmt](thread)


def human_time(iso: str | None) -> str:
    """``2026-08-19T15:53:24Z`` as ``2026-08-19 15:53 UTC``; anything else as it is."""
    match = ISO_TIME.match(iso or "")
    return f"{match[1]} {match[2]} UTC" if match else (iso or "")


def text_html(segments: Iterable[Segment], href: Callable[[Segment], str | None] = lambda segment: None) -> str:
    """Escaped HTML of a post's text.  Links go to their own target; ``href`` gives hashtags and mentions one."""
    parts = []
    for segment in segments:
        target = segment.target if segment.kind == "link" else href(segment) if segment.kind != "text" else None
        text = escape(segment.text)
        if segment.kind == "link" and target:
            parts.append(f'<a href="{escape(target)}" title="{escape(target)}" rel="{LINK_REL}">{text}</a>')
        elif target:
            parts.append(f'<a class="{segment.kind}" href="{escape(target)}">{text}</a>')
        elif segment.kind == "link":
            parts.append(f'<span class="unlinked" title="Link target not archived or not http(s)">{text}</span>')
        else:
            parts.append(text)
    return "".join(parts)


# -- JSON ------------------------------------------------------------------------------------------


def to_json(thread: ThreadView) -> str:
    row = dict(thread.row, discovered=json.loads(thread.row.get("discovered") or "[]"))
    document = {
        "threadvault": __version__,
        "thread": row,
        "author": asdict(thread.author) if thread.author else None,
        "posts": [asdict(post) for post in thread.posts],
        "captures": list(thread.captures),
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# -- Markdown --------------------------------------------------------------------------------------


def to_markdown(thread: ThreadView) -> str:
    row = thread.row
    lines = [f"# {_md_text(row['title'] or row['id'])}", "", _md_byline(thread), ""]
    source = safe_url(row["url"])
    if source:
        lines += [f"Archived from <{_md_url(source)}> ({_md_text(row['source'] or '')}).", ""]
    for post in thread.posts:
        lines += ["---", "", *_md_post(post), ""]
    if thread.captures:
        lines += ["---", "", "Captures:", ""]
        lines += [f"- {capture['fetched_at']} {_md_text(capture['url'])} sha256:{capture['sha256']}" for capture in
                  thread.captures]
        lines.append("")
    return "\n".join(lines)


def _md_byline(thread: ThreadView) -> str:
    row, author = thread.row, thread.author
    parts = [f"{row['post_count']} posts", f"{human_time(row['first_post_at'])} to {human_time(row['last_post_at'])}"]
    if author:
        name = f"**{_md_text(author.display_name)}** " if author.display_name else ""
        handle = _md_text(f"@{author.handle}")
        profile = safe_url(author.url)
        parts.insert(0, name + (f"([{handle}]({_md_link_target(profile)}))" if profile else f"({handle})"))
    return " · ".join(parts)


def _md_post(post: PostView) -> list[str]:
    lines = [f'<a id="{_anchor(post)}"></a>', ""]
    if post.missing:
        lines += [f"*{MISSING}*", ""]
    elif post.text:
        text = "".join(_md_segment(segment) for segment in post.segments)
        lines += [_md_paragraphs(_md_line_starts(text)), ""]
    lines += [_md_media(media) for media in post.media] + ([""] if post.media else [])
    lines += [f"- {_md_unseen(link)}" for link in post.unseen_links] + ([""] if post.unseen_links else [])
    stamp = f"{post.position} · {human_time(post.created_at)}"
    original = safe_url(post.url)
    lines.append(f"[{stamp}]({_md_link_target(original)})" if original else stamp)
    return lines


def _md_segment(segment: Segment) -> str:
    if segment.kind == "link" and segment.target:
        return f"[{_md_inline(segment.text)}]({_md_link_target(segment.target)})"
    return _md_inline(segment.text)


def _md_unseen(link: Link) -> str:
    target = safe_url(link.url)
    shown = _md_text(link.display_text or link.url or "")
    return f"[{shown}]({_md_link_target(target)})" if target else shown


def _md_media(media: Media) -> str:
    alt = _md_text(media.alt_text or "")
    url = safe_url(media.url)
    if url is None:
        return f"({media.kind}: {alt})"
    if media.kind == "image":
        return f"![{alt}]({_md_link_target(url)})"
    return f"[{media.kind}{': ' + alt if alt else ''}]({_md_link_target(url)})"


def _md_inline(text: str) -> str:
    """Characters that would start markup, inline HTML or an entity, backslash-escaped."""
    return MARKDOWN_ENTITY.sub(r"\\&", MARKDOWN_SPECIAL.sub(r"\\\1", text))


def _md_text(text: str) -> str:
    """``_md_inline`` and the marks that start a heading, quote or list at the start of a line."""
    return _md_line_starts(_md_inline(text))


def _md_line_starts(text: str) -> str:
    return MARKDOWN_LINE_START.sub(lambda match: f"{match[1]}{match[2] or ''}\\{match[3]}", text)


def _md_paragraphs(text: str) -> str:
    """Line breaks kept as hard breaks, blank lines as paragraph breaks."""
    return re.sub(r"(?<!\n)\n(?!\n)", "\\\\\n", text.strip("\n"))


def _md_url(url: str) -> str:
    return quote(url, safe="/:?#[]@!$&'()*+,;=%~")


def _md_link_target(url: str) -> str:
    return f"<{_md_url(url)}>"


# -- HTML ------------------------------------------------------------------------------------------

HTML_CSS = """
body { font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; line-height: 1.5;
  color: #111; }
header p { color: #555; margin: 0.2em 0; }
.post { border-top: 1px solid #ddd; padding: 0.8em 0; }
.post .text { white-space: pre-wrap; overflow-wrap: anywhere; }
.post.missing .text { color: #777; font-style: italic; }
.post figure { margin: 0.6em 0; }
.post img, .post video { max-width: 100%; height: auto; }
.post figcaption, .post .meta, .captures { color: #555; font-size: 0.85em; }
.unlinked { text-decoration: underline dotted; }
code { font-size: 0.85em; overflow-wrap: anywhere; }
"""
HTML_POLICY = "default-src 'none'; img-src http: https:; media-src http: https:; style-src 'unsafe-inline'"


def to_html(thread: ThreadView) -> str:
    row = thread.row
    title = escape(row["title"] or row["id"])
    lang = next((post.lang for post in thread.posts if post.lang), None)
    posts = "\n".join(_html_post(post) for post in thread.posts)
    captures = "".join(
        f"<li>{escape(capture['fetched_at'])} <code>{escape(capture['url'])}</code>"
        f" sha256:<code>{escape(capture['sha256'])}</code></li>"
        for capture in thread.captures
    )
    return f"""<!DOCTYPE html>
<html lang="{escape(lang or 'und')}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{HTML_POLICY}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="threadvault {__version__}">
<title>{title}</title>
<style>{HTML_CSS}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>{_html_byline(thread)}</p>
{_html_source(row)}
</header>
<main>
{posts}
</main>
<footer class="captures"><p>Captures:</p><ul>{captures}</ul></footer>
</body>
</html>
"""


def _html_byline(thread: ThreadView) -> str:
    row, author = thread.row, thread.author
    parts = [f"{row['post_count']} posts", f"{human_time(row['first_post_at'])} to {human_time(row['last_post_at'])}"]
    if author:
        handle = escape(f"@{author.handle}")
        profile = safe_url(author.url)
        link = f'<a href="{escape(profile)}" rel="{LINK_REL}">{handle}</a>' if profile else handle
        name = f"<strong>{escape(author.display_name)}</strong> " if author.display_name else ""
        parts.insert(0, f"{name}({link})")
    return " · ".join(parts)


def _html_source(row: dict) -> str:
    url = safe_url(row["url"])
    if not url:
        return ""
    link = f'<a href="{escape(url)}" rel="{LINK_REL}">{escape(url)}</a>'
    return f"<p>Archived from {link} ({escape(row['source'] or '')}).</p>"


def _html_post(post: PostView) -> str:
    classes = "post missing" if post.missing else "post"
    text = escape(MISSING) if post.missing else text_html(post.segments)
    media = "".join(_html_media(media) for media in post.media) + _html_unseen(post.unseen_links)
    stamp = f"{post.position} · {escape(human_time(post.created_at))}"
    original = safe_url(post.url)
    meta = f'<a href="{escape(original)}" rel="{LINK_REL}">{stamp}</a>' if original else stamp
    return (
        f'<article class="{classes}" id="{_anchor(post)}">\n<div class="text">{text}</div>\n{media}'
        f'<p class="meta">{meta}</p>\n</article>'
    )


def _html_unseen(links: tuple[Link, ...]) -> str:
    if not links:
        return ""
    shown = [Segment(link.display_text or link.url or "", "link", safe_url(link.url)) for link in links]
    return "<ul class=\"links\">" + "".join(f"<li>{text_html([segment])}</li>" for segment in shown) + "</ul>\n"


def _html_media(media: Media) -> str:
    url, alt = safe_url(media.url), escape(media.alt_text or "")
    caption = f"<figcaption>{alt}</figcaption>" if alt else ""
    if url is None:
        return f"<figure><figcaption>{escape(media.kind)}: {alt}</figcaption></figure>\n"
    if media.kind == "image":
        return f'<figure><img src="{escape(url)}" alt="{alt}" loading="lazy">{caption}</figure>\n'
    loop = " loop muted" if media.kind == "gif" else ""
    return f'<figure><video src="{escape(url)}" controls{loop} preload="none"></video>{caption}</figure>\n'


def _anchor(post: PostView) -> str:
    return f"post-{post.position}"
