"""Twitter/X account archives: the zip a user downloads, or its tweets file alone (FORMATS.md section 6).

The tweets are in ``data/tweets.js`` (``data/tweet.js`` in 2019-2020 archives;
big archives add ``tweets-part1.js``…), a JavaScript assignment
``window.YTD.tweets.part0 = [{"tweet": {…}}, …]`` of v1.1-shaped tweets with
every number written as a string.  The array is decoded one element at a time
from a window of 256 Ki characters, so a tweets file is never held whole;
threads are rebuilt by ``chains.Chains`` (see there for the memory bound) and
come out after the last tweet, in id order, since file order is not
guaranteed.

Every tweet in an archive is its owner's.  The owner comes from
``data/account.js``: inside the zip, or beside a bare tweets file.  Without it
the first self-reply names the owner (a reply whose parent is in the archive
too gives ``in_reply_to_screen_name``); finding it costs a pass over the
tweets that stops there and holds the ids read until then.  With no
account.js and no self-reply the posts have no author, and a self-reply to a
deleted tweet cannot be told from a reply to someone else, so it has no gap.
Retweets are kept as the owner's posts with the text the archive has, cut
("RT @x: …").
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from threadvault.errors import ImportLineError, UnknownSource
from threadvault.model import Author, Post, Thread, twitter_author
from threadvault.sources.chains import Chains
from threadvault.sources.tweets import BAD_RECORD, Tweet, problem, report, string, user_id, v1_post

NAME = "twitter-archive"
TWEET_FILES = re.compile(r"(?:^|/)data/tweets?(?:-part(\d+))?\.js$")
ACCOUNT = re.compile(r"(?:^|/)data/account\.js$")
TWEETS_JS = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*window\.YTD\.tweets?\.part\d+\s*=")
ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1 << 18  # characters read at a time
LONGEST_TWEET = 4 << 20  # an element still undecodable with this much text after its start is corrupt
ELEMENT = re.compile(r'\{\s*"tweet"\s*:')  # where decoding resumes after a corrupt element
NEXT_VALUE = re.compile(r"[^\s,]")
OWNER = "owner"  # the author key of every tweet when the owner's user id is unknown
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, OSError)  # what reading a damaged zip (or file) raises
CUT_SHORT = "the file ends inside the array (cut short?)"

Opener = Callable[[], IO[str]]


@dataclass(frozen=True)
class Owner:
    author: Author
    user_id: str | None


def sniff(head: bytes) -> bool:
    """A tweets.js file, or any zip: an archive without tweets gets a clear error from ``read``."""
    return head.startswith(ZIP_MAGIC) or TWEETS_JS.match(head) is not None


def read(path: Path, errors: list[ImportLineError] | None = None) -> Iterator[Thread]:
    """The threads of an archive zip or tweets file, once all of it is read.

    An unusable tweet is appended to ``errors`` as ``ImportLineError(file,
    line, reason)`` and the import goes on (without a list the first one is
    raised); so is a damaged zip, or a member of one.  A file with no tweets
    array raises UnknownSource.  Invalid UTF-8 is read as U+FFFD, as a web
    page is, so one bad byte costs nothing after it.
    """
    if zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
        except UNREADABLE as error:
            report(errors, ImportLineError(str(path), 1, f"unreadable zip: {error}"))
            return
        with archive:
            yield from _read_zip(path, archive, errors)
        return
    account = path.with_name("account.js")
    owner = _owner(str(account), account.read_bytes, errors) if account.is_file() else None
    yield from _read_tweets([(str(path), partial(path.open, encoding="utf-8", errors="replace"))], owner, errors)


def _read_zip(path: Path, archive: zipfile.ZipFile, errors: list[ImportLineError] | None) -> Iterator[Thread]:
    names = archive.namelist()
    parts = sorted((name for name in names if TWEET_FILES.search(name)), key=_part_number)
    if not parts:
        raise UnknownSource(str(path), "no data/tweets.js or data/tweet.js in this zip; is it a Twitter archive?")
    account = next((name for name in names if ACCOUNT.search(name)), None)
    owner = _owner(f"{path}:{account}", partial(archive.read, account), errors) if account else None
    files = [(f"{path}:{name}", partial(_open_member, archive, name)) for name in parts]
    yield from _read_tweets(files, owner, errors)


def _part_number(name: str) -> int:
    match = TWEET_FILES.search(name)
    return int(match.group(1) or 0) if match else 0


def _open_member(archive: zipfile.ZipFile, name: str) -> IO[str]:
    return io.TextIOWrapper(archive.open(name), encoding="utf-8", errors="replace")


def _owner(label: str, content: Callable[[], bytes], errors: list[ImportLineError] | None) -> Owner | None:
    """The owner named in account.js (``[{"account": {"username", "accountId", …}}]``)."""
    try:
        text = content().decode("utf-8")
        account = json.loads(text[text.index("[") :])[0]["account"]
        author = twitter_author(account["username"], string(account.get("accountDisplayName")))
        owner_id = None if account.get("accountId") is None else user_id(account["accountId"])
    except (*BAD_RECORD, *UNREADABLE, RecursionError) as error:
        report(errors, ImportLineError(label, 1, f"unreadable account: {problem(error)}"))
        return None
    return Owner(author, owner_id)


def _read_tweets(
    files: Sequence[tuple[str, Opener]], owner: Owner | None, errors: list[ImportLineError] | None
) -> Iterator[Thread]:
    if owner is None:
        owner = _owner_from_self_replies(files)
    with Chains(NAME) as chains:
        for label, item in _elements(files):
            if isinstance(item, ImportLineError):
                report(errors, item)
                continue
            line, element = item
            try:
                chains.add(*_entry(element, owner))
            except BAD_RECORD as error:
                report(errors, ImportLineError(label, line, f"tweet {_id(element)}: {problem(error)}"))
        yield from chains.threads()


def _elements(files: Sequence[tuple[str, Opener]]) -> Iterator[tuple[str, tuple[int, Any] | ImportLineError]]:
    """Each file's array elements with the line they start on, or the error that makes one unreadable."""
    for label, opener in files:
        try:
            stream = opener()
        except UNREADABLE as error:
            yield label, ImportLineError(label, 1, f"unreadable: {error}")
            continue
        with stream:
            for item in _Array(stream, label):
                yield label, item


