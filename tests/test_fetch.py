"""Fetcher: decisions against httpx.MockTransport, the wire against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from threadvault import __version__
from threadvault.errors import BlockedByRobots, FetchError, TooLarge
from threadvault.fetch import Exchange, Fetcher, FetchSettings

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
USER_AGENT = f"threadvault/{__version__} (+https://github.com/threadvault/threadvault; thread archiver)"


class FakeTime:
    """A clock that only moves when slept on; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def streamed(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> httpx.Response:
    """A response as a real transport returns it: the body not read yet (``content=`` would read it)."""
    headers = {**(headers or {}), "Content-Length": str(len(body))}
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


Reply = tuple[int, dict[str, str]] | Exception


class Script:
    """A MockTransport handler answering requests with ``replies`` in order, repeating the last one."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        status, headers = reply
        return streamed(status, headers, b"body %d" % status)


def mock_fetcher(
    handler: Callable[[httpx.Request], httpx.Response] | Script,
    time: FakeTime,
    random: Callable[[], float] = lambda: 0.5,
    **settings: object,
) -> Fetcher:
    settings = {"delay": 0.0, "respect_robots": False, **settings}
    return Fetcher(
        FetchSettings(**settings),  # type: ignore[arg-type]
        transport=httpx.MockTransport(handler),
        clock=time.clock,
        sleep=time.sleep,
        random=random,
    )


async def fetch_error(fetcher: Fetcher, url: str) -> FetchError:
    async with fetcher:
        with pytest.raises(FetchError) as raised:
            await fetcher.fetch(url)
    return raised.value


# Decisions (httpx.MockTransport)


@pytest.mark.asyncio
async def test_exchange_is_the_request_and_response_as_sent() -> None:
    time = FakeTime()
    async with mock_fetcher(Script((200, {"Content-Type": "text/html"})), time) as fetcher:
        exchanges = await fetcher.fetch("https://example.com/thread/1")
    assert exchanges == [
        Exchange(
            url="https://example.com/thread/1",
            method="GET",
            request_headers=(
                ("Host", "example.com"),
                ("User-Agent", USER_AGENT),
                ("Accept", "*/*"),
                ("Accept-Encoding", "gzip, deflate"),
            ),
            http_version="HTTP/1.1",
            status=200,
            reason="OK",
            response_headers=(("Content-Type", "text/html"), ("Content-Length", "8")),
            body=b"body 200",
            fetched_at="2024-01-01T00:00:00Z",
        )
    ]


@pytest.mark.asyncio
async def test_retries_503_then_returns_every_attempt() -> None:
    time = FakeTime()
    script = Script((503, {}), (503, {}), (200, {}))
    async with mock_fetcher(script, time) as fetcher:
        exchanges = await fetcher.fetch("https://example.com/")
    assert [exchange.status for exchange in exchanges] == [503, 503, 200]
    assert time.sleeps == [0.5, 1.0]
    assert [exchange.fetched_at for exchange in exchanges] == [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:01Z",
    ]


@pytest.mark.parametrize(
    "randoms, backoff, max_backoff, expected",
    [
        ([1.0], 1.0, 120.0, [1.0, 2.0, 4.0, 8.0, 16.0]),
        ([1.0], 1.0, 5.0, [1.0, 2.0, 4.0, 5.0, 5.0]),
        ([1.0], 0.5, 120.0, [0.5, 1.0, 2.0, 4.0, 8.0]),
        ([0.25, 0.75, 0.0, 0.5, 1.0], 1.0, 10.0, [0.25, 1.5, 0.0, 4.0, 10.0]),
    ],
)
@pytest.mark.asyncio
async def test_backoff_grows_with_full_jitter_and_is_capped(
    randoms: list[float], backoff: float, max_backoff: float, expected: list[float]
) -> None:
    time = FakeTime()
    draws = iter(randoms * 5)
    fetcher = mock_fetcher(
        Script((500, {})), time, random=lambda: next(draws), retries=5, backoff=backoff, max_backoff=max_backoff
    )
    error = await fetch_error(fetcher, "https://example.com/")
    assert time.sleeps == expected
    assert (str(error), error.status, error.attempts) == ("https://example.com/: HTTP 500 after 6 attempts", 500, 6)
    assert [exchange.status for exchange in error.exchanges] == [500] * 6


@pytest.mark.parametrize(
    "status, retry_after, expected",
    [
        (503, "7", [7.0]),
        (429, "7", [7.0]),
        (503, "1000", [120.0]),
        (503, "Mon, 01 Jan 2024 00:00:30 GMT", [30.0]),
        (429, "Mon, 01 Jan 2024 00:10:00 GMT", [120.0]),
        (503, "Sun, 31 Dec 2023 23:00:00 GMT", [0.0]),
        (503, "soon", [0.5]),  # unreadable: the jittered backoff
        (500, "7", [0.5]),  # only 429 and 503 carry a Retry-After worth honouring
    ],
)
@pytest.mark.asyncio
async def test_retry_after_seconds_and_dates_are_honoured(status: int, retry_after: str, expected: list[float]) -> None:
    time = FakeTime()
    async with mock_fetcher(Script((status, {"Retry-After": retry_after}), (200, {})), time) as fetcher:
        exchanges = await fetcher.fetch("https://example.com/")
    assert time.sleeps == expected
    assert [exchange.status for exchange in exchanges] == [status, 200]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 300, 304])
@pytest.mark.asyncio
async def test_final_responses_are_returned_without_retrying(status: int) -> None:
    time = FakeTime()
    script = Script((status, {}))
    async with mock_fetcher(script, time) as fetcher:
        exchanges = await fetcher.fetch("https://example.com/gone")
    assert [(exchange.status, exchange.body) for exchange in exchanges] == [(status, b"body %d" % status)]
    assert (len(script.requests), time.sleeps) == (1, [])


@pytest.mark.asyncio
async def test_429_past_the_retries_is_an_error_with_every_attempt() -> None:
    time = FakeTime()
    error = await fetch_error(mock_fetcher(Script((429, {})), time, retries=2), "https://example.com/")
    assert (str(error), error.status, error.attempts) == ("https://example.com/: HTTP 429 after 3 attempts", 429, 3)
    assert [exchange.status for exchange in error.exchanges] == [429, 429, 429]


@pytest.mark.asyncio
async def test_transport_errors_are_retried() -> None:
    time = FakeTime()
    script = Script(
        httpx.ConnectError("All connection attempts failed"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        (200, {}),
    )
    async with mock_fetcher(script, time) as fetcher:
        exchanges = await fetcher.fetch("https://example.com/")
    assert [exchange.status for exchange in exchanges] == [200]
    assert time.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(
    "error, reason",
    [
        (httpx.ConnectTimeout("timed out"), "connect timeout"),
        (httpx.ReadTimeout("timed out"), "read timeout"),
        (httpx.PoolTimeout("timed out"), "pool timeout"),
        (httpx.ReadError("boom"), "boom"),
        (httpx.RemoteProtocolError("Server disconnected"), "Server disconnected"),
    ],
)
@pytest.mark.asyncio
async def test_transport_errors_past_the_retries(error: Exception, reason: str) -> None:
    time = FakeTime()
    raised = await fetch_error(mock_fetcher(Script(error), time, retries=1), "https://example.com/")
    assert (str(raised), raised.status, raised.attempts) == (f"https://example.com/: {reason} after 2 attempts", None, 2)
    assert raised.exchanges == ()


@pytest.mark.asyncio
async def test_other_transport_errors_are_not_retried() -> None:
    time = FakeTime()
    script = Script(httpx.ProxyError("407 Proxy Authentication Required"))
    error = await fetch_error(mock_fetcher(script, time), "https://example.com/")
    assert (str(error), error.attempts) == ("https://example.com/: 407 Proxy Authentication Required", 1)
    assert (len(script.requests), time.sleeps) == (1, [])


@pytest.mark.asyncio
async def test_relative_redirects_are_resolved() -> None:
    time = FakeTime()
    script = Script(
        (301, {"Location": "c"}),
        (302, {"Location": "../d?x=1"}),
        (303, {"Location": "//other.test/e"}),
        (307, {"Location": "https://other.test/f"}),
        (308, {"Location": "/g#frag"}),
        (200, {}),
    )
    async with mock_fetcher(script, time) as fetcher:
        exchanges = await fetcher.fetch("http://example.com/a/b#top")
    assert [(exchange.url, exchange.status) for exchange in exchanges] == [
        ("http://example.com/a/b", 301),
        ("http://example.com/a/c", 302),
        ("http://example.com/d?x=1", 303),
        ("http://other.test/e", 307),
        ("https://other.test/f", 308),
        ("https://other.test/g", 200),
    ]


@pytest.mark.parametrize("redirects, ok", [(3, True), (4, False)])
@pytest.mark.asyncio
async def test_redirect_limit(redirects: int, ok: bool) -> None:
    time = FakeTime()
    script = Script(*[(302, {"Location": f"/{hop}"}) for hop in range(1, redirects + 1)], (200, {}))
    fetcher = mock_fetcher(script, time, max_redirects=3)
    if ok:
        async with fetcher:
            exchanges = await fetcher.fetch("https://example.com/0")
        assert [exchange.status for exchange in exchanges] == [302, 302, 302, 200]
    else:
        error = await fetch_error(fetcher, "https://example.com/0")
        assert str(error) == "https://example.com/3: too many redirects (4)"
        assert [exchange.url for exchange in error.exchanges] == [f"https://example.com/{hop}" for hop in range(4)]


@pytest.mark.parametrize(
    "location, reason",
    [
        ("ftp://example.com/file", "redirect to unsupported scheme ftp:"),
        ("javascript:alert(1)", "redirect to unsupported scheme javascript:"),
        ("http://[::1", "invalid redirect location 'http://[::1'"),
    ],
)
@pytest.mark.asyncio
async def test_bad_redirect_targets(location: str, reason: str) -> None:
    time = FakeTime()
    error = await fetch_error(mock_fetcher(Script((302, {"Location": location})), time), "https://example.com/")
    assert (str(error), error.status) == (f"https://example.com/: {reason}", 302)
    assert [exchange.status for exchange in error.exchanges] == [302]


@pytest.mark.parametrize("url", ["ftp://example.com/file", "example.com/thread", "https://"])
@pytest.mark.asyncio
async def test_only_http_urls_are_fetched(url: str) -> None:
    time = FakeTime()
    script = Script((200, {}))
    error = await fetch_error(mock_fetcher(script, time), url)
    assert (str(error), error.exchanges, script.requests) == (f"{url}: not an http(s) URL", (), [])


@pytest.mark.asyncio
async def test_credentials_stay_with_the_origin_asked_for() -> None:
    time = FakeTime()
    script = Script(
        (302, {"Location": "/2"}),
        (302, {"Location": "https://elsewhere.test/3"}),
        (302, {"Location": "https://mastodon.test/4"}),
        (200, {}),
    )
    extra = (("Authorization", "Bearer secret"), ("X-Client", "threadvault"))
    fetcher = mock_fetcher(script, time, extra_headers=extra, user_agent="tester/1.0")
    async with fetcher:
        exchanges = await fetcher.fetch("https://mastodon.test/1")
    sent = [
        (dict(exchange.request_headers).get("Authorization"), dict(exchange.request_headers)["X-Client"])
        for exchange in exchanges
    ]
    assert sent == [
        ("Bearer secret", "threadvault"),
        ("Bearer secret", "threadvault"),
        (None, "threadvault"),
        ("Bearer secret", "threadvault"),
    ]
    assert {dict(exchange.request_headers)["User-Agent"] for exchange in exchanges} == {"tester/1.0"}


@pytest.mark.asyncio
async def test_a_bearer_token_goes_only_to_its_own_host() -> None:
    time = FakeTime()
    script = Script((302, {"Location": "https://elsewhere.test/2"}), (200, {}), (200, {}))
    fetcher = mock_fetcher(script, time, bearer_tokens=(("mastodon.test", "secret"),))
    async with fetcher:
        redirected = await fetcher.fetch("https://mastodon.test/1")
        other = await fetcher.fetch("https://other.test/1")
    sent = [dict(exchange.request_headers).get("Authorization") for exchange in redirected + other]
    assert sent == ["Bearer secret", None, None]


@pytest.mark.asyncio
async def test_a_used_up_rate_limit_waits_for_its_reset() -> None:
    time = FakeTime()
    reset = (time.now + timedelta(seconds=42)).isoformat().replace("+00:00", "Z")
    limited = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    script = Script((200, limited), (200, {}), (200, {}))
    fetcher = mock_fetcher(script, time)
    async with fetcher:
        for path in ("/1", "/2", "/3"):
            await fetcher.fetch(f"https://mastodon.test{path}")
    assert time.sleeps == [42.0]


@pytest.mark.asyncio
async def test_a_used_up_rate_limit_is_not_lifted_by_an_older_request_answered_after_it() -> None:
    time = FakeTime()
    reset = (time.now + timedelta(seconds=42)).isoformat().replace("+00:00", "Z")
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    first_sent, answer_first = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/1":
            first_sent.set()
            await answer_first.wait()
            return streamed(200)
        return streamed(200, limited if request.url.path == "/2" else {})

    async with mock_fetcher(handler, time, total_timeout=5.0) as fetcher:  # one at a time, /2 would wait for ever
        first = asyncio.create_task(fetcher.fetch("https://mastodon.test/1"))
        await first_sent.wait()
        await fetcher.fetch("https://mastodon.test/2")
        answer_first.set()
        await first
        await fetcher.fetch("https://mastodon.test/3")
    assert time.sleeps == [42.0]


@pytest.mark.asyncio
async def test_a_public_host_cannot_redirect_to_a_private_address() -> None:
    time = FakeTime()
    script = Script((302, {"Location": "http://127.0.0.1:8080/admin"}), (200, {}))
    fetcher = mock_fetcher(script, time)
    async with fetcher:
        with pytest.raises(FetchError) as refused:
            await fetcher.fetch("https://mirror.test/thread/1.html")
    assert refused.value.reason == "redirect to 127.0.0.1 refused: it is a loopback address"
    assert len(refused.value.exchanges) == 1


class InFlight:
    """An async handler counting the requests it is serving at once, overall and per host."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.peak = 0
        self.peak_per_host = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.now[host] = self.now.get(host, 0) + 1
        self.peak = max(self.peak, sum(self.now.values()))
        self.peak_per_host = max(self.peak_per_host, self.now[host])
        for _ in range(5):
            await asyncio.sleep(0)
        self.now[host] -= 1
        return streamed(200)


@pytest.mark.asyncio
async def test_concurrency_bound_is_never_exceeded() -> None:
    handler = InFlight()
    fetcher = Fetcher(FetchSettings(concurrency=3, respect_robots=False), transport=httpx.MockTransport(handler))
    urls = [f"https://host{n % 8}.test/{n}" for n in range(32)]
    async with fetcher:
        results = await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert [result[-1].url for result in results] == urls
    assert (handler.peak, handler.peak_per_host) == (3, 1)


@pytest.mark.asyncio
@pytest.mark.parametrize(("delay", "in_flight"), [(0.0, 3), (0.5, 1)])
async def test_requests_to_one_host_overlap_only_without_a_delay(delay: float, in_flight: int) -> None:
    handler = InFlight()
    time = FakeTime()
    urls = [f"https://host.test/{n}" for n in range(12)]
    async with mock_fetcher(handler, time, concurrency=3, delay=delay) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert [result[-1].url for result in results] == urls
    assert (handler.peak, handler.peak_per_host) == (in_flight, in_flight)


# The wire (servers on 127.0.0.1)


@pytest.fixture(scope="module")
def wire_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(wire_server: HTTPServer) -> Iterator[HTTPServer]:
    yield wire_server
    wire_server.clear()


def wire_fetcher(time: FakeTime, **settings: object) -> Fetcher:
    settings = {"delay": 0.0, **settings}
    return Fetcher(
        FetchSettings(**settings),  # type: ignore[arg-type]
        clock=time.clock,
        sleep=time.sleep,
        random=lambda: 0.5,
    )


def paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log]


