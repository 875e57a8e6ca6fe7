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

:class:`DkimKeyStore` keeps each key in the state store (:mod:`dnsauto.state.store`): its
selector, algorithm, creation time, rotation stage and private key; a key is made once for
every node sharing the store (its position in the domain is unique: of two nodes making a key
at once, the second adopts the first's). Every node writes the private keys from the store to
``<stateDir>/dkim/<domain>/<selector>.pem`` for the MTA on its machine (mode 0600, in 0700
directories, written to a temporary file created 0600 and renamed into place). Rotation is
:mod:`dnsauto.records.rotation`.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dns.name
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dnsauto.config.domain import AutomaticDkim, DkimAlgorithm
from dnsauto.config.selector import render_selector
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.names import check_hostname, to_name
from dnsauto.records.rotation import (
    DkimStage,
    NewKey,
    missing_keys,
    next_rotation_event,
    plan_activation,
    plan_rotation,
)
from dnsauto.state.store import DkimKeyRaceError, DkimKeyRow, StateStore

__all__ = [
    "RSA_KEY_BITS",
    "DkimKey",
    "DkimKeyStore",
    "DkimStage",
    "SyncKeys",
    "algorithm_name",
    "algorithm_version",
    "dkim_txt_value",
    "generate_private_key",
    "is_rsa",
    "public_key_base64",
]

RSA_KEY_BITS = 2048
INDEX_FILE = "index.json"

log = logging.getLogger(__name__)


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

    Only the public half is read, so an RSA key's consistency checks are skipped: they cost
    about 15 ms per key (most of a sync of many domains, which reads every key) and guard the
    private operations, which dnsauto never makes; the MTA that signs checks its key itself.

    :raises ValueError: the PEM is not a private key of the algorithm's type.
    """
    try:
        key = serialization.load_pem_private_key(
            private_pem.encode("ascii"), password=None, unsafe_skip_rsa_key_validation=True
        )
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


@dataclass(frozen=True, init=False)
class DkimKey:
    """A DKIM signing key of a domain. The private key never shows in ``repr`` or ``str``.

    Its ``public_value`` is the one given, else derived from the private key when first
    asked for: an unchanged re-sync compares keys by :attr:`identity` and publishes nothing,
    so it never needs it (the derivation was a twentieth of such a sync's time)."""

    selector: str
    algorithm: DkimAlgorithm
    created: datetime
    private_pem: str = field(repr=False)
    stage: DkimStage = DkimStage.ACTIVE
    given_public_value: str | None = field(default=None, repr=False)
    source: str = field(default="", repr=False, compare=False)
    """Where the private key was read, for the error when it is unusable."""

    def __init__(
        self,
        selector: str,
        algorithm: DkimAlgorithm,
        created: datetime,
        public_value: str | None = None,
        private_pem: str = "",
        stage: DkimStage = DkimStage.ACTIVE,
        *,
        source: str = "",
        given_public_value: str | None = None,  # the field's name, for dataclasses.replace
    ) -> None:
        for name, value in (
            ("selector", selector),
            ("algorithm", algorithm),
            ("created", created),
            ("private_pem", private_pem),
            ("stage", stage),
            ("given_public_value", given_public_value if public_value is None else public_value),
            ("source", source),
        ):
            object.__setattr__(self, name, value)

    def __str__(self) -> str:
        return f"{self.selector} ({self.algorithm}, {self.stage})"

    @functools.cached_property
    def public_value(self) -> str:
        """The TXT value published at ``{selector}._domainkey.{domain}``.

        :raises DnsautoError: the private key is unusable (not a key of its algorithm).
        """
        if self.given_public_value is not None:
            return self.given_public_value
        try:
            public = public_key_base64(self.private_pem, self.algorithm)
        except ValueError as exc:
            where = self.source or self.selector
            raise DnsautoError(f"DKIM private key {where} is unusable: {exc}") from None
        return dkim_txt_value(self.algorithm, public)

    @property
    def identity(self) -> str:
        """What tells this key's published value apart without deriving it: the given public
        value, else a digest of the private key (the one key it is the public half of)."""
        if self.given_public_value is not None:
            return self.given_public_value
        return "private " + hashlib.sha256(self.private_pem.encode("ascii")).hexdigest()

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


@dataclass(frozen=True)
class SyncKeys:
    """A domain's DKIM keys as one sync uses them (:meth:`DkimKeyStore.for_sync`)."""

    published: list[DkimKey]
    """Every key whose TXT record belongs in DNS (pending, active, retiring)."""
    retired_names: list[dns.name.Name]
    """The record names of retired keys, whose TXT RRsets are to be deleted."""
    notes: list[str]
    """One line per rotation step taken."""
    rotation_error: str | None = None
    """Why the rotation could not proceed (the keys stayed as they were)."""


class DkimKeyStore:
    """Makes, keeps and rotates each domain's DKIM keys.

    A key (selector, algorithm, creation, stage and stage times, the published TXT value, the
    private key) lives in the :class:`~dnsauto.state.StateStore`, where a stage change is one
    transaction. The private keys are also files for the MTA, per domain (directories 0700,
    files 0600), written from the store by every node that reads the keys (:meth:`_mirror`,
    :meth:`write_files`)::

        <stateDir>/dkim/<domain>/<selector>.pem

    An ``index.json`` left by an older dnsauto is imported into the store the first time the
    domain is read, then renamed ``index.json.migrated``. Key files of a domain the store
    knows nothing of (the store was lost) are adopted the same way, as the keys in use; no key
    file is ever overwritten (one the store does not know is moved aside).

    Creating keys holds the domain's lock file, so a daemon and a CLI command on one machine
    never both make a key; processes on two machines are told apart by the store (the second
    to commit adopts the first's keys, :class:`~dnsauto.state.store.DkimKeyRaceError`).
    Problems with the stored state raise :class:`~dnsauto.plugin.errors.DnsautoError` naming
    the file or key, never showing a private key.
    """

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.state_dir = state.state_dir
        self._root = self.state_dir / "dkim"

    @property
    def root(self) -> Path:
        return self._root

    def domain_dir(self, domain: str) -> Path:
        """The directory of a domain's keys (the domain is checked, so no path tricks)."""
        return self.root / _domain(domain)

    def keys_for(
        self, domain: str, management: AutomaticDkim, now: datetime | None = None
    ) -> list[DkimKey]:
        """The signing key of each algorithm of ``management``, made now if missing.

        The active key of an algorithm, else a pending one, else a retiring one (never a
        retired one). A missing one is generated with the selector that
        ``management.selectorTemplate`` renders at ``now`` (UTC; default: the store's clock),
        stage ``active``.

        :raises DnsautoError: the state cannot be read or written, or two keys would get the
            same selector.
        """
        keys = self.published(domain, management, now)
        result: list[DkimKey] = []
        for value in management.algorithms:
            algorithm = DkimAlgorithm(value)
            result += [
                next(
                    k
                    for stage in _SIGNING_PREFERENCE
                    for k in keys
                    if k.algorithm is algorithm and k.stage is stage
                )
            ]
        return result

    def published(
        self, domain: str, management: AutomaticDkim, now: datetime | None = None
    ) -> list[DkimKey]:
        """Every key whose TXT record belongs in DNS now (pending, active or retiring).

        An algorithm without such a key gets one first, as in :meth:`keys_for`. This is what
        the desired records are built from.
        """
        moment = self._now(now)
        directory = self.domain_dir(domain)
        with self._locked(directory):
            rows = self._known_rows(directory, management, moment)
            missing = missing_keys(rows, management)
            if missing:
                rows, _ = self._create(
                    directory, rows, missing, management.selector_template, moment
                )
            rows = self._mirror(directory, rows, moment)
        return [self._load_key(directory, row) for row in rows if DkimStage(row.stage).is_published]

    def load(self, domain: str) -> list[DkimKey]:
        """Every key kept for the domain, in creation order and any stage, without making any.

        A key whose private key file was deleted (``deleteAfter`` past retirement) has an empty
        ``private_pem``.
        """
        directory = self.domain_dir(domain)
        if (directory / INDEX_FILE).exists():
            with self._locked(directory):
                rows = self._rows(directory, self._now(None))
        else:
            rows = self.state.dkim_keys(directory.name)
        return [self._load_key(directory, row) for row in rows]

    def rotate(
        self, domain: str, management: AutomaticDkim, now: datetime | None = None
    ) -> list[str]:
        """Take the time-driven rotation steps due at ``now`` (see :mod:`.rotation`).

        Makes pending successors of keys past ``rotateAfter``, retires keys past
        ``retireAfter`` and deletes private key files past ``deleteAfter``. Returns one line
        per step. Activation is :meth:`activate`'s, once the new record is live.
        """
        moment = self._now(now)
        directory = self.domain_dir(domain)
        with self._locked(directory):
            rows = self._known_rows(directory, management, moment)
            notes = self._rotate_rows(directory, rows, management, moment)
            self._mirror(directory, self.state.dkim_keys(directory.name), moment)
            return notes

    def for_sync(
        self,
        domain: str,
        management: AutomaticDkim,
        *,
        rotate: bool,
        now: datetime | None = None,
        known: Sequence[DkimKeyRow] | None = None,
    ) -> SyncKeys:
        """What a sync needs of the domain's keys, under one lock and (mostly) one read.

        The same as :meth:`rotate` (when ``rotate``), then :meth:`published` and the retired
        keys' record names, which read the keys three times; a sync of many domains spent a
        tenth of its time there. A rotation that cannot proceed is reported in
        ``rotation_error`` and leaves the keys as they were; the published keys are still
        given (and missing ones made), as after a failed :meth:`rotate`.

        ``known``: the domain's rows as read just before (with every other domain's, by a run
        of many domains). When they need nothing done (no rotation step due, no key missing,
        every key file as the store has it), they are used as they are, without the lock or
        a read of their own: the usual case, and a seventh of an unchanged re-sync's time.
        """
        found = self.settled(domain, management, rotate=rotate, now=now, known=known)
        if found is not None:
            return found
        moment = self._now(now)
        directory = self.domain_dir(domain)
        notes: list[str] = []
        error: str | None = None
        with self._locked(directory):
            rows = self._known_rows(directory, management, moment)
            if rotate:
                try:
                    notes = self._rotate_rows(directory, rows, management, moment)
                except DnsautoError as exc:
                    error = exc.message
                if notes or error is not None:
                    rows = self.state.dkim_keys(directory.name)
            missing = missing_keys(rows, management)
            if missing:
                rows, _ = self._create(
                    directory, rows, missing, management.selector_template, moment
                )
            rows = self._mirror(directory, rows, moment)
        return self._sync_keys(directory, rows, notes, error)

    def settled(
        self,
        domain: str,
        management: AutomaticDkim,
        *,
        rotate: bool,
        now: datetime | None = None,
        known: Sequence[DkimKeyRow] | None = None,
    ) -> SyncKeys | None:
        """What :meth:`for_sync` gives when the ``known`` rows need nothing done (no lock, no
        read or write of the store: see there); None when they do, or none are known."""
        directory = self.domain_dir(domain)
        if known and self._settled(directory, known, management, self._now(now), rotate=rotate):
            return self._sync_keys(directory, list(known), [], None)
        return None

    def _settled(
        self,
        directory: Path,
        rows: Sequence[DkimKeyRow],
        management: AutomaticDkim,
        now: datetime,
        *,
        rotate: bool,
    ) -> bool:
        """Whether a sync has nothing to do to these rows: no rotation step due (when it
        rotates), no key to make, and each key's file as :meth:`_mirror` would leave it."""
        if missing_keys(rows, management) or (rotate and plan_rotation(rows, management, now)):
            return False
        folder = str(directory)  # joined as text: a Path per key file was a third of this
        for row in rows:
            path = os.path.join(folder, f"{row.selector}.pem")
            if row.key_deleted_at is not None:
                if os.path.exists(path):
                    return False
            elif row.private_pem is None or not _file_holds(path, row.private_pem):
                return False
        return True

    def _sync_keys(
        self, directory: Path, rows: list[DkimKeyRow], notes: list[str], error: str | None
    ) -> SyncKeys:
        origin = to_name(directory.name)
        return SyncKeys(
            published=[
                self._load_key(directory, row, derive=False)
                for row in rows
                if DkimStage(row.stage).is_published
            ],
            retired_names=[
                dns.name.from_text(f"{row.selector}._domainkey", origin=origin)
                for row in rows
                if row.stage == DkimStage.RETIRED
            ],
            notes=notes,
            rotation_error=error,
        )

    def _rotate_rows(
        self, directory: Path, rows: list[DkimKeyRow], management: AutomaticDkim, now: datetime
    ) -> list[str]:
        """The rotation steps due at ``now`` for these rows, taken (under the domain's lock)."""
        plan = plan_rotation(rows, management, now)
        if plan.create:
            _, won = self._create(
                directory, rows, plan.create, management.selector_template, now, plan.updates
            )
            if not won:
                return [f"another process rotated the keys of {directory.name} first"]
        elif plan.updates:
            self.state.save_dkim_keys(update=plan.updates)
        return plan.notes

    def activate(
        self, domain: str, selectors: Collection[str], now: datetime | None = None
    ) -> list[str]:
        """Pending keys among ``selectors`` become active, retiring the keys they replace.

        Call it once their TXT records are served by every nameserver of the zone.
        """
        moment = self._now(now)
        directory = self.domain_dir(domain)
        with self._locked(directory):
            updates = plan_activation(self._rows(directory, moment), selectors, moment)
            if updates:
                self.state.save_dkim_keys(update=updates)
        return [f"{row.selector}: {row.stage}" for row in updates]

    def pending(self, domain: str) -> list[DkimKey]:
        """The keys waiting for their records to be live everywhere."""
        directory = self.domain_dir(domain)
        return [
            self._load_key(directory, row)
            for row in self.state.dkim_keys(directory.name)
            if row.stage == DkimStage.PENDING
        ]

    def retired_names(self, domain: str) -> list[dns.name.Name]:
        """The record names of retired keys: their TXT RRsets are to be deleted."""
        name = _domain(domain)
        return [
            dns.name.from_text(f"{row.selector}._domainkey", origin=to_name(name))
            for row in self.state.dkim_keys(name)
            if row.stage == DkimStage.RETIRED
        ]

    def next_event(self, domain: str, management: AutomaticDkim) -> datetime | None:
        """When the domain's next time-driven rotation step is due (None: none is)."""
        return next_rotation_event(self.state.dkim_keys(_domain(domain)), management)

    # --- rows and files ---------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        return _utc(now or self.state.clock())

    def _rows(self, directory: Path, now: datetime) -> list[DkimKeyRow]:
        """The domain's rows; an ``index.json`` of an older dnsauto is imported first."""
        rows = self.state.dkim_keys(directory.name)
        index = directory / INDEX_FILE
        if rows or not index.exists():
            return rows
        migrated = [
            dataclasses.replace(self._migrated_row(directory, entry, now), position=position)
            for position, entry in enumerate(self._read_index(index), start=1)
        ]
        with contextlib.suppress(DkimKeyRaceError):  # another node imported its keys first
            self.state.save_dkim_keys(add=migrated)
        try:
            os.replace(index, index.with_name(INDEX_FILE + ".migrated"))
        except OSError as exc:
            log.warning("cannot rename %s after importing it: %s", index, exc.strerror)
        return self.state.dkim_keys(directory.name)

    def _known_rows(
        self, directory: Path, management: AutomaticDkim, now: datetime
    ) -> list[DkimKeyRow]:
        """The domain's rows; when the store knows no key of the domain, the key files in its
        directory are adopted first (see :meth:`_adopt`)."""
        rows = self._rows(directory, now)
        if rows:
            return rows
        adopted = self._adopt(directory, management, now)
        if not adopted:
            return rows
        try:
            self.state.save_dkim_keys(add=adopted)
        except DkimKeyRaceError:
            log.info("DKIM keys of %s were kept by another node first: using those", directory.name)
        return self.state.dkim_keys(directory.name)

    def _adopt(self, directory: Path, management: AutomaticDkim, now: datetime) -> list[DkimKeyRow]:
        """Rows for the key files of a domain the store knows nothing of (it was lost, or
        emptied): each key keeps its selector and its public key.

        These keys are what the MTA signs with and what DNS serves, so none is replaced at
        once: per configured algorithm the newest file (by modification time) is the active
        key, older ones are retiring (still published for ``retireAfter``), as are keys of
        algorithms no longer configured. A file that is no private key is moved aside.
        """
        found: list[tuple[datetime, str, DkimAlgorithm, str]] = []
        for path in sorted(directory.glob("*.pem")):
            selector = path.name.removesuffix(".pem")
            try:
                _check_selector(selector)
                private_pem = path.read_text(encoding="ascii")
                algorithm = _algorithm_of(private_pem, management)
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                log.warning("DKIM key file %s is not a usable key (%s); moving it aside", path, exc)
                _move_aside(path, now)
                continue
            found.append((min(modified, now), selector, algorithm, private_pem))
        found.sort()
        configured = {DkimAlgorithm(a) for a in management.algorithms}
        newest = {algorithm: selector for _, selector, algorithm, _ in found}
        rows = []
        for position, (modified, selector, algorithm, private_pem) in enumerate(found, start=1):
            active = algorithm in configured and newest[algorithm] == selector
            public = public_key_base64(private_pem, algorithm)
            rows.append(
                DkimKeyRow(
                    domain=directory.name,
                    selector=selector,
                    algorithm=algorithm.value,
                    stage=(DkimStage.ACTIVE if active else DkimStage.RETIRING).value,
                    public_value=dkim_txt_value(algorithm, public),
                    created=modified,
                    active_at=modified if active else None,
                    retiring_at=None if active else now,
                    position=position,
                    private_pem=private_pem,
                )
            )
            log.warning(
                "DKIM key %s of %s was on disk but not in the state store: adopted as %s",
                selector,
                directory.name,
                rows[-1].stage,
            )
        return rows

    def _migrated_row(self, directory: Path, entry: dict[str, str], now: datetime) -> DkimKeyRow:
        key = self._load_key(
            directory,
            DkimKeyRow(
                domain=directory.name,
                selector=entry["selector"],
                algorithm=entry["algorithm"],
                stage=entry["stage"],
                public_value="",
                created=_utc(datetime.fromisoformat(entry["created"])),
            ),
        )
        stage = key.stage
        return DkimKeyRow(
            domain=directory.name,
            selector=key.selector,
            algorithm=key.algorithm.value,
            stage=stage.value,
            public_value=key.public_value,
            created=key.created,
            active_at=key.created if stage is DkimStage.ACTIVE else None,
            retiring_at=now if stage is DkimStage.RETIRING else None,
            retired_at=now if stage is DkimStage.RETIRED else None,
            private_pem=key.private_pem,
        )

    def _create(
        self,
        directory: Path,
        rows: list[DkimKeyRow],
        new: Sequence[NewKey],
        template: str,
        now: datetime,
        updates: Sequence[DkimKeyRow] = (),
    ) -> tuple[list[DkimKeyRow], bool]:
        """Make the new keys and add them (and ``updates``) to the store in one commit; the
        domain's rows after it, and whether this process's keys are the ones kept.

        The new keys take the positions after the last of ``rows``: when another process
        (another node) added keys since it read them, its commit came first and won, and
        its keys are the ones used; this process's are dropped unseen. The files are
        written from the store afterwards (:meth:`_mirror`), so a crash in between leaves a
        key in the store whose file the next read writes.
        """
        used = {row.selector for row in rows}
        last = max((row.position for row in rows), default=0)
        made: list[DkimKeyRow] = []
        for position, key in enumerate(new, start=last + 1):
            selector = self._selector(directory, template, key.algorithm, now, used)
            used.add(selector)
            private_pem = generate_private_key(key.algorithm)
            public = public_key_base64(private_pem, key.algorithm)
            made.append(
                DkimKeyRow(
                    domain=directory.name,
                    selector=selector,
                    algorithm=key.algorithm.value,
                    stage=key.stage.value,
                    public_value=dkim_txt_value(key.algorithm, public),
                    created=now,
                    active_at=now if key.stage is DkimStage.ACTIVE else None,
                    position=position,
                    private_pem=private_pem,
                )
            )
        try:
            self.state.save_dkim_keys(add=made, update=updates)
        except DkimKeyRaceError:
            log.info("DKIM keys of %s were made by another node first: using those", directory.name)
            return self.state.dkim_keys(directory.name), False
        return self.state.dkim_keys(directory.name), True

    def write_files(self, since: datetime | None = None) -> list[str]:
        """Write the key files of every domain with a key changed at or after ``since`` (None:
        of every domain) as the store has them; the domains written.

        Each node of a cluster calls it: its MTA finds the keys another node made, rotated or
        retired. A domain whose files cannot be written is logged and skipped.
        """
        domains = self.state.dkim_keys_changed(since)
        for domain in domains:
            try:
                directory = self.domain_dir(domain)
                with self._locked(directory):
                    rows = self.state.dkim_keys(directory.name)
                    self._mirror(directory, rows, self._now(None))
            except DnsautoError as exc:
                log.warning("cannot write the DKIM key files of %s: %s", domain, exc.message)
        return domains

    def _mirror(self, directory: Path, rows: list[DkimKeyRow], now: datetime) -> list[DkimKeyRow]:
        """Make the domain's key files those of the store (under the domain's lock): a key's
        file written when missing or other, a deleted key's file deleted. A file the store
        does not know is moved aside, never overwritten. A key kept before version 6 has no
        private key in the store yet: its file is read into it. The rows, so completed."""
        result: list[DkimKeyRow] = []
        completed: list[DkimKeyRow] = []
        for row in rows:
            path = directory / f"{row.selector}.pem"
            if row.key_deleted_at is not None:
                _delete_file(path)
            elif row.private_pem is not None:
                _write_key_file(path, row.private_pem, now)
            else:
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    row = dataclasses.replace(row, private_pem=path.read_text(encoding="ascii"))
                    completed.append(row)
            result.append(row)
        if completed:
            self.state.save_dkim_keys(update=completed)
        return result

    def _selector(
        self,
        directory: Path,
        template: str,
        algorithm: DkimAlgorithm,
        now: datetime,
        used: Collection[str],
    ) -> str:
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
        if selector in used:
            raise DnsautoError(
                f"DKIM selector {selector!r} of {directory.name} is already used by another "
                f"key; make the selector template {template!r} tell the keys apart, e.g. with "
                "{algorithm} and {date-%Y%m%d}"
            )
        return selector

    def _read_index(self, path: Path) -> list[dict[str, str]]:
        try:
            text = path.read_text(encoding="utf-8")
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

    def _load_key(self, directory: Path, row: DkimKeyRow, *, derive: bool = True) -> DkimKey:
        """The key of ``row``; its public value derived now (raising if it is unusable) when
        ``derive``, else when first asked for (a sync: see :class:`DkimKey`)."""
        algorithm = DkimAlgorithm(row.algorithm)
        stage = DkimStage(row.stage)
        if row.key_deleted_at is not None:
            return DkimKey(
                selector=row.selector,
                algorithm=algorithm,
                created=row.created,
                public_value=row.public_value,
                private_pem="",
                stage=stage,
            )
        private_pem = row.private_pem
        where = f"{row.selector} of {row.domain} in the state store"
        if private_pem is None:  # kept before version 6, not read into the store yet
            path = directory / f"{row.selector}.pem"
            where = str(path)
            try:
                private_pem = path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not PEM text"
                raise DnsautoError(f"cannot read DKIM private key {path}: {reason}") from None
        key = DkimKey(
            selector=row.selector,
            algorithm=algorithm,
            created=row.created,
            private_pem=private_pem,
            stage=stage,
            source=where,
        )
        if derive:
            key.public_value  # noqa: B018 - derived now, so an unusable key is refused here
        return key

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


def _domain(domain: str) -> str:
    """The domain as the store and the directory name know it (checked: no path tricks)."""
    try:
        return check_hostname(domain)
    except ValueError as exc:
        raise DnsautoError(f"DKIM keys: invalid domain {domain!r}: {exc}") from None


_SIGNING_PREFERENCE = (DkimStage.ACTIVE, DkimStage.PENDING, DkimStage.RETIRING)


def _utc(moment: datetime) -> datetime:
    """A datetime in UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _algorithm_of(private_pem: str, management: AutomaticDkim) -> DkimAlgorithm:
    """The algorithm of a key file: the first configured one of its key type, else DKIM1's.

    :raises ValueError: the PEM is no RSA or Ed25519 private key.
    """
    try:
        key = serialization.load_pem_private_key(
            private_pem.encode("ascii"), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a readable unencrypted PEM private key: {exc}") from None
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_key = True
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        rsa_key = False
    else:
        raise ValueError(f"neither an RSA nor an Ed25519 key: {type(key).__name__}")
    for value in management.algorithms:
        if is_rsa(value) == rsa_key:
            return DkimAlgorithm(value)
    return DkimAlgorithm.DKIM1_RSA_SHA256 if rsa_key else DkimAlgorithm.DKIM1_ED25519_SHA256


def _move_aside(path: Path, now: datetime) -> None:
    """Rename a key file the store does not know to ``<name>.unknown-<UTC time>``, so that no
    key is ever overwritten; nothing to do when there is no such file."""
    aside = path.with_name(f"{path.name}.unknown-{now:%Y%m%dT%H%M%S%fZ}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DnsautoError(
            f"cannot move aside the unknown key file {path}: {exc.strerror}"
        ) from None
    log.warning("DKIM key file %s was not in the state store: moved aside to %s", path, aside.name)


def _write_key_file(path: Path, private_pem: str, now: datetime) -> None:
    """The key's file as the store has it: left alone when it is, else written (any other
    file there is moved aside first, never overwritten)."""
    if _file_holds(path, private_pem):
        return
    _move_aside(path, now)
    _write_private(path, private_pem.encode("ascii"))


def _file_holds(path: str | Path, private_pem: str) -> bool:
    """Whether the key file is there and holds this key (an unreadable one does not). Read
    with ``os.read``, a byte more than the key: a third of ``open``'s cost, and a sync reads
    every key file."""
    expected = private_pem.encode("ascii")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.read(fd, len(expected) + 1) == expected
    except OSError:
        return False
    finally:
        os.close(fd)


def _delete_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot delete DKIM key file %s: %s", path, exc.strerror)


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
