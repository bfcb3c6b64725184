"""Every error survives pickling whole: a page parsed in another process raises its error there."""

from __future__ import annotations

import pickle

import pytest

from threadvault.errors import (
    ArchiveBusy,
    BlockedByRobots,
    CaptureCorrupt,
    FetchError,
    ImportLineError,
    NotAThread,
    ThreadvaultError,
    TooLarge,
    UnknownSource,
)

URL = "https://threadreaderapp.com/thread/1215710451343904768.html"


@pytest.mark.parametrize(
    "error",
    [
        ThreadvaultError("plain"),
        FetchError(URL, "HTTP 503", status=503, attempts=4),
        BlockedByRobots(URL),
        TooLarge(URL, 1000, status=200),
        NotAThread(URL, "no posts on the page"),
        UnknownSource("urls.txt"),
        CaptureCorrupt("db/warc/a.warc.gz", 1234, "digest mismatch"),
        ImportLineError("tweets.jsonl", 7, "not JSON"),
        ArchiveBusy("db/threadvault.db"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_comes_back_from_pickling_as_it_was(error: ThreadvaultError) -> None:
    restored = pickle.loads(pickle.dumps(error))

    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert vars(restored) == vars(error)
