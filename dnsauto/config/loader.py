"""Reading a configuration document into a :class:`~dnsauto.config.model.Config`.

Every problem becomes one :class:`~dnsauto.plugin.errors.ConfigProblem` at a dotted path
(``dnsServer.primary.port``), never a traceback, and never with a secret's value in it.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dnsauto.config import DEFAULT_CONFIG_PATH
from dnsauto.config.daemon import api_key_strength_problem
from dnsauto.config.model import Config, build_config_model, check_references
from dnsauto.plugin.errors import ConfigError, ConfigProblem, SecretError
from dnsauto.plugin.registry import Registry, load_registry
from dnsauto.plugin.types import SECRET_FILE_BASE, iter_secrets, quoted

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "config_model",
    "error_locations",
    "format_path",
    "load_config",
    "load_config_file",
    "problems_from_validation_error",
    "resolve_secrets",
]


def config_model(registry: Registry | None = None) -> type[Config]:
    """The Config model for the installed providers."""
    registry = registry if registry is not None else load_registry()
    return build_config_model(registry.settings_models())


def load_config_file(path: str | os.PathLike[str], registry: Registry | None = None) -> Config:
    """Read and validate a TOML (or, by extension, JSON) configuration file."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror}", source=source) from None
    document = _parse(raw, source, json_document=source.endswith(".json"))
    folder = Path(path).resolve().parent
    config = load_config(document, registry=registry, source=source, base=folder)
    return _anchor_paths(config, folder)


def load_config(
    document: Any,
    *,
    registry: Registry | None = None,
    source: str = "<config>",
    base: Path | None = None,
) -> Config:
    """Validate a parsed configuration document; raises :class:`ConfigError`.

    Relative secret ``filePath`` values are relative to ``base`` (the file's folder), if given.
    """
    if not isinstance(document, Mapping):
        raise ConfigError("the configuration must be a table of settings", source=source)
    registry = registry if registry is not None else load_registry()
    model = config_model(registry)
    context = {SECRET_FILE_BASE: str(base)} if base is not None else None
    try:
        config = model.model_validate(document, context=context)
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, document, registry, source)
        raise ConfigError(problems) from None
    except RecursionError:
        raise ConfigError("the configuration is nested too deeply", source=source) from None
    problems = [ConfigProblem(p.path, p.message, source) for p in check_references(config)]
    if problems:
        raise ConfigError(problems)
    return config


def resolve_secrets(config: Config, source: str = "") -> list[ConfigProblem]:
    """Try every secret of the configuration; the problems of those that cannot be read."""
    problems = []
    for path, secret in iter_secrets(config):
        try:
            secret.resolve()
        except SecretError as exc:
            problems.append(ConfigProblem(path, exc.message, source))
    return problems + _weak_api_keys(config, source)


def _weak_api_keys(config: Config, source: str) -> list[ConfigProblem]:
    problems = []
    for index, key in enumerate(config.daemon.api.keys):
        try:
            secret = key.secret.resolve()
        except SecretError:
            continue  # reported with the other secrets
        message = api_key_strength_problem(key.name, secret)
        if message is not None:
            problems.append(ConfigProblem(f"daemon.api.keys[{index}].secret", message, source))
    return problems


def _parse(raw: bytes, source: str, *, json_document: bool) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", source=source) from None
    try:
        return json.loads(text) if json_document else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=source) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ConfigError(f"invalid JSON: {exc}", source=source) from None
    except ValueError:  # Python reads no integer of more than 4300 digits (int_max_str_digits)
        raise _integers_too_long(text, source, json_document=json_document) from None


_LONG_INTEGER = re.compile(r"[0-9][0-9_]{4000,}")
_PLACEHOLDER = "dnsauto-long-integer-{}"


def _integers_too_long(text: str, source: str, *, json_document: bool) -> ConfigError:
    """The error for integers too long to read, at their paths: each is read again as a
    placeholder string, to find where it is."""
    digits: list[int] = []

    def placeholder(match: re.Match[str]) -> str:
        digits.append(len(match.group().replace("_", "")))
        return json.dumps(_PLACEHOLDER.format(len(digits) - 1))

    try:
        readable = _LONG_INTEGER.sub(placeholder, text).encode()
        document = _parse(readable, source, json_document=json_document)
    except ConfigError:
        document = None
    problems = [
        ConfigProblem(
            format_path(path), f"an integer of {digits[i]} digits is out of range", source
        )
        for path, i in _placeholders(document, [])
    ]
    if not problems:
        return ConfigError("an integer is too long to read (more than 4300 digits)", source=source)
    return ConfigError(problems)


