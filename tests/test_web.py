"""The reader's pages, through Datasette as `threadvault serve` builds it (the plugin loaded by its entry point)."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlite_utils
import yaml
from bs4 import BeautifulSoup
from datasette.app import Datasette

from sample_archive import ANA, HOSTILE, LONG_ID, MIRA, QUINNY, UNSAFE, build_archive, save_unsafe_targets
from threadvault import store
from threadvault.export import export_thread
from threadvault.web.server import build_datasette
from threadvault.web.views import sanitise

METADATA = Path(__file__).parent.parent / "metadata.yml"
ANA_PATH = "/-/thread/twitter:2090104857600000000"
MIRA_PATH = "/-/thread/mastodon:https:~2F~2Fsocial~2Eexample~2Fusers~2Fmira~2Fstatuses~2F112025273054269555"


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("archive") / "threadvault.db")


@pytest.fixture
def ds(db_path: Path) -> Datasette:
    return build_datasette(db_path, METADATA)


@pytest.fixture(scope="module")
def db(db_path: Path) -> sqlite_utils.Database:
    return sqlite_utils.Database(db_path)


async def soup_of(ds: Datasette, path: str, status: int = 200) -> BeautifulSoup:
    response = await ds.client.get(path)
    assert response.status_code == status, path
    return BeautifulSoup(response.text, "html.parser")


def texts(soup: BeautifulSoup, selector: str) -> list[str]:
    return [" ".join(element.get_text(" ").split()) for element in soup.select(selector)]


@pytest.mark.asyncio
async def test_plugin_is_loaded_from_its_entry_point(ds: Datasette) -> None:
    plugins = (await ds.client.get("/-/plugins.json")).json()
    ours = next(plugin for plugin in plugins if plugin["name"] == "threadvault")
    assert ours["templates"] and ours["static"]
    assert {"register_routes", "render_cell", "menu_links"} <= set(ours["hooks"])
    assert (await ds.client.get("/-/static-plugins/threadvault/threadvault.css")).status_code == 200
    soup = await soup_of(ds, "/")
    assert soup.select_one('.nav-menu a[href="/-/search"]').get_text() == "Search posts"


# -- thread page -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_thread_page_reads_as_the_thread(ds: Datasette, db: sqlite_utils.Database) -> None:
    soup = await soup_of(ds, f"/-/thread/{QUINNY}")
    stored = list(db.query("SELECT position, text, created_at, url FROM posts WHERE thread_id = ? ORDER BY position",
                           [QUINNY]))
    posts = soup.select("li.thread-post")
    assert [post["id"] for post in posts] == [f"post-{row['position']}" for row in stored]
    assert [post.select_one(".post-text").get_text() for post in posts] == [row["text"] for row in stored]
    assert [post.select_one("time")["datetime"] for post in posts] == [row["created_at"] for row in stored]
    assert [post.find("a", string="original")["href"] for post in posts] == [row["url"] for row in stored]
    assert soup.select_one("h1").get_text() == db["threads"].get(QUINNY)["title"]
    byline = soup.select_one(".thread-byline")
    assert byline.select_one("a")["href"] == "/-/author/twitter:quinnypig"
    assert " ".join(byline.get_text().split()) == (
        "Corey Quinn @QuinnyPig · 102 posts · 2020-01-10 19:02 UTC to 2020-01-11 08:06 UTC · twitter"
    )


@pytest.mark.asyncio
async def test_thread_page_images_links_hashtags_and_mentions(ds: Datasette) -> None:
    soup = await soup_of(ds, ANA_PATH)
    third = soup.select_one("#post-3")
    assert [(img["src"], img["alt"]) for img in third.select("img")] == [
        ("https://pbs.twimg.com/media/HAnaRdRm01Xq.jpg", "Reading room of the archive, rows of grey boxes"),
        ("https://pbs.twimg.com/media/HAnaStck02Yr.png", ""),
        ("https://pbs.twimg.com/media/HAnaBox003Zs.jpg", ""),
    ]
    assert texts(third, "figcaption") == ["Reading room of the archive, rows of grey boxes", "No description",
                                          "No description"]
    first = soup.select_one("#post-1 .post-text")
    assert [(a.get_text(), a["href"]) for a in first.select("a.hashtag")] == [
        ("#archives", "/-/search?tag=archives"),
        ("#OpenData", "/-/search?tag=opendata"),
        ("#DigitalPreservation", "/-/search?tag=digitalpreservation"),
        ("#WebArchiving", "/-/search?tag=webarchiving"),
        ("#opendata", "/-/search?tag=opendata"),
    ]
    second = soup.select_one("#post-2 .post-text")
    assert [(a.get_text(), a["href"]) for a in second.find_all("a")] == [
        ("@archivist_ana", "/-/search?mention=archivist_ana"),
        ("github.com/webrecorder/war…", "https://github.com/webrecorder/warcio/issues/123"),
        ("@webrecorder_io", "/-/search?mention=webrecorder_io"),
    ]
    assert second.find("a", string="github.com/webrecorder/war…")["title"] == (
        "https://github.com/webrecorder/warcio/issues/123"
    )
    assert texts(soup, "#post-6 .post-links a") == ["https://twitter.com/tpflug/status/961004669714731010"]


@pytest.mark.asyncio
async def test_thread_page_names_its_captures(ds: Datasette, db: sqlite_utils.Database) -> None:
    soup = await soup_of(ds, ANA_PATH)
    capture = next(db.query("SELECT * FROM captures WHERE url LIKE '%2090104857600000000%'"))
    row = soup.select_one("table.thread-captures tbody tr")
    assert texts(row, "td")[:4] == ["2026-08-20 09:00 UTC", capture["url"], "200", capture["sha256"]]
    link = row.find("a", string="raw record")["href"]
    assert link == "/-/capture/~3Curn:uuid:" + capture["id"][len("<urn:uuid:"):-1] + "~3E"
    assert soup.select_one("#post-1").find("a", string="capture")["href"] == link
    exports = {a.get_text(): a["href"] for a in soup.select(".thread-actions a[href^='/-/export/']")}
    assert exports == {
        "Markdown": "/-/export/twitter:2090104857600000000.md",
        "HTML": "/-/export/twitter:2090104857600000000.html",
        "JSON": "/-/export/twitter:2090104857600000000.json",
    }


@pytest.mark.asyncio
async def test_long_thread_pages(ds: Datasette) -> None:
    path = f"/-/thread/{LONG_ID}"
    for page, positions in [(1, range(1, 201)), (2, range(201, 401)), (3, range(401, 521))]:
        soup = await soup_of(ds, f"{path}?page={page}" if page > 1 else path)
        assert [post["id"] for post in soup.select("li.thread-post")] == [f"post-{n}" for n in positions]
        assert f"Page {page} of 3" in texts(soup, ".reader-pager span")
    assert soup.select_one(".reader-pager a[rel=prev]")["href"] == f"{path}?page=2"
    await soup_of(ds, f"{path}?page=4", 404)
    await soup_of(ds, f"{path}?page=0", 400)


@pytest.mark.asyncio
async def test_ids_holding_slashes(ds: Datasette) -> None:
    soup = await soup_of(ds, MIRA_PATH)
    assert len(soup.select("li.thread-post")) == 5
    percent = "/-/thread/mastodon:https%3A%2F%2Fsocial.example%2Fusers%2Fmira%2Fstatuses%2F112025273054269555"
    response = await ds.client.get(percent)  # Datasette redirects a percent-encoded path to its tilde form
    assert (response.status_code, response.headers["location"]) == (302, percent.replace("%", "~").replace(".", "~2E"))
    assert texts(await soup_of(ds, response.headers["location"]), "h1") == texts(soup, "h1")
    byline = soup.select_one(".thread-byline a")
    assert byline["href"] == "/-/author/mastodon:https:~2F~2Fsocial~2Eexample~2F@mira"
    await soup_of(ds, byline["href"])


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/-/thread/twitter:1", "/-/export/twitter:1.md", "/-/hashtag/nosuchtag",
                                  "/-/author/twitter:nobody", "/-/capture/~3Curn:uuid:nothing~3E"])
async def test_unknown_ids_are_not_found(ds: Datasette, path: str) -> None:
    await soup_of(ds, path, 404)


# -- inert archived text ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_archived_markup_is_shown_as_text(ds: Datasette) -> None:
    response = await ds.client.get(f"/-/thread/{HOSTILE}")
    soup = BeautifulSoup(response.text, "html.parser")
    assert texts(soup, ".post-text") == [
        "Markup is only text here: <script>window.__pwned = 'script'</script> #inert",
        "An image that must not load: <img src=x onerror=\"window.__pwned = 'onerror'\"> and click me",
        "Data too: a data link and example.org/a?b=1&c=<2>",
    ]
    assert soup.select(".post-text script, .post-text img, [onerror]") == []
    assert "&lt;script&gt;window.__pwned" in response.text
    assert soup.select_one(".post-text a[href^='https://example.org']")["href"] == "https://example.org/a?b=1&c=<2>"


@pytest.mark.asyncio
async def test_unsafe_targets_are_never_links(tmp_path: Path) -> None:
    db = store.open_archive(tmp_path / "threadvault.db")
    save_unsafe_targets(db)
    ds = build_datasette(tmp_path / "threadvault.db", METADATA)
    soup = await soup_of(ds, f"/-/thread/{UNSAFE}")
    hrefs = [element.get("href") or element.get("src") for element in soup.select("[href], [src]")]
    assert not [href for href in hrefs if href.lower().startswith(("javascript:", "data:"))]
    assert texts(soup, ".post-text .unlinked") == ["here", "there"]
    assert texts(soup, ".post-media figcaption") == ["image: a picture"]
    assert soup.select_one("#post-1").find("a", string="original") is None


def test_sanitise_keeps_an_allow_list() -> None:
    html = (
        '<p onclick="x()" style="color:red">Hi <b>there</b><script>alert(1)</script>'
        '<a href="javascript:alert(1)">js</a> <a href="data:text/html,x">data</a> <a href="https://ok.example/">ok</a>'
        '<img src="x" onerror="alert(1)"><iframe src="https://evil.example/"></iframe><style>p{}</style></p>'
    )
    assert sanitise(html) == (
        '<p>Hi <b>there</b><a rel="nofollow noopener noreferrer">js</a> <a rel="nofollow noopener noreferrer">data</a>'
        ' <a href="https://ok.example/" rel="nofollow noopener noreferrer">ok</a><img src="x"></p>'
    )


# -- search ----------------------------------------------------------------------------------------


def facets(soup: BeautifulSoup) -> dict[str, list[str]]:
    return {facet["data-facet"]: texts(facet, "li") for facet in soup.select(".facet-info")}


@pytest.mark.asyncio
async def test_search_highlights_and_links_to_the_post(ds: Datasette, db: sqlite_utils.Database) -> None:
    soup = await soup_of(ds, "/-/search?q=rumours")
    results = soup.select("li.search-result")
    assert len(results) == 1
    assert texts(results[0], "mark") == ["rumour"]  # stemmed
    post = next(db.query("SELECT * FROM posts WHERE text LIKE '%rumour%'"))
    assert results[0].select_one("a.result-link")["href"] == f"{MIRA_PATH}#post-{post['position']}"
    assert texts(soup, ".reader-summary")[0].startswith("1 post ")


@pytest.mark.asyncio
async def test_search_results_deep_in_a_long_thread_link_to_their_page(ds: Datasette) -> None:
    soup = await soup_of(ds, "/-/search?q=%22487%2F520%22")
    links = [a["href"] for a in soup.select("a.result-link")]
    assert links == [f"/-/thread/{LONG_ID}?page=3#post-487"]


@pytest.mark.asyncio
async def test_facets_come_back_and_combine_with_the_search(ds: Datasette, db: sqlite_utils.Database) -> None:
    soup = await soup_of(ds, "/-/search?q=archive")
    found = facets(soup)
    assert list(found) == ["tag", "author", "platform", "month"]
    assert soup.select(".facet-timed-out") == []
    expected = db.execute(
        "SELECT count(*) FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid WHERE posts_fts MATCH 'archive'"
        " AND posts.id IN (SELECT post_id FROM post_hashtags WHERE tag = 'webarchiving')"
    ).fetchone()[0]
    assert f"#WebArchiving {expected}" in found["tag"]
    link = soup.select_one("#facet-tag a[href*='tag=webarchiving']")["href"]
    assert parse_qs(urlsplit(link).query) == {"q": ["archive"], "tag": ["webarchiving"]}
    narrowed = await soup_of(ds, link)
    assert texts(narrowed, ".reader-summary")[0].startswith(f"{expected} posts")
    assert f"#WebArchiving · {expected}" in facets(narrowed)["tag"][0]
    assert texts(narrowed, ".reader-filter") == ["words: archive ✖", "hashtag: webarchiving ✖"]
    assert narrowed.select_one(".reader-filter strong a")["href"] == "/-/hashtag/webarchiving"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("platform=mastodon", "id GLOB 'mastodon:*'"),
        ("month=2020-01", "created_at >= '2020-01' AND created_at < '2020-02'"),
        ("month=2026-08&platform=twitter", "created_at >= '2026-08' AND created_at < '2026-09' AND id GLOB 'twitter:*'"),
        ("month=2019-12", "created_at >= '2019-12' AND created_at < '2020-01'"),
        ("author=twitter%3Aarchivist_ana", "author_id = 'twitter:archivist_ana'"),
        ("mention=mattstratton", "id IN (SELECT post_id FROM mentions WHERE handle = 'mattstratton')"),
        ("tag=%23Caf%C3%A9", "id IN (SELECT post_id FROM post_hashtags WHERE tag = 'café')"),
    ],
)
async def test_each_filter_counts_what_it_shows(ds: Datasette, db: sqlite_utils.Database, query: str,
                                                where: str) -> None:
    soup = await soup_of(ds, f"/-/search?{query}")
    expected = db.execute(f"SELECT count(*) FROM posts WHERE text IS NOT NULL AND {where}").fetchone()[0]
    summary = texts(soup, ".reader-summary")[0]
    assert summary.startswith(f"{expected:,} post{'s' if expected != 1 else ''} ")
    counts = [value.replace("✖", "").split()[-1].replace(",", "") for value in facets(soup)["platform"]]
    assert sum(map(int, counts)) == expected


@pytest.mark.asyncio
async def test_sorting(ds: Datasette, db: sqlite_utils.Database) -> None:
    soup = await soup_of(ds, "/-/search?q=archive&sort=oldest")
    times = [time["datetime"] for time in soup.select(".search-result time")]
    assert times == sorted(times) and len(times) == 20
    soup = await soup_of(ds, "/-/search?q=archive&sort=newest")
    times = [time["datetime"] for time in soup.select(".search-result time")]
    assert times == sorted(times, reverse=True)
    newest = db.execute("SELECT max(created_at) FROM posts WHERE text IS NOT NULL").fetchone()[0]
    soup = await soup_of(ds, "/-/search")
    assert soup.select_one(".search-result time")["datetime"] == newest
    assert texts(soup, ".reader-summary strong") == ["newest"]
    assert soup.select_one(".reader-search input[name=sort]") is None  # a new search sorts by relevance
    soup = await soup_of(ds, "/-/search?sort=oldest&tag=archives")
    assert {field["name"]: field["value"] for field in soup.select(".reader-search input[type=hidden]")} == {
        "tag": "archives", "sort": "oldest",
    }
    await soup_of(ds, "/-/search?sort=relevance", 400)
    await soup_of(ds, "/-/search?sort=random", 400)


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ['q="unbalanced', "q=NEAR(a b", "q=*", "q=a:b", "q=-x"])
async def test_search_syntax_never_fails(ds: Datasette, query: str) -> None:
    await soup_of(ds, f"/-/search?{query}")


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ["month=2020-13", "month=jan", "platform=Twit*er", "page=-1"])
async def test_bad_filters(ds: Datasette, query: str) -> None:
    await soup_of(ds, f"/-/search?{query}", 400)


@pytest.mark.asyncio
async def test_search_pages(ds: Datasette) -> None:
    first = await soup_of(ds, "/-/search?q=archive&platform=twitter")
    following = first.select_one(".reader-pager a[rel=next]")["href"]
    assert parse_qs(urlsplit(following).query) == {"q": ["archive"], "platform": ["twitter"], "page": ["2"]}
    second = await soup_of(ds, following)
    assert not {a["href"] for a in first.select("a.result-link")} & {a["href"] for a in second.select("a.result-link")}


def capped(db_path: Path, tmp_path: Path, cap: int) -> Datasette:
    """The archive served with the plugin's match cap lowered to ``cap``."""
    metadata = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    metadata["plugins"] = {"threadvault": {"match_cap": cap}}
    path = tmp_path / "metadata.yml"
    path.write_text(yaml.safe_dump(metadata), encoding="utf-8")
    return build_datasette(db_path, path)


