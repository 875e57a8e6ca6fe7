"""Certificate files: ``<stateDir>/certs/<name>/``.

* ``fullchain.pem``: the certificate in use, leaf first, then the intermediates (0644);
* ``privkey.pem``: its key (0640, group ``[acme] group`` when set, so the MTA can read it);
* ``next-privkey.pem``: the key of the next renewal, made as soon as a certificate is put in
  place, so that its TLSA record can be published long before it is used (DANE rollover);
* ``next-fullchain.pem``: a renewed certificate (for ``next-privkey.pem``) waiting until the
  rollover allows it (:func:`dnsauto.acme.rollover.may_deploy`).

Every file is written atomically: a temporary file in the same folder, fsynced, then renamed
over the old one, then the folder fsynced. Deploying renames the key first, then the chain;
the deploy hook runs after both, so a reload sees a matching pair.
"""

from __future__ import annotations

import contextlib
import grp
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from dnsauto.config.acme import AcmeKeyType
from dnsauto.plugin.errors import DnsautoError

__all__ = [
    "CERTS_DIR",
    "CertificateFiles",
    "PrivateKey",
    "csr_for",
    "load_key",
    "new_key",
]

CERTS_DIR = "certs"
FULLCHAIN = "fullchain.pem"
PRIVKEY = "privkey.pem"
NEXT_PRIVKEY = "next-privkey.pem"
NEXT_FULLCHAIN = "next-fullchain.pem"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(key_type: AcmeKeyType | str) -> PrivateKey:
    """A new certificate key of ``key_type`` (ECDSA P-256 by default)."""
    kind = AcmeKeyType(key_type)
    if kind is AcmeKeyType.ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if kind is AcmeKeyType.ECDSA_P384:
        return ec.generate_private_key(ec.SECP384R1())
    size = 4096 if kind is AcmeKeyType.RSA4096 else 2048
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def load_key(data: bytes, where: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise DnsautoError(f"{where} is not a PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise DnsautoError(f"{where}: only ECDSA and RSA keys are supported")
    return key


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def csr_for(key: PrivateKey, names: list[str]) -> bytes:
    """A CSR (PEM) for ``names`` (the first also as the subject's common name)."""
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@dataclass
class CertificateFiles:
    """The files of one certificate, by its name (its first DNS name)."""

    state_dir: Path
    name: str
    group: str | None = None

    @property
    def directory(self) -> Path:
        return self.state_dir / CERTS_DIR / self.name

    @property
    def fullchain_path(self) -> Path:
        return self.directory / FULLCHAIN

    @property
    def privkey_path(self) -> Path:
        return self.directory / PRIVKEY

    @property
    def next_privkey_path(self) -> Path:
        return self.directory / NEXT_PRIVKEY

    @property
    def next_fullchain_path(self) -> Path:
        return self.directory / NEXT_FULLCHAIN

    # --- reading --------------------------------------------------------------------------

    def chain(self) -> list[x509.Certificate] | None:
        """The certificate in use, leaf first; None when there is none yet."""
        return self._chain(self.fullchain_path)

    def staged_chain(self) -> list[x509.Certificate] | None:
        """A renewed certificate waiting to be put in place, if any."""
        return self._chain(self.next_fullchain_path)

    def _chain(self, path: Path) -> list[x509.Certificate] | None:
        data = _read(path)
        if data is None:
            return None
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise DnsautoError(f"{path} is not a PEM certificate chain: {exc}") from None

    def key(self) -> PrivateKey | None:
        return self._key(self.privkey_path)

    def next_key(self) -> PrivateKey | None:
        return self._key(self.next_privkey_path)

    def _key(self, path: Path) -> PrivateKey | None:
        data = _read(path)
        return None if data is None else load_key(data, path)

    # --- writing --------------------------------------------------------------------------

    def ensure_next_key(self, key_type: AcmeKeyType | str) -> PrivateKey:
        """``next-privkey.pem``, made now if it is missing."""
        existing = self.next_key()
        if existing is not None:
            return existing
        key = new_key(key_type)
        self._write(self.next_privkey_path, _key_pem(key), private=True)
        return key

    def stage(self, fullchain_pem: str) -> None:
        """Keep a renewed chain (for ``next-privkey.pem``) until it may be put in place."""
        self._write(self.next_fullchain_path, fullchain_pem.encode(), private=False)

    def install(self, fullchain_pem: str, key: PrivateKey) -> None:
        """Put ``fullchain_pem`` and ``key`` in place (the first certificate, or reuseKey);
        ``next-privkey.pem`` goes when it was that key."""
        self._write(self.privkey_path, _key_pem(key), private=True)
        self._write(self.fullchain_path, fullchain_pem.encode(), private=False)
        with contextlib.suppress(FileNotFoundError):
            self.next_fullchain_path.unlink()
        upcoming = self.next_key()
        if upcoming is not None and _public(upcoming) == _public(key):
            self.next_privkey_path.unlink()
            _fsync_dir(self.directory)

    def deploy_staged(self) -> None:
        """Rename the staged chain and the next key into ``fullchain.pem``/``privkey.pem``."""
        if not self.next_fullchain_path.exists() or not self.next_privkey_path.exists():
            raise DnsautoError(f"{self.directory}: no staged certificate to put in place")
        os.replace(self.next_privkey_path, self.privkey_path)
        os.replace(self.next_fullchain_path, self.fullchain_path)
        _fsync_dir(self.directory)

    def _prepare_dir(self) -> None:
        directory = self.directory
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o750)
        gid = self._gid()
        if gid is not None:
            self._chown(directory, gid)

    def _gid(self) -> int | None:
        if self.group is None:
            return None
        try:
            return grp.getgrnam(self.group).gr_gid
        except KeyError:
            raise DnsautoError(f"acme.group: no group {self.group!r} on this system") from None

    def _chown(self, path: Path | int, gid: int) -> None:
        try:
            if isinstance(path, int):
                os.fchown(path, -1, gid)
            else:
                os.chown(path, -1, gid)
        except PermissionError:
            raise DnsautoError(
                f"acme.group: cannot give {self.directory} to group {self.group!r} "
                "(dnsauto must run as root or be a member of it)"
            ) from None

    def _write(self, path: Path, data: bytes, *, private: bool) -> None:
        self._prepare_dir()
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, 0o640 if private else 0o644)
            gid = self._gid()
            if gid is not None:
                self._chown(fd, gid)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_dir(path.parent)


def _read(path: Path) -> bytes | None:
    """The file's bytes; None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DnsautoError(f"cannot read {path}: {exc.strerror}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
