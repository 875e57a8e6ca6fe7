"""``dnsauto config check|forget``, ``schema`` and ``providers``: the configuration and
the installed plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dnsauto.cli.options import (
    config_option,
    config_path,
    echo_json,
    handle_errors,
    load,
    load_registry,
    with_api_objects,
)
from dnsauto.plugin.errors import ConfigError, DnsautoError

if TYPE_CHECKING:
    pass


@click.group("config")
def config_group() -> None:
    """Check or show the configuration."""


@config_group.command("check")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the normalized config as JSON.")
@click.pass_context
@handle_errors
def config_check(ctx: click.Context, as_json: bool) -> None:
    """Validate the file, read every secret, and print the normalized config (secrets hidden).

    The configuration shown is the one `dnsauto run` runs on: the file, with the objects set
    over the API (kept in the state store) winning object by object; they are named on stderr.
    Exit 0 when valid, 2 with one line per problem otherwise.
    """
    from dnsauto.config.loader import resolve_secrets

    path = config_path(ctx)
    config, registry = load(ctx)
    problems = resolve_secrets(config, path)
    if problems:
        raise ConfigError(problems)
    config, overrides = with_api_objects(config, registry)
    problems = resolve_secrets(config, "objects set over the API")
    if problems:
        raise ConfigError(problems)
    if as_json:
        echo_json(config.model_dump(mode="json"))
    else:
        document = config.model_dump(mode="json", context={"durations_as_text": True})
        from dnsauto.config.render import to_toml

        click.echo(to_toml(document))
    for line in overrides:
        click.echo(f"# {line}", err=True)
    if not as_json:
        click.echo(f"# {path}: valid", err=True)


@config_group.command("forget")
@config_option
@click.argument("kind", type=click.Choice(["Bootstrap", "DnsServer", "Domain"]))
@click.argument("object_id", metavar="ID", required=False)
@click.pass_context
@handle_errors
def config_forget(ctx: click.Context, kind: str, object_id: str | None) -> None:
    """Drop what the API set (or destroyed) for one object, so it follows the file again.

    ID is the DnsServer id or the domain name (none for Bootstrap). A running daemon picks the
    change up on SIGHUP (`systemctl reload dnsauto`).
    """
    from dnsauto.config.overlay import SINGLETON

    if (kind == "Bootstrap") == (object_id is not None):
        raise click.UsageError("give an ID for DnsServer and Domain, none for Bootstrap")
    config, _ = load(ctx)
    if object_id is None:
        key = SINGLETON
    else:
        key = object_id.rstrip(".").lower() if kind == "Domain" else object_id
    with config.daemon.open_store() as store:
        if not store.delete_object(kind, key):
            raise DnsautoError(f"the API set nothing for {kind} {key}")
    click.echo(f"{kind} {key}: follows the configuration file again")


@click.command("schema")
@config_option
@handle_errors
def schema() -> None:
    """Print the JSON Schema of the configuration file (for the installed providers).

    The schema does not depend on the file: ``--config`` is accepted, as by every command,
    and not read. Durations are integer milliseconds, as Stalwart writes them.
    """
    from dnsauto.config.loader import config_model
    from dnsauto.plugin.types import StalwartJsonSchema

    model = config_model(load_registry())
    echo_json(model.model_json_schema(by_alias=True, schema_generator=StalwartJsonSchema))


@click.command("providers")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def providers(as_json: bool) -> None:
    """List the installed provider plugins (and any that failed to load, with why)."""
    registry = load_registry()
    rows = [
        {
            "type": info.type_name,
            "distribution": info.distribution,
            "version": info.version,
            "recordTypes": sorted(t.name for t in info.provider_class.capabilities.record_types),
        }
        for info in registry
    ]
    rows += [
        {"type": name, "distribution": "?", "version": "?", "recordTypes": [], "error": why}
        for name, why in sorted(registry.broken.items())
    ]
    if as_json:
        echo_json(rows)
        return
    from dnsauto.cli.output import table

    table(
        ["@type", "distribution", "version", "record types"],
        [
            [
                r["type"],
                r["distribution"],
                r["version"],
                r.get("error") or " ".join(r["recordTypes"]),
            ]
            for r in rows
        ],
    )
