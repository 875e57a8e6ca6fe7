"""A client of dnsauto's JMAP API (RFC 8620): one method call per request to ``POST <url>/api``
of ``dnsauto run``, authenticated with ``Authorization: Bearer``; the commands of
:mod:`dnsauto.cli.api` are built on it. aiohttp is imported when a request is sent. The API key is
sent in the header and printed nowhere, not even in an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dnsauto.plugin.errors import DnsautoError

__all__ = [
    "CAPABILITIES",
    "DEFAULT_URL",
    "TOKEN_ENV",
    "URL_ENV",
    "ApiClient",
    "ApiError",
    "Reply",
    "api_url",
    "error_text",
    "method_call",
    "method_error",
    "one_line",
    "request_body",
]

CAPABILITIES = ("urn:ietf:params:jmap:core", "urn:stalwart:jmap")
"""The ``using`` of every request."""
DEFAULT_URL = "http://127.0.0.1:8053"
URL_ENV = "DNSAUTO_URL"
TOKEN_ENV = "DNSAUTO_TOKEN"
CALL_ID = "c1"


class ApiError(DnsautoError):
    """The API call failed."""


def method_call(object_name: str, method: str, arguments: Mapping[str, Any]) -> list[Any]:
    """One RFC 8620 invocation: ``["x:DnsServer/get", {...}, "c1"]``."""
    return [f"x:{object_name}/{method}", dict(arguments), CALL_ID]


def request_body(call: list[Any], *more: list[Any]) -> dict[str, Any]:
    """The request object of these method calls."""
    return {"using": list(CAPABILITIES), "methodCalls": [call, *more]}


def api_url(url: str) -> str:
    """The API endpoint of a server URL: ``http://host:8053`` -> ``http://host:8053/api``."""
    base = url.strip().rstrip("/")
    return base if base.endswith("/api") else f"{base}/api"


@dataclass
class Reply:
    """The method response to the one call of a request."""

    name: str
    arguments: dict[str, Any]


