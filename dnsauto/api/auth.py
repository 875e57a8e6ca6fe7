"""Bearer keys (``[[daemon.api.keys]]``) and the rate limit of failed attempts per address.

A token is compared with every key's secret, in constant time over SHA-256 digests (so neither
the length nor which key came close shows in the timing), and every key is tried. Secrets are
resolved when the keys change (a reload), not per request; a key whose secret cannot be read
is left out, with a warning naming the key only.

An address with ``maxAuthFailures`` wrong or expired tokens within ``authFailureWindow`` gets
429 for every further wrong or expired token until the oldest failure leaves the window. A
valid key is never refused because of failures from its address (anyone behind the same proxy
could lock its holder out otherwise): the keys are long enough (128 bits, checked at load) that
slowing the guesses is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dnsauto.config.daemon import ApiKey, ApiPermission, ApiSettings
from dnsauto.plugin.errors import SecretError

__all__ = ["AuthFailure", "Authenticator", "Client", "RateLimiter"]

log = logging.getLogger(__name__)

MAX_TRACKED_ADDRESSES = 10_000


@dataclass(frozen=True)
class Client:
    """Who made a request: the key's name and what it may do."""

    name: str
    permissions: frozenset[ApiPermission]

    def may(self, permission: ApiPermission) -> bool:
        return permission in self.permissions


class AuthFailure(Exception):
    """The request is not authenticated; ``error`` is RFC 6750's code (None: no token).
    ``retry_after``: the address has failed too often, seconds until it may try again."""

    def __init__(self, detail: str, error: str | None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Resolved:
    key: ApiKey
    digest: bytes


class RateLimiter:
    """Failed attempts per address in a sliding window; addresses over the limit are blocked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, window: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        now = self.clock()
        while failures and failures[0] <= now - window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def retry_after(self, address: str, limit: int, window: float) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not blocked."""
        failures = self._recent(address, window)
        if failures is None or len(failures) < limit:
            return None
        return max(1, math.ceil(failures[-limit] + window - self.clock()))

    def failed(self, address: str, window: float) -> None:
        failures = self._recent(address, window)
        if failures is None:
            failures = self._failures[address] = deque(maxlen=100_000)
            while len(self._failures) > MAX_TRACKED_ADDRESSES:
                self._failures.popitem(last=False)
        self._failures.move_to_end(address)
        failures.append(self.clock())


class Authenticator:
    """Checks ``Authorization`` headers against the keys of the current configuration."""

    def __init__(self, settings: Callable[[], ApiSettings]) -> None:
        self._settings = settings
        self._keys_seen: tuple[ApiKey, ...] | None = None
        self._resolved: list[_Resolved] = []
        self.limiter = RateLimiter()

    def _keys(self) -> list[_Resolved]:
        keys = self._settings().keys
        if keys is not self._keys_seen:
            self._resolved = _resolve(keys)
            self._keys_seen = keys
        return self._resolved

    def blocked(self, address: str) -> int | None:
        """Seconds to wait when ``address`` has failed too often, else None."""
        settings = self._settings()
        return self.limiter.retry_after(
            address, settings.max_auth_failures, settings.auth_failure_window.total_seconds()
        )

    def authenticate(self, header: str | None, address: str) -> Client:
        """The client the header's token belongs to; :class:`AuthFailure` otherwise."""
        if not header:
            raise AuthFailure("an API key is needed: Authorization: Bearer <key>", None)
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthFailure("use Authorization: Bearer <key>", "invalid_request")
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: ApiKey | None = None
        for entry in self._keys():
            if hmac.compare_digest(digest, entry.digest):
                found = entry.key
        if found is None:
            self._failed(address)
            log.warning("API: unknown key from %s", address)
            raise AuthFailure("unknown API key", "invalid_token")
        if found.expires_at is not None and found.expires_at <= datetime.now(UTC):
            self._failed(address)
            log.warning("API: expired key %r from %s", found.name, address)
            raise AuthFailure("the API key has expired", "invalid_token")
        return Client(found.name, frozenset(ApiPermission(p) for p in found.permissions))

    def _failed(self, address: str) -> None:
        """Count a wrong token; once the address is over the limit, refuse it with a wait
        (not counted, so the wait ends when the earlier failures leave the window)."""
        wait = self.blocked(address)
        if wait is not None:
            raise AuthFailure(
                f"too many failed authentications from {address}; retry in {wait}s",
                "invalid_token",
                retry_after=wait,
            )
        self.limiter.failed(address, self._settings().auth_failure_window.total_seconds())


def _resolve(keys: Sequence[ApiKey]) -> list[_Resolved]:
    resolved = []
    for key in keys:
        try:
            secret = key.secret.resolve()
        except SecretError as exc:
            log.warning("API key %r left out: %s", key.name, exc.message)
            continue
        if not secret:
            log.warning("API key %r left out: its secret is empty", key.name)
            continue
        resolved.append(_Resolved(key, hashlib.sha256(secret.encode("utf-8")).digest()))
    return resolved
