"""Parsing captured pages, in the command's own process or in processes of their own.

A fetch job, a reparse and a WARC import of PARSE_POOL_FROM URLs or more hand
their pages to ``parse_processes``: spawned processes that ignore Ctrl-C (the
command stops them) and end once the command is gone, even killed outright.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from threadvault import sources
from threadvault.model import Capture, Listing, Thread

# A command with this many URLs or more parses them in processes of their own: starting them, each
# importing the parsers, costs about what parsing this many pages does.
PARSE_POOL_FROM = 32
COMMAND_WATCH_INTERVAL = 0.2  # seconds between a parse process's checks that its command is still there
PROCESS_DIED = "the process parsing it stopped; run the command again to retry"


def default_workers() -> int:
    """A parse process for each CPU the command's own process leaves, at most four: parsing is most of
    a fetch's CPU, and the command's process still fetches, writes the WARC files and stores."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def parse(source: sources.Source, url: str, captures: Mapping[str, Capture], *, with_replies: bool) -> Thread | Listing:
    """The source's parse of the captures, keeping other people's replies where it can and is asked to."""
    if with_replies and source.NAME in sources.REPLY_SOURCES:
        return source.parse(url, captures, with_replies=True)  # type: ignore[call-arg]
    return source.parse(url, captures)


def parse_by_name(source_name: str, url: str, captures: Mapping[str, Capture], *, with_replies: bool) -> Thread | Listing:
    """``parse`` for a parse process, handed the source by name."""
    return parse(sources.by_name(source_name), url, captures, with_replies=with_replies)


@contextmanager
def parse_processes(workers: int) -> Iterator[Executor | None]:
    """Processes that parse pages; None for none.  Spawned, not forked: the command runs threads
    (the WARC writer's, the DNS lookups'), which a fork would copy mid-step."""
    if workers == 0:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_serve, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:  # Ctrl-C, say: the pages not yet being parsed are dropped, not parsed for nothing
        pool.shutdown(cancel_futures=True)
        raise
    finally:
        pool.shutdown()


def _serve(command: int) -> None:
    """Set up a parse process.  Ctrl-C reaches every process of the terminal's job: the command
    stops and lets its parse processes finish the pages they are parsing.  A command killed
    outright cannot stop them, so each watches for it to be gone and ends then."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(command,), name="watch the command", daemon=True).start()


def _end_with(command: int) -> None:
    while os.getppid() == command:  # a process whose parent dies is given another
        time.sleep(COMMAND_WATCH_INTERVAL)
    os._exit(0)
