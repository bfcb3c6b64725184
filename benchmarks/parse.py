"""Stage 1: posts parsed per CPU second, against the bare cost of finding the posts (fastest of N per page)."""

from __future__ import annotations

import json

import lxml.html
from bs4 import BeautifulSoup, SoupStrainer

from benchmarks.data import bluesky_capture, mastodon_capture, tra_capture
from benchmarks.table import Figure, best_rate_per_item
from threadvault.model import Capture
from threadvault.sources import bluesky, mastodon, threadreaderapp

POSTS_XPATH = '//div[contains(concat(" ", normalize-space(@class), " "), " content-tweet ")][@data-tweet]'
POST_CONTAINERS = SoupStrainer(attrs={"data-tweet": True})
POSTS_PER_THREAD = 25


def run(threads: int, repeats: int) -> list[Figure]:
    return [*_thread_reader_app(threads, repeats), *_json_sources(threads, repeats)]


def _thread_reader_app(threads: int, repeats: int) -> list[Figure]:
    pages = [tra_capture(index) for index in range(threads)]
    size = sum(len(captures[url].body) for url, captures in pages) // len(pages)

    def limit(page: tuple[str, dict[str, Capture]]) -> int:
        url, captures = page
        return len(lxml.html.fromstring(captures[url].body).xpath(POSTS_XPATH))

    def whole_soup(page: tuple[str, dict[str, Capture]]) -> int:
        url, captures = page
        return len(BeautifulSoup(captures[url].body, "lxml").select("div.content-tweet[data-tweet]"))

    def strained_soup(page: tuple[str, dict[str, Capture]]) -> int:
        url, captures = page
        return len(BeautifulSoup(captures[url].body, "lxml", parse_only=POST_CONTAINERS).find_all("div"))

    def parser(page: tuple[str, dict[str, Capture]]) -> int:
        return len(threadreaderapp.parse(*page).posts)  # type: ignore[union-attr]

    bare = best_rate_per_item(limit, pages, repeats)
    stage, note = "1 Parse", f"{POSTS_PER_THREAD}-post pages of {size // 1000} KB; CPU time"
    return [
        Figure(stage, "Thread Reader App parser", best_rate_per_item(parser, pages, repeats), "posts/s", bare,
               "lxml.html locating the posts", target=1 / 5, note=note),
        Figure(stage, "for reference: BeautifulSoup, whole page", best_rate_per_item(whole_soup, pages, repeats),
               "posts/s", bare, "lxml.html locating the posts"),
        Figure(stage, "for reference: BeautifulSoup, SoupStrainer", best_rate_per_item(strained_soup, pages, repeats),
               "posts/s", bare, "lxml.html locating the posts"),
    ]


def _json_sources(threads: int, repeats: int) -> list[Figure]:
    figures = []
    for name, source, make in (("Mastodon", mastodon, mastodon_capture), ("Bluesky", bluesky, bluesky_capture)):
        answers = [make(index) for index in range(threads)]

        def limit(answer: tuple[str, dict[str, Capture]]) -> int:
            for capture in answer[1].values():
                json.loads(capture.body)
            return POSTS_PER_THREAD

        def parser(answer: tuple[str, dict[str, Capture]]) -> int:
            return len(source.parse(*answer).posts)  # noqa: B023

        figures.append(Figure("1 Parse", f"{name} parser", best_rate_per_item(parser, answers, repeats), "posts/s",
                              best_rate_per_item(limit, answers, repeats), "json.loads alone"))
    return figures
