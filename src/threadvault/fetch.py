"""Fetch URLs politely with httpx, keeping every HTTP exchange exactly as it went over the wire.

    Fetcher.fetch(url)               every exchange made for the URL, in order
     +-- _follow_redirects           http(s) only, at most max_redirects hops
          +-- _check_robots          robots.txt fetched once per origin and cached (RFC 9309)
          +-- _send_with_retries     connection errors, timeouts, 429 and 5xx: backoff, Retry-After
               +-- _send_once        a concurrency slot, the per-host delay, the raw body streamed

Bodies stay content-encoded as sent, so the WARC writer can store them verbatim.  All waiting
goes through the injected ``sleep`` and all time comes from the injected ``clock``, so tests run
instantly and can assert the exact delays.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import random
import re
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.robotparser import RobotFileParser

import httpx

from threadvault import __version__
from threadvault.errors import BlockedByRobots, FetchError, TooLarge
from threadvault.model import header_value, iso_utc

RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
BASE_HEADERS = (("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"))  # encodings the stdlib decodes on replay
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})  # never sent to another origin
class TotalTimeout(httpx.TimeoutException):
    """An exchange that took longer than ``FetchSettings.total_timeout`` from start to last byte."""


TIMEOUTS = {
    TotalTimeout: "total timeout",
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "read timeout",
    httpx.WriteTimeout: "write timeout",
    httpx.PoolTimeout: "pool timeout",
}
OS_ERRORS = {
    ConnectionRefusedError: "connection refused",
    ConnectionResetError: "connection reset",
    socket.gaierror: "host name not resolved",
}


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = f"threadvault/{__version__} (+https://github.com/threadvault/threadvault; thread archiver)"
    concurrency: int = 4  # simultaneous requests overall
    delay: float = 1.0  # minimum seconds between two requests to the same host
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 300.0  # one whole exchange, however slowly its bytes drip in
    max_bytes: int = 50_000_000  # raw (as sent) body limit
    max_redirects: int = 10
    retries: int = 4  # extra attempts after the first, for retryable failures
    backoff: float = 1.0  # base seconds of exponential backoff (jittered), capped by max_backoff
    max_backoff: float = 120.0
    respect_robots: bool = True
    extra_headers: tuple[tuple[str, str], ...] = ()
    bearer_tokens: tuple[tuple[str, str], ...] = ()  # (host, token): "Authorization: Bearer" for that host only


@dataclass(frozen=True)
class Exchange:
    """One HTTP request/response pair exactly as on the wire; ``body`` is still content-encoded."""

    url: str
    method: str
    request_headers: tuple[tuple[str, str], ...]
    http_version: str
    status: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: str

    def header(self, name: str) -> str | None:
        return header_value(self.response_headers, name)


@dataclass
class _Host:
    """Requests to one host start at least ``delay`` seconds apart, and none before ``not_before``
    when the host said its rate limit was used up.  ``turns`` bounds how many are in flight at once:
    one when a delay spaces them, else as many as the concurrency allows."""

    turns: asyncio.Semaphore
    last_sent: datetime | None = None
    not_before: datetime | None = None
    sent: int = 0  # requests started, which numbers them
    heard: int = 0  # the number of the latest-started request answered: the host's latest word on its limit


def _rate_limit_reset(headers: httpx.Headers) -> datetime | None:
    """When a host that says its rate limit is used up (``X-RateLimit-Remaining: 0``, as Mastodon
    does) allows the next request: its ``X-RateLimit-Reset``, an ISO 8601 time."""
    if headers.get("x-ratelimit-remaining", "").strip() != "0":
        return None
    try:
        reset = datetime.fromisoformat(headers.get("x-ratelimit-reset", "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return reset if reset.tzinfo else reset.replace(tzinfo=timezone.utc)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Fetcher:
    """An async context manager owning one httpx transport (its connection pool); ``fetch`` may run
    concurrently.  Requests go straight to the transport: httpx's client parses a redirect's Location
    even when not following it, and raises on one it cannot read, losing the response."""

    def __init__(
        self,
        settings: FetchSettings = FetchSettings(),
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._transport = transport or httpx.AsyncHTTPTransport()
        self._timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        ).as_dict()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._hosts: defaultdict[str, _Host] = defaultdict(
            lambda: _Host(asyncio.Semaphore(1 if settings.delay > 0 else settings.concurrency)))
        self._robots: dict[str, RobotFileParser | FetchError] = {}
        self._robots_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._transport.aclose()

    async def fetch(self, url: str) -> list[Exchange]:
        """Every exchange made for ``url``: robots.txt (first time per origin), retries, redirects, then
        the final response, whatever its status.  A FetchError raised carries the exchanges made before it."""
        exchanges: list[Exchange] = []
        try:
            start = _parse_url(url)
            if start.scheme not in ("http", "https") or not start.host:
                raise FetchError(url, "not an http(s) URL")
            await self._follow_redirects(start, exchanges, trusted=_origin(start), robots=self.settings.respect_robots)
        except FetchError as error:
            error.exchanges = tuple(exchanges)
            raise
        return exchanges

    async def _follow_redirects(
        self, url: httpx.URL, exchanges: list[Exchange], *, trusted: str | None, robots: bool
    ) -> Exchange:
        """The final exchange after redirects, each hop checked against robots.txt if ``robots``;
        credentials go only to the ``trusted`` origin."""
        redirects = 0
        while True:
            if robots:
                await self._check_robots(url, exchanges)
            exchange = await self._send_with_retries(url, self._headers_for(url, trusted), exchanges)
            target = _redirect_target(exchange)
            if target is None:
                return exchange
            redirects += 1
            if redirects > self.settings.max_redirects:
                raise FetchError(str(url), f"too many redirects ({redirects})", exchange.status)
            url = target

    def _headers_for(self, url: httpx.URL, trusted: str | None) -> httpx.Headers:
        headers = httpx.Headers([("User-Agent", self.settings.user_agent), *BASE_HEADERS])
        same_origin = _origin(url) == trusted
        extra = self.settings.extra_headers
        headers.update([(name, value) for name, value in extra if same_origin or name.lower() not in CREDENTIALS])
        if same_origin:
            headers.update([("Authorization", f"Bearer {token}") for host, token in self.settings.bearer_tokens if host == url.host])
        return headers

    async def _check_robots(self, url: httpx.URL, exchanges: list[Exchange]) -> None:
        origin = _origin(url)
        async with self._robots_locks[origin]:
            if origin not in self._robots:
                self._robots[origin] = await self._fetch_robots(url.join("/robots.txt"), exchanges)
        rules = self._robots[origin]
        if isinstance(rules, FetchError):
            raise BlockedByRobots(str(url), f"robots.txt unavailable ({rules.reason})")
        if not rules.can_fetch(self.settings.user_agent, str(url)):
            raise BlockedByRobots(str(url))

    async def _fetch_robots(self, url: httpx.URL, exchanges: list[Exchange]) -> RobotFileParser | FetchError:
        """The rules of an origin: a 4xx allows everything; an unreachable robots.txt (5xx,
        connection failure) disallows everything, and is returned as the error saying why."""
        try:
            exchange = await self._follow_redirects(url, exchanges, trusted=None, robots=False)
        except FetchError as error:
            return error
        rules = RobotFileParser(str(url))
        if exchange.status >= 400:
            rules.allow_all = True
            return rules
        try:
            rules.parse(_decoded_text(exchange).splitlines())
        except httpx.DecodingError as error:
            return FetchError(str(url), f"undecodable body ({error})", exchange.status)
        return rules

    async def _send_with_retries(self, url: httpx.URL, headers: httpx.Headers, exchanges: list[Exchange]) -> Exchange:
        """The first response that is not a 429 or 5xx, retrying those, timeouts and broken connections."""
        last = self.settings.retries + 1
        attempt = 1
        while True:
            try:
                exchange = await self._send_once(url, headers)
            except RETRYABLE_ERRORS as error:
                if attempt == last:
                    raise FetchError(str(url), f"{_describe(error)} after {_plural(attempt)}", None, attempt) from error
                wait = self._backoff(attempt)
            except httpx.TransportError as error:  # a proxy refusing, a bad header: trying again will not help
                raise FetchError(str(url), _describe(error), None, attempt) from error
            else:
                exchanges.append(exchange)
                if exchange.status != 429 and exchange.status < 500:
                    return exchange
                if attempt == last:
                    reason = f"HTTP {exchange.status} after {_plural(attempt)}"
                    raise FetchError(str(url), reason, exchange.status, attempt)
                wait = self._backoff(attempt, exchange)
            await self._sleep(wait)
            attempt += 1

    def _backoff(self, attempt: int, exchange: Exchange | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: Retry-After on a 429 or 503, else full jitter."""
        settings = self.settings
        if exchange is not None and exchange.status in (429, 503):
            wait = _retry_after(exchange.header("Retry-After"), self._clock())
            if wait is not None:
                return min(wait, settings.max_backoff)
        return self._random() * min(settings.max_backoff, settings.backoff * 2 ** (attempt - 1))

    async def _send_once(self, url: httpx.URL, headers: httpx.Headers) -> Exchange:
        host = self._hosts[url.host]
        async with host.turns:
            await self._wait_for_turn(host)
            async with self._slots:
                host.last_sent = sent = self._clock()
                host.sent += 1
                number = host.sent
                request = httpx.Request("GET", url, headers=headers, extensions={"timeout": self._timeout})
                try:
                    response, body = await asyncio.wait_for(self._exchange(request), self.settings.total_timeout)
                except asyncio.TimeoutError:
                    raise TotalTimeout(f"took longer than {self.settings.total_timeout:g} s", request=request) from None
                if number > host.heard:  # requests overlap without a delay: an older answer is stale
                    host.heard = number
                    host.not_before = _rate_limit_reset(response.headers)
        return _exchange(request, response, body, sent)

    async def _exchange(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        response = await self._transport.handle_async_request(request)
        try:
            return response, await self._read_raw(response, str(request.url))
        finally:
            await response.aclose()

    async def _wait_for_turn(self, host: _Host) -> None:
        now = self._clock()
        wait = 0.0
        if host.last_sent is not None:
            elapsed = (now - host.last_sent).total_seconds()
            wait = self.settings.delay - max(elapsed, 0.0)  # a clock stepping back waits at most `delay`
        if host.not_before is not None:
            wait = max(wait, min((host.not_before - now).total_seconds(), self.settings.max_backoff))
        if wait > 0:
            await self._sleep(wait)

    async def _read_raw(self, response: httpx.Response, url: str) -> bytes:
        """The body as sent, refused past ``max_bytes``; an early close raises RemoteProtocolError."""
        limit = self.settings.max_bytes
        declared = _content_length(response)
        if declared is not None and declared > limit:
            raise TooLarge(url, limit, response.status_code)
        chunks: list[bytes] = []
        received = 0
        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > limit:
                    raise TooLarge(url, limit, response.status_code)
                chunks.append(chunk)
        except httpx.RemoteProtocolError as error:
            raise httpx.RemoteProtocolError(_incomplete(received, declared, error)) from error
        return b"".join(chunks)


def _parse_url(url: str) -> httpx.URL:
    try:
        return httpx.URL(url).copy_with(fragment=None)
    except httpx.InvalidURL as error:
        raise FetchError(url, f"invalid URL ({error})") from error


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def non_public_address(host: str) -> str | None:
    """What kind of non-public address a host name literally is (an IP address in any form the
    system resolver accepts, or localhost), or None."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "a loopback address"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[0-9a-fx.]+", host):
            return "an unusable address" if "%" in host else None
        try:  # 127.1, 0x7f.0.0.1, 2130706433: spellings of 127.0.0.1 that inet_aton (and so getaddrinfo) reads
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "private"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    return None if address.is_global else "not a public address"


def _redirect_target(exchange: Exchange) -> httpx.URL | None:
    location = exchange.header("Location")
    if exchange.status not in REDIRECTS or location is None:
        return None
    try:
        target = httpx.URL(exchange.url).join(location).copy_with(fragment=None)
    except httpx.InvalidURL as error:
        raise FetchError(exchange.url, f"invalid redirect location {location!r}", exchange.status) from error
    if target.scheme not in ("http", "https"):
        raise FetchError(exchange.url, f"redirect to unsupported scheme {target.scheme}:", exchange.status)
    kind = non_public_address(target.host)
    if kind and not non_public_address(httpx.URL(exchange.url).host):
        raise FetchError(exchange.url, f"redirect to {target.host} refused: it is {kind}", exchange.status)
    return target


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``now`` given a Retry-After of seconds or an HTTP-date; None if absent or garbled."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _incomplete(received: int, declared: int | None, error: Exception) -> str:
    if declared is not None and received < declared:
        return f"body shorter than Content-Length (connection closed at {received:,} of {declared:,} bytes)"
    return f"body cut off after {received:,} bytes ({error})"


def _describe(error: Exception) -> str:
    """A short reason for a failed attempt: 'read timeout', 'connection refused', or httpx's message."""
    for kind, reason in TIMEOUTS.items():
        if isinstance(error, kind):
            return reason
    cause: BaseException | None = error
    while cause is not None:
        for kind, reason in OS_ERRORS.items():
            if isinstance(cause, kind):
                return reason
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__


def _plural(attempts: int) -> str:
    return "1 attempt" if attempts == 1 else f"{attempts} attempts"


def _decoded_text(exchange: Exchange) -> str:
    """The body with its content-encoding removed, as text (httpx decodes a Response built from bytes)."""
    return httpx.Response(exchange.status, headers=exchange.response_headers, content=exchange.body).text


def _headers(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.raw)


def _exchange(request: httpx.Request, response: httpx.Response, body: bytes, sent: datetime) -> Exchange:
    return Exchange(
        url=str(request.url),
        method=request.method,
        request_headers=_headers(request.headers),
        http_version=response.http_version,
        status=response.status_code,
        reason=response.reason_phrase,
        response_headers=_headers(response.headers),
        body=body,
        fetched_at=iso_utc(sent),
    )
