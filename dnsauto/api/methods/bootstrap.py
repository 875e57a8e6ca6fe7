"""``x:Bootstrap/get`` and ``x:Bootstrap/set``: the singleton (id ``singleton``).

Only ``update`` of ``singleton`` is accepted; a ``create`` gives a ``forbidden`` SetError and a
``destroy`` a ``singleton`` one, as Stalwart's do. An update asks for a run of the default
domain, and of every domain when a fact they share (the server hostname, say) changed.
"""

from __future__ import annotations

from typing import Any

from dnsauto.api.methods.common import (
    Context,
    SetOperations,
    hand_over,
    require,
    standard_get,
    standard_set,
)
from dnsauto.config.daemon import ApiPermission as P
from dnsauto.config.overlay import SINGLETON, Kind, SetFailure, Workspace

__all__ = ["get", "properties", "set_"]


def properties(ctx: Context) -> set[str]:
    model = type(ctx.host.config.bootstrap)
    return {"id", *(info.alias or name for name, info in model.model_fields.items())}


def get(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    require(ctx, P.BOOTSTRAP_GET)
    config = ctx.host.config
    return standard_get(
        arguments,
        ctx,
        views=ctx.states.views(config, Kind.BOOTSTRAP),
        state=ctx.states.state(config, Kind.BOOTSTRAP),
        properties=properties(ctx),
    )


def _update(workspace: Workspace, object_id: str, patch: dict[str, Any]) -> None:
    if object_id != SINGLETON:
        raise SetFailure("notFound", "the Bootstrap's only id is 'singleton'")
    workspace.update_bootstrap(patch)


def _after(ctx: Context, workspace: Workspace) -> str | None:
    reason = f"api: x:Bootstrap/set by {ctx.client.name}"
    return hand_over(ctx, workspace, reason, also=[workspace.config.bootstrap.default_domain])


OPERATIONS = SetOperations(
    kind=Kind.BOOTSTRAP,
    create=None,
    update=_update,
    destroy=None,
    create_permission=None,
    update_permission=P.BOOTSTRAP_UPDATE,
    destroy_permission=None,
    refuse="the Bootstrap is a singleton: only update 'singleton'",
    singleton=True,
)


def set_(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return standard_set(arguments, ctx, OPERATIONS, after=_after)
