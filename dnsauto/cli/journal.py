"""``dnsauto journal`` and ``dnsauto restore``: read the journal, and undo a run with it.

Registered on the ``dnsauto`` group by importing this module from :mod:`dnsauto.cli`. The state
store (and SQLAlchemy) is imported inside the commands, so ``dnsauto --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from dnsauto.cli.options import (
    ExitStatus,
    config_option,
    echo_json,
    handle_errors,
    load,
    load_merged,
    writing_engine,
)

if TYPE_CHECKING:
    from dnsauto.state.store import JournalEntry
    from dnsauto.sync.engine import DomainResult

__all__ = ["journal", "restore"]


def entry_json(entry: JournalEntry) -> dict[str, Any]:
    """A journal entry as JSON: the dataclass fields, the time in ISO 8601 (UTC)."""
    return {
        "id": entry.id,
        "run": entry.run_id,
        "time": entry.time.isoformat(),
        "domain": entry.domain,
        "zone": entry.zone,
        "name": entry.name,
        "type": entry.type,
        "action": entry.action,
        "ttl": entry.ttl,
        "oldTtl": entry.old_ttl,
        "old": entry.old,
        "new": entry.new,
        "status": entry.status,
        "error": entry.error,
    }


def _values(values: Sequence[str]) -> str:
    return " ".join(values) if values else "-"


@click.command("journal")
@config_option
@click.option("--domain", "-d", metavar="DOMAIN", help="Only this domain's changes.")
@click.option("--run", "run_id", metavar="ID", help="Only the changes of this run.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def journal(ctx: click.Context, domain: str | None, run_id: str | None, as_json: bool) -> None:
    """List every change dnsauto applied, oldest first: what it replaced and what it wrote.

    Each change was written here before the provider was asked to make it; ``pending`` means
    the provider never answered (dnsauto stopped meanwhile), ``failed`` that it refused.
    """

    config, _ = load(ctx)
    with config.daemon.open_store() as store:
        entries = store.journal(domain=domain, run_id=run_id)
    if as_json:
        echo_json([entry_json(e) for e in entries])
        return
    if not entries:
        click.echo("no journaled changes", err=True)
        return
    from dnsauto.cli.output import table

    table(
        ["id", "time (UTC)", "run", "domain", "action", "name", "type", "old", "new", "status"],
        [
            [
                e.id,
                e.time.strftime("%Y-%m-%d %H:%M:%S"),
                e.run_id,
                e.domain,
                e.action,
                e.name,
                e.type,
                _values(e.old),
                _values(e.new),
                e.status if e.error is None else f"{e.status}: {e.error}",
            ]
            for e in entries
        ],
    )


def restore_json(
    run_id: str, restored_by: str | None, results: Sequence[DomainResult]
) -> dict[str, Any]:
    """``run`` undone, ``restoreRun`` (the restore's own run; null for a dry run), domains."""
    from dnsauto.cli.output import _change_json

    return {
        "run": run_id,
        "restoreRun": restored_by,
        "domains": [
            {
                "domain": r.domain,
                "zone": r.zone,
                "changes": [_change_json(c) for c in r.changes],
                "applied": r.applied,
                "conflicts": r.conflicts,
                "error": r.error,
            }
            for r in results
        ],
    }


def _print_restore(run_id: str, restored_by: str, results: Sequence[DomainResult]) -> None:
    for result in results:
        click.echo(f"{result.domain} (zone {result.zone}): {len(result.changes)} change(s)")
        for change in result.changes:
            old = _values([r.to_text() for r in change.old] if change.old is not None else [])
            new = _values([r.to_text() for r in change.new] if change.new is not None else [])
            click.echo(f"  {change.action:6} {change.name} {change.rdtype.name}: {old} -> {new}")
        for conflict in result.conflicts:
            click.echo(f"  conflict: {conflict}")
        if result.error and not result.conflicts:
            click.echo(f"  error: {result.error}")
    done = sum(r.applied for r in results)
    click.echo(f"run {run_id}: {done} change(s) restored as run {restored_by}", err=True)


@click.command("restore")
@config_option
@click.option("--run", "run_id", required=True, metavar="ID", help="The run to undo.")
@click.option("--dry-run", is_flag=True, help="Show what would be put back; write nothing.")
@click.option("--wait", is_flag=True, help="Wait until every nameserver serves the result.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def restore(ctx: click.Context, run_id: str, dry_run: bool, wait: bool, as_json: bool) -> None:
    """Undo a run: put back what it replaced or deleted, and remove what it created.

    A record set changed since that run is a conflict: it is reported and left as it is, and
    the exit status is 1. The restore is itself a run in the journal, so it can be undone in
    turn. A later sync writes the configured records again. With [daemon.cluster] it
    restores only the domains whose leases it can take, as `dnsauto sync`.
    """
    config, registry, store = load_merged(ctx)

    async def go() -> tuple[str, list[DomainResult]]:
        domains = {entry.domain for entry in store.journal(run_id=run_id)}
        # a dry run writes nothing: it needs no lease
        async with writing_engine(config, registry, store, domains, cluster=not dry_run) as engine:
            results = await engine.restore(run_id, apply=not dry_run, wait=wait and not dry_run)
            return engine.run_id, results

    with store:
        import asyncio  # here, not at load: with ssl it is a third of --help

        restored_by, results = asyncio.run(go())
    if as_json:
        echo_json(restore_json(run_id, None if dry_run else restored_by, results))
    else:
        _print_restore(run_id, "(dry run)" if dry_run else restored_by, results)
    if any(r.error for r in results):
        raise ExitStatus(1)
