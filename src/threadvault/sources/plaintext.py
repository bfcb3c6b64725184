"""Plain text of unrolled threads as people copy it out of a thread reader (FORMATS.md 1, "Plain-text exports").

Threads.  A file may hold several: a thread ends at the reader's "• • •"
separator, at its "Missing some Tweet in this thread?" footer, or where a
"Thread by @handle" line starts the next one.  Known page chrome lines are
dropped; "More from @handle", "Related threads" and "Trending hashtags" start
previews of other threads, dropped up to the next separator or header.  A
thread may open with "Thread by @handle", or "@handle" (under a display-name
line or alone), which give the author; otherwise the author is None.

Posts.  When the thread is numbered (``1/``, ``1/n``, ``(1/5)``, ``1)`` or
``/1`` opening a line, or ``1/``, ``1/n``, ``(1/5)``, ``/1`` closing one), the
first number found fixes the style and a post starts (or ends) at each next
number in that style only, so a list such as ``1)`` inside a ``1/`` thread
stays in its post.  Without numbering each paragraph is a post.  Text is kept
as written, numbering included; entities come from ``entities.extract``.

Ids.  A post is ``text:`` and 24 hex digits of the SHA-256 of its thread's
first post, its position and its own text (NFC, whitespace runs collapsed), so
importing the same text again yields the same ids, and identical short posts
("/end") of different threads stay apart.  A thread's id is its first post's.
Text threads have no URL: ``Thread.url`` is "".

Lines are read one at a time and each thread is yielded as soon as it ends,
so memory holds one thread.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from threadvault import entities
from threadvault.errors import ImportLineError, NotAThread
from threadvault.model import Author, Post, Thread, twitter_author
from threadvault.sources.tweets import report

NAME = "text"
SEPARATOR = re.compile(r"(?:[•·∙]\s*){3}")
FOOTER = "missing some tweet in this thread?"
SECTION = re.compile(r"more from @\w{1,15}|related threads|trending hashtags", re.IGNORECASE)
THREAD_BY = re.compile(r"thread by\b[^@\n]{0,60}@(\w{1,15})", re.IGNORECASE)
HANDLE = re.compile(r"@(\w{1,15})")
CHROME_LINES = {"read on x", "read on twitter", "this thread may be removed anytime!", "send email!"}
CHROME_PREFIXES = (
    "you can try to force a refresh",
    "keep current with ",
    "did thread reader help you today?",
    "support us! we are indie developers!",
    "enter url or id to unroll",
    "become a premium member",
    "twitter may remove this content at anytime",
)
THREAD_INFO = re.compile(r".*\b\d[\d,]* tweets?\b.*\bmin read\b.*", re.IGNORECASE)  # "Jun 22 • 10 tweets • 8 min read"
NOT_TEXT = re.compile(rb"[<{]|\[\s*[\[{\"\d\]-]|WARC/|window\.|PK\x03\x04")  # HTML, JSON, WARC, JS, zip
MARKS = {
    "slash": r"(\d{1,3})/(?:\d{1,3}|n)?",  # 1/  1/n  1/5
    "fraction": r"\((\d{1,3})/(?:\d{1,3}|n)\)",  # (1/5)
    "paren": r"(\d{1,3})\)",  # 1)
    "leading slash": r"/(\d{1,3})",  # /1
}


@dataclass(frozen=True)
class Numbering:
    pattern: re.Pattern[str]
    opens: bool  # the number opens the post's first line (else it closes the post's last line)

    def number(self, line: str) -> int | None:
        found = self.pattern.search(line)
        return int(found.group(1)) if found else None


NUMBERINGS = [Numbering(re.compile(rf"^{mark}(?=\s|$)"), True) for mark in MARKS.values()] + [
    Numbering(re.compile(rf"(?:^|\s){mark}$"), False)
    for name, mark in MARKS.items()
    if name != "paren"  # "… (see 1)" ends many a sentence
]


def sniff(head: bytes) -> bool:
    """UTF-8 text that is not JSON, HTML, WARC, a JavaScript assignment or a zip."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # a character cut at the end is fine
    except UnicodeDecodeError:
        return False
    start = text.lstrip("\ufeff \t\r\n").encode()
    return bool(start) and "\x00" not in text and NOT_TEXT.match(start) is None


def read(path: Path, errors: list[ImportLineError] | None = None) -> Iterator[Thread]:
    """The threads of a text file, each as soon as it ends.

    A line that is not UTF-8 is appended to ``errors`` as ImportLineError and
    its thread is skipped (without a list it is raised); a file with no post
    text at all raises NotAThread.
    """
    found = False
    for lines in _blocks(_lines(path, errors)):
        thread = _thread(lines)
        if thread is not None:
            found = True
            yield thread
    if not found:
        raise NotAThread(str(path), "no post text (the file is empty or holds only thread reader page chrome)")


