"""Stage 1: posts parsed per second, against the bare cost of finding the posts."""

from __future__ import annotations

import json

import lxml.html
from bs4 import BeautifulSoup, SoupStrainer

from benchmarks.data import bluesky_capture, mastodon_capture, tra_capture
from benchmarks.table import Figure, best_rate
from threadvault.sources import bluesky, mastodon, threadreaderapp

POSTS_XPATH = '//div[contains(concat(" ", normalize-space(@class), " "), " content-tweet ")][@data-tweet]'
POST_CONTAINERS = SoupStrainer(attrs={"data-tweet": True})
POSTS_PER_THREAD = 25


def run(threads: int, repeats: int) -> list[Figure]:
    return [*_thread_reader_app(threads, repeats), *_json_sources(threads, repeats)]


def _thread_reader_app(threads: int, repeats: int) -> list[Figure]:
    pages = [tra_capture(index) for index in range(threads)]
    bodies = [captures[url].body for url, captures in pages]
    size = sum(map(len, bodies)) // len(bodies)

    def limit() -> int:
        return sum(len(lxml.html.fromstring(body).xpath(POSTS_XPATH)) for body in bodies)

    def whole_soup() -> int:
        return sum(len(BeautifulSoup(body, "lxml").select("div.content-tweet[data-tweet]")) for body in bodies)

    def strained_soup() -> int:
        return sum(len(BeautifulSoup(body, "lxml", parse_only=POST_CONTAINERS).find_all("div")) for body in bodies)

    def parser() -> int:
        return sum(len(threadreaderapp.parse(url, captures).posts) for url, captures in pages)  # type: ignore[union-attr]

    bare = best_rate(limit, repeats)
    stage, note = "1 Parse", f"{POSTS_PER_THREAD}-post pages of {size // 1000} KB"
    return [
        Figure(stage, "Thread Reader App parser", best_rate(parser, repeats), "posts/s", bare,
               "lxml.html locating the posts", target=1 / 5, note=note),
        Figure(stage, "for reference: BeautifulSoup, whole page", best_rate(whole_soup, repeats), "posts/s", bare,
               "lxml.html locating the posts"),
        Figure(stage, "for reference: BeautifulSoup, SoupStrainer", best_rate(strained_soup, repeats), "posts/s",
               bare, "lxml.html locating the posts"),
    ]


def _json_sources(threads: int, repeats: int) -> list[Figure]:
    figures = []
    for name, source, make in (("Mastodon", mastodon, mastodon_capture), ("Bluesky", bluesky, bluesky_capture)):
        answers = [make(index) for index in range(threads)]

        def limit() -> int:
            for _, captures in answers:
                for capture in captures.values():
                    json.loads(capture.body)
            return threads * POSTS_PER_THREAD

        def parser() -> int:
            return sum(len(source.parse(url, captures).posts) for url, captures in answers)  # noqa: B023

        figures.append(Figure("1 Parse", f"{name} parser", best_rate(parser, repeats), "posts/s",
                              best_rate(limit, repeats), "json.loads alone"))
    return figures
