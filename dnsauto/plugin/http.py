"""The HTTP client every cloud provider plugin uses: one aiohttp session per provider instance.

It carries what each provider would otherwise get wrong on its own: the DnsServer ``timeout``
on every request, a ``User-Agent`` naming dnsauto, bounded retries with exponential backoff and
jitter on 429, 5xx and connection errors (``Retry-After`` honoured, in seconds or as an HTTP
date), a client-side rate limit (token bucket) at the API's documented rate, counters for the
metrics, and one table mapping status codes to dnsauto's errors. Credentials are headers (or,
for APIs like Porkbun's, JSON body fields) the client adds itself; they never appear in logs,
errors or ``repr``, even when an answer echoes them. An API that signs every request (OVH)
gives a ``sign`` hook: it gets the method, the full URL and the body text exactly as sent, and
returns that request's headers, computed again on every retry. An API that reports errors in
the body (``{"status": "ERROR"}`` with HTTP 200) or throttles with another status than 429
(Porkbun's 503) says so through :attr:`HttpClient.error_kind` and
:attr:`HttpClient.throttle_statuses`.

Time goes through a :class:`Clock`, so tests drive retries and the rate limit without waiting.
"""

from __future__ import annotations

import asyncio
import email.utils
import json as jsonlib
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from dnsauto import __version__
from dnsauto.plugin.counters import HttpCounters
from dnsauto.plugin.errors import (
    AuthenticationError,
    ConflictError,
    ProviderError,
    TransientError,
)
from dnsauto.plugin.ratelimits import RateLimit, SharedRateLimits

if TYPE_CHECKING:
    import aiohttp

    from dnsauto.plugin.context import ProviderContext
    from dnsauto.plugin.settings import DnsServerBase

__all__ = [
    "REDACTED_HEADERS",
    "STATUS_ERRORS",
    "USER_AGENT",
    "Clock",
    "HttpClient",
    "HttpCounters",
    "HttpResponse",
    "HttpStatusError",
    "RateLimit",
    "RateLimits",
    "RetryPolicy",
    "SharedRateLimits",
    "SystemClock",
    "TokenBucket",
    "api_url",
    "error_class",
    "next_link",
    "parse_retry_after",
    "redact_headers",
]

USER_AGENT = f"dnsauto/{__version__}"

REDACTED_HEADERS = frozenset(
    {
        "authorization",
        "x-auth-key",
        "x-auth-email",
        "x-api-key",
        "x-api-secret",
        "x-secret-api-key",
        "accesskey",
        "cookie",
        "x-ovh-consumer",
        "x-ovh-signature",
    }
)
"""Headers whose values are replaced by ``********`` wherever headers are shown."""

STATUS_ERRORS: dict[int, type[ProviderError]] = {
    400: ProviderError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: ProviderError,
    408: TransientError,
    409: ConflictError,
    412: ConflictError,
    422: ProviderError,
    425: TransientError,
    429: TransientError,
}
"""The error each HTTP status means; any other 5xx is transient, any other 4xx permanent."""

RETRIED_STATUSES = frozenset({408, 425, 429})

log = logging.getLogger(__name__)


def api_url(type_name: str, default: str) -> str:
    """The provider API's base URL: ``default``, unless ``DNSAUTO_API_URL_<TYPE>`` names another.

    The override exists so that the tests and benchmarks can point any provider at its fake
    server on loopback; the settings models keep Stalwart's fields and have no URL field.
    """
    return os.environ.get(f"DNSAUTO_API_URL_{type_name.upper()}", default)


def error_class(status: int) -> type[ProviderError]:
    """The dnsauto error for an HTTP status (see :data:`STATUS_ERRORS`)."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return TransientError if status >= 500 else ProviderError


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the values of credential headers replaced."""
    return {k: "********" if k.lower() in REDACTED_HEADERS else v for k, v in headers.items()}


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date), if valid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class Clock(Protocol):
    """Where the client reads time and waits; tests give one that does not wait."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long one request is retried."""

    attempts: int = 5
    """Tries in total, the first one included."""
    base_delay: float = 0.5
    """The wait before the first retry; it doubles with each further retry."""
    max_delay: float = 30.0
    """The longest wait between two tries without ``Retry-After``."""
    budget: float = 120.0
    """The most seconds one request may spend waiting between tries; past it, it fails."""
    jitter: float = 0.5
    """The share of each backoff wait drawn at random, so clients do not retry in step."""

    def backoff(self, retry: int, rng: random.Random) -> float:
        delay: float = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return delay * (1 - self.jitter * rng.random())