def _placeholders(node: Any, path: list[int | str]) -> list[tuple[list[int | str], int]]:
    if isinstance(node, str) and node.startswith(_PLACEHOLDER.format("")):
        return [(path, int(node.removeprefix(_PLACEHOLDER.format(""))))]
    if isinstance(node, Mapping):
        return [
            found for key, value in node.items() for found in _placeholders(value, [*path, key])
        ]
    if isinstance(node, list):
        return [found for i, value in enumerate(node) for found in _placeholders(value, [*path, i])]
    return []


def _anchor_paths(config: Config, base: Path) -> Config:
    """Relative paths in the file are relative to the file's folder, not the working one."""
    daemon = config.daemon
    mail = config.mail_server
    return config.model_copy(
        update={
            "daemon": daemon.model_copy(update={"state_dir": str(base / daemon.state_dir)}),
            "mail_server": mail.model_copy(
                update={"tlsa_certificates": tuple(str(base / p) for p in mail.tlsa_certificates)}
            ),
        }
    )


# --- turning pydantic's errors into problems ----------------------------------------------------

_MESSAGE_LIMIT = 300

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "missing required field",
    "union_tag_not_found": "missing '@type'",
}


def problems_from_validation_error(
    exc: ValidationError, document: Any, registry: Registry, source: str
) -> list[ConfigProblem]:
    problems: dict[tuple[str, str], ConfigProblem] = {}
    for parts, message in error_locations(exc, document, registry):
        path = format_path(parts)
        problems.setdefault((path, message), ConfigProblem(path, message, source))
    return list(problems.values())


def error_locations(
    exc: ValidationError, document: Any, registry: Registry
) -> list[tuple[list[int | str], str]]:
    """Each error as (its location in ``document``, a message), the union tags left out."""
    found = []
    for error in exc.errors(include_url=False):
        parts = _strip_tags(error["loc"], document)
        if error["type"] == "union_tag_invalid":
            parts.append("@type")
        found.append((parts, _message(error, registry, parts)))
    return found


def _message(error: Any, registry: Registry, parts: Sequence[int | str]) -> str:
    kind = error["type"]
    tag_error = kind == "literal_error" and parts and parts[-1] == "@type"
    if kind == "union_tag_invalid" or tag_error:
        ctx = error.get("ctx", {})
        tag = str(ctx.get("tag", error.get("input", "")))
        expected = ctx.get("expected_tags", ctx.get("expected", ""))
        if registry.get(tag) is None and (tag in _known_types() or tag in registry.broken):
            return registry.missing_message(tag)
        return f"unknown @type {quoted(tag)}; expected one of {expected}"
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if len(message) > _MESSAGE_LIMIT:  # a message that echoes its input whole
        message = f"{message[:_MESSAGE_LIMIT]}… ({len(message)} characters)"
    return message


def _known_types() -> set[str]:
    from dnsauto.plugin.registry import KNOWN_DISTRIBUTIONS

    return set(KNOWN_DISTRIBUTIONS)


def _strip_tags(loc: Sequence[int | str], document: Any) -> list[int | str]:
    """Drop the ``@type`` values pydantic inserts into locations inside tagged unions."""
    path: list[int | str] = []
    node = document
    for part in loc:
        if part == "[key]":  # the error is about the key that the path already ends in
            continue
        if isinstance(node, Mapping):
            if part in node:
                node = node[part]
                path.append(part)
                continue
            if node.get("@type") == part:
                continue
            path.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(part, str) and part in {"function-after", "function-before"}:
            continue
        else:
            path.append(part)
            node = None
    return path


def format_path(parts: Sequence[int | str]) -> str:
    """The dotted path of a location: ``domain."example.org".publishRecords[2]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if _bare_key(part) else json.dumps(part)
        text += f".{key}" if text else key
    return text or "(top level)"


def _bare_key(key: str) -> bool:
    return bool(key) and all(c.isalnum() or c in "_-@" for c in key)
