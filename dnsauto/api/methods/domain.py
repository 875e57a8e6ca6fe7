"""``x:Domain/get|set|query``: the mail domains. A Domain's id is opaque, as in Stalwart
(:func:`dnsauto.config.ids.domain_id`: the same for a name in every process and restart); its
name is the ``name`` property, which ``query`` filters on exactly (``text``: a part of the name,
an alias or the description).

The Bootstrap's default domain is listed as the Bootstrap implies it (or as configured); it
cannot be destroyed. ``dnsManagement/dnsServerId`` may be a ``#creationId`` of a DnsServer
created earlier in the same request.

``x:Domain/approve`` lets a plan the unsafe-plan stop refused run once (see the README).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from dnsauto.api.methods.common import (
    Context,
    SetOperations,
    check_arguments,
    hand_over,
    require,
    standard_get,
    standard_query,
    standard_set,
)
from dnsauto.api.protocol import ACCOUNT_ID, MethodError
from dnsauto.config.daemon import ApiPermission as P
from dnsauto.config.domain import Domain
from dnsauto.config.overlay import Kind, Workspace
from dnsauto.plugin.names import check_hostname

__all__ = ["approve", "get", "properties", "query", "set_"]

SERVER_REFERENCE = "dnsServerId"


def properties(ctx: Context) -> set[str]:
    return {"id", "name", *(info.alias or name for name, info in Domain.model_fields.items())}


def get(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    require(ctx, P.DOMAIN_GET)
    config = ctx.host.config
    return standard_get(
        arguments,
        ctx,
        views=ctx.states.views(config, Kind.DOMAIN),
        state=ctx.states.state(config, Kind.DOMAIN),
        properties=properties(ctx),
    )


def _prepare(ctx: Context, value: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``#creationId`` references to DnsServers in an object or a patch."""
    value = copy.deepcopy(value)
    path = f"dnsManagement/{SERVER_REFERENCE}"
    if isinstance(value.get(path), str):
        value[path] = ctx.resolve_id(value[path])
    dns = value.get("dnsManagement")
    if isinstance(dns, dict) and isinstance(dns.get(SERVER_REFERENCE), str):
        dns[SERVER_REFERENCE] = ctx.resolve_id(dns[SERVER_REFERENCE])
    return value


def _after(ctx: Context, workspace: Workspace) -> str | None:
    return hand_over(ctx, workspace, f"api: x:Domain/set by {ctx.client.name}")


OPERATIONS = SetOperations(
    kind=Kind.DOMAIN,
    create=Workspace.create_domain,
    update=Workspace.update_domain,
    destroy=Workspace.destroy_domain,
    create_permission=P.DOMAIN_CREATE,
    update_permission=P.DOMAIN_UPDATE,
    destroy_permission=P.DOMAIN_DESTROY,
    prepare=_prepare,
)


def set_(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return standard_set(arguments, ctx, OPERATIONS, after=_after)


@functools.lru_cache(maxsize=256)
def _canonical(value: str) -> str:
    """A name as the configuration keeps it (an A-label, lower case), or as given when it is
    no host name (it then matches none)."""
    try:
        return check_hostname(value)
    except ValueError:
        return value


def _name(_name: str, value: Any, view: dict[str, Any]) -> bool:
    return value is None or _canonical(str(value)) == view["name"]


def _alias(_name: str, value: Any, view: dict[str, Any]) -> bool:
    return value is None or _canonical(str(value)) in view.get("aliases", ())


def _text(_name: str, value: Any, view: dict[str, Any]) -> bool:
    if value is None:
        return True
    words = [view["name"], *view.get("aliases", ()), view.get("description") or ""]
    return any(str(value).lower() in word.lower() for word in words)


def _server(_name: str, value: Any, view: dict[str, Any]) -> bool:
    dns = view.get("dnsManagement") or {}
    return bool(dns.get(SERVER_REFERENCE) == value)


def query(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    require(ctx, P.DOMAIN_QUERY)
    config = ctx.host.config
    return standard_query(
        arguments,
        ctx,
        views=ctx.states.views(config, Kind.DOMAIN),
        state=ctx.states.state(config, Kind.DOMAIN),
        conditions={"name": _name, "aliases": _alias, "text": _text, SERVER_REFERENCE: _server},
        sort_properties={"id", "name"},
    )


def approve(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Approve the plan the unsafe-plan stop refused for one domain: it runs once, now.

    Arguments: ``id`` (the Domain's id), ``planId?`` (when given, it must be the refused plan's id,
    as the Task shows it; else ``stateMismatch``). Response: ``id``, ``planId``, ``runId``.
    """
    require(ctx, P.DOMAIN_UPDATE)
    check_arguments(arguments, ("id", "planId"))
    object_id, plan_id = arguments.get("id"), arguments.get("planId")
    if not isinstance(object_id, str):
        raise MethodError("invalidArguments", "id must be the id of a Domain")
    if plan_id is not None and not isinstance(plan_id, str):
        raise MethodError("invalidArguments", "planId must be a string or null")
    object_id = ctx.resolve_id(object_id)
    view = ctx.states.views(ctx.host.config, Kind.DOMAIN).get(object_id)
    if view is None:
        raise MethodError("invalidArguments", f"no Domain {object_id!r}")
    name = view["name"]
    waiting = ctx.host.awaiting_approval().get(name)
    if waiting is None:
        raise MethodError("invalidArguments", f"no plan of Domain {name} waits for approval")
    if plan_id is not None and plan_id != waiting:
        raise MethodError(
            "stateMismatch", f"plan {plan_id!r} is not the one waiting for approval ({waiting})"
        )
    reason = f"api: x:Domain/approve by {ctx.client.name}"
    run_id = ctx.host.approve(name, waiting, reason)
    ctx.tasks.requested(run_id, [name], reason)
    return {"accountId": ACCOUNT_ID, "id": object_id, "planId": waiting, "runId": run_id}
