"""``x:DnsServer/get|set|query``: the DNS servers of ``[dnsServer.<id>]`` and the API's.

The Bootstrap's own ``dnsServer`` is the Bootstrap's property, not a DnsServer object.
``query`` filters on ``memberTenantId``, as Stalwart's.
"""

from __future__ import annotations

from typing import Any

from dnsauto.api.methods.common import (
    Context,
    SetOperations,
    hand_over,
    require,
    standard_get,
    standard_query,
    standard_set,
)
from dnsauto.config.daemon import ApiPermission as P
from dnsauto.config.overlay import Kind, Workspace
from dnsauto.plugin.settings import DnsServerBase, ManualDnsServer

__all__ = ["get", "properties", "query", "set_"]


def properties(ctx: Context) -> set[str]:
    models: list[type[DnsServerBase]] = [ManualDnsServer, *ctx.host.registry.settings_models()]
    return {"id"} | {
        info.alias or name for model in models for name, info in model.model_fields.items()
    }


def get(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    require(ctx, P.DNS_SERVER_GET)
    config = ctx.host.config
    return standard_get(
        arguments,
        ctx,
        views=ctx.states.views(config, Kind.DNS_SERVER),
        state=ctx.states.state(config, Kind.DNS_SERVER),
        properties=properties(ctx),
    )


def _after(ctx: Context, workspace: Workspace) -> str | None:
    return hand_over(ctx, workspace, f"api: x:DnsServer/set by {ctx.client.name}")


OPERATIONS = SetOperations(
    kind=Kind.DNS_SERVER,
    create=Workspace.create_dns_server,
    update=Workspace.update_dns_server,
    destroy=Workspace.destroy_dns_server,
    create_permission=P.DNS_SERVER_CREATE,
    update_permission=P.DNS_SERVER_UPDATE,
    destroy_permission=P.DNS_SERVER_DESTROY,
)


def set_(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return standard_set(arguments, ctx, OPERATIONS, after=_after)


def _member_tenant(_name: str, value: Any, view: dict[str, Any]) -> bool:
    return bool(view.get("memberTenantId") == value)


def query(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    require(ctx, P.DNS_SERVER_QUERY)
    config = ctx.host.config
    return standard_query(
        arguments,
        ctx,
        views=ctx.states.views(config, Kind.DNS_SERVER),
        state=ctx.states.state(config, Kind.DNS_SERVER),
        conditions={"memberTenantId": _member_tenant},
        sort_properties={"id", "description"},
    )
