"""How results are shown: JSON documents, and tables and progress on a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click
import dns.rrset

from dnsauto.plugin.changes import Change, rrset_values

if TYPE_CHECKING:
    from dnsauto.sync.engine import DomainResult

__all__ = [
    "check_json",
    "plan_json",
    "print_check",
    "print_plan",
    "print_sync",
    "progress",
    "records_json",
    "sync_json",
    "table",
]


def records_json(rrsets: Sequence[dns.rrset.RRset]) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name.to_text(),
            "type": r.rdtype.name,
            "ttl": r.ttl,
            "values": rrset_values(r),
        }
        for r in rrsets
    ]


def _change_json(change: Any) -> dict[str, Any]:
    return {
        "action": change.action,
        "name": change.name.to_text(),
        "type": change.rdtype.name,
        "old": rrset_values(change.old),
        "new": rrset_values(change.new),
    }


def plan_json(results: Sequence[DomainResult]) -> dict[str, Any]:
    return {
        "domains": [
            {
                "domain": r.domain,
                "zone": r.zone,
                "changes": [_change_json(c) for c in r.changes],
                "warnings": r.warnings,
                "error": r.error,
            }
            for r in results
        ]
    }


def sync_json(results: Sequence[DomainResult]) -> dict[str, Any]:
    return {
        "domains": [
            {
                "domain": r.domain,
                "zone": r.zone,
                "changes": r.applied,
                "skipped": r.skipped,
                "propagated": r.propagated,
                "seconds": r.seconds,
                "lagging": r.propagation.lagging_nameservers if r.propagation else [],
                "missing": r.propagation.lagging if r.propagation else {},
                "error": r.error,
                "warnings": r.warnings,
                **({"instructions": r.instructions} if r.instructions else {}),
                **({"not_applied": _change_list(r.not_applied)} if r.not_applied else {}),
            }
            for r in results
        ]
    }


def _change_list(changes: Sequence[Change]) -> list[dict[str, str]]:
    return [{"name": c.name.to_text(), "type": c.rdtype.name, "action": c.action} for c in changes]


def check_json(results: Sequence[DomainResult]) -> dict[str, Any]:
    return {
        "domains": [
            {
                "domain": r.domain,
                "zone": r.zone,
                "live": r.propagated,
                "nameservers": r.propagation.nameservers if r.propagation else [],
                "missing": r.propagation.lagging if r.propagation else {},
                "error": r.error,
            }
            for r in results
        ]
    }


def print_check(results: Sequence[DomainResult]) -> None:
    for result in results:
        if result.error:
            click.echo(f"{result.domain}: error: {result.error}")
            continue
        outcome = result.propagation
        servers = len(outcome.nameservers) if outcome else 0
        if result.propagated:
            click.echo(f"{result.domain}: every record is live on all {servers} nameservers")
            continue
        click.echo(f"{result.domain}: not live everywhere")
        for server, problems in sorted((outcome.lagging if outcome else {}).items()):
            click.echo(f"  {server}:")
            for problem in problems:
                click.echo(f"    {problem}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on a terminal, tab-separated lines otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        grid = Table(*headers)
        for row in rows:
            grid.add_row(*(str(c) for c in row))
        Console().print(grid)
        return
    click.echo("\t".join(headers))
    for row in rows:
        click.echo("\t".join(str(c) for c in row))


def _warn(result: DomainResult) -> None:
    for warning in result.warnings:
        click.echo(f"warning: {result.domain}: {warning}", err=True)
    if result.error:
        click.echo(f"error: {result.domain}: {result.error}", err=True)


def print_plan(results: Sequence[DomainResult]) -> None:
    for result in results:
        _warn(result)
        if result.error:
            continue
        if not result.changes:
            click.echo(f"{result.domain} (zone {result.zone}): up to date")
            continue
        click.echo(f"{result.domain} (zone {result.zone}): {len(result.changes)} change(s)")
        for change in result.changes:
            sign = {"create": "+", "update": "~", "delete": "-"}[change.action]
            click.echo(f"  {sign} {change.name} {change.rdtype.name}")
            for value in rrset_values(change.old):
                if value not in rrset_values(change.new):
                    click.echo(f"      - {value}")
            for value in rrset_values(change.new):
                if value not in rrset_values(change.old):
                    click.echo(f"      + {value}")


def print_sync(results: Sequence[DomainResult], *, dry_run: bool) -> None:
    for result in results:
        for text in result.instructions:
            click.echo(text)
    if dry_run:
        print_plan(results)
        return
    for result in results:
        _warn(result)
    table(
        ["domain", "zone", "changes", "propagated", "seconds", "lagging", "result"],
        [
            [
                r.domain,
                r.zone or "-",
                r.applied,
                "yes" if r.propagated else "no",
                f"{r.seconds:.2f}",
                ", ".join(r.propagation.lagging_nameservers if r.propagation else []) or "-",
                _outcome(r),
            ]
            for r in results
        ],
    )


def _outcome(result: DomainResult) -> str:
    if result.error:
        return "failed"
    if result.instructions:
        return "to enter by hand"
    return f"ok (skipped: {result.skipped})" if result.skipped else "ok"


@contextlib.contextmanager
def progress(total: int, *, enabled: bool) -> Iterator[None]:
    """A spinner on stderr while domains are worked on (only on a terminal)."""
    if not enabled or total < 2:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(f"syncing {total} domains"):
        yield
