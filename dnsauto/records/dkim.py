"""DKIM keys made and kept exactly as Stalwart 0.16 makes them, and their DNS TXT values.

What Stalwart does (``crates/common/src/network/dkim.rs``, ``generate_dkim_private_key`` and
``generate_dkim_public_key``; mail-auth ``DkimKeyPair``):

* RSA: a 2048-bit key, stored as PEM ``RSA PRIVATE KEY`` (PKCS#1). mail-auth's
  ``DkimKeyPair::generate_rsa`` gives the public key as a PKCS#1 ``RSAPublicKey`` DER, and
  Stalwart publishes ``Document::from_pkcs1_der(pk.public_key())``. In the RustCrypto ``pkcs1``
  crate ``from_pkcs1_der`` on a ``Document`` is the blanket ``DecodeRsaPublicKey`` impl for
  types built from a ``SubjectPublicKeyInfoRef``: it wraps the PKCS#1 key in a
  SubjectPublicKeyInfo with the ``rsaEncryption`` algorithm and DER-encodes that. So ``p=`` is
  the base64 of the **SubjectPublicKeyInfo** DER, which is what RFC 6376 §3.6.1 asks for with
  ``k=rsa`` and what verifiers (OpenDKIM, dkimpy, mail-auth) read. dnsauto writes the same.
* Ed25519: stored as PEM ``PRIVATE KEY`` (PKCS#8); ``p=`` is the base64 of the raw 32-byte
  public key (RFC 8463 §4).
* The TXT value is ``v=DKIM1; k=rsa; h=sha256; p=…`` or ``v=DKIM1; k=ed25519; h=sha256; p=…``;
  the DKIM2 variants write ``v=DKIM1`` too.

:class:`DkimKeyStore` keeps the private keys under ``<stateDir>/dkim/<domain>/``: one
``<selector>.pem`` per key (mode 0600, in 0700 directories, written to a temporary file created
0600 and renamed into place) and ``index.json``, which lists each key's selector, algorithm,
creation time and rotation stage.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import dns.name
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dnsauto.config.domain import AutomaticDkim, DkimAlgorithm
from dnsauto.errors import DnsautoError
from dnsauto.records.names import check_hostname, to_name
from dnsauto.records.selector import render_selector

__all__ = [
    "RSA_KEY_BITS",
    "DkimKey",
    "DkimKeyStore",
    "DkimStage",
    "algorithm_name",
    "algorithm_version",
    "dkim_txt_value",
    "generate_private_key",
    "is_rsa",
    "public_key_base64",
]

RSA_KEY_BITS = 2048
INDEX_FILE = "index.json"
INDEX_VERSION = 1


class DkimStage(StrEnum):
    """Where a key is in its rotation (Stalwart's ``Pending → Active → Retiring → Retired``)."""

    PENDING = "pending"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"

    @property
    def is_published(self) -> bool:
        """Whether the key's TXT record belongs in DNS at this stage."""
        return self is not DkimStage.RETIRED


def is_rsa(algorithm: DkimAlgorithm | str) -> bool:
    return DkimAlgorithm(algorithm) in (
        DkimAlgorithm.DKIM1_RSA_SHA256,
        DkimAlgorithm.DKIM2_RSA_SHA256,
    )


def algorithm_name(algorithm: DkimAlgorithm | str) -> str:
    """The ``{algorithm}`` of a selector template and the ``k=`` tag: ``rsa`` or ``ed25519``."""
    return "rsa" if is_rsa(algorithm) else "ed25519"


def algorithm_version(algorithm: DkimAlgorithm | str) -> int:
    """The ``{version}`` of a selector template: 1 or 2."""
    return 2 if DkimAlgorithm(algorithm).value.startswith("Dkim2") else 1


def generate_private_key(algorithm: DkimAlgorithm | str) -> str:
    """A new private key as PEM: RSA-2048 as PKCS#1 ``RSA PRIVATE KEY``, Ed25519 as PKCS#8."""
    if is_rsa(algorithm):
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    else:
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return pem.decode("ascii")


def public_key_base64(private_pem: str, algorithm: DkimAlgorithm | str) -> str:
    """The ``p=`` value for a private key: SubjectPublicKeyInfo DER (RSA) or raw key (Ed25519).

    :raises ValueError: the PEM is not a private key of the algorithm's type.
    """
    try:
        key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a readable unencrypted PEM private key: {exc}") from None
    if is_rsa(algorithm):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"expected an RSA private key, found {type(key).__name__}")
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"expected an Ed25519 private key, found {type(key).__name__}")
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    return base64.b64encode(public).decode("ascii")


