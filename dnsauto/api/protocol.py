"""RFC 8620's request object, its request-level errors (problem details) and method errors.

Nothing here knows HTTP beyond status codes: :mod:`dnsauto.api.server` turns a
:class:`ProblemError` into a response.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACCOUNT_ID",
    "CAPABILITIES",
    "CORE",
    "ERROR_URN",
    "STALWART",
    "MethodError",
    "ProblemError",
    "Request",
    "ResponseBudget",
    "dumps",
    "evaluate_pointer",
    "limit_error",
    "parse_json",
    "parse_request",
    "resolve_references",
]

CORE = "urn:ietf:params:jmap:core"
STALWART = "urn:stalwart:jmap"
CAPABILITIES = (CORE, STALWART)
ACCOUNT_ID = "dnsauto"
"""The one account: the daemon's configuration."""

ERROR_URN = "urn:ietf:params:jmap:error:"


class ProblemError(Exception):
    """A request-level error: an RFC 7807 problem details document and an HTTP status."""

    def __init__(
        self,
        status: int,
        type_: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type_
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    @classmethod
    def jmap(cls, kind: str, detail: str, *, status: int = 400, **extra: Any) -> ProblemError:
        """One of RFC 8620 §3.6.1's errors: ``notJSON``, ``notRequest``, ``unknownCapability``,
        ``limit``."""
        return cls(status, ERROR_URN + kind, kind, detail, extra=extra)

    def document(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            **self.extra,
        }


def limit_error(limit: str, detail: str, *, status: int = 400) -> ProblemError:
    """The ``limit`` error; ``limit`` names the capability limit that was applied."""
    return ProblemError.jmap("limit", detail, status=status, limit=limit)


class MethodError(Exception):
    """A method-level error (RFC 8620 §3.6.2): ``["error", {"type": ...}, callId]``."""

    def __init__(self, type_: str, description: str = "", **extra: Any) -> None:
        super().__init__(description or type_)
        self.type = type_
        self.description = description
        self.extra = extra

    def arguments(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": self.type}
        if self.description:
            result["description"] = self.description
        result.update(self.extra)
        return result


@dataclass
class Request:
    """A parsed request object (RFC 8620 §3.3)."""

    using: list[str]
    method_calls: list[tuple[str, dict[str, Any], str]]
    created_ids: dict[str, str] | None = None
    """The client's ``createdIds``; None when it sent none (then none is returned)."""
    responses: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)


# --- parsing ------------------------------------------------------------------------------------


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:40]} is out of range for a number")
    return value