ARCHIVED_LAST = (
    "SELECT posts.*, rank FROM (SELECT rowid, rank FROM posts_fts WHERE posts_fts MATCH 'archive'"
    " ORDER BY rowid DESC LIMIT :cap) AS matches JOIN posts ON posts.rowid = matches.rowid"
)


@pytest.mark.asyncio
async def test_a_search_past_the_cap_counts_and_ranks_the_matches_archived_last(
    db_path: Path, tmp_path: Path, db: sqlite_utils.Database
) -> None:
    ds = capped(db_path, tmp_path, 25)
    soup = await soup_of(ds, "/-/search?q=archive")
    assert texts(soup, ".reader-summary")[0].startswith("More than 25 posts ")
    assert "the 25 archived last are counted" in texts(soup, ".reader-bounded")[0]
    expected = {}
    for row in db.query(ARCHIVED_LAST, {"cap": 25}):
        platform = row["id"].split(":")[0]
        expected[platform] = expected.get(platform, 0) + 1
    assert facets(soup)["platform"] == [f"{name} {count}" for name, count in
                                        sorted(expected.items(), key=lambda item: (-item[1], item[0]))]
    ranked = [row["id"] for row in db.query(ARCHIVED_LAST + " ORDER BY rank, posts.created_at DESC", {"cap": 25})]
    shown = [a["href"] for a in soup.select("a.result-link")]
    second = [a["href"] for a in (await soup_of(ds, "/-/search?q=archive&page=2")).select("a.result-link")]
    assert len(shown) == 20 and len(second) == 5
    positions = {row["id"]: row["position"] for row in db.query("SELECT id, position FROM posts")}
    assert [href.rsplit("#post-", 1)[1] for href in shown + second] == [str(positions[i]) for i in ranked]


