"""The effective configuration: the configuration file, overridden by objects set over the API.

The file is the base. Every object created, updated or destroyed over the API is kept in the
state store's ``objects`` table (kind ``Bootstrap``, ``DnsServer`` or ``Domain``; the object as
the API last wrote it, secrets included, in the 0600 database) and **wins over the file, object
by object**: an object written over the API is used as written whatever the file says about it
later, and one destroyed over the API is a tombstone that hides the file's object of that id.
Objects the API never touched follow the file. :func:`effective_config` does the merge for
``dnsauto run`` (at start and on SIGHUP) and for ``dnsauto config check``, which also names the
overridden objects (:func:`describe_overrides`).

Every change is validated the way the file is, by the same pydantic model: each object on its
own as it comes (with the Bootstrap, and its DnsServer reference checked), so a bad one is a
SetError naming its properties (``invalidProperties``) and the others go on; its secrets must
resolve. Then, once per call, the whole configuration with every change in place goes through
:func:`~dnsauto.config.model.check_references`; the changes are kept in one transaction
(:meth:`Workspace.save`). A /set of n objects costs O(n), not O(n²), and no step handles the
whole configuration in one call into pydantic's core (which would hold the GIL, stalling the
event loop while a worker thread runs the /set).
"""

from __future__ import annotations

import copy
import os
import secrets as random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from dnsauto.config.daemon import ApiSettings
from dnsauto.config.domain import AutomaticDns, Domain
from dnsauto.config.ids import domain_id
from dnsauto.config.loader import (
    error_locations,
    load_config_file,
    problems_from_validation_error,
    resolve_secrets,
)
from dnsauto.config.model import Config, check_references
from dnsauto.plugin.errors import ConfigError, ConfigProblem, DnsautoError, SecretError
from dnsauto.plugin.names import check_hostname
from dnsauto.plugin.registry import Registry, load_registry
from dnsauto.plugin.types import REDACTED, SecretEnvironmentVariable, SecretFile, iter_secrets
from dnsauto.state.store import StateStore

__all__ = [
    "SINGLETON",
    "Kind",
    "SetFailure",
    "Workspace",
    "config_document",
    "describe_overrides",
    "effective_config",
    "load_effective",
    "load_file",
    "object_view",
    "object_views",
]

SINGLETON = "singleton"
REVEAL = {"reveal_secrets": True}
TOMBSTONE = "@destroyed"
API_ID_PREFIX = "ds-"

FOREIGN_SECRET = (
    "over the API, a File secret must name a readable regular file (at most 64 KiB) in one of "
    "daemon.api.allowedSecretDirectories, and an EnvironmentVariable secret a set variable "
    "whose name starts with one of daemon.api.allowedSecretVariablePrefixes"
)
"""The one error for every File or EnvironmentVariable secret the API refuses: it says nothing
of whether the file exists or the variable is set."""

REDIRECTED_SECRET = (
    "send the secret again: the stored one is not sent to another @type, host, port or key name"
)

_LITERAL_SECRETS = ("Value", "Text")
"""The ``@type`` of a secret given in the object itself (SecretKey's and SecretText's)."""

_SECRET_DESTINATION = ("@type", "host", "port", "keyName", "signerName")
"""The properties next to a secret that say where it goes; changing one needs the secret."""


class Kind(StrEnum):
    """The object types the API writes (the ``kind`` column of the store's ``objects``)."""

    BOOTSTRAP = "Bootstrap"
    DNS_SERVER = "DnsServer"
    DOMAIN = "Domain"


_SECTION = {Kind.DNS_SERVER: "dnsServer", Kind.DOMAIN: "domain"}


def config_document(config: Config) -> dict[str, Any]:
    """The configuration as a JSON document that validates back to it, secrets included.

    Only for building a changed configuration; never send or log it.
    """
    return config.model_dump(mode="json", context=REVEAL)


