"""The reader's pages: a thread, a hashtag, an author, a raw capture, and a thread's exports.

Every page reads the archive through Datasette's read-only connections, checks the
same view permissions as Datasette's own table pages, and raises ``NotFound`` for an
unknown id.  Ids travel tilde-encoded in one path segment (Mastodon and Bluesky ids hold
slashes); Datasette routes on the raw path, so each view decodes its own.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import nh3
from datasette.database import Database
from datasette.utils import path_with_replaced_args, tilde_decode, tilde_encode
from datasette.utils.asgi import BadRequest, NotFound, Request, Response
from markupsafe import Markup

from threadvault.captures import read_capture
from threadvault.entities import normalise_tag
from threadvault.errors import CaptureCorrupt
from threadvault.export import EXTENSIONS, MEDIA_TYPES, human_time, render, text_html
from threadvault.jobs import warc_dir_for
from threadvault.reading import NotInArchive, PostView, Segment, read_thread, safe_url

if TYPE_CHECKING:  # datasette.app loads the plugins, this module among them
    from datasette.app import Datasette

POSTS_PER_PAGE = 200
ROWS_PER_PAGE = 100
MAX_SHOWN_BODY = 2_000_000  # characters of a captured body shown on its page
TEXT_TYPES = re.compile(r"^(text/|application/([\w.+-]*\+)?(json|xml|javascript|ecmascript))", re.IGNORECASE)
ARCHIVE_TABLES = ("threads", "posts", "captures")


# -- URLs ------------------------------------------------------------------------------------------


def _segment(value: str) -> str:
    """An id as one path segment: Datasette's tilde encoding, keeping ``:`` and ``@`` readable."""
    return tilde_encode(value).replace("~3A", ":").replace("~40", "@")


def url_var(request: Request, name: str) -> str:
    """An id from the path.  Datasette redirects a percent-encoded path to its tilde form, so both arrive here."""
    return tilde_decode(request.url_vars[name])


def thread_url(datasette: Datasette, thread_id: str, position: int | None = None) -> str:
    url = datasette.urls.path(f"-/thread/{_segment(thread_id)}")
    if position is None:
        return url
    page = (position - 1) // POSTS_PER_PAGE + 1
    return f"{url}{f'?page={page}' if page > 1 else ''}#post-{position}"


def search_url(datasette: Datasette, **params: Any) -> str:
    query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return datasette.urls.path("-/search") + (f"?{query}" if query else "")


def author_url(datasette: Datasette, author_id: str) -> str:
    return datasette.urls.path(f"-/author/{_segment(author_id)}")


def hashtag_url(datasette: Datasette, tag: str) -> str:
    return datasette.urls.path(f"-/hashtag/{_segment(tag)}")


def capture_url(datasette: Datasette, capture_id: str, view: str | None = None) -> str:
    url = datasette.urls.path(f"-/capture/{_segment(capture_id)}")
    return f"{url}?view={view}" if view else url


def export_url(datasette: Datasette, thread_id: str, fmt: str) -> str:
    return datasette.urls.path(f"-/export/{_segment(thread_id)}.{EXTENSIONS[fmt]}")


def url_helpers(datasette: Datasette) -> dict[str, Any]:
    """The URL builders and filters every reader template uses."""
    return {
        "thread_url": lambda thread_id, position=None: thread_url(datasette, thread_id, position),
        "search_url": lambda **params: search_url(datasette, **params),
        "author_url": lambda author_id: author_url(datasette, author_id),
        "hashtag_url": lambda tag: hashtag_url(datasette, tag),
        "capture_url": lambda capture_id, view=None: capture_url(datasette, capture_id, view),
        "export_url": lambda thread_id, fmt: export_url(datasette, thread_id, fmt),
        "safe_url": safe_url,
        "when": human_time,
        "reader_css": datasette.urls.static_plugins("threadvault", "threadvault.css"),
    }


# -- shared ----------------------------------------------------------------------------------------


async def archive(datasette: Datasette, request: Request, table: str = "posts") -> Database:
    """The database holding the archive, once the actor may see ``table`` in it."""
    for db in datasette.databases.values():
        if all([await db.table_exists(name) for name in ARCHIVE_TABLES]):
            await datasette.ensure_permissions(
                request.actor, [("view-table", (db.name, table)), ("view-database", db.name), "view-instance"]
            )
            return db
    raise NotFound("No threadvault archive is being served here")