@pytest.mark.asyncio
async def test_newest_first_past_the_cap_still_orders_every_match(
    db_path: Path, tmp_path: Path, db: sqlite_utils.Database
) -> None:
    soup = await soup_of(capped(db_path, tmp_path, 25), "/-/search?q=archive&sort=newest")
    newest = [row["created_at"] for row in db.query(
        "SELECT created_at FROM posts WHERE rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'archive')"
        " ORDER BY created_at DESC LIMIT 20"
    )]
    assert [time["datetime"] for time in soup.select(".search-result time")] == newest
    assert "while newest first orders every match" in texts(soup, ".reader-bounded")[0]


@pytest.mark.asyncio
async def test_a_search_within_the_cap_is_counted_whole(db_path: Path, tmp_path: Path,
                                                          db: sqlite_utils.Database) -> None:
    matches = db.execute("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH 'archive'").fetchone()[0]
    soup = await soup_of(capped(db_path, tmp_path, matches), "/-/search?q=archive")
    assert texts(soup, ".reader-summary")[0].startswith(f"{matches} posts ")
    assert soup.select(".reader-bounded") == []
    soup = await soup_of(capped(db_path, tmp_path, matches - 1), "/-/search?q=archive")
    assert texts(soup, ".reader-summary")[0].startswith(f"More than {matches - 1} posts ")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("words", "matching"),
    [
        ("q=archive&", "rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'archive')"),
        ("", "text IS NOT NULL"),
    ],
)
@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("tag=webarchiving", "id IN (SELECT post_id FROM post_hashtags WHERE tag = 'webarchiving')"),
        ("mention=mattstratton", "id IN (SELECT post_id FROM mentions WHERE handle = 'mattstratton')"),
        ("author=twitter%3Aarchivist_ana", "author_id = 'twitter:archivist_ana'"),
        ("platform=mastodon", "id GLOB 'mastodon:*'"),
        ("month=2026-08", "created_at >= '2026-08' AND created_at < '2026-09'"),
    ],
)
async def test_a_filter_past_the_cap(db_path: Path, tmp_path: Path, db: sqlite_utils.Database, words: str,
                                     matching: str, query: str, where: str) -> None:
    ds = capped(db_path, tmp_path, 10)
    posts = f"SELECT * FROM posts WHERE {matching} AND {where}"
    total = db.execute(f"SELECT count(*) FROM ({posts})").fetchone()[0]
    soup = await soup_of(ds, f"/-/search?{words}{query}&sort=newest")
    summary = texts(soup, ".reader-summary")[0]
    assert summary.startswith("More than 10 posts " if total > 10 else f"{total} post")
    newest = [row["created_at"] for row in db.query(f"{posts} ORDER BY created_at DESC LIMIT 20")]
    assert [time["datetime"] for time in soup.select(".search-result time")] == newest
    months = {row["created_at"][:7] for row in db.query(f"{posts} ORDER BY rowid DESC LIMIT 10")}
    assert {value.replace("✖", "").split()[0] for value in facets(soup)["month"]} == months
    counts = [int(value.replace("✖", "").split()[-1]) for value in facets(soup)["platform"]]
    assert sum(counts) == min(total, 10)


