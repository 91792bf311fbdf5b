"""A polite async HTTP client: per-host rate limit, in-flight cap, retries, circuit breaker.

This module is the one place where httpx errors become parcelflow errors::

    httpx.TimeoutException                      → TransientError(code="timeout")
    httpx.ConnectError                          → TransientError(code="host_unreachable")
    httpx.ReadError / WriteError / Remote...    → TransientError(code="connection_reset")
    httpx.InvalidURL / UnsupportedProtocol      → PermanentError(code="bad_url")
    HTTP 408, 429, 500, 502, 503, 504           → TransientError(code="http_NNN", retry_after=…)
    other HTTP 4xx/5xx                          → PermanentError(code="http_NNN")
    200 with an HTML body                       → TransientError(code="html_body")
    200 with a JSON ``{"error": {...}}`` body   → TransientError(code="error_in_200"), or
                                                  PermanentError for auth / not-found codes

Transient failures are retried in the call with full-jitter exponential backoff
(:class:`~parcelflow.core.policies.retry.RetryPolicy`), honouring ``Retry-After``.
A delay longer than ``max_retry_after`` is not slept here: the error is raised
with its ``retry_after`` so the ledger can wait durably instead. A per-host
:class:`~parcelflow.core.policies.breaker.CircuitBreaker` fails calls fast
(``code="circuit_open"``) while a host is down.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import hashlib
import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

import certifi
import httpx

from parcelflow.core.policies.breaker import CircuitBreaker, Reject
from parcelflow.core.policies.ratelimit import HostLimiter
from parcelflow.core.policies.retry import GiveUp, RetryPolicy
from parcelflow.errors import ParcelflowError, PermanentError, TransientError, one_line

__all__ = [
    "HostStats",
    "HttpClient",
    "HttpSettings",
    "Request",
    "classify_status",
    "decode_json",
    "error_in_body",
    "parse_retry_after",
]

Method = Literal["GET", "POST"]
_T = TypeVar("_T")
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# ArcGIS REST error codes that no retry can fix (token required / invalid, forbidden).
_ACCESS_CODES = frozenset({401, 403, 498, 499})
_NOT_FOUND_HINTS = ("not found", "does not exist", "invalid url")


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as plain data: what a job stores and what its key digests.

    Attributes:
        method: ``GET`` (params in the query string) or ``POST`` (form-encoded body).
        url: absolute URL without the query.
        params: ordered name/value pairs.
    """

    method: Method
    url: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def host(self) -> str:
        """``host[:port]``, the unit of rate limits and circuit breakers."""
        return urlsplit(self.url).netloc.lower()

    def digest(self, *salt: str) -> str:
        """SHA-256 of the canonical request (plus ``salt``): a deterministic job key."""
        canonical = json.dumps([self.method, self.url, list(self.params), list(salt)])
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form for a job payload."""
        return {"method": self.method, "url": self.url, "params": [list(p) for p in self.params]}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Request:
        """Inverse of :meth:`to_payload`."""
        method: Method = "POST" if payload["method"] == "POST" else "GET"
        params = tuple((str(k), str(v)) for k, v in payload["params"])
        return cls(method, str(payload["url"]), params)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How politely to talk to each host.

    Attributes:
        rate: requests per second per host (``math.inf``: unlimited).
        burst: requests a host may receive back to back.
        max_in_flight: concurrent requests per host.
        timeout: seconds for connect, read and write, each.
        retry: in-call backoff policy.
        max_retry_after: longest wait slept in the call; longer ones are raised.
        breaker_threshold: consecutive host failures that open its circuit.
        breaker_cooldown: seconds an open circuit waits before one probe.
        max_body_bytes: larger responses are refused (``code="too_large"``).
        user_agent: sent with every request.
        trust_env: honour proxy environment variables.
    """

    rate: float = 5.0
    burst: float = 1.0
    max_in_flight: int = 4
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=4, cap=30.0))
    max_retry_after: float = 60.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0
    max_body_bytes: int = 512 * 1024 * 1024
    user_agent: str = "parcelflow/0.1 (+https://github.com/parcelflow)"
    trust_env: bool = True


@dataclass(slots=True)
class HostStats:
    """What happened with one host: for reports and for tests that count attempts.

    Attributes:
        attempts: requests sent.
        retries: attempts that were retries.
        waited: seconds of backoff decided (``Retry-After`` included).
        failures: failed attempts per error code.
        refused_by_breaker: calls not sent because the host's circuit was open.
        breaker: the circuit's state, in words.
    """

    attempts: int = 0
    retries: int = 0
    waited: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    refused_by_breaker: int = 0
    breaker: str = "closed"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3).

    Args:
        value: delay-seconds (``"120"``) or an HTTP-date.
        now: current epoch seconds, to turn a date into a delay.
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def classify_status(status: int, retry_after: float | None) -> ParcelflowError | None:
    """The error an HTTP status means, or ``None`` for success (2xx/3xx)."""
    if status < 400:
        return None
    if status in RETRYABLE_STATUS:
        return TransientError(f"HTTP {status}", code=f"http_{status}", retry_after=retry_after)
    return PermanentError(f"HTTP {status}", code=f"http_{status}")


