"""Full-text search over posts, with facets on hashtag, author, platform and month.

One set of filters builds every query on the page: the results, their count and each
facet, so a facet always counts what the results show.  The work is bounded for a
search that matches more posts than the match cap (2,000 unless the plugin setting
``match_cap`` says otherwise), and the page says so: the count stops at the cap, the
facets count the matches archived last (read in the full-text index's own order, so
they cost the cap and not the whole match) and relevance ranks those same matches;
newest and oldest still order every match.  Facets run under Datasette's facet time
limit; one that runs out is shown as such, never silently left out.
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
MATCH_CAP = 2_000
SORTS = {  # column names shared by the page's own query and its rows (see RESULTS)
    "relevance": "rank, created_at DESC",
    "newest": "created_at DESC, id DESC",
    "oldest": "created_at, id",
}
FILTERS = ("q", "tag", "author", "platform", "month", "mention")
ENTITY_FILTERS = {"tag": ("post_hashtags", "tag"), "mention": ("mentions", "handle")}  # the posts' table, column
OPEN, CLOSE = "\ue000", "\ue001"  # snippet() markers, turned into <mark> after escaping
PLATFORM = re.compile(r"[a-z0-9_-]+")
MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")

# The matches archived last, at most :cap of them: every match when there are no more.
MATCHES = "matches AS MATERIALIZED (SELECT {key} AS rowid{rank} {source} {where} ORDER BY {key} DESC LIMIT :cap)"
# One page of results.  Relevance ranks the bounded matches, reading posts only for the rows that
# rank as high as the page's last one (ties included); newest and oldest walk every match by time.
RANKED = (
    "WITH {matches}, page AS MATERIALIZED (SELECT matches.rowid, rank, created_at FROM matches"
    " JOIN posts ON posts.rowid = matches.rowid"
    " WHERE rank <= coalesce((SELECT rank FROM matches ORDER BY rank LIMIT 1 OFFSET :limit + :offset - 1), rank)"
    " ORDER BY {order} LIMIT :limit OFFSET :offset)"
)
TIMED = (
    "WITH page AS MATERIALIZED (SELECT posts.rowid, posts.created_at, posts.id FROM posts {index}"
    " WHERE {membership} ORDER BY {order} LIMIT :limit OFFSET :offset)"
)
RESULTS = """
SELECT posts.id, posts.thread_id, posts.position, posts.created_at, posts.author_id, posts.url,
  authors.handle, authors.display_name, threads.title, {snippet} AS snippet
FROM page JOIN posts ON posts.rowid = page.rowid {fts}
LEFT JOIN authors ON authors.id = posts.author_id
LEFT JOIN threads ON threads.id = posts.thread_id
ORDER BY {order}
"""
# Every facet in one statement, so the matching posts are read once: (facet, value, label, count) rows.
FACETS = {"tag": "Hashtag", "author": "Author", "platform": "Platform", "month": "Month"}
COUNTED = (
    "counted AS MATERIALIZED (SELECT posts.id, posts.author_id, substr(posts.created_at, 1, 7) AS month"
    " FROM matches JOIN posts ON posts.rowid = matches.rowid)"
)
FACET_SQL = (
    "SELECT 'tag' AS facet, value, '#' || hashtags.display AS label, count FROM"
    " (SELECT post_hashtags.tag AS value, count(*) AS count FROM counted"
    " JOIN post_hashtags ON post_hashtags.post_id = counted.id"
    " GROUP BY value ORDER BY count DESC, value LIMIT :size)"
    " JOIN hashtags ON hashtags.tag = value"
    " UNION ALL SELECT 'author', value, coalesce('@' || authors.handle, value), count FROM"
    " (SELECT author_id AS value, count(*) AS count FROM counted GROUP BY value ORDER BY count DESC, value LIMIT :size)"
    " LEFT JOIN authors ON authors.id = value"
    " UNION ALL SELECT * FROM (SELECT 'platform', substr(id, 1, instr(id, ':') - 1) AS value, NULL, count(*) AS count"
    " FROM counted GROUP BY value ORDER BY count DESC, value LIMIT :size)"
    " UNION ALL SELECT * FROM (SELECT 'month', month, NULL, count(*) FROM counted WHERE month IS NOT NULL"
    " GROUP BY month ORDER BY month DESC LIMIT :months)"
)


@dataclass
class Facet:
    name: str
    title: str
    values: list[dict[str, Any]] = field(default_factory=list)
    timed_out: bool = False


@dataclass(frozen=True)
class Query:
    """The search's filters as SQL: ``source`` and ``where`` select the matching posts."""

    source: str
    where: str
    params: dict[str, Any]
    text: bool  # a full-text search: the index decides what matches, posts_fts.rowid is the key

    @property
    def key(self) -> str:
        return "posts_fts.rowid" if self.text else "posts.rowid"

    def matches(self, rank: bool = False) -> str:
        return MATCHES.format(key=self.key, rank=", posts_fts.rank AS rank" if rank else "", source=self.source,
                              where=self.where)


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