# -- hashtag and author pages ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_hashtag_page(ds: Datasette, db: sqlite_utils.Database) -> None:
    soup = await soup_of(ds, "/-/hashtag/webarchiving")
    assert soup.select_one("h1").get_text() == "#WebArchiving"
    months = db.execute(
        "SELECT substr(created_at, 1, 7), count(*), count(DISTINCT thread_id) FROM posts"
        " WHERE id IN (SELECT post_id FROM post_hashtags WHERE tag = 'webarchiving') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [texts(row, "td")[:3] for row in soup.select(".reader-months tbody tr")] == [
        [month, str(posts), str(threads)] for month, posts, threads in months
    ]
    assert [a["href"] for a in soup.select(".reader-threads > li > a")] == [ANA_PATH, MIRA_PATH, f"/-/thread/{LONG_ID}"]
    assert (await ds.client.get("/-/hashtag/WebArchiving")).status_code == 200


@pytest.mark.asyncio
async def test_author_page(ds: Datasette) -> None:
    soup = await soup_of(ds, "/-/author/twitter:archivist_ana")
    assert soup.select_one("h1").get_text() == "Ana 📚 アーカイブ"
    assert [a["href"] for a in soup.select(".reader-author-threads td a")] == [ANA_PATH]
    assert soup.find("a", string="search these posts")["href"] == "/-/search?author=twitter%3Aarchivist_ana"


