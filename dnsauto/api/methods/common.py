"""What every method shares: the call context, argument checks, /get, /set and /query."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from dnsauto.api.auth import Client
from dnsauto.api.protocol import ACCOUNT_ID, MethodError
from dnsauto.api.tasks import TaskTracker
from dnsauto.config.daemon import ApiPermission, ApiSettings
from dnsauto.config.model import Config
from dnsauto.config.overlay import (
    Kind,
    SetFailure,
    Workspace,
    object_views,
)
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.registry import Registry
from dnsauto.state.store import StateStore
from dnsauto.sync.jobs import JobUpdate, job_update

__all__ = [
    "ApiHost",
    "Context",
    "Handler",
    "States",
    "check_arguments",
    "require",
    "standard_get",
    "standard_query",
    "standard_set",
]

log = logging.getLogger(__name__)


class ApiHost(Protocol):
    """What the API needs of the daemon (the service daemon; tests give a fake)."""

    config: Config
    """The effective configuration the daemon runs on."""

    @property
    def registry(self) -> Registry: ...

    def replace_config(
        self,
        config: Config,
        reason: str,
        domains: Collection[str] | None = None,
        jobs: JobUpdate | None = None,
    ) -> str | None:
        """Run on ``config`` from now on; the run id of the syncs it asked for, if any.
        ``domains``: only these Domain objects changed (nothing else did); ``jobs``: their
        jobs, made in the /set's worker thread."""
        ...

    def trigger(self, domains: Iterable[str] | None = None, reason: str = "trigger") -> str: ...

    def holding_runs(self) -> AbstractContextManager[None]:
        """A block (entered on the event loop) during which no run starts."""
        ...

    def waiting(self, domains: Iterable[str] | None = None) -> dict[str, str]:
        """The domains with a run waiting (of ``domains``, when given), with its run id."""
        ...

    def syncing(self) -> dict[str, str]: ...

    def awaiting_approval(self) -> dict[str, str]:
        """The domains whose plan the unsafe-plan stop refused, with the plan's id."""
        ...

    def approve(self, domain: str, plan_id: str | None = None, reason: str = "approved") -> str:
        """Let that refused plan of ``domain`` through in one run now; the run id."""
        ...


class States:
    """State strings (RFC 8620 §1.6.2) and the views of the objects, per configuration.

    A state is a keyed hash of the objects' content (secrets included, so a changed secret is
    a new state); the key is random per process, so the hash says nothing about a secret.
    """

    def __init__(self) -> None:
        self._key = os.urandom(32)
        self._states: dict[Kind, tuple[Config, str]] = {}
        self._views: dict[Kind, tuple[Config, dict[str, dict[str, Any]]]] = {}
        self._digests: dict[Kind, dict[int, tuple[BaseModel, str]]] = {}
        """Per kind, id(object) -> (the object, its content's digest): an object is dumped
        once, not again for every state of a configuration that still holds it."""

    def state(self, config: Config, kind: Kind) -> str:
        hit = self._states.get(kind)
        if hit is not None and hit[0] is config:
            return hit[1]
        if kind is Kind.BOOTSTRAP:
            text = _dumped(config.bootstrap)
        elif kind is Kind.DNS_SERVER:
            text = self._table(kind, config.dns_server.items())
        else:
            text = "\n".join(
                (
                    self._table(kind, config.domains.items()),
                    json.dumps(config.bootstrap_domain().model_dump(mode="json"), sort_keys=True),
                    json.dumps(config.bootstrap.default_domain),
                )
            )
        state = self.digest(text)
        self._states[kind] = (config, state)
        return state

    def _table(self, kind: Kind, objects: Iterable[tuple[str, BaseModel]]) -> str:
        """The objects' names and digests, one a line, in name order. Object by object: one
        dump of all of them would hold the GIL (and so the event loop) for all of it."""
        known = self._digests.get(kind, {})
        digests: dict[int, tuple[BaseModel, str]] = {}
        lines = []
        for name, model in objects:
            hit = known.get(id(model))
            if hit is None or hit[0] is not model:
                hit = (model, self.digest(_dumped(model)))
            digests[id(model)] = hit
            lines.append(f"{name}\t{hit[1]}")
        self._digests[kind] = digests  # only the objects of this configuration are kept
        lines.sort()
        return "\n".join(lines)

    def digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:16]

    def views(self, config: Config, kind: Kind) -> dict[str, dict[str, Any]]:
        hit = self._views.get(kind)
        if hit is not None and hit[0] is config:
            return hit[1]
        views = object_views(config, kind)
        self._views[kind] = (config, views)
        return views


