"""The ``dnsauto`` command line.

Exit status: 0 when everything worked, 1 when a domain failed, 2 for a configuration error.
Output is plain text or JSON when not on a terminal; tables and progress on a terminal.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dnsauto import __version__
from dnsauto.config import DEFAULT_CONFIG_PATH
from dnsauto.errors import ConfigError, DnsautoError

if TYPE_CHECKING:
    from dnsauto.config.model import Config
    from dnsauto.provider import Registry
    from dnsauto.state import StateStore

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = f"Configuration file (env DNSAUTO_CONFIG; default {DEFAULT_CONFIG_PATH})."


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def config_option(func: F) -> F:
    """``--config FILE``, accepted before or after the command name."""
    return click.option(
        "--config",
        "-c",
        metavar="FILE",
        help=CONFIG_HELP,
        expose_value=False,
        is_eager=True,
        callback=_remember_config,
    )(func)


def _config_path(ctx: click.Context) -> str:
    root = ctx.find_root()
    chosen = (root.obj or {}).get("config") or (ctx.obj or {}).get("config")
    return str(chosen or os.environ.get("DNSAUTO_CONFIG") or DEFAULT_CONFIG_PATH)


class ExitStatus(Exception):
    """Ends a command with an exit status after its message was printed."""

    def __init__(self, status: int) -> None:
        self.status = status


def handle_errors(func: F) -> F:
    """Print dnsauto's errors as plain lines and exit 2 (config) or 1 (anything else)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            raise SystemExit(2) from None
        except DnsautoError as exc:
            click.echo(f"error: {exc.message}", err=True)
            raise SystemExit(1) from None
        except ExitStatus as exc:
            raise SystemExit(exc.status) from None

    return wrapper  # type: ignore[return-value]


def load_registry() -> Registry:
    """The installed providers (imported here, not at start-up: ``--help`` stays fast)."""
    from dnsauto.provider import load_registry as load_installed

    return load_installed()


def load(ctx: click.Context) -> tuple[Config, Registry]:
    from dnsauto.config.loader import load_config_file

    registry = load_registry()
    return load_config_file(_config_path(ctx), registry), registry


def load_merged(ctx: click.Context) -> tuple[Config, Registry, StateStore]:
    """What the daemon runs on: the file, with the objects set over the API (kept in the state
    store) winning object by object; each of them is named on stderr.

    The state store stays open for the command, which closes it: a process keeps one store.
    """
    from dnsauto.api.objects import describe_overrides, effective_config
    from dnsauto.state import StateStore

    config, registry = load(ctx)
    store = StateStore(config.daemon.state_dir)
    try:
        merged = effective_config(config, store, registry=registry)
        overrides = describe_overrides(store)
    except BaseException:
        store.close()
        raise
    for line in overrides:
        click.echo(f"note: {line} (wins over the file)", err=True)
    return merged, registry, store