def post_clauses(filters: dict[str, str], form: str) -> tuple[list[str], dict[str, Any]]:
    """The conditions of every filter but the words, with their parameters, in one of three forms.

    ``rows`` lets SQLite start from the few posts a hashtag, mention or author has; ``scan`` tests
    each post read in some other order (posts by rowid or by time, when most of them pass); any
    other form is a rowid column (a search's), tested against the set of posts those filters give,
    so a full-text search need not read each matching post for them.  Platform and month, which
    hold most posts, always test the post.
    """
    clauses: list[str] = []
    params: dict[str, Any] = {name: filters[name] for name in ("tag", "mention", "author") if name in filters}
    for name, (table, column) in ENTITY_FILTERS.items():
        if name in filters:
            posts = f"SELECT post_id FROM {table} WHERE {column} = :{name}"
            clauses.append(
                f"posts.id IN ({posts})" if form == "rows"
                else f"EXISTS ({posts} AND post_id = posts.id)" if form == "scan"
                else f"{form} IN (SELECT rowid FROM posts WHERE id IN ({posts}))"
            )
    if "author" in filters:
        clauses.append("posts.author_id = :author" if form in ("rows", "scan")
                       else f"{form} IN (SELECT rowid FROM posts WHERE author_id = :author)")
    if "platform" in filters:
        clauses.append("posts.id GLOB :platform")  # a range on the primary key: 'twitter:*'
        params["platform"] = filters["platform"] + ":*"
    if "month" in filters:
        year, month = (int(part) for part in MONTH.fullmatch(filters["month"]).groups())  # type: ignore[union-attr]
        clauses.append("posts.created_at >= :month_start AND posts.created_at < :month_end")
        following = f"{year + month // 12:04d}-{month % 12 + 1:02d}"
        params.update(month_start=filters["month"], month_end=following)
    return clauses, params


def build_query(filters: dict[str, str], scan: bool = False) -> Query:
    """The posts the filters select; with ``scan``, read in rowid order (for filters most posts pass).
    Only posts with text are in the full-text index, so a search reads ``posts`` only for the platform
    and month."""
    if "q" not in filters:
        clauses, params = post_clauses(filters, "scan" if scan else "rows")
        source = "FROM posts NOT INDEXED" if scan else "FROM posts"
        return Query(source, " AND ".join(["WHERE posts.text IS NOT NULL", *clauses]), params, text=False)
    clauses, params = post_clauses(filters, "+posts_fts.rowid")  # +: a set to test while reading the index
    params["q"] = escape_fts(filters["q"])
    joined = "platform" in filters or "month" in filters
    source = "FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid" if joined else "FROM posts_fts"
    return Query(source, " AND ".join(["WHERE posts_fts MATCH :q", *clauses]), params, text=True)