def _dumped(model: BaseModel) -> str:
    content = model.model_dump(mode="json", context={"reveal_secrets": True})
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


@dataclass
class Context:
    """One request's view of the server."""

    host: ApiHost
    store: StateStore
    tasks: TaskTracker
    states: States
    settings: ApiSettings
    client: Client
    created_ids: dict[str, str] = field(default_factory=dict)
    """Creation id -> id, for ``#creationId`` references (the request's ``createdIds`` too)."""
    references: frozenset[str] = frozenset()
    """The arguments of the current call that were result references (``#destroy``: its
    ``destroy``), for the permission a reference needs whatever it resolves to."""
    on_loop: Callable[[Callable[[], Any]], Any] = lambda function: function()
    """Runs ``function`` on the event loop and returns its result: a request with a /set runs
    in a worker thread (which keeps the changes in the store), but the daemon is the loop's."""

    def resolve_id(self, value: str) -> str:
        if value.startswith("#"):
            return self.created_ids.get(value[1:], value)
        return value


Handler = Callable[[dict[str, Any], Context], dict[str, Any]]


# --- argument checks ----------------------------------------------------------------------------


def require(ctx: Context, *permissions: ApiPermission) -> None:
    missing = [p.value for p in permissions if not ctx.client.may(p)]
    if missing:
        raise MethodError(
            "forbidden", f"the API key {ctx.client.name!r} lacks {', '.join(missing)}"
        )


