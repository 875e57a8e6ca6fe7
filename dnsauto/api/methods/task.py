"""``x:Task/get``: the daemon's runs (id = run id), waiting, running or finished."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dnsauto.api.methods.common import Context, check_arguments, require
from dnsauto.api.protocol import ACCOUNT_ID, MethodError
from dnsauto.api.tasks import RunIndex
from dnsauto.config.daemon import ApiPermission as P
from dnsauto.config.ids import domain_id

__all__ = ["PROPERTIES", "get"]

PROPERTIES = {
    "id",
    "@type",
    "domainId",
    "updateRecords",
    "onSuccessRenewCertificate",
    "status",
    "runStatus",
    "reasons",
    "domains",
}


def get(arguments: dict[str, Any], ctx: Context) -> dict[str, Any]:
    require(ctx, P.TASK_GET)
    check_arguments(arguments, ("ids", "properties"))
    ids = arguments.get("ids")
    wanted = arguments.get("properties")
    for name, value in (("ids", ids), ("properties", wanted)):
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise MethodError("invalidArguments", f"{name} must be an array of strings or null")
    if wanted is not None and set(wanted) - PROPERTIES:
        unknown = ", ".join(sorted(set(wanted) - PROPERTIES))
        raise MethodError("invalidArguments", f"unknown properties: {unknown}")
    waiting, syncing = ctx.host.waiting(), ctx.host.syncing()
    if ids is None:
        ids = ctx.tasks.ids(waiting, syncing)
    elif len(ids) > ctx.settings.max_objects:
        raise MethodError("requestTooLarge", f"at most {ctx.settings.max_objects} ids")
    last_results = ctx.store.last_results()
    config = ctx.host.config

    def families(name: str) -> list[str]:
        domain = config.domains.get(name)
        dns = getattr(domain, "dns_management", None)
        published = getattr(dns, "publish_records", None) or ()
        if isinstance(published, Mapping):  # the object form: {"dkim": true, …}
            return [str(family) for family, on in published.items() if on]
        return [str(family) for family in published]

    def owner_id(name: str) -> str | None:
        if name in config.domains:
            return domain_id(name)
        for owner, domain in config.domains.items():  # an alias: rare, and only then a scan
            if name in domain.aliases:
                return domain_id(owner)
        return None

    found, not_found = [], []
    index = RunIndex.of(waiting, syncing, last_results)
    for run_id in dict.fromkeys(ids):
        view = ctx.tasks.view(
            run_id,
            waiting=waiting,
            syncing=syncing,
            last_results=last_results,
            families=families,
            domain_id=owner_id,
            index=index,
        )
        if view is None:
            not_found.append(run_id)
        elif wanted is None:
            found.append(view)
        else:
            found.append({k: v for k, v in view.items() if k == "id" or k in wanted})
    state = ctx.states.digest(repr((sorted(waiting.items()), sorted(syncing.items()), found)))
    return {"accountId": ACCOUNT_ID, "state": state, "list": found, "notFound": not_found}