ROBOTS = "User-agent: *\nDisallow: /\n\nUser-agent: threadvault\nDisallow: /private\n"


@pytest.mark.parametrize(
    "status, body, headers, path, blocked",
    [
        (200, ROBOTS, {}, "/public", None),
        (200, ROBOTS, {}, "/private/thread", "disallowed by robots.txt"),
        (200, gzip.compress(ROBOTS.encode()), {"Content-Encoding": "gzip"}, "/private/thread", "disallowed by robots.txt"),
        (200, "User-agent: *\nDisallow: /\n", {}, "/public", "disallowed by robots.txt"),
        (404, "not found", {}, "/private/thread", None),
        (403, "forbidden", {}, "/private/thread", None),
        (500, "oops", {}, "/public", "robots.txt unavailable (HTTP 500 after 2 attempts)"),
        (
            200,
            b"not gzip",
            {"Content-Encoding": "gzip"},
            "/public",
            "robots.txt unavailable (undecodable body (Error -3 while decompressing data: incorrect header check))",
        ),
    ],
)
@pytest.mark.asyncio
async def test_robots_txt(
    server: HTTPServer, status: int, body: str | bytes, headers: dict[str, str], path: str, blocked: str | None
) -> None:
    server.expect_request("/robots.txt").respond_with_data(body, status=status, headers=headers)
    server.expect_request(path).respond_with_data("page")
    url = server.url_for(path)
    async with wire_fetcher(FakeTime(), retries=1) as fetcher:
        if blocked is None:
            exchanges = await fetcher.fetch(url)
            assert [(exchange.url, exchange.body) for exchange in exchanges][-1] == (url, b"page")
        else:
            with pytest.raises(BlockedByRobots) as raised:
                await fetcher.fetch(url)
            assert str(raised.value) == f"{url}: {blocked} (use --ignore-robots to override)"
            exchanges = list(raised.value.exchanges)
    robots_attempts = 2 if status == 500 else 1
    assert [exchange.url for exchange in exchanges[:robots_attempts]] == [server.url_for("/robots.txt")] * robots_attempts
    assert paths(server) == ["/robots.txt"] * robots_attempts + ([] if blocked else [path])


