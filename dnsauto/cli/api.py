"""``dnsauto get|create|update|delete|query|approve``: manage a running dnsauto over its JMAP API.

The commands mirror ``stalwart-cli``: each is one JMAP request (RFC 8620) to ``POST <url>/api``
of ``dnsauto run`` (``daemon.api.listen``), authenticated with ``Authorization: Bearer``::

    dnsauto get Bootstrap
    dnsauto update Bootstrap --field serverHostname=mail.example.org
    dnsauto create DnsServer/Tsig --field host=192.0.2.1 --field 'key={"@type":"Value",...}'
    dnsauto query DnsServer --where memberTenantId=t1
    dnsauto delete DnsServer --ids a,b
    dnsauto approve --domain example.org

A Domain's id is opaque (as Stalwart's are); wherever a command takes one, it takes the domain's
name too and finds the id with ``x:Domain/query`` (filter ``name``) first.

The requests go through :class:`dnsauto.api.client.ApiClient`; :mod:`dnsauto.cli` adds these
commands to the ``dnsauto`` group. aiohttp is imported only when a request is sent, so
``dnsauto --help`` stays quick.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import click

from dnsauto.api.client import (
    DEFAULT_URL,
    TOKEN_ENV,
    URL_ENV,
    ApiClient,
    ApiError,
    Reply,
    error_text,
    method_call,
    method_error,
    one_line,
)
from dnsauto.cli.options import ExitStatus, echo_json, handle_errors
from dnsauto.config.ids import is_id

__all__ = [
    "approve",
    "create",
    "delete",
    "flatten",
    "get",
    "object_type",
    "parse_field",
    "parse_fields",
    "parse_where",
    "print_object",
    "query",
    "resolve_domain_ids",
    "set_errors",
    "update",
]


OBJECT_TYPES = ("Bootstrap", "DnsServer", "Domain", "Task")
"""The JMAP objects dnsauto serves, as written after ``x:``."""

SINGLETON = "singleton"
CREATION_ID = "new1"

F = TypeVar("F", bound=Callable[..., Any])


# --- building requests ------------------------------------------------------------------------


def parse_field(text: str) -> tuple[str, Any]:
    """``name=value``: the value as JSON when it is JSON (objects, numbers, ...), else text.

    ``port=53`` gives 53, ``generateDkimKeys=false`` False, ``key={"@type":"Value",...}`` an
    object, ``memberTenantId=null`` None (unsets it), ``host=192.0.2.1`` the text; quote to
    force text: ``description='"42"'``. The value never appears in an error message.
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ApiError("--field needs name=value (the property name, '=', then its value)")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def parse_fields(texts: Sequence[str]) -> dict[str, Any]:
    """Every ``--field`` as one object; a property named twice is an error."""
    fields: dict[str, Any] = {}
    for text in texts:
        name, value = parse_field(text)
        if name in fields:
            raise ApiError(f"--field {name} given twice")
        fields[name] = value
    return fields


def parse_where(texts: Sequence[str]) -> dict[str, Any] | None:
    """``--where name=value`` conditions as a JMAP ``filter`` (None when there are none)."""
    return parse_fields(texts) or None


def object_type(text: str, *, variant_allowed: bool = False) -> tuple[str, str | None]:
    """``DnsServer/Tsig`` -> ``("DnsServer", "Tsig")``; the type name in any case."""
    name, slash, variant = text.partition("/")
    known = {t.lower(): t for t in OBJECT_TYPES}
    canonical = known.get(name.strip().lower())
    if canonical is None:
        raise ApiError(f"unknown object type {name!r}; known: {', '.join(OBJECT_TYPES)}")
    if slash:
        if not variant_allowed:
            raise ApiError(f"{text!r}: a /variant is only for create (create DnsServer/Tsig)")
        if not variant.strip():
            raise ApiError(f"{text!r}: name the variant after '/', e.g. DnsServer/Tsig")
        return canonical, variant.strip()
    return canonical, None


def _ids(object_name: str, ids: Sequence[str]) -> list[str] | None:
    if object_name == "Bootstrap":
        return [SINGLETON]
    return list(ids) or None


def _split_ids(texts: Sequence[str]) -> list[str]:
    ids = [i.strip() for text in texts for i in text.split(",") if i.strip()]
    if not ids:
        raise ApiError("name the objects with --ids ID[,ID...]")
    return ids


# --- sending them -----------------------------------------------------------------------------


def _given(values: Sequence[str], ids: Sequence[str]) -> dict[str, str]:
    """Id -> the name it was found by (for the messages)."""
    return {i: v for v, i in zip(values, ids, strict=True) if v != i}


