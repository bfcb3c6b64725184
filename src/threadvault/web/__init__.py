"""The threadvault Datasette plugin: hook implementations only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from markupsafe import Markup, escape

from threadvault.web import views
from threadvault.web.search import search_page

if TYPE_CHECKING:  # datasette.app loads the plugins, this module among them
    from datasette.app import Datasette

ID = r"(?P<{}>[^/.]+)"  # tilde-encoded: no slash and no dot


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/search$", search_page),
        (rf"^/-/thread/{ID.format('thread_id')}$", views.thread_page),
        (rf"^/-/export/{ID.format('thread_id')}\.(?P<extension>md|html|json)$", views.export_thread_file),
        (rf"^/-/hashtag/{ID.format('tag')}$", views.hashtag_page),
        (rf"^/-/author/{ID.format('author_id')}$", views.author_page),
        (rf"^/-/capture/{ID.format('capture_id')}$", views.capture_page),
    ]


@hookimpl
def menu_links(datasette: Datasette) -> list[dict[str, str]]:
    return [{"href": views.search_url(datasette), "label": "Search posts"}]


@hookimpl
def table_actions(datasette: Datasette, table: str) -> list[dict[str, str]] | None:
    if table in ("posts", "threads", "hashtags", "authors"):
        return [{"href": views.search_url(datasette), "label": "Search and read threads"}]
    return None


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, datasette: Datasette) -> Markup | None:
    """Thread titles, a post's thread and position, and a capture's digest link to the reader's pages."""
    if table == "threads" and column == "title" and value:
        return _link(views.thread_url(datasette, row["id"]), value)
    if table == "posts" and column == "thread_id" and value:
        thread_id, label = (value["value"], value["label"]) if isinstance(value, dict) else (value, value)
        return _link(views.thread_url(datasette, thread_id), label or thread_id)
    if table == "posts" and column == "position" and value is not None:
        thread = row["thread_id"]
        thread_id = thread["value"] if isinstance(thread, dict) else thread
        return _link(views.thread_url(datasette, thread_id, value), f"{value} ↗")
    if table == "captures" and column == "sha256" and value:
        return _link(views.capture_url(datasette, row["id"]), value)
    return None


def _link(href: str, text: str) -> Markup:
    return Markup(f'<a href="{escape(href)}">{escape(text)}</a>')
