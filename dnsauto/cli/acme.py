"""``dnsauto acme-hook``: the DNS-01 hook for certbot and lego (see :mod:`dnsauto.acme.hook`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

import click

from dnsauto.cli.options import ExitStatus, config_option, handle_errors, load_merged

__all__ = ["acme_hook", "hook_main", "hook_request"]

HOOK_HELP = """Publish an ACME DNS-01 challenge through the domain's DnsServer; return once every
authoritative nameserver serves it (cleanup: once none serves it any more).

\b
certbot (the same command for both hooks; it reads CERTBOT_DOMAIN and CERTBOT_VALIDATION and
is the cleanup hook when CERTBOT_AUTH_OUTPUT names the value it published):
  certbot certonly --manual --preferred-challenges dns \\
    --manual-auth-hook 'dnsauto acme-hook' --manual-cleanup-hook 'dnsauto acme-hook' ...
  (or, explicitly, 'dnsauto acme-hook auth' and 'dnsauto acme-hook cleanup')
\b
lego (the exec provider runs one program: dnsauto-acme-hook is this command):
  EXEC_PATH=dnsauto-acme-hook lego --dns exec --dns.disable-cp ...
  called as: present|cleanup FQDN VALUE
  with EXEC_MODE=RAW: present|cleanup -- DOMAIN TOKEN KEY_AUTHORIZATION
\b
The configuration comes from --config or DNSAUTO_CONFIG. The name must be at or under a
configured domain; its DnsServer's pollingInterval, propagationTimeout and propagationDelay
apply. Foreign TXT values at the name stay; concurrent calls for one name do not clobber
each other. Every change is journaled like a sync's.
Exit 0 when live everywhere, 1 when not (or the provider failed), 2 for a usage or
configuration error."""


def hook_request(
    action: str | None, args: Sequence[str], environ: Mapping[str, str]
) -> tuple[str, str, str]:
    """(``present`` or ``cleanup``, name, TXT value) from the arguments or certbot's variables.

    :raises click.UsageError: neither a lego call nor certbot's variables.
    """
    from dnsauto.acme.hook import challenge_value

    if action == "auth":
        action = "present"
    if args:
        if action is None:
            raise click.UsageError("say present or cleanup before the name and value")
        if len(args) == 2:
            return action, args[0], args[1]
        if len(args) == 3:  # lego EXEC_MODE=RAW: DOMAIN TOKEN KEY_AUTHORIZATION
            return action, args[0], challenge_value(args[2])
        raise click.UsageError(
            "expected FQDN VALUE (lego) or -- DOMAIN TOKEN KEY_AUTHORIZATION (lego RAW mode)"
        )
    domain = environ.get("CERTBOT_DOMAIN", "")
    value = environ.get("CERTBOT_VALIDATION", "")
    if not domain or not value:
        missing = [v for v in ("CERTBOT_DOMAIN", "CERTBOT_VALIDATION") if not environ.get(v)]
        raise click.UsageError(
            f"{' and '.join(missing)} not set: give present|cleanup FQDN VALUE (lego), or run "
            "as certbot's --manual-auth-hook / --manual-cleanup-hook"
        )
    if action is None:
        # certbot gives the cleanup hook the auth hook's output. It also leaves that variable
        # in its own environment afterwards, so a later auth hook of the same certbot run
        # (`certbot renew` of several certificates) sees it too: only output naming this
        # very value marks a cleanup.
        output = environ.get("CERTBOT_AUTH_OUTPUT")
        action = "cleanup" if output is not None and value in output else "present"
    return action, domain, value


@click.command("acme-hook", help=HOOK_HELP, context_settings={"ignore_unknown_options": True})
@config_option
@click.argument(
    "action", required=False, type=click.Choice(["present", "cleanup", "auth"]), metavar="[ACTION]"
)
@click.argument("args", nargs=-1, metavar="[FQDN VALUE | -- DOMAIN TOKEN KEYAUTH]")
@click.pass_context
@handle_errors
def acme_hook(ctx: click.Context, action: str | None, args: tuple[str, ...]) -> None:
    from dnsauto.acme import hook

    action, identifier, value = hook_request(action, args, os.environ)
    if action == "present":
        # First, before any work: certbot hands this output to the cleanup hook, which tells
        # itself from a later auth hook by it (see hook_request), even if this call fails.
        try:
            shown = hook.challenge_name(identifier).to_text()
        except ValueError:
            shown = identifier  # the hook's own check names the problem
        click.echo(f"dnsauto: presenting {value} at {shown}")
    config, registry, store = load_merged(ctx)
    with store:
        run = hook.present if action == "present" else hook.cleanup
        import asyncio  # here, not at load: with ssl it is a third of --help

        result = asyncio.run(run(config, registry, store, identifier, value))
    if result.error:
        click.echo(f"error: {result.error}", err=True)
        raise ExitStatus(1)
    outcome = result.propagation
    where = f"{len(outcome.nameservers)} nameserver(s)" if outcome else "every nameserver"
    took = f" in {outcome.seconds:g}s" if outcome else ""
    done = "served by" if action == "present" else "gone from"
    verb = "changed" if result.changes else "already as wanted"
    click.echo(f"dnsauto: {result.name} TXT {value} {done} {where}{took} ({verb})")


def hook_main() -> None:
    """The ``dnsauto-acme-hook`` console script: lego's ``EXEC_PATH`` runs one program."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    acme_hook.main(args=sys.argv[1:], prog_name="dnsauto-acme-hook")
