"""``dnsauto records|plan|sync|check``: one sync of the configured domains, from the
command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from dnsauto.cli.options import (
    ExitStatus,
    config_option,
    domain_option,
    echo_json,
    handle_errors,
    load_merged,
    on_terminal,
)

if TYPE_CHECKING:
    from dnsauto.config.model import Config
    from dnsauto.plugin.registry import Registry
    from dnsauto.state.store import StateStore


@click.command("records")
@config_option
@domain_option
@click.option(
    "--format", "fmt", type=click.Choice(["zone", "json"]), default="zone", show_default=True
)
@click.pass_context
@handle_errors
def records(ctx: click.Context, domains: Sequence[str], fmt: str) -> None:
    """Print the records each domain needs (DKIM keys are made once and kept)."""
    from dnsauto.cli.output import records_json
    from dnsauto.records.dkim import DkimKeyStore
    from dnsauto.records.zonefile import to_zone_text
    from dnsauto.sync.engine import desired_records, domain_jobs

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


@click.command("plan")
@config_option
@domain_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def plan(ctx: click.Context, domains: Sequence[str], as_json: bool) -> None:
    """Show the changes a sync would make, without writing anything."""
    from dnsauto.cli.output import plan_json, print_plan

    config, registry, store = load_merged(ctx)
    with store:
        results = _run(config, registry, store, domains, apply=False)
    if as_json:
        echo_json(plan_json(results))
    else:
        print_plan(results)
    if any(r.error for r in results):
        raise ExitStatus(1)


@click.command("sync")
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

    With the Manual provider it prints the zone fragment to enter by hand. With [acme]
    obtainCertificates, once the records are live it orders the ACME certificates that are due
    (see `dnsauto certs`). Exit 0 when every domain (and certificate) is done, 1 when any
    failed, 2 for a configuration error.
    """
    from dnsauto.cli.certs import certificates_json, print_certificates
    from dnsauto.cli.output import print_sync, sync_json

    config, registry, store = load_merged(ctx)
    certificates: list[Any] = []
    with store:
        results = _run(
            config,
            registry,
            store,
            domains,
            apply=not dry_run,
            force=force,
            wait=not (dry_run or no_wait),
            certificates=certificates,
        )
    if as_json:
        out = sync_json(results)
        if certificates:
            out["certificates"] = certificates_json(certificates)
        echo_json(out)
    else:
        print_sync(results, dry_run=dry_run)
        print_certificates(certificates)
    if any(r.error for r in results) or any(c.failed for c in certificates):
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
    certificates: list[Any] | None = None,
) -> list[Any]:
    """Run the engine; with ``certificates`` (a sync that waits), then the ACME orders due of
    the domains that synced (their outcomes are appended to it)."""
    from dnsauto.cli.output import progress
    from dnsauto.sync.engine import Engine, domain_jobs

    jobs = domain_jobs(config, domains)

    async def go() -> list[Any]:
        async with Engine(config, registry, store=store) as engine:
            with progress(len(jobs), enabled=on_terminal()):
                if check_only:
                    return await engine.check(jobs)
                results = await engine.run(jobs, apply=apply, force=force, wait=wait)
            if certificates is not None and apply and wait:
                certificates.extend(await _obtain(config, engine, results, domains))
            return results

    import asyncio  # here, not at load: with ssl it is a third of --help

    return asyncio.run(go())


async def _obtain(
    config: Config, engine: Any, results: Sequence[Any], domains: Sequence[str]
) -> list[Any]:
    """The certificate orders due, for the domains whose records are live (a domain that
    failed could not publish its challenges either)."""
    from dnsauto.acme.orders import Orders, certificate_requests

    requests = certificate_requests(config, domains)
    if not requests:
        return []
    synced = {r.domain for r in results if r.error is None}
    orders = Orders(config, engine.store, engine.provider, engine.checker, run_id=engine.run_id)
    return await orders.run([r for r in requests if r.domain in synced])


@click.command("check")
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
    from dnsauto.cli.output import check_json, print_check

    config, registry, store = load_merged(ctx)
    with store:
        results = _run(config, registry, store, domains, apply=False, check_only=True)
    if as_json:
        echo_json(check_json(results))
    else:
        print_check(results)
    if any(r.error or not r.propagated for r in results):
        raise ExitStatus(1)
