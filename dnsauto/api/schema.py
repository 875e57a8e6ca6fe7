"""``GET /api/schema``: the objects the API serves, in the shape stalwart-cli reads.

stalwart-cli (stalwartlabs/cli, ``src/schema/types.rs``) learns the objects from the server:
``objects`` (name -> Singleton/Object with its permission prefix), ``schemas`` (name -> one
field set, or the ``@type`` variants and theirs), ``fields`` (field set -> property -> type and
whether it may change), ``enums``; ``forms``, ``lists``, ``dashboards`` and ``layouts`` are the
web admin's and stay empty. It uses the types to turn ``--field key=value`` into JSON (a
Boolean, a Number, or a string) and the names to check ``get --fields``. Built from the
configuration models of the installed providers, so a new plugin shows up by itself.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import types
from datetime import timedelta
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from dnsauto.config.bootstrap import Bootstrap
from dnsauto.config.domain import Domain
from dnsauto.plugin import Registry
from dnsauto.plugin.settings import DnsServerBase, ManualDnsServer

__all__ = ["document"]

_cache: dict[int, tuple[Registry, bytes, str]] = {}


def document(registry: Registry) -> tuple[bytes, str]:
    """The schema as JSON bytes, and its hash (SHA-256, URL-safe base64, as the CLI's)."""
    hit = _cache.get(id(registry))
    if hit is not None and hit[0] is registry:
        return hit[1], hit[2]
    body = json.dumps(build(registry), sort_keys=True, separators=(",", ":")).encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
    _cache[id(registry)] = (registry, body, digest)
    return body, digest


def build(registry: Registry) -> dict[str, Any]:
    enums: dict[str, list[dict[str, str]]] = {}
    fields: dict[str, dict[str, Any]] = {}
    fields["x:Bootstrap"] = {"properties": _properties(Bootstrap, enums)}
    domain = _properties(Domain, enums)
    domain["name"] = _field("The domain name", _string(), "immutable")
    fields["x:Domain"] = {"properties": domain}
    fields["x:Task"] = {"properties": _task_properties()}
    variants = []
    models: list[type[DnsServerBase]] = [ManualDnsServer, *registry.settings_models()]
    for model in models:
        name = _type_name(model)
        schema_name = f"x:DnsServer{name}"
        fields[schema_name] = {"properties": _properties(model, enums)}
        variants.append({"name": name, "label": name, "schemaName": schema_name})

    def obj(kind: str, description: str, prefix: str) -> dict[str, Any]:
        return {"type": kind, "description": description, "permissionPrefix": prefix}

    return {
        "objects": {
            "x:Bootstrap": obj("singleton", "Initial setup of the server", "sysBootstrap"),
            "x:DnsServer": obj("object", "A DNS provider records go through", "sysDnsServer"),
            "x:Domain": obj("object", "A mail domain whose records are published", "sysDomain"),
            "x:Task": obj("object", "A run of the daemon (read-only)", "sysTask"),
        },
        "schemas": {
            "x:Bootstrap": {"type": "single", "schemaName": "x:Bootstrap"},
            "x:DnsServer": {"type": "multiple", "variants": variants},
            "x:Domain": {"type": "single", "schemaName": "x:Domain"},
            "x:Task": {"type": "single", "schemaName": "x:Task"},
        },
        "fields": fields,
        "forms": {},
        "lists": {},
        "enums": enums,
        "dashboards": [],
        "layouts": [],
    }


def _type_name(model: type[DnsServerBase]) -> str:
    (name,) = get_args(model.model_fields["type"].annotation)
    return str(name)


def _field(description: str, type_: dict[str, Any], update: str = "mutable") -> dict[str, Any]:
    return {"description": description, "type": type_, "update": update}


def _string(fmt: str = "string", *, nullable: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "string", "format": fmt}
    if nullable:
        result["nullable"] = True
    return result


def _properties(model: type[BaseModel], enums: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == "type":
            continue  # "@type" picks the variant; the CLI handles it itself
        key = info.alias or name
        result[key] = _field(info.description or key, _type(info.annotation, enums, key))
    return result


def _type(annotation: Any, enums: dict[str, Any], key: str) -> dict[str, Any]:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0], enums, key)
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        nullable = len(present) < len(args)
        if len(present) == 1:
            inner = _type(present[0], enums, key)
        else:
            inner = {"type": "object", "objectName": f"x:{key[0].upper()}{key[1:]}"}
        if nullable and inner["type"] not in ("boolean", "set", "map", "objectList"):
            inner["nullable"] = True
        return inner
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "number", "format": "integer"}
    if annotation is float:
        return {"type": "number", "format": "float"}
    if annotation is timedelta:
        return {"type": "number", "format": "duration"}  # milliseconds over the wire
    if origin is Literal:
        return _enum(key, [str(a) for a in args], enums)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum(annotation.__name__, [str(m.value) for m in annotation], enums)
    if origin in (tuple, list, set, frozenset):
        item = _type(args[0], enums, key) if args else _string()
        if item["type"] == "object":
            return {"type": "objectList", "objectName": item["objectName"]}
        if item["type"] == "enum":
            return {"type": "set", "class": {"type": "enum", "enumName": item["enumName"]}}
        return {"type": "set", "class": _string()}
    if origin is dict:
        return {"type": "map", "keyClass": _string(), "valueClass": _string()}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"type": "object", "objectName": f"x:{annotation.__name__}"}
    return _string()


def _enum(name: str, values: list[str], enums: dict[str, Any]) -> dict[str, Any]:
    enums.setdefault(name, [{"name": v, "label": v} for v in values])
    return {"type": "enum", "enumName": name}


def _task_properties() -> dict[str, Any]:
    def server_set(description: str, type_: dict[str, Any]) -> dict[str, Any]:
        return _field(description, type_, "serverSet")

    return {
        "domainId": server_set(
            "The Domain of a run of one domain (null for several)",
            {"type": "objectId", "objectName": "x:Domain", "nullable": True},
        ),
        "updateRecords": server_set(
            "The record families the run publishes",
            {"type": "set", "class": {"type": "enum", "enumName": "DnsRecordType"}},
        ),
        "onSuccessRenewCertificate": server_set(
            "Always false: dnsauto renews no certificates", {"type": "boolean"}
        ),
        "status": server_set(
            "Stalwart's TaskStatus (Pending, Failed) or dnsauto's Completed",
            {"type": "object", "objectName": "x:TaskStatus"},
        ),
        "runStatus": server_set(
            "waiting, running, succeeded, failed, awaitingApproval or superseded", _string()
        ),
        "reasons": server_set("Why the run was asked for", {"type": "set", "class": _string()}),
        "domains": server_set(
            "Each domain's outcome",
            {
                "type": "map",
                "keyClass": _string(),
                "valueClass": {"type": "object", "objectName": "x:TaskDomain"},
            },
        ),
    }