class TokenBucket:
    """A token bucket of ``limit.requests`` tokens refilled at ``limit.per_second``."""

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self.limit = limit
        self._clock = clock
        self._tokens = float(limit.requests)
        self._updated = clock.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(
            float(self.limit.requests), self._tokens + elapsed * self.limit.per_second
        )
        self._updated = now

    async def take(self) -> float:
        """Take one token, waiting for it if the bucket is empty; returns the seconds waited."""
        async with self._lock:
            self._refill()
            waited = 0.0
            if self._tokens < 1:
                waited = (1 - self._tokens) / self.limit.per_second
                await self._clock.sleep(waited)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1)
            return waited


class RateLimits:
    """Token buckets by key, several limits each: deSEC allows 2 writes/s, 15/min, 100/h and
    300/day per domain; a request takes a token from every bucket of its key."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, RateLimit], TokenBucket] = {}

    async def take(self, key: str, limits: Sequence[RateLimit]) -> float:
        """Take a token for ``key`` under each of ``limits``; returns the seconds waited."""
        waited = 0.0
        for limit in limits:
            bucket = self._buckets.get((key, limit))
            if bucket is None:
                bucket = self._buckets[(key, limit)] = TokenBucket(limit, self._clock)
            waited += await bucket.take()
        return waited


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of an RFC 8288 ``Link`` header, if there is one."""
    for part in headers.get("Link", "").split(","):
        url, _, params = part.strip().partition(";")
        if re.search(r"""\brel="?next"?""", params) and url.strip().startswith("<"):
            return url.strip()[1:-1]
    return None