@pytest.mark.asyncio
async def test_robots_txt_redirects_are_followed_and_every_hop_is_checked(server: HTTPServer) -> None:
    server.expect_request("/robots.txt").respond_with_data("", status=301, headers={"Location": "/real-robots.txt"})
    server.expect_request("/real-robots.txt").respond_with_data(ROBOTS)
    server.expect_request("/public").respond_with_data("", status=302, headers={"Location": "/private/1"})
    async with wire_fetcher(FakeTime()) as fetcher:
        with pytest.raises(BlockedByRobots) as raised:
            await fetcher.fetch(server.url_for("/public"))
    assert str(raised.value) == f"{server.url_for('/private/1')}: disallowed by robots.txt (use --ignore-robots to override)"
    assert [(exchange.url, exchange.status) for exchange in raised.value.exchanges] == [
        (server.url_for("/robots.txt"), 301),
        (server.url_for("/real-robots.txt"), 200),
        (server.url_for("/public"), 302),
    ]


@pytest.mark.asyncio
async def test_robots_txt_is_fetched_once_per_origin(server: HTTPServer) -> None:
    server.expect_request("/robots.txt").respond_with_data(ROBOTS)
    server.expect_request("/private").respond_with_data("secret")
    for n in range(6):
        server.expect_request(f"/public/{n}").respond_with_data(f"page {n}")
    async with wire_fetcher(FakeTime()) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server.url_for(f"/public/{n}")) for n in range(6)))
        with pytest.raises(BlockedByRobots) as raised:
            await fetcher.fetch(server.url_for("/private"))
    assert sorted(len(exchanges) for exchanges in results) == [1, 1, 1, 1, 1, 2]
    assert [exchange.body for exchanges in results for exchange in exchanges].count(ROBOTS.encode()) == 1
    assert raised.value.exchanges == ()
    assert sorted(paths(server)) == ["/public/0", "/public/1", "/public/2", "/public/3", "/public/4", "/public/5", "/robots.txt"]