def dkim_txt_value(algorithm: DkimAlgorithm | str, public_b64: str) -> str:
    """The DKIM key record: ``v=DKIM1; k={rsa|ed25519}; h=sha256; p={public_b64}``."""
    return f"v=DKIM1; k={algorithm_name(algorithm)}; h=sha256; p={public_b64}"


@dataclass(frozen=True)
class DkimKey:
    """A DKIM signing key of a domain. The private key never shows in ``repr`` or ``str``."""

    selector: str
    algorithm: DkimAlgorithm
    created: datetime
    public_value: str
    """The TXT value published at ``{selector}._domainkey.{domain}``."""
    private_pem: str = field(repr=False)
    stage: DkimStage = DkimStage.ACTIVE

    def __str__(self) -> str:
        return f"{self.selector} ({self.algorithm}, {self.stage})"

    @property
    def public_key(self) -> str:
        """The base64 ``p=`` value."""
        return self.public_value.rpartition("p=")[2]

    def record_name(self, domain: str | dns.name.Name) -> dns.name.Name:
        """``{selector}._domainkey.{domain}.``"""
        return dns.name.from_text(f"{self.selector}._domainkey", origin=to_name(domain))


_SELECTOR = re.compile(r"^[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*$")


def _check_selector(selector: str) -> None:
    """A selector is one or more DNS labels of ``[A-Za-z0-9_-]`` (so also a safe file name)."""
    if not _SELECTOR.match(selector):
        raise ValueError(f"DKIM selector {selector!r} is not a valid DNS name")


