"""The methods the API serves, and one request's processing (RFC 8620 §3.3–3.7)."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from dnsauto.api.methods import bootstrap, dnsserver, domain, task
from dnsauto.api.methods.common import ApiHost, Context, Handler, States
from dnsauto.api.protocol import (
    CORE,
    STALWART,
    MethodError,
    ProblemError,
    Request,
    ResponseBudget,
    resolve_references,
)

__all__ = ["METHODS", "ApiHost", "Context", "States", "process"]

log = logging.getLogger(__name__)


def _echo(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return arguments


METHODS: dict[str, tuple[str, Handler]] = {
    "Core/echo": (CORE, _echo),
    "x:Bootstrap/get": (STALWART, bootstrap.get),
    "x:Bootstrap/set": (STALWART, bootstrap.set_),
    "x:DnsServer/get": (STALWART, dnsserver.get),
    "x:DnsServer/set": (STALWART, dnsserver.set_),
    "x:DnsServer/query": (STALWART, dnsserver.query),
    "x:Domain/get": (STALWART, domain.get),
    "x:Domain/set": (STALWART, domain.set_),
    "x:Domain/query": (STALWART, domain.query),
    "x:Domain/approve": (STALWART, domain.approve),
    "x:Task/get": (STALWART, task.get),
}
"""Method name -> (its capability, the handler). Core methods need their capability in
``using``; the ``x:`` methods do not (as in Stalwart)."""


def process(request: Request, ctx: Context) -> dict[str, Any]:
    """Run the calls in order; the response object. A call's failure is its error response
    and never stops the others. What the request makes is bounded by ``maxResponseBytes``
    (a :class:`~dnsauto.api.protocol.ProblemError`): a call whose result references expand
    past it never runs."""
    if request.created_ids:
        ctx.created_ids.update(request.created_ids)
    budget = ResponseBudget(ctx.settings.max_response_bytes)
    responses: list[tuple[str, dict[str, Any], str]] = []
    for index, (name, arguments, call_id) in enumerate(request.method_calls):
        try:
            entry = METHODS.get(name)
            # Stalwart serves its x: methods whatever ``using`` says; so does dnsauto
            if entry is None or (entry[0] != STALWART and entry[0] not in request.using):
                raise MethodError(
                    "unknownMethod",
                    f"no method {name!r}"
                    if entry is None
                    else f"{name} needs {entry[0]!r} in 'using'",
                )
            resolved = resolve_references(arguments, responses)
            if any(key.startswith("#") for key in arguments):
                budget.spend(resolved, f"the result references of methodCalls[{index}]")
            ctx.references = frozenset(key[1:] for key in arguments if key.startswith("#"))
            result = entry[1](resolved, ctx)
        except MethodError as exc:
            responses.append(("error", exc.arguments(), call_id))
            continue
        except ProblemError:
            raise
        except Exception as exc:  # a bug or a broken store: the client gets serverFail only
            log.error(
                "API call %s failed: %s\n%s",
                name,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
            )
            responses.append(
                ("error", {"type": "serverFail", "description": type(exc).__name__}, call_id)
            )
            continue
        budget.spend(result, f"the response to methodCalls[{index}]")
        responses.append((name, result, call_id))
    response: dict[str, Any] = {"methodResponses": [list(r) for r in responses]}
    if request.created_ids is not None:
        response["createdIds"] = dict(ctx.created_ids)
    return response