@dataclass(frozen=True)
class HttpResponse:
    """A response read whole: status, headers and the body as JSON (``None`` if not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    text: str


class HttpStatusError(Exception):
    """An HTTP answer with an error status; the mapped dnsauto error is raised ``from`` it."""

    def __init__(
        self,
        method: str,
        path: str,
        response: HttpResponse,
        detail: str,
        kind: type[ProviderError] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.response = response
        self.detail = detail
        self.kind = kind
        """The error the body said the answer is (:attr:`HttpClient.error_kind`), if any."""
        super().__init__(
            f"{method} {path}: HTTP {response.status}{': ' + detail if detail else ''}"
        )


def default_error_detail(body: Any) -> str:
    """The error text of a JSON body in the common shapes (``message``, ``detail``, ``errors``)."""
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "errors"):
            if body.get(key):
                return default_error_detail(body[key])
        return ""
    if isinstance(body, list):
        return "; ".join(d for d in (default_error_detail(item) for item in body) if d)
    return str(body)[:300] if body is not None else ""


@dataclass
class HttpClient:
    """An API's base URL, credentials and limits; one session, opened at first use.

    ``auth`` returns the credential headers when the session opens (secrets are resolved at
    use, not at load). ``provider`` and ``server_id`` name the DnsServer in errors;
    ``credential_fields`` are the settings fields a person must check when the API refuses
    the credentials.
    """

    base_url: str
    provider: str
    server_id: str
    timeout: float
    auth: Callable[[], Mapping[str, str]] = field(repr=False, default=dict)
    body_auth: Callable[[], Mapping[str, str]] | None = field(repr=False, default=None)
    """Credential fields merged into every JSON object body sent (Porkbun's ``apikey`` and
    ``secretapikey``); resolved at each request; their values are scrubbed from errors and logs."""
    credential_fields: Collection[str] = ("secret",)
    rate_limit: RateLimit | None = None
    rate_limit_reset_header: str | None = None
    """A header giving, as Unix time, when a 429's quota refills (``X-RateLimit-Reset``): the
    wait when the 429 has no ``Retry-After``."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock = field(default_factory=SystemClock, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)
    error_detail: Callable[[Any], str] = field(default=default_error_detail, repr=False)
    sign: Callable[[str, str, str], Mapping[str, str]] | None = field(default=None, repr=False)
    """Headers for one request from its method, full URL (query included) and body text. With
    it, a JSON body goes as compact JSON (``{"a":1}``): the exact text that was signed."""
    error_kind: Callable[[HttpResponse], type[ProviderError] | None] | None = field(
        default=None, repr=False
    )
    """The error an answer means, read from its body, or ``None`` to go by the status: an
    error class for a 2xx answer makes it an error (an API answering HTTP 200 with
    ``{"status": "ERROR"}``); for an error status it replaces :data:`STATUS_ERRORS`."""
    throttle_statuses: Collection[int] = (429,)
    """Statuses that mean "too many requests": counted as throttled and retried, even for
    calls not safe to repeat (the API did not carry them out). Porkbun answers 503."""
    counters: HttpCounters = field(default_factory=HttpCounters)
    shared_limits: SharedRateLimits | None = field(default=None, repr=False)
    """Buckets shared with other processes (a cluster's nodes): :attr:`rate_limit` and the
    per-key ``limits`` are kept there, under the provider, DnsServer id and key, rather than
    in this client, so the nodes together stay within them."""

    @classmethod
    def for_server(
        cls,
        provider: str,
        default_url: str,
        settings: DnsServerBase,
        context: ProviderContext,
        overrides: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> HttpClient:
        """The client of one DnsServer of @type ``provider``: its base URL from :func:`api_url`,
        the DnsServer ``timeout``, errors naming its id; ``fields`` (``auth``, ``rate_limit``,
        ...) are the provider's, ``overrides`` a test's (``base_url``, ``clock``, ``retry``).
        It counts into the context's :attr:`~ProviderContext.counters`, for the metrics."""
        return cls(**{"base_url": api_url(provider, default_url), "provider": provider,
                      "server_id": context.server_id, "counters": context.counters,
                      "shared_limits": context.rate_limits,
                      "timeout": settings.timeout.total_seconds(),
                      **fields, **(overrides or {})})  # fmt: skip

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._bucket = TokenBucket(self.rate_limit, self.clock) if self.rate_limit else None
        self._keyed = RateLimits(self.clock)

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp  # here: every installed plugin is imported at start, few talk HTTP

        if self._session is None or self._session.closed:
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.auth()}
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).body

    def relative(self, url: str) -> str:
        """A next-page URL the API gave, as a path under :attr:`base_url`.

        Raises ``ProviderError`` for a URL elsewhere: the credentials go only to the API.
        """
        if not url.startswith(self.base_url + "/"):
            raise ProviderError(
                f"the API sent a next page outside {self.base_url}: {url[:120]}",
                provider=self.provider,
            )
        return url[len(self.base_url) :]

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        errors: Mapping[int, type[ProviderError]] | None = None,
        retry_unsafe: bool = True,
        limits: Sequence[RateLimit] = (),
        limit_key: str = "",
    ) -> HttpResponse:
        """Send one request, retrying transient failures within :attr:`retry`.

        ``errors`` overrides :data:`STATUS_ERRORS` for this call (a 404 on a zone path means
        ``ZoneNotFoundError``). With ``retry_unsafe`` false only 429 is retried: for calls the
        server may have carried out before failing. ``limits`` are rate limits of this kind
        of call, kept per ``limit_key`` (e.g. writes per domain) besides :attr:`rate_limit`.
        ``form`` sends a URL-encoded form body instead of JSON (OAuth token endpoints).
        Raises a :class:`ProviderError`.
        """
        import aiohttp

        started = self.clock.monotonic()
        retries = 0
        while True:
            await self._wait_for_rate_limit(limits, limit_key)
            failure: Exception
            retry_after: float | None = None
            try:
                response = await self._send(method, path, params, json, form)
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = exc
                retryable = retry_unsafe
            else:
                kind = self.error_kind(response) if self.error_kind is not None else None
                if response.status < 400 and kind is None:
                    return response
                failure = HttpStatusError(
                    method,
                    path,
                    response,
                    self._scrub(self.error_detail(response.body) or response.text[:300]),
                    kind,
                )
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), self.clock.time()
                )
                throttled = response.status in self.throttle_statuses
                if throttled:
                    self.counters.add("throttled")
                    if retry_after is None:
                        retry_after = self._quota_reset(response)
                cls = kind or error_class(response.status)
                retryable = throttled or (
                    retry_unsafe and (response.status >= 500 or response.status in RETRIED_STATUSES)
                )
                if not retryable or not cls.transient:
                    raise self._error(failure, errors, retry_after) from failure
            retries += 1
            delay = (
                retry_after if retry_after is not None else self.retry.backoff(retries, self.rng)
            )
            spent = self.clock.monotonic() - started
            if not retryable or retries >= self.retry.attempts or spent + delay > self.retry.budget:
                raise self._error(failure, errors, retry_after) from failure
            log.info(
                "%s: %s %s failed (%s); retry %d in %.1fs",
                self.provider,
                method,
                path,
                _short(failure),
                retries,
                delay,
            )
            self.counters.add("retries")
            self.counters.add("waited_seconds", delay)
            await self.clock.sleep(delay)

    def _scrub(self, text: str) -> str:
        """``text`` without the body credentials' values (an answer may echo a request)."""
        if self.body_auth is None or not text:
            return text
        for value in self.body_auth().values():
            if value:
                text = text.replace(value, "********")
        return text

    def _quota_reset(self, response: HttpResponse) -> float | None:
        wanted = (self.rate_limit_reset_header or "").lower()
        value = next((v for k, v in response.headers.items() if k.lower() == wanted), "").strip()
        if not wanted or not value.isdigit():
            return None
        return max(0.0, float(value) - self.clock.time())

    async def _wait_for_rate_limit(self, limits: Sequence[RateLimit], key: str) -> None:
        if self.shared_limits is not None:
            waited = await self._wait_for_shared(limits, key)
        else:
            waited = await self._bucket.take() if self._bucket is not None else 0.0
            waited += await self._keyed.take(key, limits)
        if waited:
            self.counters.add("rate_limited")
            self.counters.add("waited_seconds", waited)

    async def _wait_for_shared(self, limits: Sequence[RateLimit], key: str) -> float:
        """Reserve a token in each shared bucket; wait until the last of them is due."""
        assert self.shared_limits is not None
        bucket = f"{self.provider}/{self.server_id}"
        due = 0.0
        if self.rate_limit is not None:
            due = await self.shared_limits.reserve(bucket, self.rate_limit)
        for limit in limits:
            due = max(due, await self.shared_limits.reserve(f"{bucket}/{key}", limit))
        if due > 0:
            await self.clock.sleep(due)
        return due

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        json: Any,
        form: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        session = self._open()
        self.counters.add("requests")
        query = {k: str(v) for k, v in params.items()} if params else None
        if self.body_auth is not None and (json is None or isinstance(json, dict)):
            json = {**(json or {}), **self.body_auth()}
        if self.sign is None:
            payload = {"data": dict(form)} if form is not None else {"json": json}
            sent = session.request(method, self.base_url + path, params=query, **payload)
        else:
            import yarl  # aiohttp's own URL type, loaded with it

            url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
            signed = jsonlib.dumps(json, separators=(",", ":")) if json is not None else ""
            headers = dict(self.sign(method, url, signed))
            if json is not None:
                headers["Content-Type"] = "application/json"
            sent = session.request(
                method, yarl.URL(url, encoded=True), data=signed.encode() or None, headers=headers
            )
        async with sent as resp:
            data = await resp.read()
            text = data.decode("utf-8", "replace")
            try:
                body = jsonlib.loads(text) if text.strip() else None
            except ValueError:
                body = None
            log.debug("%s: %s %s -> %d", self.provider, method, path, resp.status)
            return HttpResponse(resp.status, dict(resp.headers), body, text)

    def _error(
        self,
        failure: Exception,
        overrides: Mapping[int, type[ProviderError]] | None,
        retry_after: float | None,
    ) -> ProviderError:
        if not isinstance(failure, HttpStatusError):
            return TransientError(
                f"{failure_kind(failure)} talking to {self.base_url} for DnsServer "
                f"{self.server_id!r}",
                provider=self.provider,
            )
        status = failure.response.status
        cls = (overrides or {}).get(status) or failure.kind or error_class(status)
        what = f"{failure.method} {failure.path} answered HTTP {status}"
        if failure.detail:
            what += f": {failure.detail}"
        if issubclass(cls, AuthenticationError):
            fields = " and ".join(repr(f) for f in self.credential_fields)
            what += f"; check {fields} of DnsServer {self.server_id!r}"
        error = cls(what, provider=self.provider)
        if isinstance(error, TransientError):
            error.retry_after = retry_after
        return error


def failure_kind(exc: BaseException) -> str:
    """A short, secret-free description of a connection failure."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    aiohttp = sys.modules.get("aiohttp")  # not loaded: the failure cannot be one of its
    if aiohttp is not None and isinstance(exc, aiohttp.ClientConnectionError):
        return f"connection failed ({type(exc).__name__})"
    return type(exc).__name__


def _short(failure: Exception) -> str:
    if isinstance(failure, HttpStatusError):
        return f"HTTP {failure.response.status}"
    return failure_kind(failure)
