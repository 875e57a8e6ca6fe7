"""How results are shown: JSON documents, and tables and progress on a terminal."""

from __future__ import annotations

import contextlib
import json
import sys
import textwrap
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click
import dns.name
import dns.rrset

from dnsauto.plugin.changes import Change, rrset_values

if TYPE_CHECKING:
    from dnsauto.sync.engine import DomainResult

__all__ = [
    "SyncStream",
    "check_json",
    "plan_json",
    "print_check",
    "print_plan",
    "print_sync",
    "progress",
    "records_json",
    "sync_json",
    "sync_row",
    "table",
]


def records_json(
    rrsets: Sequence[dns.rrset.RRset], *, zone: dns.name.Name | None = None
) -> list[dict[str, Any]]:
    return [
        {
            **({"zone": zone.to_text()} if zone is not None else {}),
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
                "elsewhere": [
                    {
                        "zone": e.zone.to_text(),
                        "domain": e.domain,
                        "records": [{"name": n.to_text(), "type": t.name} for n, t in e.keys],
                    }
                    for e in (r.plan.elsewhere if r.plan is not None else [])
                ],
                "warnings": r.warnings,
                "error": r.error,
            }
            for r in results
        ]
    }


def sync_json(results: Sequence[DomainResult]) -> dict[str, Any]:
    return {"domains": [sync_row(r) for r in results]}


def sync_row(r: DomainResult) -> dict[str, Any]:
    """One domain of :func:`sync_json`."""
    return {
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


class SyncStream:
    """A sync's output written as its domains end, in the order of the configuration.

    It keeps, per domain, only what is still to be written (a domain that ended before one
    above it waits, as its JSON text or its table row) and the count of failures: the
    results themselves are not held. The JSON is the text ``echo_json(sync_json(results))``
    writes; the table is :func:`print_sync`'s.
    """

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.failed = 0
        self._next = 0
        self._waiting: dict[int, str | list[str]] = {}
        self._rows: list[list[str]] = []

    def add(self, index: int, result: DomainResult) -> None:
        if result.error:
            self.failed += 1
        if self.as_json:
            text = json.dumps(sync_row(result), indent=2, sort_keys=False)
            self._waiting[index] = textwrap.indent(text, "    ")
        else:
            for text in result.instructions:
                click.echo(text)
            _warn(result)
            self._waiting[index] = _sync_table_row(result)
        while self._next in self._waiting:
            self._write(self._waiting.pop(self._next))
            self._next += 1

    def _write(self, item: str | list[str]) -> None:
        if isinstance(item, list):
            self._rows.append(item)
            return
        click.echo(('{\n  "domains": [\n' if self._next == 0 else ",\n") + item, nl=False)

    def close(self, after: dict[str, Any] | None = None) -> None:
        """Write the end: the table, or the JSON document's end with the members ``after``
        (JSON only: ``certificates``) following ``domains``."""
        after = after or {}
        if not self.as_json:
            table(_SYNC_HEADERS, self._rows)
        elif self._next == 0:
            click.echo(json.dumps({"domains": [], **after}, indent=2))
        else:
            members = "".join(
                f",\n  {json.dumps(key)}: " + json.dumps(value, indent=2).replace("\n", "\n  ")
                for key, value in after.items()
            )
            click.echo("\n  ]" + members + "\n}")


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
        else:
            click.echo(f"{result.domain} (zone {result.zone}): {len(result.changes)} change(s)")
        _print_changes(result.changes)
        for group in result.plan.elsewhere if result.plan is not None else []:
            by = f"{group.domain}'s sync publishes" if group.domain else "no domain publishes"
            click.echo(f"  in zone {group.zone} ({by} it):")
            for name, rdtype in group.keys:
                click.echo(f"    {name} {rdtype.name}")


def _print_changes(changes: Sequence[Change]) -> None:
    for change in changes:
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
    table(_SYNC_HEADERS, [_sync_table_row(r) for r in results])


_SYNC_HEADERS = ["domain", "zone", "changes", "propagated", "seconds", "lagging", "result"]


def _sync_table_row(r: DomainResult) -> list[str]:
    return [
        r.domain,
        r.zone or "-",
        str(r.applied),
        "yes" if r.propagated else "no",
        f"{r.seconds:.2f}",
        ", ".join(r.propagation.lagging_nameservers if r.propagation else []) or "-",
        _outcome(r),
    ]


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
