"""Full-text search over posts, with facets on hashtag, author, platform and month.

One set of filters builds every query on the page: the results, their count and each
facet, so a facet always counts what the results show.  Facets run under Datasette's
facet time limit; one that runs out is shown as such, never silently left out.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from datasette.database import Database, QueryInterrupted
from datasette.utils import escape_fts
from datasette.utils.asgi import BadRequest, Request, Response
from markupsafe import Markup

from threadvault.entities import normalise_tag
from threadvault.web.views import archive, page, page_number, search_url

if TYPE_CHECKING:  # datasette.app loads the plugins, this module among them
    from datasette.app import Datasette

RESULTS_PER_PAGE = 20
FACET_SIZE = 10
MONTHS_SHOWN = 24
SORTS = {
    "relevance": "posts_fts.rank, posts.created_at DESC",
    "newest": "posts.created_at DESC, posts.id DESC",
    "oldest": "posts.created_at, posts.id",
}
FILTERS = ("q", "tag", "author", "platform", "month", "mention")
OPEN, CLOSE = "\ue000", "\ue001"  # snippet() markers, turned into <mark> after escaping
PLATFORM = re.compile(r"[a-z0-9_-]+")
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

RESULTS = """
SELECT posts.id, posts.thread_id, posts.position, posts.created_at, posts.author_id, posts.url,
  authors.handle, authors.display_name, threads.title, {snippet} AS snippet
{source}
LEFT JOIN authors ON authors.id = posts.author_id
LEFT JOIN threads ON threads.id = posts.thread_id
{where}
ORDER BY {order} LIMIT :limit OFFSET :offset
"""
FACETS = {
    "tag": (
        "Hashtag",
        "SELECT post_hashtags.tag AS value, '#' || hashtags.display AS label, count(*) AS count"
        " FROM post_hashtags JOIN hashtags ON hashtags.tag = post_hashtags.tag"
        " WHERE post_hashtags.post_id IN (SELECT posts.id {source} {where})"
        " GROUP BY post_hashtags.tag ORDER BY count DESC, value LIMIT :size",
    ),
    "author": (
        "Author",
        "SELECT value, coalesce('@' || authors.handle, value) AS label, count FROM"
        " (SELECT posts.author_id AS value, count(*) AS count {source} {where}"
        " GROUP BY posts.author_id ORDER BY count DESC, value LIMIT :size)"
        " LEFT JOIN authors ON authors.id = value ORDER BY count DESC, value",
    ),
    "platform": (
        "Platform",
        "SELECT substr(posts.id, 1, instr(posts.id, ':') - 1) AS value, NULL AS label, count(*) AS count"
        " {source} {where} GROUP BY value ORDER BY count DESC, value LIMIT :size",
    ),
    "month": (
        "Month",
        "SELECT substr(posts.created_at, 1, 7) AS value, NULL AS label, count(*) AS count"
        " {source} {where} AND posts.created_at IS NOT NULL GROUP BY value ORDER BY value DESC LIMIT :months",
    ),
}


@dataclass
class Facet:
    name: str
    title: str
    values: list[dict[str, Any]] = field(default_factory=list)
    timed_out: bool = False


def parse_filters(request: Request) -> dict[str, str]:
    """The search's filters from the query string, checked and normalised."""
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    if filters["tag"]:
        filters["tag"] = normalise_tag(filters["tag"].lstrip("#＃"))
    if filters["mention"]:
        filters["mention"] = filters["mention"].lstrip("@＠")
    if filters["platform"] and not PLATFORM.fullmatch(filters["platform"]):
        raise BadRequest(f"platform {filters['platform']!r} is not a platform name")
    if filters["month"] and not MONTH.fullmatch(filters["month"]):
        raise BadRequest(f"month {filters['month']!r} is not YYYY-MM")
    return {name: value for name, value in filters.items() if value}