# -- raw captures ----------------------------------------------------------------------------------


async def capture_path(ds: Datasette, thread_path: str) -> str:
    return (await soup_of(ds, thread_path)).find("a", string="raw record")["href"]


@pytest.mark.asyncio
async def test_capture_page_shows_the_record_as_text(ds: Datasette, db: sqlite_utils.Database) -> None:
    path = await capture_path(ds, f"/-/thread/{HOSTILE}")
    response = await ds.client.get(path)
    soup = BeautifulSoup(response.text, "html.parser")
    assert texts(soup, ".message-info") == ["The record was read back from its WARC file and matches both digests."]
    assert soup.select_one(".capture-headers").get_text() == "Content-Type: text/html; charset=utf-8\n"
    body = soup.select_one("pre.capture-body").get_text()
    assert body.startswith("<!DOCTYPE html>") and "<script" in body
    assert "&lt;script&gt;window.__pwned" in body  # the page's own escaping, kept as it was
    assert soup.select(".content script") == []
    assert [a["href"] for a in soup.select(".capture-fields dd a")] == [f"/-/thread/{HOSTILE}"]


@pytest.mark.asyncio
async def test_capture_page_can_show_the_page_sanitised(ds: Datasette) -> None:
    path = await capture_path(ds, ANA_PATH)
    soup = await soup_of(ds, f"{path}?view=sanitised")
    page = soup.select_one(".capture-sanitised")
    assert page.select("script, style, iframe, [onclick], [onload], [onerror]") == []
    assert "Why we archive threads" in page.get_text()
    assert {urlsplit(a["href"]).scheme for a in page.find_all("a", href=True)} <= {"", "http", "https"}