@pytest.mark.asyncio
async def test_robots_txt_is_skipped_when_not_respected(server: HTTPServer) -> None:
    server.expect_request("/private").respond_with_data("secret")
    async with wire_fetcher(FakeTime(), respect_robots=False) as fetcher:
        exchanges = await fetcher.fetch(server.url_for("/private"))
    assert [exchange.body for exchange in exchanges] == [b"secret"]
    assert paths(server) == ["/private"]


@pytest.mark.asyncio
async def test_same_host_requests_wait_for_the_delay(server: HTTPServer) -> None:
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    for name in "abcd":
        server.expect_request(f"/{name}").respond_with_data(name)
    time = FakeTime()
    async with wire_fetcher(time, delay=2.0) as fetcher:
        first = await fetcher.fetch(server.url_for("/a"))
        time.now += timedelta(seconds=0.5)
        second = await fetcher.fetch(server.url_for("/b"))
        time.now += timedelta(seconds=5)
        third = await fetcher.fetch(server.url_for("/c"))
        time.now -= timedelta(hours=1)  # the clock steps back
        fourth = await fetcher.fetch(server.url_for("/d"))
    assert time.sleeps == [2.0, 1.5, 2.0]
    assert [exchange.fetched_at for exchange in first + second + third + fourth] == [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:02Z",
        "2024-01-01T00:00:04Z",
        "2024-01-01T00:00:09Z",
        "2023-12-31T23:00:11Z",  # 00:00:09 an hour back, plus the delay
    ]


