"""End to end: `threadvault serve` on 127.0.0.1 over the sample archive, driven by headless Chromium.

Debian's chromium is launched by Playwright for Python (never `playwright install`).  When the
browser or Playwright is missing, .ci/install-browser is run once; only if that fails is the
test skipped, with a warning that says why.  Screenshots go to tests/artifacts/; with
THREADVAULT_SCREENSHOTS=docs they are also copied to docs/screenshots/ for the README.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sample_archive import ANA, HOSTILE, build_archive

ROOT = Path(__file__).parent.parent
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # nothing but our server is reachable
]

pytestmark = pytest.mark.browser


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed"
    return None


@pytest.fixture(scope="module")
def playwright_chromium() -> Iterator[object]:
    """Chromium under Playwright, installed first if need be; the test is skipped loudly if it cannot be."""
    if _browser_missing():
        subprocess.run(["bash", str(ROOT / ".ci" / "install-browser")], check=False, env={**os.environ,
                       "PYTHON": sys.executable})
    if reason := _browser_missing():
        message = f"BROWSER TEST SKIPPED: {reason}, and .ci/install-browser could not install it"
        warnings.warn(message, stacklevel=1)
        print(f"\n{'!' * 80}\n{message}\n{'!' * 80}", file=sys.stderr)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`threadvault serve` over the sample archive; yields its base URL."""
    db_path = build_archive(tmp_path_factory.mktemp("archive") / "threadvault.db")
    port = _free_port()
    command = [str(Path(sys.executable).parent / "threadvault"), "serve", "--db", str(db_path),
               "--metadata", str(ROOT / "metadata.yml"), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"threadvault serve exited: {process.stdout.read().decode() if process.stdout else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"threadvault serve did not listen on port {port} within {timeout:.0f} s")


@pytest.fixture
def page(playwright_chromium, server: str) -> Iterator[object]:
    context = playwright_chromium.new_context(viewport={"width": 1100, "height": 1000}, base_url=server)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server)
                  else route.abort())  # archived images point at the real web: never fetch them
    yield context.new_page()
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("THREADVAULT_SCREENSHOTS") == "docs":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SCREENSHOTS / path.name)


def test_search_facet_and_read_a_thread(page) -> None:
    page.goto("/")
    page.click("details.nav-menu summary")
    page.click("text=Search posts")
    page.fill("#reader-q", "archive")
    page.click(".reader-search input[type=submit]")
    page.wait_for_url("**/-/search?q=archive*")
    assert page.locator(".search-result mark").count() > 0
    assert page.locator(".reader-summary strong").inner_text() == "relevance"

    page.click("#facet-tag a:has-text('#WebArchiving')")
    page.wait_for_url("**tag=webarchiving**")
    assert page.locator(".reader-filter").all_inner_texts() == ["words: archive ✖", "hashtag: webarchiving ✖"]
    facet_count = page.locator("#facet-tag li.selected").inner_text().split("·")[1].split()[0]
    assert page.locator(".reader-summary").inner_text().startswith(f"{facet_count} posts")
    screenshot(page, "search")

    page.click(f".search-result a.result-link[href^='/-/thread/{ANA}']")
    page.wait_for_url(f"**/-/thread/{ANA}#post-1")
    ids = page.locator("li.thread-post").evaluate_all("posts => posts.map(post => post.id)")
    assert ids == [f"post-{n}" for n in range(1, 7)]
    texts = page.locator("li.thread-post .post-text").all_inner_texts()
    assert texts[0].startswith("1/ Why we archive threads") and texts[1].startswith("@archivist_ana 2/")
    assert texts[2].startswith("3/ 東京の公文書館で撮影しました。")
    alts = page.locator("#post-3 img").evaluate_all("images => images.map(image => image.alt)")
    assert alts == ["Reading room of the archive, rows of grey boxes", "", ""]
    assert page.locator("#post-3 figcaption").first.is_visible()
    assert page.locator("#post-3 figcaption").first.inner_text() == "Reading room of the archive, rows of grey boxes"
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "thread")


def test_archived_markup_never_runs(page, server: str) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"/-/thread/{HOSTILE}")
    texts = page.locator("li.thread-post .post-text").all_inner_texts()
    assert texts[0] == "Markup is only text here: <script>window.__pwned = 'script'</script> #inert"
    assert texts[1].startswith("An image that must not load: <img src=x onerror=")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".post-text script, .post-text img").count() == 0
    page.click("text=click me")  # not a link: clicking it goes nowhere
    assert page.url == f"{server}/-/thread/{HOSTILE}"

    page.click("text=raw record")
    page.click("text=Show the page, sanitised")
    page.wait_for_url("**view=sanitised")
    assert page.locator(".capture-sanitised").inner_text().count("Markup is only text here") == 1
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".capture-sanitised script, .capture-sanitised [onerror]").count() == 0
    assert dialogs == []
