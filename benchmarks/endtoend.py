"""Stage 3: ``threadvault fetch`` of generated thread pages from a local server, against bare downloads.

The server runs in its own process on 127.0.0.1 and holds every page in memory,
so neither side waits on page generation.  The fetch runs as the real command
with politeness delays off; the baseline is an httpx async client with the same
concurrency that reads each body and does nothing else.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import sqlite3
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from benchmarks.data import tra_index, tra_page, tra_url
from benchmarks.process import threadvault
from benchmarks.table import Figure

CONCURRENCY = 4  # the fetch command's default
POSTS = 25


def run(pages: int, memory_pages: tuple[int, int], out: Path) -> list[Figure]:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("fork").Process(target=_serve, args=(max(pages, *memory_pages), sender),
                                                         daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{receiver.recv()}"
        urls = [tra_url(index, base) for index in range(pages)]
        bare = pages / asyncio.run(_download(urls))
        runs = {size: _fetch(base, size, out) for size in sorted({pages, *memory_pages})}
    finally:
        server.terminate()
        server.join()
    seconds, cpu, _ = runs[pages]
    small, large = (runs[size][2] for size in memory_pages)
    stage, note = "3 End to end", f"{pages:,} pages, concurrency {CONCURRENCY}, delay 0"
    return [
        Figure(stage, "threadvault fetch", pages / seconds, "pages/s", bare, "bare httpx download", target=1 / 2,
               note=note),
        Figure(stage, "threadvault fetch", pages * POSTS / seconds, "posts/s"),
        Figure(stage, "CPU per 1,000 posts", cpu / (pages * POSTS / 1000), "s", lower_is_better=True),
        Figure(stage, f"peak memory, {memory_pages[1]:,} pages", large, "MB", small,
               f"{memory_pages[0]:,} pages", target=1 / 1.2, lower_is_better=True),
    ]


def _fetch(base: str, pages: int, out: Path) -> tuple[float, float, float]:
    """Seconds, CPU seconds and peak MB of one fetch job into a new archive."""
    folder = out / f"fetch-{pages}"
    _empty(folder)
    (folder / "urls.txt").write_text("".join(tra_url(index, base) + "\n" for index in range(pages)))
    db = folder / "archive.db"
    measured = threadvault("fetch", "--from-file", folder / "urls.txt", "--db", db, "--source", "threadreaderapp",
                           "--delay", "0", "--concurrency", str(CONCURRENCY))
    with sqlite3.connect(db) as conn:
        saved = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    if saved != pages * POSTS:
        raise RuntimeError(f"the fetch job saved {saved} posts of {pages * POSTS}")
    return measured.seconds, measured.cpu_seconds, measured.peak_mb


async def _download(urls: list[str]) -> float:
    """Seconds to download every URL with CONCURRENCY requests in flight, reading each body."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            response = await client.get(queue.get_nowait())
            response.raise_for_status()

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


def _serve(pages: int, port: Connection) -> None:
    """Serve the first ``pages`` generated thread pages over HTTP/1.1 with keep-alive (a child process)."""
    bodies = [tra_page(index) for index in range(pages)]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                index = tra_index(request.split(b" ", 2)[1].decode())
                found = index is not None and 0 <= index < pages
                body = bodies[index] if found else b"not found"  # type: ignore[index]
                head = b"200 OK" if found else b"404 Not Found"
                writer.write(b"HTTP/1.1 %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
                             % (head, len(body)) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def _empty(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