@pytest.mark.asyncio
async def test_gzip_body_is_kept_encoded(server: HTTPServer) -> None:
    encoded = gzip.compress(b"<html>" + b"thread " * 500 + b"</html>", mtime=0)
    server.expect_request("/thread").respond_with_data(encoded, headers={"Content-Encoding": "gzip"})
    async with wire_fetcher(FakeTime(), respect_robots=False) as fetcher:
        [exchange] = await fetcher.fetch(server.url_for("/thread"))
    assert exchange.body == encoded
    assert (exchange.header("content-encoding"), exchange.header("Content-Length")) == ("gzip", str(len(encoded)))
    assert dict(server.log[0][0].headers)["Accept-Encoding"] == "gzip, deflate"


def chunked(body: bytes) -> Callable[[Request], Response]:
    return lambda request: Response(iter([body[:60], body[60:]]))  # no Content-Length: sent chunked


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("size, too_large", [(100, False), (101, True)])
@pytest.mark.asyncio
async def test_body_size_limit(server: HTTPServer, size: int, too_large: bool, streamed: bool) -> None:
    body = b"x" * size
    handler = server.expect_request("/big")
    if streamed:
        handler.respond_with_handler(chunked(body))
    else:
        handler.respond_with_data(body)
    url = server.url_for("/big")
    async with wire_fetcher(FakeTime(), respect_robots=False, max_bytes=100) as fetcher:
        if too_large:
            with pytest.raises(TooLarge) as raised:
                await fetcher.fetch(url)
            assert (str(raised.value), raised.value.status) == (f"{url}: body larger than the 100-byte limit", 200)
        else:
            [exchange] = await fetcher.fetch(url)
            assert (exchange.body, exchange.header("Transfer-Encoding")) == (body, "chunked" if streamed else None)