def _entry(element: Any, owner: Owner | None) -> tuple[Post, str, str | None]:
    tweet = _tweet(element)
    if tweet is None:
        raise TypeError(f"a JSON {type(element).__name__} that is not a tweet")
    post = v1_post(tweet, owner.author if owner else None)
    return post, (owner.user_id if owner else None) or OWNER, string(tweet.get("in_reply_to_user_id_str"))


def _tweet(element: Any) -> Tweet | None:
    """``{"tweet": {…}}`` (the earliest archives put the tweet itself in the array); None for anything else."""
    tweet = element.get("tweet", element) if isinstance(element, dict) else None
    return tweet if isinstance(tweet, dict) else None


def _id(element: Any) -> str | None:
    return (_tweet(element) or {}).get("id_str")


def _owner_from_self_replies(files: Sequence[tuple[str, Opener]]) -> Owner | None:
    """The owner as named by the first reply whose parent is in the archive too."""
    seen: set[str] = set()
    waiting: dict[str, Owner] = {}  # parent id -> the owner, if that parent turns up
    for _, item in _elements(files):
        tweet = None if isinstance(item, ImportLineError) else _tweet(item[1])
        if tweet is None:
            continue  # reported by the import pass
        tweet_id, parent = string(tweet.get("id_str")), string(tweet.get("in_reply_to_status_id_str"))
        named = _replied_to(tweet)
        if parent in seen and named:
            return named
        if tweet_id in waiting:
            return waiting[tweet_id]
        if tweet_id:
            seen.add(tweet_id)
        if parent and named:
            waiting[parent] = named
    return None


def _replied_to(tweet: Tweet) -> Owner | None:
    handle = string(tweet.get("in_reply_to_screen_name"))
    return Owner(twitter_author(handle), string(tweet.get("in_reply_to_user_id_str"))) if handle else None


class _Array:
    """The elements of the array a YTD file assigns, decoded one at a time, each with the line it starts on.

    A corrupt element comes out as an ImportLineError and decoding resumes at
    the next ``{"tweet":``; a file cut short ends with one.
    """

    def __init__(self, stream: IO[str], label: str) -> None:
        self.stream = stream
        self.label = label
        self.buffer = ""
        self.position = 0
        self.line = 1
        self.ended = False
        self.failure = CUT_SHORT

    def __iter__(self) -> Iterator[tuple[int, Any] | ImportLineError]:
        if not self._start():
            yield ImportLineError(self.label, self.line, self.failure)
            return
        decoder = json.JSONDecoder()
        while self._skip_separators():
            if self.buffer[self.position] == "]":
                return
            try:
                element, end = decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError as error:
                if not self.ended and len(self.buffer) - self.position < LONGEST_TWEET:
                    self._read_more()
                    continue
                yield ImportLineError(self.label, self.line, f"unreadable tweet: {error.msg}")
                if not self._resume(self.position + 1):  # error.pos may lie past elements it swallowed
                    return
                continue
            except RecursionError:
                yield ImportLineError(self.label, self.line, "unreadable tweet: JSON nested too deeply")
                if not self._resume(self.position + 1):
                    return
                continue
            yield self.line, element
            self._advance(end)
        yield ImportLineError(self.label, self.line, self.failure)

    def _start(self) -> bool:
        """Move past the array's opening bracket; False when the file is unreadable before it."""
        self._read_more()
        opening = self.buffer.find("[")
        if opening < 0 and self.failure != CUT_SHORT:
            return False
        if opening < 0:
            raise UnknownSource(
                self.label, "no tweets array (window.YTD.tweets.part0 = [...]); not a Twitter archive file"
            )
        self._advance(opening + 1)
        return True

    def _skip_separators(self) -> bool:
        """Move to the next element or the closing bracket; False when the input ends first."""
        while (found := NEXT_VALUE.search(self.buffer, self.position)) is None:
            self._advance(len(self.buffer))
            if self.ended:
                return False
            self._read_more()
        self._advance(found.start())
        return True

    def _resume(self, after: int) -> bool:
        found = ELEMENT.search(self.buffer, after)
        if found is not None:
            self._advance(found.start())
        return found is not None

    def _advance(self, position: int) -> None:
        self.line += self.buffer.count("\n", self.position, position)
        self.position = position

    def _read_more(self) -> None:
        try:
            more = self.stream.read(CHUNK)
        except UNREADABLE as error:
            more, self.failure = "", f"unreadable from here on: {error}"
        self.buffer = self.buffer[self.position :] + more
        self.position = 0
        self.ended = not more
