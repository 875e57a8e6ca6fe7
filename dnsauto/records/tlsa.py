"""The certificates dnsauto obtains by ACME, as the TLSA records need them.

Each lives in ``<stateDir>/certs/<name>/`` (written by :mod:`dnsauto.acme`): ``fullchain.pem``
(the certificate in use, leaf first), ``privkey.pem``, ``next-privkey.pem`` (the key of the
next renewal, made ahead so that its TLSA record is published long before it is used) and
``next-fullchain.pem`` (a renewed certificate for that key, waiting to be put in place).

For DANE (RFC 7671) the TLSA RRset of a host must match whatever certificate the host serves
for as long as any resolver may hold that RRset in its cache. So a host's records are ``3 1 1``
for the current key, ``3 1 1`` for the next key (published beside it, long before the renewed
certificate uses it), and ``2 1 1`` for each issuer of the current chain, as Stalwart
publishes (``2 1 1`` keeps a match if the certificate is replaced outside the rollover with a
new key from the same CA; the rollover never relies on it, since an ACME CA may sign the next
certificate with another intermediate, as Let's Encrypt does). The old key's record goes when
the certificate files no longer name it: at the first sync after the renewed certificate is
put in place, which :func:`dnsauto.acme.rollover.may_deploy` allows only once every
authoritative nameserver has served the next key's record for at least the TTL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dnsauto.plugin.errors import DnsautoError

__all__ = [
    "CERTS_DIR",
    "FULLCHAIN",
    "NEXT_FULLCHAIN",
    "NEXT_PRIVKEY",
    "ManagedCertificate",
    "covering",
    "key_spki",
    "load_managed_certificates",
    "read_chain",
    "spki_digest",
]

CERTS_DIR = "certs"
FULLCHAIN = "fullchain.pem"
NEXT_PRIVKEY = "next-privkey.pem"
NEXT_FULLCHAIN = "next-fullchain.pem"


@dataclass(frozen=True)
class ManagedCertificate:
    """One certificate directory: what its TLSA records are made of."""

    name: str
    """The directory's name (the certificate's first name)."""
    directory: Path
    chain: tuple[x509.Certificate, ...]
    """The certificate in use, leaf first; empty before the first one is issued."""
    next_spki: bytes | None
    """The DER SubjectPublicKeyInfo of the next renewal's key, when one is made."""

    @property
    def names(self) -> list[str]:
        """The host names it covers: the leaf's DNS names, or the directory's name."""
        if not self.chain:
            return [self.name]
        leaf = self.chain[0]
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return [self.name]
        return [n.rstrip(".").lower() for n in san.value.get_values_for_type(x509.DNSName)]


def spki_digest(spki: bytes) -> bytes:
    """SHA-256 of a SubjectPublicKeyInfo: the data of a TLSA ``x 1 1`` record."""
    return hashlib.sha256(spki).digest()


def key_spki(path: Path) -> bytes:
    """The DER SubjectPublicKeyInfo of the private key (PEM) in ``path``.

    :raises DnsautoError: the file cannot be read or is not a private key.
    """
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise DnsautoError(f"cannot read the key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise DnsautoError(f"{path} is not a PEM private key: {exc}") from None
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_chain(path: Path) -> tuple[x509.Certificate, ...]:
    """The certificates in the PEM file ``path``, leaf first; none when it does not exist.

    :raises DnsautoError: it cannot be read or is not PEM.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise DnsautoError(f"cannot read the certificate {path}: {exc.strerror}") from None
    try:
        return tuple(x509.load_pem_x509_certificates(data))
    except ValueError as exc:
        raise DnsautoError(f"{path} is not a PEM certificate chain: {exc}") from None


def load_managed_certificates(state_dir: str | Path) -> list[ManagedCertificate]:
    """The certificate directories under ``<state_dir>/certs/``, by name; none when absent."""
    root = Path(state_dir) / CERTS_DIR
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DnsautoError(f"cannot list {root}: {exc.strerror}") from None
    found = []
    for folder in folders:
        chain = read_chain(folder / FULLCHAIN)
        next_key = folder / NEXT_PRIVKEY
        next_spki = key_spki(next_key) if next_key.exists() else None
        if chain or next_spki is not None:
            found.append(ManagedCertificate(folder.name, folder, chain, next_spki))
    return found


def covering(certificates: Sequence[ManagedCertificate], host: str) -> ManagedCertificate | None:
    """The certificate for ``host``: one naming it, else one whose ``*.parent`` covers it."""
    for certificate in certificates:
        if host in certificate.names:
            return certificate
    parent = host.partition(".")[2]
    for certificate in certificates:
        if parent and f"*.{parent}" in certificate.names:
            return certificate
    return None