def page_number(request: Request) -> int:
    value = request.args.get("page", "1")
    if not value.isdigit() or int(value) < 1:
        raise BadRequest("page must be a positive whole number")
    return int(value)


async def page(
    datasette: Datasette, request: Request, template: str, db: Database, context: dict[str, Any]
) -> Response:
    context = {
        "database": db.name,
        "page_url": lambda number: path_with_replaced_args(request, {"page": number if number > 1 else None}),
        **url_helpers(datasette),
        **context,
    }
    return Response.html(await datasette.render_template(template, context, request=request))


async def rows(db: Database, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in (await db.execute(sql, params)).rows]


# -- thread ----------------------------------------------------------------------------------------


async def thread_page(request: Request, datasette: Datasette) -> Response:
    db = await archive(datasette, request)
    thread_id = url_var(request, "thread_id")
    number = page_number(request)
    first = (number - 1) * POSTS_PER_PAGE + 1
    try:
        thread = await db.execute_fn(lambda conn: read_thread(conn, thread_id, first, first + POSTS_PER_PAGE - 1))
    except NotInArchive:
        raise NotFound(f"No thread {thread_id} in this archive") from None
    pages = max(1, -(-thread.last_position // POSTS_PER_PAGE))
    if number > pages:
        raise NotFound(f"Thread {thread_id} has {pages} page{'s' if pages > 1 else ''}")

    def href(segment: Segment) -> str | None:
        field = "tag" if segment.kind == "hashtag" else "mention"
        return search_url(datasette, **{field: segment.target})

    context = {
        "thread": thread,
        "page": number,
        "pages": pages,
        "post_text": lambda post: Markup(text_html(post.segments, href)),
        "link_html": lambda link: Markup(text_html([Segment(link.display_text or link.url or "", "link", safe_url(link.url))])),
        "thread_table_url": datasette.urls.table(db.name, "posts") + "?" + urlencode({"thread_id": thread_id}),
        "row_url": datasette.urls.row(db.name, "threads", tilde_encode(thread_id)),
        "anchor": _anchor,
    }
    return await page(datasette, request, "threadvault-thread.html", db, context)


def _anchor(post: PostView) -> str:
    return f"post-{post.position}"


async def export_thread_file(request: Request, datasette: Datasette) -> Response:
    db = await archive(datasette, request)
    thread_id = url_var(request, "thread_id")
    fmt = {extension: fmt for fmt, extension in EXTENSIONS.items()}[request.url_vars["extension"]]
    try:
        document = await db.execute_fn(lambda conn: render(read_thread(conn, thread_id), fmt))
    except NotInArchive:
        raise NotFound(f"No thread {thread_id} in this archive") from None
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", thread_id).strip("-")[:120]
    headers = {
        "content-disposition": f'attachment; filename="threadvault-{name}.{EXTENSIONS[fmt]}"',
        "content-security-policy": "sandbox",
        "x-content-type-options": "nosniff",
    }
    return Response(document, headers=headers, content_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8")


# -- hashtag and author ----------------------------------------------------------------------------

HASHTAG_MONTHS = """
SELECT substr(posts.created_at, 1, 7) AS month, count(*) AS posts, count(DISTINCT posts.thread_id) AS threads
FROM post_hashtags JOIN posts ON posts.id = post_hashtags.post_id
WHERE post_hashtags.tag = :tag AND posts.created_at IS NOT NULL
GROUP BY month ORDER BY month
"""
HASHTAG_THREADS = """
SELECT threads.id, threads.title, threads.first_post_at, threads.post_count, threads.author_id, authors.handle,
  count(*) AS uses
FROM post_hashtags JOIN posts ON posts.id = post_hashtags.post_id JOIN threads ON threads.id = posts.thread_id
LEFT JOIN authors ON authors.id = threads.author_id
WHERE post_hashtags.tag = :tag
GROUP BY threads.id ORDER BY threads.first_post_at DESC, threads.id LIMIT :limit OFFSET :offset
"""
AUTHOR_THREADS = """
SELECT id, title, platform, source, first_post_at, last_post_at, post_count FROM threads
WHERE author_id = :author ORDER BY first_post_at DESC, id LIMIT :limit OFFSET :offset
"""
AUTHOR_COUNTS = """
SELECT (SELECT count(*) FROM threads WHERE author_id = :author) AS threads,
  (SELECT count(*) FROM posts WHERE author_id = :author) AS posts
"""


async def hashtag_page(request: Request, datasette: Datasette) -> Response:
    db = await archive(datasette, request)
    tag = normalise_tag(url_var(request, "tag"))
    found = await rows(db, "SELECT tag, display FROM hashtags WHERE tag = :tag", {"tag": tag})
    if not found:
        raise NotFound(f"No hashtag #{tag} in this archive")
    number = page_number(request)
    window = {"tag": tag, "limit": ROWS_PER_PAGE + 1, "offset": (number - 1) * ROWS_PER_PAGE}
    months = await rows(db, HASHTAG_MONTHS, {"tag": tag})
    threads = await rows(db, HASHTAG_THREADS, window)
    context = {
        "hashtag": found[0],
        "months": months,
        "busiest": max((month["posts"] for month in months), default=1),
        "threads": threads[:ROWS_PER_PAGE],
        "page": number,
        "has_next": len(threads) > ROWS_PER_PAGE,
    }
    return await page(datasette, request, "threadvault-hashtag.html", db, context)


async def author_page(request: Request, datasette: Datasette) -> Response:
    db = await archive(datasette, request, "threads")
    author_id = url_var(request, "author_id")
    found = await rows(db, "SELECT * FROM authors WHERE id = :author", {"author": author_id})
    if not found:
        raise NotFound(f"No author {author_id} in this archive")
    number = page_number(request)
    window = {"author": author_id, "limit": ROWS_PER_PAGE + 1, "offset": (number - 1) * ROWS_PER_PAGE}
    threads = await rows(db, AUTHOR_THREADS, window)
    context = {
        "author": found[0],
        "counts": (await rows(db, AUTHOR_COUNTS, {"author": author_id}))[0],
        "threads": threads[:ROWS_PER_PAGE],
        "page": number,
        "has_next": len(threads) > ROWS_PER_PAGE,
    }
    return await page(datasette, request, "threadvault-author.html", db, context)


# -- raw capture -----------------------------------------------------------------------------------


def sanitise(html: str) -> str:
    """Archived HTML through an allow-list: no scripts, styles, event handlers or non-http(s) links."""
    return nh3.clean(
        html,
        url_schemes={"http", "https"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


async def capture_page(request: Request, datasette: Datasette) -> Response:
    db = await archive(datasette, request, "captures")
    capture_id = url_var(request, "capture_id")
    found = await rows(db, "SELECT * FROM captures WHERE id = :id", {"id": capture_id})
    if not found or db.path is None:
        raise NotFound(f"No capture {capture_id} in this archive")
    row = found[0]
    threads = await rows(
        db,
        "SELECT threads.id, threads.title FROM thread_captures JOIN threads ON threads.id = thread_captures.thread_id"
        " WHERE thread_captures.capture_id = :id ORDER BY threads.id",
        {"id": capture_id},
    )
    context: dict[str, Any] = {"capture": row, "threads": threads, "view": request.args.get("view", "source")}
    try:
        capture = await asyncio.to_thread(read_capture, warc_dir_for(Path(db.path)), row)
    except CaptureCorrupt as error:
        context["error"] = str(error)
        return await page(datasette, request, "threadvault-capture.html", db, context)
    textual = bool(TEXT_TYPES.match(capture.content_type or "text/plain"))
    text = capture.text() if textual else ""
    context.update(
        headers=capture.headers,
        body_size=len(capture.body),
        textual=textual,
        body=text[:MAX_SHOWN_BODY],
        cut=len(text) > MAX_SHOWN_BODY,
        is_html=capture.content_type in ("text/html", "application/xhtml+xml"),
    )
    if context["view"] == "sanitised" and context["is_html"]:
        context["sanitised"] = Markup(sanitise(text[:MAX_SHOWN_BODY]))
    return await page(datasette, request, "threadvault-capture.html", db, context)