class RawServer:
    """A TCP server on 127.0.0.1 answering each connection with fixed bytes and closing it; None never answers."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/thread"
        self.stopped = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self.answer(connection)

    def answer(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        request = b""
        while b"\r\n\r\n" not in request:
            request += connection.recv(65536)
        if self.reply is None:
            self.held.append(connection)
            return
        connection.sendall(self.reply)
        connection.close()

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join()
        for connection in self.held:
            connection.close()
        self.listener.close()


@pytest.mark.asyncio
async def test_truncated_body_is_retried_then_a_clear_error() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 1234
    time = FakeTime()
    with RawServer(reply) as raw:
        error = await fetch_error(wire_fetcher(time, respect_robots=False, retries=2), raw.url)
    assert (str(error), error.status, error.attempts) == (
        f"{raw.url}: body shorter than Content-Length (connection closed at 1,234 of 5,000 bytes) after 3 attempts",
        None,
        3,
    )
    assert (raw.connections, time.sleeps, error.exchanges) == (3, [0.5, 1.0], ())


@pytest.mark.asyncio
async def test_declared_length_past_the_limit_is_refused_before_reading() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n"  # and nothing more
    with RawServer(reply) as raw:
        with pytest.raises(TooLarge) as raised:
            async with wire_fetcher(FakeTime(), respect_robots=False) as fetcher:
                await fetcher.fetch(raw.url)
    assert (str(raised.value), raw.connections) == (f"{raw.url}: body larger than the 50,000,000-byte limit", 1)


@pytest.mark.asyncio
async def test_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/thread"
    time = FakeTime()
    error = await fetch_error(wire_fetcher(time, respect_robots=False, retries=1), url)
    assert (str(error), error.attempts, time.sleeps) == (f"{url}: connection refused after 2 attempts", 2, [0.5])


@pytest.mark.asyncio
async def test_read_timeout() -> None:
    with RawServer(None) as raw:
        error = await fetch_error(wire_fetcher(FakeTime(), respect_robots=False, retries=0, read_timeout=0.1), raw.url)
    assert (str(error), error.attempts) == (f"{raw.url}: read timeout after 1 attempt", 1)