@dataclass
class ApiClient:
    """Posts JMAP requests to one dnsauto; the token goes in a header and nowhere else."""

    url: str = DEFAULT_URL
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @property
    def endpoint(self) -> str:
        """The API's URL as shown in messages: any user and password in it left out."""
        return _without_userinfo(api_url(self.url))

    def call(self, call: list[Any]) -> Reply:
        """Send one method call and return its response (raises :class:`ApiError`)."""
        import asyncio  # here: `dnsauto --help` must not pay for it

        return asyncio.run(self.acall(call))

    async def acall(self, call: list[Any]) -> Reply:
        response = await self.post(request_body(call))
        return _method_response(response, call)

    def call_all(self, calls: list[list[Any]]) -> list[Reply]:
        """Send the method calls in one request (each with its own call id); their responses,
        in the same order."""
        import asyncio

        async def send() -> list[Reply]:
            response = await self.post(request_body(*calls))
            return [_method_response(response, call) for call in calls]

        return asyncio.run(send())

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            token = self.token.strip()
            if not token.isascii() or not token.isprintable() or " " in token:
                raise ApiError("the API key has characters an HTTP header cannot carry")
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def post(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a request object; the response object, or :class:`ApiError` saying why not."""
        import aiohttp

        endpoint = self.endpoint
        target = api_url(self.url)
        if endpoint != target:
            raise ApiError(
                f"{endpoint}: give the API key with --api-key or {TOKEN_ENV}, not in the URL"
            )
        headers = self._headers()
        data = json.dumps(body).encode()
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(endpoint, data=data, headers=headers) as response,
            ):
                status = response.status
                reason = response.reason or ""
                content_type = response.content_type
                retry_after = response.headers.get("Retry-After", "")
                text = await response.text(errors="replace")
        except aiohttp.InvalidURL:
            shown = _without_userinfo(self.url)
            raise ApiError(f"{shown!r} is not a URL (expected e.g. {DEFAULT_URL})") from None
        except aiohttp.ClientConnectorError as exc:
            why = _connect_failure(exc.os_error)
            raise ApiError(
                f"cannot connect to the dnsauto API at {endpoint}: {why} "
                f"(is `dnsauto run` serving daemon.api.listen there? set --url or {URL_ENV})"
            ) from None
        except TimeoutError:
            raise ApiError(f"no answer from {endpoint} within {self.timeout:g}s") from None
        except aiohttp.ServerDisconnectedError:
            raise ApiError(f"{endpoint} closed the connection without answering") from None
        except aiohttp.ClientPayloadError:
            raise ApiError(f"the answer from {endpoint} was cut short") from None
        except (aiohttp.ClientError, ValueError) as exc:
            # The text of such an error may quote a header; only its kind is shown.
            raise ApiError(f"request to {endpoint} failed: {type(exc).__name__}") from None
        try:
            document = json.loads(text) if text else None
        except ValueError:
            document = None
        if status >= 400 or not isinstance(document, dict):
            problem = self._http_problem(endpoint, status, reason, content_type, document)
            if status == 429 and retry_after.isdigit():
                problem += f" (retry after {retry_after}s)"
            raise ApiError(problem)
        return document

    def _http_problem(
        self, endpoint: str, status: int, reason: str, content_type: str, document: Any
    ) -> str:
        head = f"{endpoint}: HTTP {status} {one_line(reason)}".rstrip()
        if status < 400:
            return f"{head}: the answer is not a JMAP response ({content_type or 'no body'})"
        detail = ""
        if isinstance(document, dict):
            kind = one_line(document.get("type") or "")
            kind = kind.removeprefix("urn:ietf:params:jmap:error:")
            text = one_line(document.get("detail") or document.get("title") or "")
            limit = document.get("limit")
            detail = ": ".join(p for p in (kind, text) if p and p != "about:blank")
            if limit:
                detail += f" (limit {one_line(limit)})"
        if status == 401:
            hint = (
                f"the API key was refused (check --api-key or {TOKEN_ENV})"
                if self.token
                else f"give an API key with --api-key or {TOKEN_ENV}"
            )
            detail = f"{detail}; {hint}" if detail else hint
        if status == 404 and not detail:
            detail = f"no JMAP API here (is --url / {URL_ENV} the dnsauto daemon?)"
        return f"{head}: {detail}" if detail else head


def _without_userinfo(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _connect_failure(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError) or "connect call failed" in str(error).lower():
        return "connection refused"
    return (error.strerror or type(error).__name__).lower()


def _method_response(response: Mapping[str, Any], call: list[Any]) -> Reply:
    responses = response.get("methodResponses")
    if not isinstance(responses, list):
        raise ApiError("the server's answer has no methodResponses")
    for item in responses:
        if (
            isinstance(item, list)
            and len(item) == 3
            and item[2] == call[2]
            and isinstance(item[0], str)
            and isinstance(item[1], dict)
        ):
            return Reply(item[0], item[1])
    raise ApiError(f"the server's answer has no response to {call[0]}")


def method_error(reply: Reply, call: list[Any]) -> str | None:
    """One line for a method-level error response, None when the method succeeded."""
    if reply.name != "error":
        return None
    return f"{call[0]}: {error_text(reply.arguments)}"


def error_text(error: Mapping[str, Any]) -> str:
    """``type: description (properties: a, b)`` of a method error or SetError, on one line."""
    text = one_line(error.get("type") or "error")
    if error.get("description"):
        text += f": {one_line(error['description'])}"
    properties = error.get("properties")
    if isinstance(properties, list) and properties:
        text += f" (properties: {one_line(', '.join(str(p) for p in properties))})"
    return text


def one_line(value: object) -> str:
    """Text from the server made safe to print as part of one line: no line breaks, no
    control characters (a terminal escape sequence included)."""
    return "".join(c if c.isprintable() else " " for c in str(value))
