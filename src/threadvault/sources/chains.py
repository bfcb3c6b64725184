"""Self-threads rebuilt from tweets that arrive one at a time, in any order.

A self-thread is a chain of replies an author made to their own tweets.  The
chain is followed from its first tweet; where a tweet has several self-replies
the earliest one continues the thread and each later one starts a thread of
its own, named in ``Thread.branches``.  A self-reply whose parent is absent
from the input starts with a gap: a ``missing`` Post at the parent's place.
Every other tweet (a reply to someone else, a retweet, a lone tweet) is a
one-post thread, so nothing read is dropped.

Tweets of one thread may lie anywhere in a file, so posts wait in a scratch
SQLite database (a private temporary file that SQLite deletes on close) and
threads come out only once the whole input is read, in id order.  Memory is
SQLite's page cache plus the thread being built, whatever the input's size;
disk use is about the size of the posts.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from types import TracebackType
from typing import cast

from threadvault.model import Post, Thread, snowflake_time
from threadvault.sources.tweets import status_url

SCHEMA = """
CREATE TABLE posts (
    id TEXT PRIMARY KEY,
    reply_to TEXT,         -- the parent's post id, whoever wrote it
    author TEXT NOT NULL,  -- the author's key (a user id), to compare with the parent's
    reply_to_author TEXT,  -- the parent author's key as the reply names it, for absent parents
    self_parent TEXT,      -- reply_to when it is the same author's tweet; set by threads()
    post BLOB NOT NULL
);
"""
# A reply is later than its parent, so its id is greater (ids sort by length, then text): a link
# that says otherwise is corrupt data, and taking it could close a cycle that no thread starts from.
FIND_SELF_REPLIES = """
UPDATE posts SET self_parent = reply_to
WHERE reply_to IS NOT NULL
  AND (length(reply_to) < length(id) OR (length(reply_to) = length(id) AND reply_to < id))
  AND author = coalesce((SELECT parent.author FROM posts AS parent WHERE parent.id = posts.reply_to), reply_to_author);
CREATE INDEX posts_self_parent ON posts (self_parent);
"""
# Where threads start: tweets that are no self-reply, and absent parents of self-replies (gaps).
STARTS = """
SELECT id, missing FROM (
    SELECT id, 0 AS missing FROM posts WHERE self_parent IS NULL
    UNION ALL
    SELECT DISTINCT self_parent, 1 FROM posts WHERE self_parent NOT IN (SELECT id FROM posts)
)
ORDER BY length(id), id
"""
CHILDREN = "SELECT id FROM posts WHERE self_parent = ? ORDER BY length(id), id"
POST = "SELECT post FROM posts WHERE id = ?"


class Chains:
    """Collects tweets with ``add`` and gives them back as threads with ``threads``; use it as a context manager."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._db = sqlite3.connect("")
        self._db.executescript(SCHEMA)

    def __enter__(self) -> Chains:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._db.close()

    def add(self, post: Post, author: str, reply_to_author: str | None) -> None:
        """Keep a post (the first copy wins when a tweet is read twice).

        ``author`` identifies who wrote it and ``reply_to_author`` whom it
        replies to, as keys of one kind (user ids), so that a reply to an
        absent parent is still known to be a self-reply.
        """
        self._db.execute(
            "INSERT OR IGNORE INTO posts VALUES (?, ?, ?, ?, NULL, ?)",
            (post.id, post.reply_to_id, author, reply_to_author, pickle.dumps(post, pickle.HIGHEST_PROTOCOL)),
        )

    def threads(self) -> Iterator[Thread]:
        """Every post added, once, in threads ordered by their first post's id; call it once, after the last add."""
        self._db.executescript(FIND_SELF_REPLIES)
        for start, missing in self._db.execute(STARTS):
            heads = [(start, bool(missing))]
            while heads:
                head, missing = heads.pop()
                posts, branches = self._chain(self._gap(head) if missing else self._post(head))
                yield self._thread(posts, branches)
                heads.extend((branch, False) for branch in reversed(branches))

    def _chain(self, head: Post) -> tuple[list[Post], list[str]]:
        posts: list[Post] = [head]
        branches: list[str] = []
        while children := self._children(posts[-1].id):
            posts.append(self._post(children[0]))
            branches.extend(children[1:])
        return posts, branches

    def _thread(self, posts: list[Post], branches: list[str]) -> Thread:
        first = posts[0]
        return Thread(
            id=first.id,
            platform="twitter",
            url=status_url(first.id.partition(":")[2], first.author),
            source=self.source,
            author=first.author,
            posts=tuple(replace(post, position=position) for position, post in enumerate(posts, start=1)),
            branches=tuple(branches),
        )

    def _gap(self, post_id: str) -> Post:
        """The absent parent of a self-reply: known to exist, by the same author, unreadable here."""
        author = self._post(self._children(post_id)[0]).author
        tweet_id = post_id.partition(":")[2]
        return Post(
            id=post_id,
            author=author,
            text=None,
            created_at=snowflake_time(tweet_id),
            url=status_url(tweet_id, author),
            missing=True,
        )

    def _post(self, post_id: str) -> Post:
        (blob,) = self._db.execute(POST, (post_id,)).fetchone()
        return _loads(blob)

    def _children(self, post_id: str) -> list[str]:
        """The ids of a post's self-replies, earliest first."""
        return [child for (child,) in self._db.execute(CHILDREN, (post_id,))]


def _loads(blob: bytes) -> Post:
    return cast(Post, pickle.loads(blob))  # written by this process into its own private database