@pytest.mark.asyncio
async def test_capture_page_reports_a_damaged_record(tmp_path: Path, db_path: Path) -> None:
    copy = tmp_path / "threadvault.db"
    sqlite_utils.Database(db_path).conn.backup(sqlite_utils.Database(copy).conn)
    (tmp_path / "warc").mkdir()
    row = next(sqlite_utils.Database(copy).query("SELECT * FROM captures WHERE url LIKE '%2090104857600000000%'"))
    original = (db_path.parent / "warc" / row["warc_file"]).read_bytes()
    damaged = original[: row["offset"] + 200] + b"\x00" * 64 + original[row["offset"] + 264:]
    (tmp_path / "warc" / row["warc_file"]).write_bytes(damaged)
    ds = build_datasette(copy, METADATA)
    soup = await soup_of(ds, await capture_path(ds, ANA_PATH))
    assert texts(soup, ".message-error")[0].startswith("The record cannot be read: ")
    assert soup.select("pre.capture-body") == []


# -- exports, Datasette's own tables and permissions -----------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(("extension", "fmt", "media_type"),
                         [("md", "markdown", "text/markdown"), ("html", "html", "text/html"),
                          ("json", "json", "application/json")])
async def test_export_downloads(ds: Datasette, db: sqlite_utils.Database, extension: str, fmt: str,
                                media_type: str) -> None:
    response = await ds.client.get(f"{MIRA_PATH.replace('/-/thread/', '/-/export/')}.{extension}")
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="threadvault-mastodon-https-social.example-users-mira-statuses-112025273054269555'
        f'.{extension}"'
    )
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.text == export_thread(db, MIRA, fmt)


