"""A local Thread Reader App stand-in for the reliability tests: generated thread pages served over
real HTTP on 127.0.0.1 by a threaded stdlib server, counting the requests it answers."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pagegen import GeneratedThread


@dataclass
class Site:
    base: str
    threads: Sequence[GeneratedThread]
    requests: Counter[str] = field(default_factory=Counter)  # path -> requests answered

    def url(self, thread: GeneratedThread) -> str:
        return f"{self.base}/thread/{thread.root_id}.html"

    @property
    def served(self) -> int:
        return sum(self.requests.values())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client killed mid-request is what these tests do on purpose; anything else is a bug."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve_threads(threads: Sequence[GeneratedThread], *, delay: float = 0.0) -> Iterator[Site]:
    """Serve each thread at ``/thread/<root id>.html`` (robots.txt: 404), each answer ``delay`` seconds late."""
    pages = {f"/thread/{thread.root_id}.html": thread.html for thread in threads}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            time.sleep(delay)
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")
            with lock:
                site.requests[self.path] += 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    site = Site(f"http://127.0.0.1:{server.server_address[1]}", threads)
    runner = threading.Thread(target=server.serve_forever, daemon=True)
    runner.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