def _no_lone_surrogates(document: Any) -> None:
    """An escaped lone surrogate (``"\\ud800"``) parses into a string no UTF-8 can carry."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not value.isascii() and _SURROGATE.search(value):
                raise ValueError(f"a string holds a lone surrogate: {ascii(value)[:40]}")
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_json(body: bytes) -> Any:
    """The I-JSON (RFC 7493) document in ``body``: UTF-8, no duplicate keys, no NaN or
    infinite numbers, no lone surrogates (so whatever is parsed can be stored and sent)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError.jmap("notJSON", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(
            text, object_pairs_hook=_object, parse_constant=_no_constant, parse_float=_finite
        )
        _no_lone_surrogates(document)
    except RecursionError:
        raise ProblemError.jmap("notJSON", "the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, huge numbers, surrogates
        raise ProblemError.jmap("notJSON", f"the body is not I-JSON: {_short(exc)}") from None
    return document


def parse_request(document: Any, *, max_calls: int) -> Request:
    """Check the shape of a request object, its capabilities and its number of calls."""
    if not isinstance(document, dict):
        raise ProblemError.jmap("notRequest", "the request must be a JSON object")
    using = document.get("using")
    if not isinstance(using, list) or not all(isinstance(u, str) for u in using):
        raise ProblemError.jmap("notRequest", "'using' must be an array of capability strings")
    calls = document.get("methodCalls")
    if not isinstance(calls, list):
        raise ProblemError.jmap("notRequest", "'methodCalls' must be an array")
    parsed: list[tuple[str, dict[str, Any], str]] = []
    for index, call in enumerate(calls):
        if (
            not isinstance(call, list)
            or len(call) != 3
            or not isinstance(call[0], str)
            or not isinstance(call[1], dict)
            or not isinstance(call[2], str)
        ):
            raise ProblemError.jmap(
                "notRequest",
                f"methodCalls[{index}] must be [name (string), arguments (object), "
                "call id (string)]",
            )
        parsed.append((call[0], call[1], call[2]))
    created = document.get("createdIds")
    if created is not None and (
        not isinstance(created, dict) or not all(isinstance(v, str) for v in created.values())
    ):
        raise ProblemError.jmap("notRequest", "'createdIds' must map creation ids to ids")
    unknown = sorted({u for u in using if u not in CAPABILITIES})
    if unknown:
        raise ProblemError.jmap(
            "unknownCapability",
            f"unknown capabilities: {', '.join(unknown)} (supported: {', '.join(CAPABILITIES)})",
        )
    if len(parsed) > max_calls:
        raise limit_error(
            "maxCallsInRequest", f"{len(parsed)} method calls; at most {max_calls} per request"
        )
    return Request(list(using), parsed, dict(created) if created is not None else None)


# --- result references (RFC 8620 §3.7) ----------------------------------------------------------


def resolve_references(
    arguments: dict[str, Any], responses: Sequence[tuple[str, dict[str, Any], str]]
) -> dict[str, Any]:
    """``arguments`` with every ``#name`` result reference replaced by its value."""
    result: dict[str, Any] = {}
    for key, value in arguments.items():
        if not key.startswith("#"):
            result[key] = value
            continue
        name = key[1:]
        if name in arguments:
            raise MethodError("invalidArguments", f"both {name!r} and {key!r} given")
        result[name] = _reference(key, value, responses)
    return result


def _reference(
    key: str, reference: Any, responses: Sequence[tuple[str, dict[str, Any], str]]
) -> Any:
    if (
        not isinstance(reference, dict)
        or set(reference) != {"resultOf", "name", "path"}
        or not all(isinstance(v, str) for v in reference.values())
    ):
        raise MethodError(
            "invalidResultReference", f"{key}: a ResultReference has resultOf, name and path"
        )
    for name, args, call_id in responses:
        if call_id != reference["resultOf"]:
            continue
        if name != reference["name"]:
            raise MethodError(
                "invalidResultReference",
                f"{key}: call {call_id!r} answered {name!r}, not {reference['name']!r}",
            )
        try:
            return evaluate_pointer(args, reference["path"])
        except (KeyError, IndexError, ValueError) as exc:
            raise MethodError(
                "invalidResultReference", f"{key}: path {reference['path']!r}: {_short(exc)}"
            ) from None
    raise MethodError("invalidResultReference", f"{key}: no earlier call {reference['resultOf']!r}")


def evaluate_pointer(value: Any, path: str) -> Any:
    """A JSON pointer (RFC 6901) with RFC 8620's ``*``: applied to each item of an array, the
    array results flattened."""
    if path == "":
        return value
    if not path.startswith("/"):
        raise ValueError("a path starts with '/'")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
    return _walk(value, tokens)


def _walk(value: Any, tokens: list[str]) -> Any:
    if not tokens:
        return value
    token, rest = tokens[0], tokens[1:]
    if isinstance(value, list):
        if token == "*":
            result: list[Any] = []
            for item in value:
                found = _walk(item, rest)
                if isinstance(found, list):
                    result.extend(found)
                else:
                    result.append(found)
            return result
        if not token.isdigit() or int(token) >= len(value):
            raise IndexError(f"no item {token!r}")
        return _walk(value[int(token)], rest)
    if isinstance(value, dict):
        if token not in value:
            raise KeyError(f"no property {token!r}")
        return _walk(value[token], rest)
    raise ValueError(f"cannot go into {type(value).__name__} with {token!r}")


# --- the size of what a request makes ----------------------------------------------------------


class ResponseBudget:
    """What one request may produce: its method responses and the arguments its result
    references expand to, in bytes of JSON, together at most ``limit``.

    Result references share the values they point to, so a few small calls can describe an
    exponentially large document (each call referring twice to the one before). Sizes are
    therefore computed once per shared value, never by serializing: the cost of measuring is
    that of the distinct values held in memory, whatever size they describe.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0
        self._sizes: dict[int, tuple[Any, int]] = {}
        """id -> (the container, kept alive so the id stays its own; its JSON size)."""

    def spend(self, value: Any, what: str) -> None:
        """Count ``value``; a ``limit`` error (maxSizeResponse) once the total passes the limit."""
        self.spent += self.size(value)
        if self.spent > self.limit:
            raise limit_error(
                "maxSizeResponse",
                f"{what} would make the response larger than {self.limit} bytes "
                "(maxResponseBytes); ask for less per request",
            )

    def size(self, value: Any) -> int:
        """The length of ``value`` as compact JSON in UTF-8."""
        if not isinstance(value, dict | list):
            return self._scalar_size(value)
        pending: list[tuple[Any, bool]] = [(value, False)]
        while pending:
            node, children_done = pending.pop()
            if id(node) in self._sizes:
                continue
            items = list(node.items()) if isinstance(node, dict) else [(None, v) for v in node]
            if not children_done:
                pending.append((node, True))
                pending.extend(
                    (child, False)
                    for _, child in items
                    if isinstance(child, dict | list) and id(child) not in self._sizes
                )
                continue
            total = 2 + max(0, len(items) - 1)
            for key, child in items:
                if key is not None:
                    total += self._scalar_size(key) + 1
                total += (
                    self._sizes[id(child)][1]
                    if isinstance(child, dict | list)
                    else self._scalar_size(child)
                )
            self._sizes[id(node)] = (node, total)
        return self._sizes[id(value)][1]

    def _scalar_size(self, value: Any) -> int:
        if isinstance(value, str):
            if len(value) < 64:
                return _string_size(value)
            known = self._sizes.get(id(value))  # one long string may be referred to often
            if known is None:
                known = self._sizes[id(value)] = (value, _string_size(value))
            return known[1]
        if value is None or value is True:
            return 4
        if value is False:
            return 5
        return len(repr(value))


def _string_size(value: str) -> int:
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return len(value) + 2
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


# --- output -------------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip("'\"")
    return text if len(text) <= limit else text[:limit] + "…"