def check_arguments(arguments: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Unknown arguments and a foreign ``accountId`` are errors."""
    unknown = sorted(set(arguments) - {"accountId", *allowed})
    if unknown:
        raise MethodError("invalidArguments", f"unknown arguments: {', '.join(unknown)}")
    account = arguments.get("accountId")
    if account is not None and account != ACCOUNT_ID:
        if not isinstance(account, str):
            raise MethodError("invalidArguments", "accountId must be a string")
        raise MethodError("accountNotFound", f"no account {account!r}; the account is 'dnsauto'")


def _string_list(arguments: Mapping[str, Any], name: str) -> list[str] | None:
    value = arguments.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MethodError("invalidArguments", f"{name} must be an array of strings or null")
    return list(value)


def _string_map(arguments: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = arguments.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MethodError("invalidArguments", f"{name} must be an object or null")
    return value


def _integer(arguments: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = arguments.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise MethodError("invalidArguments", f"{name} must be an integer")
    return value


# --- /get ---------------------------------------------------------------------------------------


def standard_get(
    arguments: dict[str, Any],
    ctx: Context,
    *,
    views: Mapping[str, dict[str, Any]],
    state: str,
    properties: set[str],
) -> dict[str, Any]:
    """Foo/get (RFC 8620 §5.1) over ``views`` (id -> the object as shown)."""
    check_arguments(arguments, ("ids", "properties"))
    ids = _string_list(arguments, "ids")
    wanted = _string_list(arguments, "properties")
    if wanted is not None:
        unknown = sorted(set(wanted) - properties)
        if unknown:
            raise MethodError("invalidArguments", f"unknown properties: {', '.join(unknown)}")
    if ids is None:
        ids = list(views)
    elif len(ids) > ctx.settings.max_objects:
        raise MethodError(
            "requestTooLarge", f"{len(ids)} ids; at most {ctx.settings.max_objects} per call"
        )
    found, not_found = [], []
    for asked in dict.fromkeys(ids):
        view = views.get(ctx.resolve_id(asked))
        if view is None:
            not_found.append(asked)
        elif wanted is None:
            found.append(view)
        else:
            found.append({k: v for k, v in view.items() if k == "id" or k in wanted})
    return {"accountId": ACCOUNT_ID, "state": state, "list": found, "notFound": not_found}


# --- /set ---------------------------------------------------------------------------------------


@dataclass
class SetOperations:
    """How one object type's /set changes a :class:`Workspace` (None: never allowed)."""

    kind: Kind
    create: Callable[[Workspace, dict[str, Any]], str] | None
    update: Callable[[Workspace, str, dict[str, Any]], None]
    destroy: Callable[[Workspace, str], None] | None
    create_permission: ApiPermission | None
    update_permission: ApiPermission
    destroy_permission: ApiPermission | None
    refuse: str = ""
    """Why create and destroy are refused, when they are (``forbidden`` SetErrors; a
    singleton's destroy is Stalwart's ``singleton``)."""
    singleton: bool = False
    prepare: Callable[[Context, dict[str, Any]], dict[str, Any]] = lambda ctx, value: value
    """Rewrites an object or patch before use (creation-id references)."""


def _check_set_permissions(
    ctx: Context,
    operations: SetOperations,
    create: Mapping[str, Any],
    update: Mapping[str, Any],
    destroy: list[str],
) -> None:
    """Stalwart's ``validate_set``: a key with none of the type's create, update and destroy
    permissions may not call its /set at all (not even with nothing in it); otherwise each
    kind of operation present needs its own, and a ``#destroy`` result reference needs the
    destroy permission whatever it resolves to. A singleton's create and destroy need its
    update permission (Stalwart's Bootstrap has ``sysBootstrapUpdate`` for all three)."""
    client = ctx.client
    update_permission = operations.update_permission
    create_permission = operations.create_permission or update_permission
    destroy_permission = operations.destroy_permission or update_permission
    may = [client.may(p) for p in (create_permission, update_permission, destroy_permission)]
    if all(may):
        return
    key = f"the API key {client.name!r}"
    if not any(may):
        permissions = dict.fromkeys(
            p.value for p in (create_permission, update_permission, destroy_permission)
        )
        raise MethodError(
            "forbidden",
            f"{key} may not create, update or destroy objects of this type "
            f"(it lacks {', '.join(permissions)})",
        )
    for allowed, present, verb, permission in (
        (may[0], bool(create), "create", create_permission),
        (may[1], bool(update), "update", update_permission),
        (may[2], bool(destroy) or "destroy" in ctx.references, "destroy", destroy_permission),
    ):
        if present and not allowed:
            raise MethodError(
                "forbidden",
                f"{key} may not {verb} objects of this type (it lacks {permission.value})",
            )


def standard_set(
    arguments: dict[str, Any],
    ctx: Context,
    operations: SetOperations,
    *,
    after: Callable[[Context, Workspace], str | None],
) -> dict[str, Any]:
    """Foo/set (RFC 8620 §5.3): creates, then updates, then destroys, each on its own; the
    configuration that results is handed to the daemon by ``after``, which returns the id of
    the run it asked for (the ``runId`` extension)."""
    check_arguments(arguments, ("ifInState", "create", "update", "destroy"))
    create = _string_map(arguments, "create")
    update = _string_map(arguments, "update")
    destroy = _string_list(arguments, "destroy") or []
    _check_set_permissions(ctx, operations, create, update, destroy)
    total = len(create) + len(update) + len(destroy)
    if total > ctx.settings.max_objects:
        raise MethodError(
            "requestTooLarge", f"{total} changes; at most {ctx.settings.max_objects} per call"
        )
    kind = operations.kind
    old_state = ctx.states.state(ctx.host.config, kind)
    if_in_state = arguments.get("ifInState")
    if if_in_state is not None:
        if not isinstance(if_in_state, str):
            raise MethodError("invalidArguments", "ifInState must be a string or null")
        if if_in_state != old_state:
            raise MethodError("stateMismatch", f"the state is {old_state}, not {if_in_state}")
    workspace = Workspace(ctx.host.config, ctx.store, ctx.host.registry)
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    updated: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    destroyed: list[str] = []
    not_destroyed: dict[str, Any] = {}
    run_id = None
    for creation_id, value in create.items():
        try:
            if operations.create is None:
                raise SetFailure("forbidden", operations.refuse)
            if not isinstance(value, dict):
                raise SetFailure("invalidProperties", "the object must be a JSON object")
            object_id = operations.create(workspace, operations.prepare(ctx, value))
        except SetFailure as failure:
            not_created[creation_id] = failure.error()
            continue
        ctx.created_ids[creation_id] = object_id
        view = workspace.view(kind, object_id)
        created[creation_id] = {k: v for k, v in view.items() if k == "id" or k not in value}
    destroying = {ctx.resolve_id(asked) for asked in destroy}
    for asked, patch in update.items():
        object_id = ctx.resolve_id(asked)
        try:
            if object_id in destroying and not operations.singleton:  # as Stalwart
                raise SetFailure("willDestroy", "ID will be destroyed.")
            if not isinstance(patch, dict):
                raise SetFailure("invalidPatch", "the patch must be a JSON object")
            operations.update(workspace, object_id, operations.prepare(ctx, patch))
        except SetFailure as failure:
            not_updated[asked] = failure.error()
            continue
        updated[object_id] = None
    for asked in destroy:
        object_id = ctx.resolve_id(asked)
        try:
            if operations.destroy is None:
                kind_of_error = "singleton" if operations.singleton else "forbidden"
                raise SetFailure(kind_of_error, operations.refuse)
            operations.destroy(workspace, object_id)
        except SetFailure as failure:
            not_destroyed[asked] = failure.error()
            continue
        destroyed.append(object_id)
    try:
        workspace.finish()
    except SetFailure as failure:  # the changes do not fit together: none is kept
        error = failure.error()
        not_created.update(dict.fromkeys(created, error))
        not_updated.update(dict.fromkeys(updated, error))
        not_destroyed.update(dict.fromkeys(destroyed, error))
        for creation_id in created:
            ctx.created_ids.pop(creation_id, None)
        created, updated, destroyed = {}, {}, []
        workspace.changed = False
    if workspace.changed:
        workspace.save()
    if workspace.changed or (updated and kind is Kind.BOOTSTRAP):
        run_id = after(ctx, workspace)
    response: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "oldState": old_state,
        "newState": ctx.states.state(ctx.host.config, kind),
        "created": created or None,
        "updated": updated or None,
        "destroyed": destroyed or None,
        "notCreated": not_created or None,
        "notUpdated": not_updated or None,
        "notDestroyed": not_destroyed or None,
    }
    if run_id is not None:
        response["runId"] = run_id
    return response


