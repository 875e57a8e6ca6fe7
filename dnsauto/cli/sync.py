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
    writing_engine,
)

if TYPE_CHECKING:
    from dns.name import Name
    from dns.rrset import RRset

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
    """Print the records each domain needs, under the zone each belongs to (DKIM keys are
    made once and kept). A record in another configured domain's zone is that domain's sync's
    to publish."""
    from dnsauto.cli.output import records_json
    from dnsauto.records.dkim import DkimKeyStore
    from dnsauto.records.zonefile import to_zone_text
    from dnsauto.sync.desired import by_zone
    from dnsauto.sync.engine import desired_records, domain_jobs
    from dnsauto.sync.jobs import configured_zones

    config, _, store = load_merged(ctx)
    zones = configured_zones(config)
    everything = []
    with store:
        keys = DkimKeyStore(store)
        for job in domain_jobs(config, domains):
            here, elsewhere = by_zone(job, desired_records(config, job, keys), zones)
            groups: list[tuple[Name, str | None, list[RRset]]] = [(job.zone_name, job.domain, here)]
            groups += [(e.zone, e.domain, e.rrsets) for e in elsewhere]
            for zone, publisher, rrsets in groups:
                if fmt == "zone":
                    by = "" if publisher == job.domain else f", published by {publisher}'s sync"
                    click.echo(f"; {job.domain} ({', '.join(job.publish)}): zone {zone}{by}")
                    click.echo(to_zone_text(rrsets))
                everything.extend(records_json(rrsets, zone=zone))
    if fmt == "json":
        echo_json(everything)


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

    With [daemon.cluster], it syncs only the domains whose leases it can take (no node holds
    them: the nodes are stopped, or one died), and names the node that holds each other one.
    With the Manual provider it prints the zone fragment to enter by hand. With [acme]
    obtainCertificates, once the records are live it orders the ACME certificates that are due
    (see `dnsauto certs`). Exit 0 when every domain (and certificate) is done, 1 when any
    failed, 2 for a configuration error.
    """
    from dnsauto.cli.output import print_sync, sync_json

    config, registry, store = load_merged(ctx)
    if not dry_run:
        with store:
            failed = _streamed(config, registry, store, domains, force, not no_wait, as_json)
        if failed:
            raise ExitStatus(1)
        return
    with store:
        results = _run(config, registry, store, domains, apply=False)
    if as_json:
        echo_json(sync_json(results))
    else:
        print_sync(results, dry_run=dry_run)
    if any(r.error for r in results):
        raise ExitStatus(1)


def _streamed(
    config: Config,
    registry: Registry,
    store: StateStore,
    domains: Sequence[str],
    force: bool,
    wait: bool,
    as_json: bool,
) -> int:
    """Sync, writing each domain's outcome as it ends (memory flat in the number of
    domains), then, when it waited for the records, order the ACME certificates due of the
    domains that synced; the number of domains and certificates that failed."""
    from dnsauto.cli.certs import certificates_json, print_certificates
    from dnsauto.cli.output import SyncStream, progress
    from dnsauto.sync.engine import domain_jobs

    jobs = domain_jobs(config, domains)
    output = SyncStream(as_json=as_json)
    certificates: list[Any] = []

    async def go() -> None:
        synced: set[str] = set()
        async with writing_engine(config, registry, store, [j.domain for j in jobs]) as engine:
            with progress(len(jobs), enabled=on_terminal()):
                async for index, result in engine.stream(jobs, apply=True, force=force, wait=wait):
                    output.add(index, result)
                    if result.error is None:
                        synced.add(result.domain)
            if wait:
                certificates.extend(await _obtain(config, engine, synced, domains))

    import asyncio  # here, not at load: with ssl it is a third of --help

    asyncio.run(go())
    output.close({"certificates": certificates_json(certificates)} if certificates else {})
    if not as_json:
        print_certificates(certificates)
    return output.failed + sum(1 for c in certificates if c.failed)


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
    """Run the engine: a check, or a sync that may write nothing (``apply``)."""
    from dnsauto.cli.output import progress
    from dnsauto.sync.engine import Engine, domain_jobs

    jobs = domain_jobs(config, domains)

    async def go() -> list[Any]:
        async with Engine(config, registry, store=store) as engine:
            with progress(len(jobs), enabled=on_terminal()):
                if check_only:
                    return await engine.check(jobs)
                return await engine.run(jobs, apply=apply, force=force, wait=wait)

    import asyncio  # here, not at load: with ssl it is a third of --help

    return asyncio.run(go())


async def _obtain(
    config: Config, engine: Any, synced: set[str], domains: Sequence[str]
) -> list[Any]:
    """The certificate orders due, for the domains whose records are live (a domain that
    failed could not publish its challenges either)."""
    from dnsauto.acme.orders import Orders, certificate_requests

    requests = certificate_requests(config, domains)
    if not requests:
        return []
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