@pytest.mark.asyncio
async def test_datasette_tables_link_to_the_reader(ds: Datasette) -> None:
    soup = await soup_of(ds, "/threadvault/threads?_sort=id")
    assert [a["href"] for a in soup.select("td.col-title a")] == [
        MIRA_PATH, f"/-/thread/{QUINNY}", f"/-/thread/{LONG_ID}", f"/-/thread/{HOSTILE}", ANA_PATH,
    ]
    soup = await soup_of(ds, f"/threadvault/posts?thread_id={LONG_ID}&position=450")
    assert soup.select_one("td.col-position a")["href"] == f"/-/thread/{LONG_ID}?page=3#post-450"
    assert soup.select_one("td.col-thread_id a")["href"] == f"/-/thread/{LONG_ID}"
    soup = await soup_of(ds, "/threadvault/captures")
    assert all(a["href"].startswith("/-/capture/~3Curn:uuid:") for a in soup.select("td.col-sha256 a"))


@pytest.mark.asyncio
@pytest.mark.parametrize("table", ["threads", "posts", "authors", "hashtags", "post_hashtags", "mentions", "links",
                                   "media", "post_versions", "captures", "thread_captures", "queue", "forgotten"])
async def test_every_table_as_csv_and_json(ds: Datasette, db: sqlite_utils.Database, table: str) -> None:
    rows = (await ds.client.get(f"/threadvault/{table}.json?_shape=array&_size=max")).json()
    assert len(rows) == min(db[table].count, 1000)
    csv = (await ds.client.get(f"/threadvault/{table}.csv?_size=max"))
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) >= min(db[table].count, 1000)


@pytest.mark.asyncio
async def test_datasette_search_and_canned_queries(ds: Datasette, db: sqlite_utils.Database) -> None:
    rows = (await ds.client.get("/threadvault/posts.json?_search=cartridges&_shape=array")).json()
    assert [row["id"] for row in rows] == [
        row["id"] for row in db.query("SELECT id FROM posts WHERE text LIKE '%cartridges%'")
    ]
    thread = (await ds.client.get(f"/threadvault/thread_posts.json?thread_id={ANA}&_shape=array")).json()
    assert [row["position"] for row in thread] == [1, 2, 3, 4, 5, 6]
    for query in ("top_hashtags", "posts_per_month"):
        assert (await ds.client.get(f"/threadvault/{query}.csv")).status_code == 200
    top = (await ds.client.get("/threadvault/top_hashtags.json?_shape=array")).json()
    uses = "SELECT display, count(*) FROM post_hashtags JOIN hashtags USING (tag) GROUP BY tag"
    assert {row["hashtag"]: row["posts"] for row in top} == dict(db.execute(uses).fetchall()) != {}


@pytest.mark.asyncio
async def test_reader_pages_follow_datasette_permissions(db_path: Path, tmp_path: Path) -> None:
    locked = tmp_path / "metadata.yml"
    locked.write_text(json.dumps({"databases": {"threadvault": {"allow": {"id": "root"}}}}))  # JSON is YAML
    ds = build_datasette(db_path, locked)
    for path in ["/-/search", ANA_PATH, "/-/hashtag/webarchiving", "/-/author/twitter:archivist_ana",
                 "/-/export/twitter:2090104857600000000.md"]:
        assert (await ds.client.get(path)).status_code == 403, path
    cookies = {"ds_actor": ds.sign({"a": {"id": "root"}}, "actor")}
    assert (await ds.client.get(ANA_PATH, cookies=cookies)).status_code == 200
