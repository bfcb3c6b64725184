"""Sources: one small module per place threads come from.

A *web source* owns URLs.  It never downloads anything itself: the fetch job
asks ``plan(url, captures)`` for the next URLs to fetch, fetches them, and asks
again until the answer is empty; then ``parse(url, captures)`` turns the
captures into a Thread (or a Listing of thread URLs), or raises NotAThread.
So parsing is a pure function of stored bytes, and ``reparse`` runs the same
code as ``fetch``.

A *file format* (imports) offers ``sniff(head)`` and ``read(path, errors)``,
which yields Threads one at a time.  Formats that must see a whole file
before a thread is complete (tweets of one conversation can be anywhere in
it) keep their working set in a scratch SQLite file, not in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from threadvault.errors import ImportLineError, UnknownSource
from threadvault.model import Capture, Listing, Thread


class Source(Protocol):
    NAME: str
    PATTERN: re.Pattern[str]  # the URLs this source recognises on its usual hosts

    def canonical_url(self, url: str) -> str:
        """The one spelling of a URL the queue keys on (raises NotAThread for a URL it cannot use)."""
        ...

    def plan(self, url: str, captures: Mapping[str, Capture]) -> list[str]:
        """The URLs still to fetch for ``url`` given what is captured; empty when done."""
        ...

    def parse(self, url: str, captures: Mapping[str, Capture]) -> Thread | Listing:
        """The thread (or listing) behind ``url``, from its captures alone."""
        ...


class FileFormat(Protocol):
    NAME: str

    def sniff(self, head: bytes) -> bool:
        """Whether a file starting with these bytes is in this format."""
        ...

    def read(self, path: Path, errors: list[ImportLineError] | None = None) -> Iterator[Thread]:
        """The threads in a file, one at a time, in constant memory.

        Each unusable record is appended to ``errors`` and the reading goes on
        (without a list, the first one is raised)."""
        ...


def _web_sources() -> list[Source]:
    from threadvault.sources import bluesky, mastodon, nitter, threadreaderapp

    # Sources tied to known hosts first: Mastodon's pattern accepts any host.
    return [threadreaderapp, bluesky, nitter, mastodon]  # type: ignore[list-item]


def _file_formats() -> list[FileFormat]:
    from threadvault.sources import plaintext, twarc, twitter_archive

    # Plain text last: it accepts any UTF-8 text.
    return [twarc, twitter_archive, plaintext]  # type: ignore[list-item]


SOURCES: list[Source] = _web_sources()
REPLY_SOURCES = {"mastodon", "bluesky"}  # sources whose parse() can keep other people's replies (with_replies=True)
FORMATS: list[FileFormat] = _file_formats()


def by_name(name: str) -> Source:
    for source in SOURCES:
        if source.NAME == name:
            return source
    known = ", ".join(source.NAME for source in SOURCES)
    raise UnknownSource(name, f"no such source (known: {known})")


def for_url(url: str, forced: str | None = None) -> Source:
    """The source that owns ``url``, or the one named by ``--source``."""
    if forced:
        return by_name(forced)
    for source in SOURCES:
        if source.PATTERN.match(url):
            return source
    raise UnknownSource(url)


def format_by_name(name: str) -> FileFormat:
    for file_format in FORMATS:
        if file_format.NAME == name:
            return file_format
    known = ", ".join(file_format.NAME for file_format in FORMATS)
    raise UnknownSource(name, f"no such import format (known: {known})")


def sniff(path: Path, forced: str | None = None) -> FileFormat:
    """The import format of a file, judged from its first bytes unless ``--format`` names one."""
    if forced:
        return format_by_name(forced)
    with open(path, "rb") as stream:
        head = stream.read(65536)
    for file_format in FORMATS:
        if file_format.sniff(head):
            return file_format
    raise UnknownSource(str(path), "not a format threadvault can import (use --format NAME)")