def _lines(path: Path, errors: list[ImportLineError] | None) -> Iterator[str | None]:
    """The file's lines, stripped; None for one that is not UTF-8 (after reporting it)."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8-sig")
            except UnicodeDecodeError as error:
                report(errors, ImportLineError(str(path), number, f"not UTF-8 text ({error.reason})"))
                yield None
                continue
            yield line.strip()


def _blocks(lines: Iterable[str | None]) -> Iterator[list[str]]:
    """Each thread's lines with the chrome removed; a thread with an unreadable line is dropped."""
    block: list[str] = []
    broken = skipping = False
    for line in lines:
        if line is None:
            broken = True
        elif _ends_thread(line):
            if block and not broken:
                yield block
            block = [line] if THREAD_BY.match(line) else []
            broken, skipping = False, SECTION.fullmatch(line) is not None
        elif not skipping and not _is_chrome(line):
            block.append(line)
    if block and not broken:
        yield block


def _ends_thread(line: str) -> bool:
    return bool(
        SEPARATOR.fullmatch(line) or line.lower().startswith(FOOTER) or SECTION.fullmatch(line) or THREAD_BY.match(line)
    )


def _is_chrome(line: str) -> bool:
    lowered = line.lower()
    return lowered in CHROME_LINES or lowered.startswith(CHROME_PREFIXES) or THREAD_INFO.fullmatch(line) is not None


def _thread(lines: list[str]) -> Thread | None:
    author, body = _header(lines)
    texts = _split(body)
    if not texts:
        return None
    first = _normalise(texts[0])
    posts: list[Post] = []
    for position, text in enumerate(texts, start=1):
        found = entities.extract(text)
        posts.append(
            Post(
                id=_post_id(first, position, text),
                author=author,
                text=text,
                position=position,
                reply_to_id=posts[-1].id if posts else None,
                hashtags=tuple(dict.fromkeys(found.hashtags)),
                mentions=tuple(dict.fromkeys(found.mentions)),
                links=found.links,
            )
        )
    return Thread(id=posts[0].id, platform="text", url="", source=NAME, author=author, posts=tuple(posts))


def _header(lines: list[str]) -> tuple[Author | None, list[str]]:
    """The author named by the thread's opening lines, and the lines after them."""
    author, body = None, list(_without_blank_start(lines))
    if body and (by := THREAD_BY.match(body[0])):
        author, body = twitter_author(by.group(1)), body[1:]
    if len(body) > 1 and (handle := HANDLE.fullmatch(body[1])) and _may_be_name(body[0]):
        author, body = twitter_author(handle.group(1), body[0]), body[2:]
    elif body and (handle := HANDLE.fullmatch(body[0])):
        author, body = twitter_author(handle.group(1)), body[1:]
    return author, body


def _without_blank_start(lines: list[str]) -> Iterator[str]:
    started = False
    for line in lines:
        started = started or bool(line)
        if started:
            yield line


def _split(lines: list[str]) -> list[str]:
    """The posts' texts: at the numbering when there is one, else at blank lines."""
    start = _first_number(lines)
    if start is None:
        return _paragraphs(lines)
    numbering, expected = start
    posts: list[list[str]] = [[]]
    for line in lines:
        matched = numbering.number(line) == expected
        if matched and numbering.opens:
            posts.append([])
        posts[-1].append(line)
        if matched:
            expected += 1
            if not numbering.opens:
                posts.append([])
    return [text for text in map(_join, posts) if text]


def _first_number(lines: list[str]) -> tuple[Numbering, int] | None:
    """The style and number of the first thread numbering (0, 1 or 2: a thread may leave post 1 unnumbered)."""
    for line in lines:
        for numbering in NUMBERINGS:
            number = numbering.number(line)
            if number is not None and number <= 2:
                return numbering, number
    return None


def _may_be_name(line: str) -> bool:
    return 0 < len(line) <= 50 and all(numbering.number(line) is None for numbering in NUMBERINGS)


def _paragraphs(lines: list[str]) -> list[str]:
    posts: list[list[str]] = [[]]
    for line in lines:
        if line:
            posts[-1].append(line)
        elif posts[-1]:
            posts.append([])
    return [text for text in map(_join, posts) if text]


def _join(lines: list[str]) -> str:
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _post_id(first: str, position: int, text: str) -> str:
    digest = hashlib.sha256(f"{first}\n{position}\n{_normalise(text)}".encode()).hexdigest()
    return f"text:{digest[:24]}"