_MARKUP_START = re.compile(rb"\s*<")


def _looks_like_html(body: bytes, content_type: str) -> bool:
    # Proxies and maintenance pages answer 200 text/html where JSON was asked for.
    return "html" in content_type.lower() or _MARKUP_START.match(body) is not None


def decode_json(body: bytes, content_type: str = "") -> Any:
    """Parse a JSON body, raising a transient error for HTML or truncated JSON."""
    if _looks_like_html(body, content_type):
        snippet = one_line(body[:120].decode("utf-8", "replace"), 80)
        raise TransientError(f"HTML where JSON was expected: {snippet}", code="html_body")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise TransientError(f"unparseable JSON body: {exc}", code="bad_json") from exc


def error_in_body(doc: Any) -> ParcelflowError | None:
    """The error carried by a 200 JSON body (ArcGIS REST reports errors this way)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), dict):
        return None
    error = doc["error"]
    code = error.get("code")
    details = "; ".join(str(d) for d in error.get("details") or ())
    text = f"server error {code}: {error.get('message', '')} {details}".strip()
    if code in _ACCESS_CODES:
        return PermanentError(text, code="access_denied")
    if code == 404 or any(hint in text.lower() for hint in _NOT_FOUND_HINTS):
        return PermanentError(text, code="not_found")
    return TransientError(text, code="error_in_200")


def _translate(exc: httpx.HTTPError, request: Request) -> ParcelflowError:
    where = f"{request.method} {request.url}"
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"timed out: {where}", code="timeout")
    if isinstance(exc, httpx.ConnectError):
        return TransientError(f"cannot connect to {request.host}: {exc}", code="host_unreachable")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return PermanentError(f"unsupported URL {request.url!r}: {exc}", code="bad_url")
    if isinstance(exc, httpx.TransportError):
        return TransientError(f"connection reset: {where}: {exc!r}", code="connection_reset")
    return TransientError(f"HTTP error: {where}: {exc!r}", code="http_error")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds: once per process, not per
    # client. The bundle is certifi's, as httpx would use by default.
    return ssl.create_default_context(cafile=certifi.where())


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    content_type: str
    retry_after: str | None
    body: bytes


class HttpClient:
    """Async HTTP client with per-host politeness; use as an async context manager.

    Args:
        settings: rate, concurrency, retry and breaker settings.
        transport: an httpx transport (tests of odd transports only; the test
            suite talks to a real loopback server).
        sleep: the coroutine used for backoff waits.
    """

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings or HttpSettings()
        self._sleep = sleep
        self._limiter = HostLimiter(
            self.settings.rate,
            burst=self.settings.burst,
            max_in_flight=self.settings.max_in_flight,
        )
        self._breakers: dict[str, CircuitBreaker] = {}
        self.stats: dict[str, HostStats] = {}
        self._client = httpx.AsyncClient(
            verify=_tls_context(),
            timeout=httpx.Timeout(self.settings.timeout),
            headers={"User-Agent": self.settings.user_agent},
            follow_redirects=True,
            transport=transport,
            trust_env=self.settings.trust_env,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def json(self, request: Request) -> Any:
        """Send ``request`` and return its JSON body, retrying transient failures.

        Raises:
            TransientError: retries exhausted, a long ``Retry-After``, or an open circuit.
            PermanentError: the server said no in a way retrying cannot change.
        """
        return await self._with_retries(request, _json_body)

    async def json_bytes(self, request: Request) -> bytes:
        """Like :meth:`json`, but return the checked body unparsed.

        Large answers are parsed later, where the CPU work belongs (a worker
        thread or process); error objects are still caught here, because
        ArcGIS sends them as small ``{"error": ...}`` documents.
        """
        return await self._with_retries(request, _checked_json_bytes)

    async def content(self, request: Request) -> bytes:
        """Send ``request`` and return its raw body (an HTML body is still an error)."""
        return await self._with_retries(request, _raw_body)

    def report(self) -> dict[str, HostStats]:
        """Per-host statistics, with each host's current breaker state."""
        for host, breaker in self._breakers.items():
            self._host_stats(host).breaker = breaker.describe()
        return dict(self.stats)

    def _host_stats(self, host: str) -> HostStats:
        return self.stats.setdefault(host, HostStats())

    def _breaker(self, host: str) -> CircuitBreaker:
        breaker = self._breakers.get(host)
        if breaker is None:
            settings = self.settings
            breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown)
            self._breakers[host] = breaker
        return breaker

    async def _with_retries(self, request: Request, parse: Callable[[_Response], _T]) -> _T:
        attempt = 0
        while True:
            attempt += 1
            self._check_breaker(request.host)
            try:
                result = parse(await self._attempt(request))
            except TransientError as err:
                self._record_failure(request.host, err)
                await self._sleep(self._backoff(request, err, attempt))
                continue
            except PermanentError:
                self._breaker(request.host).record_success(time.monotonic())
                raise
            self._breaker(request.host).record_success(time.monotonic())
            return result

    def _check_breaker(self, host: str) -> None:
        decision = self._breaker(host).decide(time.monotonic())
        if isinstance(decision, Reject):
            self._host_stats(host).refused_by_breaker += 1
            wait = max(0.0, decision.until - time.monotonic())
            message = f"{host} looks down, not sending: {decision.reason}"
            raise TransientError(message, code="circuit_open", retry_after=wait)

    def _record_failure(self, host: str, err: TransientError) -> None:
        stats = self._host_stats(host)
        stats.failures[err.code] = stats.failures.get(err.code, 0) + 1
        # 429 means the host is up and asking us to slow down: Retry-After covers it.
        if err.code != "http_429":
            self._breaker(host).record_failure(time.monotonic(), f"{err.code}: {err.message}")

    def _backoff(self, request: Request, err: TransientError, attempt: int) -> float:
        decision = self.settings.retry.decide(err, attempt, time.time())
        if isinstance(decision, GiveUp):
            message = f"{request.host}: gave up after {attempt} attempts: {err.message}"
            raise TransientError(message, code=err.code, retry_after=err.retry_after) from err
        if decision.delay > self.settings.max_retry_after:
            # Too long to hold a worker: let the ledger wait durably instead.
            raise TransientError(err.message, code=err.code, retry_after=decision.delay) from err
        stats = self._host_stats(request.host)
        stats.retries += 1
        stats.waited += decision.delay
        return decision.delay

    async def _attempt(self, request: Request) -> _Response:
        async with self._limiter.slot(request.host):
            self._host_stats(request.host).attempts += 1
            try:
                return await self._exchange(request)
            except httpx.HTTPError as exc:
                raise _translate(exc, request) from exc
            except httpx.InvalidURL as exc:
                raise PermanentError(f"invalid URL {request.url!r}: {exc}", code="bad_url") from exc

    async def _exchange(self, request: Request) -> _Response:
        params: list[tuple[str, str | int | float | bool | None]] = list(request.params)
        if request.method == "POST":
            stream = self._client.stream("POST", request.url, data=dict(params))
        else:
            stream = self._client.stream("GET", request.url, params=params)
        async with stream as response:
            body = await self._read_limited(response, request)
        headers = response.headers
        return _Response(
            response.status_code, headers.get("content-type", ""), headers.get("retry-after"), body
        )

    async def _read_limited(self, response: httpx.Response, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise PermanentError(f"{request.url}: body over {limit} bytes", code="too_large")
            chunks.append(chunk)
        return b"".join(chunks)


def _status_error(response: _Response) -> ParcelflowError | None:
    retry_after = parse_retry_after(response.retry_after, time.time())
    return classify_status(response.status, retry_after)


def _json_body(response: _Response) -> Any:
    error = _status_error(response)
    if error is not None:
        raise error
    doc = decode_json(response.body, response.content_type)
    error = error_in_body(doc)
    if error is not None:
        raise error
    return doc


# Error objects are small documents whose first key is "error"; a page of
# features is never one. Bodies above this size are only checked by that prefix.
_ERROR_SCAN_LIMIT = 64 * 1024
_ERROR_PREFIX = re.compile(rb'^\s*\{\s*"error"\s*:')


def _checked_json_bytes(response: _Response) -> bytes:
    if len(response.body) <= _ERROR_SCAN_LIMIT or _ERROR_PREFIX.match(response.body):
        _json_body(response)
        return response.body
    error = _status_error(response)
    if error is not None:
        raise error
    if _looks_like_html(response.body, response.content_type):
        raise TransientError("HTML page where JSON was expected", code="html_body")
    return response.body


def _raw_body(response: _Response) -> bytes:
    error = _status_error(response)
    if error is not None:
        raise error
    if _looks_like_html(response.body, response.content_type):
        raise TransientError("HTML page where data was expected", code="html_body")
    return response.body