def results_sql(query: Query, filters: dict[str, str], sort: str, bounded: bool) -> str:
    """One page of results.  Newest and oldest over more posts than the cap walk the posts by time,
    testing each, instead of sorting every match; with words, only for the words alone."""
    order = SORTS[sort]
    if sort == "relevance":
        head = RANKED.format(matches=query.matches(rank=True), order=order)
    else:
        walk = bounded and (filters.keys() == {"q"} or not query.text)
        clauses, _ = post_clauses(filters, "posts.rowid" if query.text else "scan" if walk else "rows")
        words = "posts.rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH :q)"
        membership = " AND ".join([words if query.text else "posts.text IS NOT NULL", *clauses])
        head = TIMED.format(index="INDEXED BY idx_posts_created_at" if walk else "", membership=membership, order=order)
    text = query.text
    return head + RESULTS.format(
        snippet=f"snippet(posts_fts, 0, '{OPEN}', '{CLOSE}', '…', 40)" if text else "substr(posts.text, 1, 400)",
        fts="JOIN posts_fts ON posts_fts.rowid = page.rowid AND posts_fts MATCH :q" if text else "",
        order=", ".join(f"page.{part}" for part in order.split(", ")),
    )


def highlight(snippet: str | None) -> Markup:
    """A snippet escaped, with the matched terms in <mark>."""
    text = escape(snippet or "")
    return Markup(text.replace(OPEN, "<mark>").replace(CLOSE, "</mark>"))


async def facets(db: Database, query: Query, params: dict[str, Any], limit_ms: int) -> list[Facet]:
    """Each facet's values, most posts first (months newest first); all marked timed out if they ran out of time."""
    found = {name: Facet(name, title) for name, title in FACETS.items()}
    try:
        rows = await db.execute(
            f"WITH {query.matches()}, {COUNTED} {FACET_SQL}",
            {**params, "size": FACET_SIZE, "months": MONTHS_SHOWN},
            custom_time_limit=limit_ms,
        )
    except QueryInterrupted:
        return [Facet(name, title, timed_out=True) for name, title in FACETS.items()]
    for facet, value, label, number in rows.rows:
        found[facet].values.append({"value": value, "label": label, "count": number})
    for facet in found.values():  # a compound select keeps no order of its parts
        facet.values.sort(key=(lambda v: v["value"]) if facet.name == "month" else (lambda v: (-v["count"], v["value"])),
                          reverse=facet.name == "month")
    return list(found.values())


async def count(db: Database, query: Query, params: dict[str, Any], limit_ms: int) -> int | None:
    """How many posts match, counting one past the cap at most; None when even that took too long."""
    sql = f"SELECT count(*) FROM (SELECT 1 {query.source} {query.where} LIMIT :cap + 1)"
    try:
        return (await db.execute(sql, params, custom_time_limit=limit_ms)).first()[0]
    except QueryInterrupted:
        return None


def match_cap(datasette: Datasette) -> int:
    return int((datasette.plugin_config("threadvault") or {}).get("match_cap", MATCH_CAP))


async def search_page(request: Request, datasette: Datasette) -> Response:
    db = await archive(datasette, request)
    filters = parse_filters(request)
    sort = request.args.get("sort") or ("relevance" if "q" in filters else "newest")
    if sort not in SORTS or (sort == "relevance" and "q" not in filters):
        raise BadRequest(f"sort must be one of {', '.join(SORTS)} (relevance only with a search)")
    number = page_number(request)
    query = build_query(filters)
    cap = match_cap(datasette)
    params = {**query.params, "cap": cap}
    limit_ms = datasette.setting("facet_time_limit_ms")
    total = await count(db, query, params, limit_ms)
    bounded = total is None or total > cap
    window = {"limit": RESULTS_PER_PAGE + 1, "offset": (number - 1) * RESULTS_PER_PAGE}
    if bounded and not query.text:  # most posts pass: read them in rowid order until the cap
        query = build_query(filters, scan=True)
    results, counted = await asyncio.gather(
        db.execute(results_sql(query, filters, sort, bounded), {**params, **window}),
        facets(db, query, params, limit_ms),
    )
    found = [dict(row) for row in results.rows]
    context = {
        "filters": filters,
        "sort": sort,
        "sorts": [name for name in SORTS if name != "relevance" or "q" in filters],
        "results": found[:RESULTS_PER_PAGE],
        "total": total,
        "bounded": bounded,
        "cap": cap,
        "facets": counted,
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