def on_terminal() -> bool:
    return sys.stdout.isatty()


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@config_option
@click.option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="dnsauto")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Publish every DNS record a mail domain needs, and prove it is live.

    dnsauto reads Stalwart-style Bootstrap, DnsServer and Domain objects from a TOML file,
    works out the records (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV, autoconfig, CAA,
    TLSA), and publishes them through a DNS provider plugin, keeping every foreign record.

    records, plan, sync, check, restore and status run on what `dnsauto run` runs on: the
    file, with the objects set over the API (kept in the state store) winning; those are named
    on stderr.
    """
    ctx.ensure_object(dict)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


# --- config -------------------------------------------------------------------------------------


@cli.group("config")
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

    path = _config_path(ctx)
    config, registry = load(ctx)
    problems = resolve_secrets(config, path)
    if problems:
        raise ConfigError(problems)
    config, overrides = _with_api_objects(config, registry)
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


def _with_api_objects(config: Config, registry: Registry) -> tuple[Config, list[str]]:
    """The effective configuration and the objects the API overrides, when a state store
    exists (none is made here)."""
    from pathlib import Path

    from dnsauto.api.objects import describe_overrides, effective_config
    from dnsauto.state import DB_FILE, StateStore

    try:
        if not (Path(config.daemon.state_dir) / DB_FILE).exists():
            return config, []
        store = StateStore(config.daemon.state_dir)
    except (OSError, DnsautoError) as exc:
        reason = exc.message if isinstance(exc, DnsautoError) else exc.strerror
        return config, [f"objects set over the API not shown: cannot read the state: {reason}"]
    with store:
        return effective_config(config, store, registry=registry), describe_overrides(store)


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
    from dnsauto.api.objects import SINGLETON
    from dnsauto.state import StateStore

    if (kind == "Bootstrap") == (object_id is not None):
        raise click.UsageError("give an ID for DnsServer and Domain, none for Bootstrap")
    config, _ = load(ctx)
    if object_id is None:
        key = SINGLETON
    else:
        key = object_id.rstrip(".").lower() if kind == "Domain" else object_id
    with StateStore(config.daemon.state_dir) as store:
        if not store.delete_object(kind, key):
            raise DnsautoError(f"the API set nothing for {kind} {key}")
    click.echo(f"{kind} {key}: follows the configuration file again")


@cli.command("schema")
def schema() -> None:
    """Print the JSON Schema of the configuration file (for the installed providers)."""
    from dnsauto.config.loader import config_model

    model = config_model(load_registry())
    echo_json(model.model_json_schema(by_alias=True))


@cli.command("providers")
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
    from dnsauto.output import table

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


# --- records, plan, sync ------------------------------------------------------------------------

domain_option = click.option(
    "--domain",
    "-d",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="Only this domain (repeatable).",
)


@cli.command("records")
@config_option
@domain_option
@click.option(
    "--format", "fmt", type=click.Choice(["zone", "json"]), default="zone", show_default=True
)
@click.pass_context
@handle_errors
def records(ctx: click.Context, domains: Sequence[str], fmt: str) -> None:
    """Print the records each domain needs (DKIM keys are made once and kept)."""
    from dnsauto.engine import desired_records, domain_jobs
    from dnsauto.output import records_json
    from dnsauto.records.dkim import DkimKeyStore
    from dnsauto.records.zonefile import to_zone_text

    config, _, store = load_merged(ctx)
    everything = []
    with store:
        keys = DkimKeyStore(store)
        for job in domain_jobs(config, domains):
            rrsets = desired_records(config, job, keys)
            if fmt == "zone":
                click.echo(f"; {job.domain} ({', '.join(job.publish)})")
                click.echo(to_zone_text(rrsets))
            everything.extend(rrsets)
    if fmt == "json":
        echo_json(records_json(everything))


@cli.command("plan")
@config_option
@domain_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def plan(ctx: click.Context, domains: Sequence[str], as_json: bool) -> None:
    """Show the changes a sync would make, without writing anything."""
    from dnsauto.output import plan_json, print_plan

    config, registry, store = load_merged(ctx)
    with store:
        results = _run(config, registry, store, domains, apply=False)
    if as_json:
        echo_json(plan_json(results))
    else:
        print_plan(results)
    if any(r.error for r in results):
        raise ExitStatus(1)


@cli.command("sync")
@config_option
@domain_option
@click.option("--dry-run", is_flag=True, help="Plan only; write nothing.")
@click.option("--no-wait", is_flag=True, help="Do not wait for the records to propagate.")
@click.option("--force", is_flag=True, help="Apply a plan that replaces much of a zone.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def sync(
    ctx: click.Context,
    domains: Sequence[str],
    dry_run: bool,
    no_wait: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Publish the records of every domain (or the chosen ones).

    With the Manual provider it prints the zone fragment to enter by hand.
    Exit 0 when every domain is done, 1 when any failed, 2 for a configuration error.
    """
    from dnsauto.output import print_sync, sync_json

    config, registry, store = load_merged(ctx)
    with store:
        results = _run(
            config,
            registry,
            store,
            domains,
            apply=not dry_run,
            force=force,
            wait=not (dry_run or no_wait),
        )
    if as_json:
        echo_json(sync_json(results))
    else:
        print_sync(results, dry_run=dry_run)
    if any(r.error for r in results):
        raise ExitStatus(1)


def _run(
    config: Config,
    registry: Registry,
    store: StateStore,
    domains: Sequence[str],
    *,
    apply: bool,
    force: bool = False,
    wait: bool = False,
    check_only: bool = False,
) -> list[Any]:
    from dnsauto.engine import Engine, domain_jobs
    from dnsauto.output import progress

    jobs = domain_jobs(config, domains)

    async def go() -> list[Any]:
        async with Engine(config, registry, store=store) as engine:
            with progress(len(jobs), enabled=on_terminal()):
                if check_only:
                    return await engine.check(jobs)
                return await engine.run(jobs, apply=apply, force=force, wait=wait)

    return asyncio.run(go())


@cli.command("check")
@config_option
@domain_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, domains: Sequence[str], as_json: bool) -> None:
    """Compare what every authoritative nameserver serves with the desired records.

    Writes nothing. Exit 0 when every record is live everywhere, 1 otherwise. With the Manual
    provider this is how to learn whether the records entered by hand are right.
    """
    from dnsauto.output import check_json, print_check

    config, registry, store = load_merged(ctx)
    with store:
        results = _run(config, registry, store, domains, apply=False, check_only=True)
    if as_json:
        echo_json(check_json(results))
    else:
        print_check(results)
    if any(r.error or not r.propagated for r in results):
        raise ExitStatus(1)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="dnsauto")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(130) from None


import dnsauto.commands_state  # noqa: E402, F401  (registers `journal` and `restore`)
from dnsauto import (  # noqa: E402
    commands_api,  # noqa: F401  (registers `get`, `create`, `update`, `delete`, `query`)
    commands_daemon,  # noqa: F401  (registers `run` and `status`)
)