def _reveal(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", context=REVEAL)


# --- the merge ----------------------------------------------------------------------------------


def stored_overrides(store: StateStore) -> dict[Kind, dict[str, dict[str, Any] | None]]:
    """The objects set over the API, by kind and id; None for a tombstone."""
    return {
        kind: {
            object_id: None if document.get(TOMBSTONE) is True else document
            for object_id, document in store.objects(kind.value).items()
        }
        for kind in Kind
    }


def _merge(
    document: dict[str, Any], overrides: Mapping[Kind, Mapping[str, dict[str, Any] | None]]
) -> dict[str, Any]:
    bootstrap = overrides.get(Kind.BOOTSTRAP, {}).get(SINGLETON)
    if bootstrap is not None:
        document["bootstrap"] = copy.deepcopy(bootstrap)
    for kind, section in _SECTION.items():
        objects = document.setdefault(section, {})
        for object_id, value in overrides.get(kind, {}).items():
            if value is None:
                objects.pop(object_id, None)
            else:
                objects[object_id] = copy.deepcopy(value)
    return document


def effective_config(
    config: Config, store: StateStore | None, *, registry: Registry | None = None
) -> Config:
    """``config`` (the file's) with the objects set over the API in ``store`` winning.

    Raises :class:`ConfigError` when the merged configuration is not valid (an object of the
    API refers to a DnsServer the file no longer has, say); the problems name the paths.
    """
    if store is None:
        return config
    overrides = stored_overrides(store)
    if not any(overrides.values()):
        return config
    document = _merge(config_document(config), overrides)
    source = f"{store.location} (objects set over the API)"
    try:
        merged = type(config).model_validate(document)
    except ValidationError as exc:
        registry = registry if registry is not None else load_registry()
        raise ConfigError(problems_from_validation_error(exc, document, registry, source)) from None
    problems = [ConfigProblem(p.path, p.message, source) for p in check_references(merged)]
    if problems:
        raise ConfigError(problems)
    return merged


def describe_overrides(store: StateStore) -> list[str]:
    """One line per object the API overrides: ``dnsServer.primary: destroyed over the API``."""
    lines = []
    for kind, objects in stored_overrides(store).items():
        for object_id, value in sorted(objects.items()):
            path = "bootstrap" if kind is Kind.BOOTSTRAP else f"{_SECTION[kind]}.{object_id}"
            lines.append(f"{path}: {'destroyed' if value is None else 'set'} over the API")
    return lines


def load_file(path: str | os.PathLike[str], registry: Registry) -> Config:
    """The file alone, every secret readable: what ``dnsauto run`` needs to reach its store."""
    config = load_config_file(path, registry)
    problems = resolve_secrets(config, str(path))
    if problems:
        raise ConfigError(problems)
    return config


def load_effective(
    path: str | os.PathLike[str], registry: Registry, store: StateStore | None = None
) -> Config:
    """What ``dnsauto run`` runs on: the file, the API's objects, every secret readable.

    A running daemon passes its own ``store``: a process keeps one store open, never a second
    one beside it (see :func:`dnsauto.state._prepare_files`). Without one, the store of the
    file's ``daemon.stateDir`` is opened for the merge and closed again.
    """
    config = load_file(path, registry)
    if store is not None:
        merged = effective_config(config, store, registry=registry)
    else:
        with config.daemon.open_store() as opened:
            merged = effective_config(config, opened, registry=registry)
    problems = resolve_secrets(merged, "objects set over the API")
    if problems:
        raise ConfigError(problems)
    return merged


# --- what the API shows -------------------------------------------------------------------------


def object_views(config: Config, kind: Kind) -> dict[str, dict[str, Any]]:
    """Every object of ``kind`` as the API shows it (JSON, secrets redacted), by id (a
    Domain's: :func:`~dnsauto.config.ids.domain_id` of its name, which is the ``name``)."""
    if kind is Kind.BOOTSTRAP:
        return {SINGLETON: {"id": SINGLETON, **config.bootstrap.model_dump(mode="json")}}
    if kind is Kind.DNS_SERVER:
        return {
            object_id: {"id": object_id, **server.model_dump(mode="json")}
            for object_id, server in config.dns_server.items()
        }
    return {domain_id(name): _domain_view(name, domain) for name, domain in config.domains.items()}


def _domain_view(name: str, domain: Domain) -> dict[str, Any]:
    return {"id": domain_id(name), **domain.model_dump(mode="json"), "name": name}


def object_view(config: Config, kind: Kind, object_id: str) -> dict[str, Any]:
    """One object of ``kind`` as :func:`object_views` shows it (a Domain's: by its name)."""
    if kind is Kind.BOOTSTRAP:
        return object_views(config, kind)[object_id]
    if kind is Kind.DNS_SERVER:
        return {"id": object_id, **config.dns_server[object_id].model_dump(mode="json")}
    domain = config.domain.get(object_id) or config.domains[object_id]
    return _domain_view(object_id, domain)


# --- changes ------------------------------------------------------------------------------------


class SetFailure(Exception):
    """Why one create, update or destroy of a /set failed: a SetError (RFC 8620 §5.3)."""

    def __init__(self, type_: str, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.type = type_
        self.description = description
        self.extra = extra

    def error(self) -> dict[str, Any]:
        return {"type": self.type, "description": self.description, **self.extra}


def _invalid(problems: list[tuple[str, str]]) -> SetFailure:
    """``invalidProperties``: a property the API does not let the client set (a server-set
    one, a secret it may not use), as Stalwart refuses such a property."""
    properties = list(dict.fromkeys(p for p, _ in problems if p))
    description = "; ".join(f"{p}: {m}" if p else m for p, m in problems)
    return SetFailure("invalidProperties", description, properties=properties)


Problem = tuple[str, str, Mapping[str, Any] | None]
_MISSING: Mapping[str, Any] = {"type": "missing"}
"""(property path, message, the pydantic error behind it, if any)."""


def _failed(problems: list[Problem]) -> SetFailure:
    """``validationFailed`` with Stalwart's ``validationErrors`` (``Required``, ``Invalid``,
    ``MinLength``/``MaxLength``, ``MinValue``/``MaxValue``): the object breaks its schema.
    dnsauto's ``description`` and ``properties`` come beside them. A property the object does
    not have makes it ``invalidProperties`` instead, Stalwart's answer to an unknown one."""
    if any((error or {}).get("type") == "extra_forbidden" for _, _, error in problems):
        return _invalid([(p, m) for p, m, _ in problems])
    properties = list(dict.fromkeys(p for p, _, _ in problems if p))
    description = "; ".join(f"{p}: {m}" if p else m for p, m, _ in problems)
    errors = [_validation_error(p, m, error) for p, m, error in problems]
    return SetFailure(
        "validationFailed", description, properties=properties, validationErrors=errors
    )


_BOUNDS = {
    "missing": ("Required", None),
    "too_short": ("MinLength", "min_length"),
    "string_too_short": ("MinLength", "min_length"),
    "too_long": ("MaxLength", "max_length"),
    "string_too_long": ("MaxLength", "max_length"),
    "greater_than_equal": ("MinValue", "ge"),
    "greater_than": ("MinValue", "gt"),
    "less_than_equal": ("MaxValue", "le"),
    "less_than": ("MaxValue", "lt"),
}
"""Pydantic's error types that are one of Stalwart's ValidationErrors, and the bound's key."""


def _validation_error(prop: str, message: str, error: Mapping[str, Any] | None) -> dict[str, Any]:
    """One of Stalwart's ValidationErrors. ``Invalid``'s ``value`` is the message, not the
    value sent: that may be a secret."""
    kind, bound = _BOUNDS.get(str((error or {}).get("type")), ("Invalid", None))
    if kind == "Required":
        return {"type": kind, "property": prop}
    required = (error or {}).get("ctx", {}).get(bound) if bound else None
    if isinstance(required, bool) or not isinstance(required, int):
        return {"type": "Invalid", "property": prop, "value": message}
    return {"type": kind, "property": prop, "required": required}


def _object_id(kind: str, object_id: str) -> dict[str, str]:
    """Stalwart's ObjectId in a SetError (``objectId``, ``linkedObjects``)."""
    return {"object": kind, "id": object_id}


@dataclass
class Workspace:
    """One /set call's changes: applied one by one to ``config``, checked as a whole by
    :meth:`finish`, then kept in ``store`` by :meth:`save`.

    ``config`` is the effective configuration as changed so far.
    """

    config: Config
    store: StateStore
    registry: Registry
    changed: bool = False
    new_id: Callable[[], str] = field(default=lambda: API_ID_PREFIX + random.token_hex(4))
    pending: dict[tuple[Kind, str], dict[str, Any]] = field(default_factory=dict)
    """What :meth:`save` writes: the stored form of each changed object (or a tombstone)."""
    committed: set[tuple[Kind, str]] = field(default_factory=set)
    """Every object changed in this workspace, saved or not."""
    _names: dict[str, str] | None = None
    """Domain id -> name, made when first needed, kept up to date by create and destroy."""
    _own_tables: set[str] = field(default_factory=set)
    """The Config fields (``domain``, ``dns_server``) whose dict this workspace made."""
    _bootstrap_document: dict[str, Any] | None = None
    base: Config = field(init=False)
    """The configuration the changes were made to."""

    def __post_init__(self) -> None:
        self.base = self.config

    # --- Bootstrap ------------------------------------------------------------------------------

    def update_bootstrap(self, patch: Mapping[str, Any]) -> None:
        current = _reveal(self.config.bootstrap)
        document = apply_patch(current, patch, object_id=SINGLETON)
        self._commit(Kind.BOOTSTRAP, SINGLETON, ("bootstrap",), document, current, patch)

    # --- DnsServer ------------------------------------------------------------------------------

    def create_dns_server(self, properties: Mapping[str, Any]) -> str:
        document = _creation(properties)
        object_id = self.new_id()
        while object_id in self.config.servers:
            object_id = self.new_id()
        self._commit(Kind.DNS_SERVER, object_id, ("dnsServer", object_id), document, None)
        return object_id

    def update_dns_server(self, object_id: str, patch: Mapping[str, Any]) -> None:
        server = self.config.dns_server.get(object_id)
        if server is None:
            raise SetFailure("notFound", f"no DnsServer {object_id!r}")
        current = _reveal(server)
        document = apply_patch(current, patch, object_id=object_id)
        location = ("dnsServer", object_id)
        self._commit(Kind.DNS_SERVER, object_id, location, document, current, patch)

    def destroy_dns_server(self, object_id: str) -> None:
        if object_id not in self.config.dns_server:
            raise SetFailure("notFound", f"no DnsServer {object_id!r}")
        users = sorted(
            name
            for name, domain in self.config.domains.items()
            if isinstance(domain.dns_management, AutomaticDns)
            and domain.dns_management.dns_server_id == object_id
        )
        if users:
            raise SetFailure(
                "objectIsLinked",
                f"DnsServer {object_id!r} is in use by Domain {', '.join(users)}",
                objectId=_object_id("DnsServer", object_id),
                linkedObjects=[_object_id("Domain", domain_id(name)) for name in users],
            )
        self._commit(Kind.DNS_SERVER, object_id, ("dnsServer", object_id), None, None)

    # --- Domain ---------------------------------------------------------------------------------

    def domain_name(self, object_id: str) -> str | None:
        """The name of the Domain whose API id is ``object_id`` (None: there is none)."""
        return self._domain_names().get(object_id)

    def _domain_names(self) -> dict[str, str]:
        if self._names is None:
            self._names = {domain_id(name): name for name in self.config.domains}
        return self._names

    def view(self, kind: Kind, object_id: str) -> dict[str, Any]:
        """The object of ``kind`` whose API id is ``object_id``, as the API shows it."""
        if kind is Kind.DOMAIN:
            name = self.domain_name(object_id)
            if name is None:
                raise SetFailure("notFound", f"no Domain {object_id!r}")
            object_id = name
        return object_view(self.config, kind, object_id)

    def _domain(self, object_id: str) -> str:
        name = self.domain_name(object_id)
        if name is None:
            raise SetFailure("notFound", f"no Domain {object_id!r}")
        return name

    def create_domain(self, properties: Mapping[str, Any]) -> str:
        """Create a Domain; its API id."""
        document = dict(properties)
        name = document.pop("name", None)
        if not isinstance(name, str):
            raise _failed([("name", "missing required field (the domain name)", _MISSING)])
        try:
            name = check_hostname(name)
        except ValueError as exc:
            raise _failed([("name", str(exc), None)]) from None
        if self.domain_name(domain_id(name)) is not None:
            # Stalwart's answer to a name another Domain has (its primary key)
            raise SetFailure(
                "primaryKeyViolation",
                f"Domain {name!r} exists",
                properties=["name"],
                objectId=_object_id("Domain", domain_id(name)),
            )
        document = _creation(document)
        self._commit(Kind.DOMAIN, name, ("domain", name), document, None)
        self._domain_names()[domain_id(name)] = name
        return domain_id(name)

    def update_domain(self, object_id: str, patch: Mapping[str, Any]) -> None:
        """Patch the Domain whose API id is ``object_id``."""
        name = self._domain(object_id)
        current = _reveal(self.config.domains[name])
        patch = dict(patch)
        if "name" in patch:
            sent = patch.pop("name")
            try:
                same = isinstance(sent, str) and check_hostname(sent) == check_hostname(name)
            except ValueError:
                same = False
            if not same:
                raise _invalid([("name", "cannot change; create a new Domain instead")])
        document = apply_patch(current, patch, object_id=object_id)
        self._commit(Kind.DOMAIN, name, ("domain", name), document, current, patch)

    def destroy_domain(self, object_id: str) -> None:
        """Destroy the Domain whose API id is ``object_id``."""
        name = self._domain(object_id)
        if name == self.config.bootstrap.default_domain:
            raise SetFailure(
                "objectIsLinked",
                f"{name} is the Bootstrap's defaultDomain; change that instead",
                objectId=_object_id("Domain", object_id),
                linkedObjects=[_object_id("Bootstrap", SINGLETON)],
            )
        self._commit(Kind.DOMAIN, name, ("domain", name), None, None)
        self._domain_names().pop(object_id, None)

    # --- validating and keeping a change --------------------------------------------------------

    def _commit(
        self,
        kind: Kind,
        object_id: str,
        location: tuple[str, ...],
        document: dict[str, Any] | None,
        current: dict[str, Any] | None,
        patch: Mapping[str, Any] | None = None,
    ) -> None:
        """Validate ``document`` as the object at ``location`` (None: removed) and put it in
        ``self.config``; :meth:`save` keeps it. ``current`` and ``patch`` are the object before
        an update and the patch that made ``document``."""
        if document is not None:
            _keep_redacted_secrets(document, current)
        if location == ("bootstrap",):  # shared by every domain: the whole configuration
            candidate = _place(config_document(self.config), location, document)
            config = self._validate(candidate, location)
            self._check_references(config)
            self._bootstrap_document = None
            target: BaseModel | None = config.bootstrap
        else:
            target = None if document is None else self._validate_object(location, document)
        if target is None:
            stored: dict[str, Any] = {TOMBSTONE: True}
        else:
            stored = _reveal(target)
            self._check_secrets(target, stored, current, patch)
        if location != ("bootstrap",):
            config = self._replaced(location, target)
        self.pending[(kind, object_id)] = stored
        self.committed.add((kind, object_id))
        self.config = config
        self.changed = True

    def _replaced(self, location: tuple[str, ...], target: BaseModel | None) -> Config:
        """``self.config`` with the DnsServer or Domain at ``location`` replaced (None:
        removed). The other objects are shared, not validated again; the table of them is
        copied once per workspace, then changed in place (a /set of 1,000 creates in a
        configuration of 16,000 Domains copied 16,000 entries for each create)."""
        section, object_id = location
        name = "dns_server" if section == "dnsServer" else "domain"
        objects: dict[str, Any] = getattr(self.config, name)
        if name not in self._own_tables:
            objects = dict(objects)
            self._own_tables.add(name)
        if target is None:
            objects.pop(object_id, None)
        else:
            objects[object_id] = target
        return self.config.model_copy(update={name: objects})

    def finish(self) -> None:
        """Check the configuration with every change in place, once (each object has been
        validated as it came): a SetFailure when the changes do not fit together."""
        if self.changed:
            self._check_references(self.config)

    def save(self) -> None:
        """Keep every change in the store, in one transaction."""
        self.store.put_objects(
            [(kind.value, object_id, stored) for (kind, object_id), stored in self.pending.items()]
        )
        self.pending = {}

    def _validate_object(self, location: tuple[str, ...], document: dict[str, Any]) -> BaseModel:
        """The object ``document`` validated on its own (with the Bootstrap, which domains'
        defaults come from); its DnsServer reference must exist."""
        if self._bootstrap_document is None:
            self._bootstrap_document = _reveal(self.config.bootstrap)
        candidate = _place({"bootstrap": self._bootstrap_document}, location, document)
        target = _at(self._validate(candidate, location), location)
        if isinstance(target, Domain):
            dns = target.dns_management
            if isinstance(dns, AutomaticDns) and dns.dns_server_id not in self.config.servers:
                known = ", ".join(sorted(self.config.servers))
                raise SetFailure(
                    "invalidForeignKey",
                    f"dnsManagement/dnsServerId: no DnsServer {dns.dns_server_id!r} "
                    f"(defined: {known})",
                    properties=["dnsManagement/dnsServerId"],
                    objectId=_object_id("DnsServer", dns.dns_server_id),
                )
        return target

    def _check_references(self, config: Config) -> None:
        problems: list[Problem] = [
            ("", f"{p.path}: {p.message}", None) for p in check_references(config)
        ]
        if problems:
            raise _failed(problems)

    def _validate(self, candidate: dict[str, Any], location: tuple[str, ...]) -> Config:
        try:
            config = type(self.config).model_validate(candidate)
        except ValidationError as exc:
            problems: list[Problem] = []
            errors = exc.errors(include_url=False)  # error_locations gives one per error
            located = error_locations(exc, candidate, self.registry)
            for (parts, message), error in zip(located, errors, strict=True):
                if tuple(parts[: len(location)]) == location:
                    rest = parts[len(location) :]
                    if not rest and "'@type'" in message:
                        rest = ["@type"]
                    problems.append((_property(rest), message, error))
                else:
                    problems.append(("", f"{_dotted(parts)}: {message}", error))
            raise _failed(problems) from None
        except RecursionError:
            raise _failed([("", "nested too deeply", None)]) from None
        return config

    def _check_secrets(
        self,
        target: BaseModel,
        document: dict[str, Any],
        current: dict[str, Any] | None,
        patch: Mapping[str, Any] | None,
    ) -> None:
        """Every secret of ``target`` (``document`` as JSON) is usable and the client's to use:
        one it sent is a value, or a file or variable ``[daemon.api]`` allows; one kept from
        ``current`` stays with the destination it was given for."""
        problems = []
        for path, secret in iter_secrets(target):
            tokens = path.split(".")
            name = "/".join(tokens)
            sent = current is None or _sent(patch or {}, tokens)
            if not sent:
                if _destination(document, tokens) != _destination(current or {}, tokens):
                    problems.append((name, REDIRECTED_SECRET))
                    continue
            elif not _may_read(secret, self.config.daemon.api):
                problems.append((name, FOREIGN_SECRET))
                continue
            try:
                secret.resolve()
            except SecretError as exc:  # a sent value cannot fail: a sent file or variable did
                problems.append((name, FOREIGN_SECRET if sent else exc.message))
        if problems:
            raise _invalid(problems)


def _may_read(secret: object, settings: ApiSettings) -> bool:
    """Whether a secret sent over the API names a file or variable ``[daemon.api]`` allows."""
    if isinstance(secret, SecretEnvironmentVariable):
        name = secret.variable_name
        return any(name.startswith(p) for p in settings.allowed_secret_variable_prefixes)
    if isinstance(secret, SecretFile):
        if not os.path.isabs(secret.file_path):
            return False
        real = os.path.realpath(secret.file_path)
        return any(
            os.path.commonpath([real, folder]) == folder and real != folder
            for folder in map(os.path.realpath, settings.allowed_secret_directories)
        )
    return True


def _sent(patch: Mapping[str, Any], tokens: list[str]) -> bool:
    """Whether ``patch`` holds the secret at ``tokens`` itself (not left out, not redacted)."""
    for pointer, value in patch.items():
        parts = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")]
        if tokens[: len(parts)] == parts:  # the secret itself, or an object holding it
            for token in tokens[len(parts) :]:
                value = value.get(token) if isinstance(value, dict) else None
            return value is not None and not _redacted(value)
        if parts[: len(tokens)] == tokens:  # a property of the secret, e.g. key/filePath
            return True
    return False


def _redacted(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and node.get("@type") in _LITERAL_SECRETS
        and node.get("secret") == REDACTED
    )


def _destination(document: Mapping[str, Any], tokens: list[str]) -> tuple[Any, ...] | None:
    parent: Any = document
    for token in tokens[:-1]:
        parent = parent.get(token) if isinstance(parent, dict) else None
    if not isinstance(parent, dict):
        return None
    return tuple(parent.get(key) for key in _SECRET_DESTINATION)


def _creation(properties: Mapping[str, Any]) -> dict[str, Any]:
    if "id" in properties:
        raise _invalid([("id", "server-set; leave it out")])
    return dict(properties)


def apply_patch(
    current: Mapping[str, Any], patch: Mapping[str, Any], *, object_id: str
) -> dict[str, Any]:
    """RFC 8620 §5.3's PatchObject: keys are JSON pointers without the leading ``/``; a null
    value removes the property (back to its default)."""
    document = copy.deepcopy(dict(current))
    for path in patch:
        parts = path.split("/")
        for end in range(1, len(parts)):
            if "/".join(parts[:end]) in patch:
                raise SetFailure("invalidPatch", f"{'/'.join(parts[:end])!r} and {path!r} overlap")
    for path, value in patch.items():
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")]
        if tokens[0] == "id":
            if len(tokens) > 1 or value != object_id:
                raise _invalid([("id", "server-set; cannot change")])
            continue
        target: Any = document
        for token in tokens[:-1]:
            if not isinstance(target, dict) or not isinstance(target.get(token), dict):
                raise SetFailure("invalidPatch", f"{path!r}: no object at {token!r}")
            target = target[token]
        if value is None:
            target.pop(tokens[-1], None)
        else:
            target[tokens[-1]] = copy.deepcopy(value)
    return document


def _keep_redacted_secrets(document: dict[str, Any], current: Mapping[str, Any] | None) -> None:
    """A secret sent back redacted (``{"@type": "Value", "secret": "********"}``) keeps the
    current secret at that place; with none there it is refused."""
    problems: list[tuple[str, str]] = []

    def walk(node: Any, old: Any, path: list[str]) -> Any:
        if isinstance(node, dict):
            if _redacted(node):
                if isinstance(old, dict) and old.get("@type") in {
                    *_LITERAL_SECRETS,
                    "EnvironmentVariable",
                    "File",
                }:
                    return copy.deepcopy(old)
                problems.append(("/".join(path), "send the secret itself, not the redacted one"))
                return node
            return {
                key: walk(value, old.get(key) if isinstance(old, dict) else None, [*path, key])
                for key, value in node.items()
            }
        return node

    restored = walk(document, current, [])
    if problems:
        raise _invalid(problems)
    document.clear()
    document.update(restored)


def _place(
    document: dict[str, Any], location: tuple[str, ...], value: dict[str, Any] | None
) -> dict[str, Any]:
    parent = document
    for key in location[:-1]:
        parent = parent.setdefault(key, {})
    if value is None:
        parent.pop(location[-1], None)
    else:
        parent[location[-1]] = value
    return document


def _at(config: Config, location: tuple[str, ...]) -> BaseModel:
    if location == ("bootstrap",):
        return config.bootstrap
    if location[0] == "dnsServer":
        return config.dns_server[location[1]]
    if location[0] == "domain":
        return config.domain[location[1]]
    raise DnsautoError(f"no object at {location}")  # pragma: no cover


def _property(parts: list[int | str]) -> str:
    return "/".join(str(p) for p in parts) or "(object)"


def _dotted(parts: list[int | str]) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"
