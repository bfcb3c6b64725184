import random
from dataclasses import replace

import pytest

from threadvault.model import Author, Post
from threadvault.sources.chains import Chains
from threadvault.sources.tweets import twitter_author

ANA = twitter_author("ana")
BEA = twitter_author("bea")
KEYS = {ANA: "1", BEA: "2"}  # user ids


def tweet(native: str, author: Author, reply_to: str | None = None) -> tuple[Post, str, str | None]:
    """A post and its keys; ``reply_to`` is "<parent id>@<parent author's key>"."""
    parent, _, parent_author = (reply_to or "").partition("@")
    post = Post(
        id=f"twitter:{native}",
        author=author,
        text=f"text {native}",
        url=f"https://twitter.com/{author.handle}/status/{native}",
        reply_to_id=f"twitter:{parent}" if parent else None,
    )
    return post, KEYS[author], parent_author or None


def threads(*tweets: tuple[Post, str, str | None]) -> list[tuple[list[str], tuple[str, ...]]]:
    """(post ids with * for gaps, branches) of each thread."""
    with Chains("test") as chains:
        for entry in tweets:
            chains.add(*entry)
        return [
            ([post.id.removeprefix("twitter:") + "*" * post.missing for post in thread.posts], thread.branches)
            for thread in chains.threads()
        ]


THREAD = [
    tweet("10", ANA),
    tweet("11", ANA, "10@1"),
    tweet("12", BEA, "11@1"),  # someone else's reply
    tweet("13", ANA, "12@2"),  # the author answering it: not a self-reply
    tweet("14", ANA, "11@1"),
    tweet("9", BEA),
]


def test_self_replies_chain_and_everything_else_stands_alone():
    assert threads(*THREAD) == [
        (["9"], ()),
        (["10", "11", "14"], ()),
        (["12"], ()),
        (["13"], ()),
    ]


@pytest.mark.parametrize("seed", range(5))
def test_input_order_does_not_matter(seed):
    shuffled = THREAD[:]
    random.Random(seed).shuffle(shuffled)
    assert threads(*shuffled) == threads(*THREAD)


def test_ids_sort_as_numbers():
    assert threads(tweet("100", ANA), tweet("99", ANA)) == [(["99"], ()), (["100"], ())]


def test_corrupt_replies_that_form_a_cycle_lose_no_tweet():
    """A reply is later than its parent; a link to a later tweet is corrupt and would close a cycle with no start."""
    assert threads(tweet("20", ANA, "21@1"), tweet("21", ANA, "20@1"), tweet("22", ANA, "22@1")) == [
        (["20", "21"], ()),
        (["22"], ()),
    ]


def test_the_earliest_self_reply_continues_and_later_ones_branch():
    assert threads(
        tweet("20", ANA),
        tweet("23", ANA, "20@1"),
        tweet("21", ANA, "20@1"),
        tweet("22", ANA, "21@1"),
        tweet("24", ANA, "23@1"),
    ) == [
        (["20", "21", "22"], ("twitter:23",)),
        (["23", "24"], ()),
    ]


def test_an_absent_parent_of_a_self_reply_is_a_gap():
    gap_thread = threads(tweet("31", ANA, "30@1"), tweet("32", ANA, "31@1"))
    assert gap_thread == [(["30*", "31", "32"], ())]


def test_an_absent_parent_by_someone_else_is_no_gap():
    assert threads(tweet("31", ANA, "30@2")) == [(["31"], ())]


def test_gap_post_and_thread_fields():
    with Chains("test") as chains:
        chains.add(*tweet("1380242340925874179", ANA, "1380242339449438216@1"))
        (thread,) = chains.threads()
    assert thread.posts[0] == Post(
        id="twitter:1380242339449438216",
        author=ANA,
        text=None,
        position=1,
        created_at="2021-04-08T19:33:12Z",
        url="https://twitter.com/ana/status/1380242339449438216",
        missing=True,
    )
    assert (thread.id, thread.platform, thread.url, thread.source, thread.author) == (
        "twitter:1380242339449438216",
        "twitter",
        "https://twitter.com/ana/status/1380242339449438216",
        "test",
        ANA,
    )
    assert [post.position for post in thread.posts] == [1, 2]


def test_a_tweet_read_twice_is_kept_once():
    first, key, parent = tweet("40", ANA)
    with Chains("test") as chains:
        chains.add(first, key, parent)
        chains.add(replace(first, text="again"), key, parent)
        assert [[post.text for post in thread.posts] for thread in chains.threads()] == [["text 40"]]