def where_clause(filters: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The FROM and WHERE parts shared by every query, with their parameters."""
    source, clauses, params = "FROM posts", ["posts.text IS NOT NULL"], {}
    if "q" in filters:
        source = "FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid"
        clauses.append("posts_fts MATCH :q")
        params["q"] = escape_fts(filters["q"])
    if "tag" in filters:
        clauses.append("posts.id IN (SELECT post_id FROM post_hashtags WHERE tag = :tag)")
        params["tag"] = filters["tag"]
    if "mention" in filters:
        clauses.append("posts.id IN (SELECT post_id FROM mentions WHERE handle = :mention)")
        params["mention"] = filters["mention"]
    if "author" in filters:
        clauses.append("posts.author_id = :author")
        params["author"] = filters["author"]
    if "platform" in filters:
        clauses.append("posts.id GLOB :platform")  # a range on the primary key: 'twitter:*'
        params["platform"] = filters["platform"] + ":*"
    if "month" in filters:
        year, month = (int(part) for part in MONTH.fullmatch(filters["month"]).groups())  # type: ignore[union-attr]
        clauses.append("posts.created_at >= :month_start AND posts.created_at < :month_end")
        following = f"{year + month // 12:04d}-{month % 12 + 1:02d}"
        params.update(month_start=filters["month"], month_end=following)
    return source, "WHERE " + " AND ".join(clauses), params


def highlight(snippet: str | None) -> Markup:
    """A snippet escaped, with the matched terms in <mark>."""
    text = escape(snippet or "")
    return Markup(text.replace(OPEN, "<mark>").replace(CLOSE, "</mark>"))


async def facet(db: Database, name: str, source: str, where: str, params: dict[str, Any], limit_ms: int) -> Facet:
    title, sql = FACETS[name]
    result = Facet(name, title)
    try:
        found = await db.execute(
            sql.format(source=source, where=where),
            {**params, "size": FACET_SIZE, "months": MONTHS_SHOWN},
            custom_time_limit=limit_ms,
        )
    except QueryInterrupted:
        result.timed_out = True
        return result
    result.values = [dict(row) for row in found.rows]
    return result


async def count(db: Database, source: str, where: str, params: dict[str, Any], limit_ms: int) -> int | None:
    try:
        return (await db.execute(f"SELECT count(*) {source} {where}", params, custom_time_limit=limit_ms)).first()[0]
    except QueryInterrupted:
        return None


async def search_page(request: Request, datasette: Datasette) -> Response:
    db = await archive(datasette, request)
    filters = parse_filters(request)
    sort = request.args.get("sort") or ("relevance" if "q" in filters else "newest")
    if sort not in SORTS or (sort == "relevance" and "q" not in filters):
        raise BadRequest(f"sort must be one of {', '.join(SORTS)} (relevance only with a search)")
    number = page_number(request)
    source, where, params = where_clause(filters)
    snippet = f"snippet(posts_fts, 0, '{OPEN}', '{CLOSE}', '…', 40)" if "q" in filters else "substr(posts.text, 1, 400)"
    sql = RESULTS.format(snippet=snippet, source=source, where=where, order=SORTS[sort])
    window = {"limit": RESULTS_PER_PAGE + 1, "offset": (number - 1) * RESULTS_PER_PAGE}
    limit_ms = datasette.setting("facet_time_limit_ms")
    results, total, *facets = await asyncio.gather(
        db.execute(sql, {**params, **window}),
        count(db, source, where, params, limit_ms),
        *(facet(db, name, source, where, params, limit_ms) for name in FACETS),
    )
    found = [dict(row) for row in results.rows]
    context = {
        "filters": filters,
        "sort": sort,
        "sorts": [name for name in SORTS if name != "relevance" or "q" in filters],
        "results": found[:RESULTS_PER_PAGE],
        "total": total,
        "facets": facets,
        "page": number,
        "has_next": len(found) > RESULTS_PER_PAGE,
        "highlight": highlight,
        "with_filters": lambda **changes: _with_filters(datasette, filters, request.args.get("sort"), changes),
    }
    return await page(datasette, request, "threadvault-search.html", db, context)


def _with_filters(datasette: Datasette, filters: dict[str, str], sort: str | None, changes: dict[str, Any]) -> str:
    """This search's URL with some filters changed (None removes one); back to page 1."""
    wanted = {**filters, "sort": sort, **changes}
    if wanted["sort"] == "relevance" and not wanted.get("q"):
        wanted["sort"] = None
    return search_url(datasette, **wanted)