def hand_over(
    ctx: Context, workspace: Workspace, reason: str, also: Iterable[str] = ()
) -> str | None:
    """Give the daemon the changed configuration and ask for runs of the domains it affects
    (and of ``also``); the run id, noted for ``x:Task/get``. Called where the /set runs: what
    grows with the number of domains (the changed domains' jobs) is made here, and only the
    hand-over itself on the event loop."""
    changed: set[str] | None = {object_id for _, object_id in workspace.committed}
    jobs = None
    if not all(kind is Kind.DOMAIN for kind, _ in workspace.committed):
        changed = None
    elif changed and workspace.config is not workspace.base:
        jobs = job_update(workspace.base, workspace.config, changed)
    run_id: str | None = ctx.on_loop(
        lambda: _hand_over(ctx, workspace, reason, also, changed, jobs)
    )
    return run_id


def _hand_over(
    ctx: Context,
    workspace: Workspace,
    reason: str,
    also: Iterable[str],
    changed: set[str] | None,
    jobs: JobUpdate | None,
) -> str | None:
    host = ctx.host
    run_id = None
    if workspace.config is not host.config:
        run_id = host.replace_config(workspace.config, reason, changed, jobs)
    also = [name for name in also if name in host.config.domains]
    if also:
        try:
            run_id = host.trigger(also, reason)
        except DnsautoError as exc:
            log.warning("no run asked for: %s", exc.message)
    if run_id is not None:
        named = jobs.jobs.keys() if jobs is not None else None  # those it may have asked for
        domains = [name for name, waiting in host.waiting(named).items() if waiting == run_id]
        ctx.tasks.requested(run_id, domains, reason)
    return run_id


# --- /query -------------------------------------------------------------------------------------

Condition = Callable[[str, Any, dict[str, Any]], bool]
"""(filter property, its value, the object's view) -> whether the object matches."""


