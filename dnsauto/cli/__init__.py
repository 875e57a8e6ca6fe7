"""The ``dnsauto`` command line.

Exit status: 0 when everything worked, 1 when a domain failed, 2 for a configuration error.
Each command group is a module of its own (config, sync, journal, service, api), added to
the group here; what they share is in :mod:`dnsauto.cli.options`.

Output is plain text or JSON when not on a terminal; tables and progress on a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from dnsauto import __version__
from dnsauto.cli import acme, api, certs, config, journal, service, sync
from dnsauto.cli.options import config_option, own_heap

__all__ = ["cli", "main"]


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
    import logging  # here: a command runs (the help needs none of it)

    ctx.ensure_object(dict)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> None:
    """The console script."""
    own_heap()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="dnsauto")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(130) from None


for command in (
    config.config_group,
    config.schema,
    config.providers,
    sync.records,
    sync.plan,
    sync.sync,
    sync.check,
    certs.certs,
    journal.journal,
    journal.restore,
    service.run,
    service.status,
    api.get,
    api.create,
    api.update,
    api.delete,
    api.query,
    api.approve,
    acme.acme_hook,
):
    cli.add_command(command)
