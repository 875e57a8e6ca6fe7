"""``dnsauto certs``: the certificates dnsauto obtains, and what the last sync did to them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from dnsauto.cli.options import ExitStatus, config_option, echo_json, handle_errors, load_merged

if TYPE_CHECKING:
    from dnsauto.acme.orders import CertificateRequest, OrderOutcome
    from dnsauto.acme.store import CertificateFiles, PrivateKey
    from dnsauto.config.model import Config
    from dnsauto.state.store import CertificateStatus

__all__ = ["certificates_json", "certs", "print_certificates"]


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _key_facts(key: PrivateKey | None) -> dict[str, Any] | None:
    """The key's type and the TLSA ``3 1 1`` digest of its public key (SHA-256 of the SPKI)."""
    if key is None:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kind = f"ECDSA {key.curve.name}" if isinstance(key, ec.EllipticCurvePrivateKey) else "RSA"
    if kind == "RSA":
        kind = f"RSA {key.key_size}"
    return {"type": kind, "tlsa311": hashlib.sha256(spki).hexdigest()}


def certificate_entry(
    request: CertificateRequest, files: CertificateFiles, status: CertificateStatus | None
) -> dict[str, Any]:
    """One certificate as ``dnsauto certs --json`` shows it."""
    chain = files.chain()
    leaf = chain[0] if chain else None
    return {
        "name": request.name,
        "domain": request.domain,
        "acmeProvider": request.provider_id,
        "directory": request.provider.directory,
        "names": list(request.names),
        "issuer": leaf.issuer.rfc4514_string() if leaf is not None else None,
        "notBefore": _time(leaf.not_valid_before_utc) if leaf is not None else None,
        "notAfter": _time(leaf.not_valid_after_utc) if leaf is not None else None,
        "serial": format(leaf.serial_number, "x") if leaf is not None else None,
        "nextRenewal": _time(status.renew_at) if status else None,
        "renewalSource": status.renew_source if status else None,
        "files": str(files.directory),
        "key": _key_facts(files.key()),
        "nextKey": _key_facts(files.next_key()),
        "staged": files.staged_chain() is not None,
        "lastAttempt": _time(status.last_attempt) if status else None,
        "lastError": status.last_error if status else None,
        "failures": status.failures if status else 0,
        "needsAttention": status.needs_attention if status else False,
        "nextAttempt": _time(status.next_attempt) if status else None,
        "requests": status.requests if status else 0,
        "seconds": status.seconds if status else 0.0,
    }


def certificates_json(outcomes: Sequence[OrderOutcome]) -> list[dict[str, Any]]:
    """What a sync did to each certificate (``dnsauto sync --json``'s ``certificates``)."""
    return [
        {
            "name": o.request.name,
            "names": list(o.request.names),
            "action": o.action,
            "error": o.error.message if o.error is not None else None,
            "notAfter": _time(o.status.not_after),
            "nextRenewal": _time(o.status.renew_at),
            "requests": o.status.requests,
            "seconds": o.status.seconds,
        }
        for o in outcomes
    ]


def print_certificates(outcomes: Sequence[OrderOutcome]) -> None:
    for o in outcomes:
        line = f"certificate {o.request.name}: {o.action}"
        if o.error is not None:
            line += f": {o.error.message}"
        elif o.status.renew_at is not None:
            line += f" (renews {_time(o.status.renew_at)})"
        click.echo(line, err=o.error is not None)


def _entries(config: Config, store: Any) -> list[dict[str, Any]]:
    from dnsauto.acme.orders import certificate_files, certificate_requests

    return [
        certificate_entry(r, certificate_files(config, r), store.certificate_status(r.name))
        for r in certificate_requests(config)
    ]


@click.command("certs")
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def certs(ctx: click.Context, as_json: bool) -> None:
    """List the certificates dnsauto obtains by ACME: names, issuer, expiry, next renewal,
    key and TLSA (3 1 1) digests of the current and the next key.

    Exit 1 when one failed its last order (shown as lastError).
    """
    config, _, store = load_merged(ctx)
    with store:
        entries = _entries(config, store)
    if as_json:
        echo_json({"certificates": entries})
    elif not entries:
        click.echo("no certificates (set [acme] obtainCertificates = true to obtain them)")
    for e in [] if as_json else entries:
        click.echo(f"{e['name']}  ({', '.join(e['names'])})")
        click.echo(f"  issuer:       {e['issuer'] or '-'}")
        click.echo(f"  expires:      {e['notAfter'] or '-'}")
        click.echo(f"  next renewal: {e['nextRenewal'] or '-'} ({e['renewalSource'] or '-'})")
        key, upcoming = e["key"], e["nextKey"]
        click.echo(f"  key:          {key['type'] if key else '-'}")
        click.echo(f"  TLSA 3 1 1:   {key['tlsa311'] if key else '-'}")
        click.echo(f"  next key:     {upcoming['tlsa311'] if upcoming else '-'}")
        if e["staged"]:
            click.echo("  a renewed certificate waits for the TLSA rollover")
        if e["lastError"]:
            click.echo(f"  last error:   {e['lastError']} (failures: {e['failures']})")
    if any(e["lastError"] for e in entries):
        raise ExitStatus(1)