def standard_query(
    arguments: dict[str, Any],
    ctx: Context,
    *,
    views: Mapping[str, dict[str, Any]],
    state: str,
    conditions: Mapping[str, Condition],
    sort_properties: set[str],
) -> dict[str, Any]:
    """Foo/query (RFC 8620 §5.5) over ``views``, with the filter properties of ``conditions``."""
    check_arguments(
        arguments,
        ("filter", "sort", "position", "anchor", "anchorOffset", "limit", "calculateTotal"),
    )
    criteria = arguments.get("filter")
    if criteria is not None:
        _check_filter(criteria, conditions)
    ids = [
        object_id
        for object_id, view in views.items()
        if criteria is None or _matches(criteria, view, conditions)
    ]
    ids = _sorted(ids, views, arguments.get("sort"), sort_properties)
    position = _integer(arguments, "position", 0) or 0
    offset = _integer(arguments, "anchorOffset", 0) or 0
    limit = _integer(arguments, "limit", None)
    if limit is not None and limit < 0:
        raise MethodError("invalidArguments", "limit must not be negative")
    anchor = arguments.get("anchor")
    if anchor is not None and not isinstance(anchor, str):
        raise MethodError("invalidArguments", "anchor must be a string or null")
    if not isinstance(arguments.get("calculateTotal", False), bool):
        raise MethodError("invalidArguments", "calculateTotal must be true or false")
    total = len(ids)
    if anchor is not None:
        anchor = ctx.resolve_id(anchor)
        if anchor not in ids:
            raise MethodError("anchorNotFound", f"{anchor!r} is not in the results")
        start = max(0, ids.index(anchor) + offset)
    else:
        start = max(0, total + position) if position < 0 else position
    end = total if limit is None else start + limit
    return {
        "accountId": ACCOUNT_ID,
        "queryState": state,
        "canCalculateChanges": False,
        "position": min(start, total),
        "ids": ids[start:end],
        "total": total,
    }


def _check_filter(node: Any, conditions: Mapping[str, Condition], depth: int = 0) -> None:
    if not isinstance(node, dict):
        raise MethodError("invalidArguments", "a filter is an object")
    if depth > 16:
        raise MethodError("unsupportedFilter", "the filter is nested too deeply")
    if "operator" in node:
        if set(node) != {"operator", "conditions"} or node["operator"] not in {"AND", "OR", "NOT"}:
            raise MethodError(
                "invalidArguments", "a FilterOperator is {operator: AND|OR|NOT, conditions}"
            )
        if not isinstance(node["conditions"], list):
            raise MethodError("invalidArguments", "FilterOperator conditions must be an array")
        for child in node["conditions"]:
            _check_filter(child, conditions, depth + 1)
        return
    unknown = sorted(set(node) - set(conditions))
    if unknown:
        raise MethodError(
            "unsupportedFilter",
            f"cannot filter on {', '.join(unknown)} (supported: {', '.join(sorted(conditions))})",
        )
    for name, value in node.items():
        if value is not None and not isinstance(value, str):
            raise MethodError("invalidArguments", f"filter {name} must be a string or null")


def _matches(
    node: dict[str, Any], view: dict[str, Any], conditions: Mapping[str, Condition]
) -> bool:
    operator = node.get("operator")
    if operator is not None:
        results = [_matches(child, view, conditions) for child in node["conditions"]]
        if operator == "AND":
            return all(results)
        if operator == "OR":
            return any(results)
        return not any(results)
    return all(conditions[name](name, value, view) for name, value in node.items())


def _sorted(
    ids: list[str], views: Mapping[str, dict[str, Any]], sort: Any, allowed: set[str]
) -> list[str]:
    if sort is None:
        return sorted(ids)
    if not isinstance(sort, list):
        raise MethodError("invalidArguments", "sort must be an array of Comparators")
    comparators = []
    for comparator in sort:
        if not isinstance(comparator, dict) or not isinstance(comparator.get("property"), str):
            raise MethodError("invalidArguments", "a Comparator has a property")
        if set(comparator) - {"property", "isAscending", "collation"}:
            raise MethodError(
                "invalidArguments", "a Comparator has property, isAscending, collation"
            )
        if comparator["property"] not in allowed:
            supported = ", ".join(sorted(allowed))
            raise MethodError(
                "unsupportedSort",
                f"cannot sort on {comparator['property']!r} (supported: {supported})",
            )
        ascending = comparator.get("isAscending", True)
        if not isinstance(ascending, bool):
            raise MethodError("invalidArguments", "isAscending must be true or false")
        if comparator.get("collation") is not None:
            raise MethodError("unsupportedSort", "no collations are supported")
        comparators.append((comparator["property"], ascending))
    result = sorted(ids)
    for name, ascending in reversed(comparators):
        result.sort(key=lambda i: str(views[i].get(name) or ""), reverse=not ascending)
    return result