def resolve_domain_ids(client: ApiClient, values: Sequence[str]) -> list[str]:
    """The Domain id each value names: the id of the Domain with that name, else the value
    itself when it is an id (``x:Domain/query`` with a ``name`` filter, all in one request)."""
    if not values:
        return []
    calls = [
        ["x:Domain/query", {"filter": {"name": value}}, f"q{index}"]
        for index, value in enumerate(values)
    ]
    ids = []
    for value, call, reply in zip(values, calls, client.call_all(calls), strict=True):
        problem = method_error(reply, call)
        if problem is not None:
            raise ApiError(problem)
        found = [i for i in _list(reply.arguments, "ids") if isinstance(i, str)]
        if found:
            ids.append(found[0])
        elif is_id(value):
            ids.append(value)
        else:
            raise ApiError(f"no Domain named {one_line(value)!r}")
    return ids


# --- reading responses ------------------------------------------------------------------------


def _list(arguments: Mapping[str, Any], key: str) -> list[Any]:
    """``arguments[key]`` when it is a list (a server's null or odd value reads as none)."""
    value = arguments.get(key)
    return value if isinstance(value, list) else []


def _dict(arguments: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = arguments.get(key)
    return value if isinstance(value, dict) else {}


def _label(object_name: str, object_id: str, names: Mapping[str, str] | None = None) -> str:
    """``DnsServer ID``, ``Bootstrap``, or ``Domain NAME (id ID)`` when ``names`` (id -> the
    name the user gave) has the id."""
    if object_name == "Bootstrap" and object_id == SINGLETON:
        return "Bootstrap"
    name = (names or {}).get(object_id)
    if name is not None and name != object_id:
        return f"{object_name} {one_line(name)} (id {one_line(object_id)})"
    return f"{object_name} {one_line(object_id)}"


def set_errors(
    object_name: str,
    arguments: Mapping[str, Any],
    *,
    what: str = "",
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """One line per SetError of a ``/set`` response, naming the object and properties."""
    lines = []
    for key, verb in (
        ("notCreated", "not created"),
        ("notUpdated", "not updated"),
        ("notDestroyed", "not deleted"),
    ):
        for object_id, error in _dict(arguments, key).items():
            label = (
                what if key == "notCreated" and what else _label(object_name, str(object_id), names)
            )
            error = error if isinstance(error, dict) else {}
            lines.append(f"{label} {verb}: {error_text(error)}")
    return lines


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``key: value`` pairs of an object, nested objects as ``outer.inner`` keys."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        yield prefix, ", ".join(_scalar(v) for v in value) if value else "[]"
        return
    if isinstance(value, dict | list):
        yield prefix, json.dumps(value, separators=(",", ":"))
        return
    yield prefix, _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def print_object(object_name: str, item: Mapping[str, Any]) -> None:
    object_id = str(item.get("id", SINGLETON if object_name == "Bootstrap" else "?"))
    name = item.get("name") if object_name == "Domain" else None
    click.echo(_label(object_name, object_id, {object_id: name} if isinstance(name, str) else {}))
    rest = {k: v for k, v in item.items() if k != "id"}
    pairs = list(flatten(rest))
    width = max((len(k) for k, _ in pairs), default=0)
    for key, text in pairs:
        click.echo(f"  {(one_line(key) + ':').ljust(width + 1)} {one_line(text)}")


# --- the commands -----------------------------------------------------------------------------


def api_options(func: F) -> F:
    """``--url``, ``--api-key``, ``--timeout`` and ``--json``."""
    func = click.option("--json", "as_json", is_flag=True, help="Print the method response.")(func)
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=30.0,
        show_default=True,
        help="Seconds to wait for the answer.",
    )(func)
    func = click.option(
        "--api-key",
        "token",
        envvar=TOKEN_ENV,
        metavar="TOKEN",
        help=f"API key, sent as a Bearer token (env {TOKEN_ENV}; never printed).",
    )(func)
    return click.option(
        "--url",
        envvar=URL_ENV,
        default=DEFAULT_URL,
        metavar="URL",
        help=f"The daemon's API (env {URL_ENV}; default {DEFAULT_URL}).",
    )(func)


def _client(url: str, token: str | None, timeout: float) -> ApiClient:
    return ApiClient(url=url, token=token or None, timeout=timeout)


def _finish(
    reply: Reply,
    call: list[Any],
    as_json: bool,
    show: Callable[[dict[str, Any]], list[str]],
) -> None:
    """Print the reply (JSON, or text through ``show``), the errors on stderr; exit 1 on any."""
    problem = method_error(reply, call)
    if as_json:
        echo_json(reply.arguments)
    if problem is not None:
        raise ApiError(problem)
    errors = show(reply.arguments) if not as_json else _errors_only(call, reply.arguments)
    for line in errors:
        click.echo(f"error: {line}", err=True)
    if errors:
        raise ExitStatus(1)


def _errors_only(call: list[Any], arguments: dict[str, Any]) -> list[str]:
    object_name, _, method = call[0].removeprefix("x:").partition("/")
    if method == "set":
        return set_errors(object_name, arguments)
    if method == "get":
        return _not_found(object_name, arguments)
    return []


def _not_found(
    object_name: str, arguments: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> list[str]:
    return [
        f"{_label(object_name, str(i), names)}: not found" for i in _list(arguments, "notFound")
    ]


def _run_note(arguments: Mapping[str, Any]) -> str:
    run_id = arguments.get("runId")
    return f" (run {one_line(run_id)})" if run_id else ""


@click.command("get")
@api_options
@click.argument("type_name", metavar="TYPE")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@handle_errors
def get(
    type_name: str, ids: tuple[str, ...], url: str, token: str | None, timeout: float, as_json: bool
) -> None:
    """Show objects: Bootstrap, DnsServer ID, Domain ID or NAME (every one without an ID).

    Secrets come back redacted; durations are milliseconds.
    """
    object_name, _ = object_type(type_name)
    if object_name == "Bootstrap" and [i for i in ids if i != SINGLETON]:
        raise ApiError("Bootstrap is a singleton: give no ID")
    client = _client(url, token, timeout)
    names: dict[str, str] = {}
    if object_name == "Domain":
        resolved = resolve_domain_ids(client, ids)
        names = _given(ids, resolved)
        ids = tuple(resolved)
    call = method_call(object_name, "get", {"ids": _ids(object_name, ids)})
    reply = client.call(call)

    def show(arguments: dict[str, Any]) -> list[str]:
        items = _list(arguments, "list")
        for index, item in enumerate(items):
            if index:
                click.echo()
            if isinstance(item, dict):
                print_object(object_name, item)
        if not items and not _list(arguments, "notFound"):
            click.echo(f"no {object_name} objects", err=True)
        return _not_found(object_name, arguments, names)

    _finish(reply, call, as_json, show)


@click.command("create")
@api_options
@click.argument("type_name", metavar="TYPE[/VARIANT]")
@click.option("--field", "-f", "fields", multiple=True, metavar="NAME=VALUE", help="A property.")
@handle_errors
def create(
    type_name: str,
    fields: tuple[str, ...],
    url: str,
    token: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Create an object: DnsServer/VARIANT (sets @type) or Domain (--field name=DOMAIN).

    Each --field NAME=VALUE is one property, its value JSON when it parses as JSON (numbers,
    true/false, null, objects like key={"@type":"Value","secret":"..."}), else text.
    """
    object_name, variant = object_type(type_name, variant_allowed=True)
    if object_name in ("Bootstrap", "Task"):
        raise ApiError(f"{object_name} objects cannot be created (use update)")
    document = parse_fields(fields)
    if variant is not None:
        if document.get("@type", variant) != variant:
            raise ApiError(f"{type_name} and --field @type={document['@type']} disagree")
        document = {"@type": variant, **{k: v for k, v in document.items() if k != "@type"}}
    call = method_call(object_name, "set", {"create": {CREATION_ID: document}})
    reply = _client(url, token, timeout).call(call)
    name = document.get("name") if object_name == "Domain" else None
    what = f"Domain {one_line(name)}" if isinstance(name, str) and name else type_name

    def show(arguments: dict[str, Any]) -> list[str]:
        created = _dict(arguments, "created")
        if CREATION_ID in created:
            made = created[CREATION_ID]
            new_id = made.get("id") if isinstance(made, dict) else None
            if not isinstance(new_id, str) or not new_id:
                shown = object_name
            elif isinstance(name, str):
                shown = _label(object_name, new_id, {new_id: name})
            else:
                shown = _label(object_name, new_id)
            click.echo(f"created {shown}{_run_note(arguments)}")
        return set_errors(object_name, arguments, what=what)

    _finish(reply, call, as_json, show)


@click.command("update")
@api_options
@click.argument("type_name", metavar="TYPE")
@click.argument("object_id", metavar="[ID]", required=False)
@click.option("--field", "-f", "fields", multiple=True, metavar="NAME=VALUE", help="A property.")
@handle_errors
def update(
    type_name: str,
    object_id: str | None,
    fields: tuple[str, ...],
    url: str,
    token: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Change properties of Bootstrap, DnsServer ID or Domain ID (or NAME).

    Each --field NAME=VALUE is one property (JSON when it parses, else text); NAME may be a
    JMAP patch path like dnsManagement/publishRecords. A change that affects published records
    starts a run at once; `dnsauto status` follows it.
    """
    object_name, _ = object_type(type_name)
    if object_name == "Task":
        raise ApiError("Task objects cannot be updated")
    if object_name == "Bootstrap":
        if object_id not in (None, SINGLETON):
            raise ApiError("Bootstrap is a singleton: give no ID")
        object_id = SINGLETON
    elif object_id is None:
        raise ApiError(f"name the {object_name} to update: dnsauto update {object_name} ID")
    patch = parse_fields(fields)
    if not patch:
        raise ApiError("nothing to change: give --field NAME=VALUE")
    client = _client(url, token, timeout)
    names: dict[str, str] = {}
    if object_name == "Domain":
        given = object_id
        (object_id,) = resolve_domain_ids(client, [given])
        names = _given([given], [object_id])
    call = method_call(object_name, "set", {"update": {object_id: patch}})
    reply = client.call(call)
    target = object_id

    def show(arguments: dict[str, Any]) -> list[str]:
        updated = _dict(arguments, "updated")
        if target in updated:
            click.echo(f"updated {_label(object_name, target, names)}{_run_note(arguments)}")
        return set_errors(object_name, arguments, names=names)

    _finish(reply, call, as_json, show)


@click.command("delete")
@api_options
@click.argument("type_name", metavar="TYPE")
@click.option("--ids", "id_lists", multiple=True, metavar="ID[,ID...]", help="What to delete.")
@handle_errors
def delete(
    type_name: str,
    id_lists: tuple[str, ...],
    url: str,
    token: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Delete DnsServer or Domain objects by id (a Domain's by its name too)."""
    object_name, _ = object_type(type_name)
    if object_name in ("Bootstrap", "Task"):
        raise ApiError(f"{object_name} objects cannot be deleted")
    ids = _split_ids(id_lists)
    client = _client(url, token, timeout)
    names: dict[str, str] = {}
    if object_name == "Domain":
        given = ids
        ids = resolve_domain_ids(client, given)
        names = _given(given, ids)
    call = method_call(object_name, "set", {"destroy": ids})
    reply = client.call(call)

    def show(arguments: dict[str, Any]) -> list[str]:
        for object_id in _list(arguments, "destroyed"):
            label = _label(object_name, str(object_id), names)
            click.echo(f"deleted {label}{_run_note(arguments)}")
        return set_errors(object_name, arguments, names=names)

    _finish(reply, call, as_json, show)


@click.command("query")
@api_options
@click.argument("type_name", metavar="TYPE")
@click.option(
    "--where", "conditions", multiple=True, metavar="NAME=VALUE", help="A filter condition."
)
@handle_errors
def query(
    type_name: str,
    conditions: tuple[str, ...],
    url: str,
    token: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """List the ids of DnsServer or Domain objects, one a line (DnsServer: --where
    memberTenantId=ID; Domain: --where name=NAME, exactly, or text=PART)."""
    object_name, _ = object_type(type_name)
    if object_name == "Bootstrap":
        raise ApiError("Bootstrap is a singleton: use dnsauto get Bootstrap")
    arguments: dict[str, Any] = {}
    where = parse_where(conditions)
    if where is not None:
        arguments["filter"] = where
    call = method_call(object_name, "query", arguments)
    reply = _client(url, token, timeout).call(call)

    def show(arguments: dict[str, Any]) -> list[str]:
        for object_id in _list(arguments, "ids"):
            click.echo(one_line(object_id))
        return []

    _finish(reply, call, as_json, show)


@click.command("approve")
@api_options
@click.option("--domain", "-d", required=True, metavar="DOMAIN", help="The domain (name or id).")
@click.option("--plan", "plan_id", metavar="ID", help="Approve only if this plan is waiting.")
@handle_errors
def approve(
    domain: str, plan_id: str | None, url: str, token: str | None, timeout: float, as_json: bool
) -> None:
    """Let the plan the unsafe-plan stop refused for DOMAIN run once, now (x:Domain/approve).

    `dnsauto status` and the run's Task show the refused plan's id; check it with
    `dnsauto plan --domain DOMAIN` first. A later, different plan is refused again.
    """
    client = _client(url, token, timeout)
    (object_id,) = resolve_domain_ids(client, [domain])
    arguments: dict[str, Any] = {"id": object_id}
    if plan_id is not None:
        arguments["planId"] = plan_id
    call = method_call("Domain", "approve", arguments)
    reply = client.call(call)

    def show(arguments: dict[str, Any]) -> list[str]:
        click.echo(
            f"approved plan {one_line(arguments.get('planId'))} of {one_line(domain)}"
            f"{_run_note(arguments)}"
        )
        return []

    _finish(reply, call, as_json, show)