class DkimKeyStore:
    """Generates each domain's DKIM keys once and keeps them under ``<stateDir>/dkim/``.

    Layout, per domain (directories 0700, files 0600)::

        <stateDir>/dkim/<domain>/index.json      {"version": 1, "domain": ..., "keys": [...]}
        <stateDir>/dkim/<domain>/<selector>.pem  the private key

    Each index entry has ``selector``, ``algorithm`` (``Dkim1RsaSha256``, ...), ``created``
    (ISO 8601, UTC) and ``stage`` (``pending``, ``active``, ``retiring``, ``retired``).
    Problems with the stored state raise :class:`~dnsauto.errors.DnsautoError` naming the file.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    @property
    def root(self) -> Path:
        return self.state_dir / "dkim"

    def domain_dir(self, domain: str) -> Path:
        """The directory of a domain's keys (the domain is checked, so no path tricks)."""
        try:
            name = check_hostname(domain)
        except ValueError as exc:
            raise DnsautoError(f"DKIM keys: invalid domain {domain!r}: {exc}") from None
        return self.root / name

    def keys_for(
        self, domain: str, management: AutomaticDkim, now: datetime | None = None
    ) -> list[DkimKey]:
        """The domain's keys, one per algorithm of ``management``, made now if missing.

        A key already kept for an algorithm is returned as it is (the active one, else a
        pending, else a retiring one; never a retired one). A missing one is generated with
        the selector that ``management.selectorTemplate`` renders at ``now`` (UTC; default:
        the current time), stage ``active``.

        :raises DnsautoError: the state cannot be read or written, or two keys would get the
            same selector.
        """
        moment = _utc(now or datetime.now(UTC))
        directory = self.domain_dir(domain)
        with self._locked(directory):
            entries = self._read_index(directory)
            keys = [self._load_key(directory, entry) for entry in entries]
            result: list[DkimKey] = []
            for value in management.algorithms:
                algorithm = DkimAlgorithm(value)
                found = next(
                    (
                        k
                        for stage in _SIGNING_PREFERENCE
                        for k in keys
                        if k.algorithm is algorithm and k.stage is stage
                    ),
                    None,
                )
                if found is None:
                    found = self._create_key(
                        directory, keys, algorithm, management.selector_template, moment
                    )
                    keys.append(found)
                    self._write_index(directory, keys)
                result.append(found)
            return result

    def load(self, domain: str) -> list[DkimKey]:
        """Every key kept for the domain, in index order and any stage, without making any.

        During a rotation this is what to publish: every key whose stage ``is_published``.
        """
        directory = self.domain_dir(domain)
        if not (directory / INDEX_FILE).exists():
            return []
        return [self._load_key(directory, e) for e in self._read_index(directory)]

    # --- files ------------------------------------------------------------------------------

    def _create_key(
        self,
        directory: Path,
        keys: list[DkimKey],
        algorithm: DkimAlgorithm,
        template: str,
        now: datetime,
    ) -> DkimKey:
        try:
            selector = render_selector(
                template,
                algorithm=algorithm_name(algorithm),
                version=algorithm_version(algorithm),
                now=now,
            )
            _check_selector(selector)
        except ValueError as exc:
            raise DnsautoError(f"DKIM selector template {template!r}: {exc}") from None
        if any(k.selector == selector for k in keys):
            raise DnsautoError(
                f"DKIM selector {selector!r} of {directory.name} is already used by another "
                f"key; make the selector template {template!r} tell the keys apart, e.g. with "
                "{algorithm} and {date-%Y%m%d}"
            )
        private_pem = generate_private_key(algorithm)
        _write_private(directory / f"{selector}.pem", private_pem.encode("ascii"))
        return DkimKey(
            selector=selector,
            algorithm=algorithm,
            created=now,
            public_value=dkim_txt_value(algorithm, public_key_base64(private_pem, algorithm)),
            private_pem=private_pem,
        )

    def _read_index(self, directory: Path) -> list[dict[str, str]]:
        path = directory / INDEX_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise DnsautoError(f"cannot read DKIM key index {path}: {exc.strerror}") from None
        try:
            document: Any = json.loads(text)
            raw = document["keys"]
            if not isinstance(raw, list):
                raise TypeError("'keys' is not a list")
            entries: list[dict[str, str]] = []
            for item in raw:
                entry = {k: item[k] for k in ("selector", "algorithm", "created", "stage")}
                if not all(isinstance(v, str) for v in entry.values()):
                    raise TypeError("a key entry has a value that is not text")
                DkimAlgorithm(entry["algorithm"])
                DkimStage(entry["stage"])
                _check_selector(entry["selector"])
                datetime.fromisoformat(entry["created"])
                entries.append(entry)
        except (ValueError, KeyError, TypeError) as exc:
            raise DnsautoError(f"DKIM key index {path} is corrupt: {exc!s}") from None
        return entries

    def _load_key(self, directory: Path, entry: dict[str, str]) -> DkimKey:
        algorithm = DkimAlgorithm(entry["algorithm"])
        path = directory / f"{entry['selector']}.pem"
        try:
            private_pem = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not PEM text"
            raise DnsautoError(f"cannot read DKIM private key {path}: {reason}") from None
        try:
            public = public_key_base64(private_pem, algorithm)
        except ValueError as exc:
            raise DnsautoError(f"DKIM private key {path} is unusable: {exc}") from None
        return DkimKey(
            selector=entry["selector"],
            algorithm=algorithm,
            created=_utc(datetime.fromisoformat(entry["created"])),
            public_value=dkim_txt_value(algorithm, public),
            private_pem=private_pem,
            stage=DkimStage(entry["stage"]),
        )

    def _write_index(self, directory: Path, keys: list[DkimKey]) -> None:
        document = {
            "version": INDEX_VERSION,
            "domain": directory.name,
            "keys": [
                {
                    "selector": k.selector,
                    "algorithm": k.algorithm.value,
                    "created": k.created.isoformat(),
                    "stage": k.stage.value,
                }
                for k in keys
            ],
        }
        data = (json.dumps(document, indent=2) + "\n").encode("utf-8")
        _write_private(directory / INDEX_FILE, data)

    @contextlib.contextmanager
    def _locked(self, directory: Path) -> Iterator[None]:
        """Make the domain's directory (0700) and hold its lock while keys are read or made."""
        _make_private_dir(self.state_dir, tighten=False)
        _make_private_dir(self.root)
        _make_private_dir(directory)
        lock_path = directory / ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DnsautoError(f"cannot open DKIM lock file {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


_SIGNING_PREFERENCE = (DkimStage.ACTIVE, DkimStage.PENDING, DkimStage.RETIRING)


def _utc(moment: datetime) -> datetime:
    """A datetime in UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _make_private_dir(path: Path, *, tighten: bool = True) -> None:
    """Create a directory as 0700; with ``tighten``, also make an existing one 0700."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if tighten:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise DnsautoError(f"cannot create DKIM state directory {path}: {exc.strerror}") from None


def _write_private(path: Path, data: bytes) -> None:
    """Write a file atomically, readable by its owner only from the first byte on."""
    fd, tmp = -1, ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = ""
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise DnsautoError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
