"""Skipping the read and the plan of a zone that cannot have changed since its last sync.

A provider with ``capabilities.change_marker`` reports a value that changes with every change
of a zone (an RFC 2136 server: the SOA serial). A successful sync keeps, per domain, a
:class:`~dnsauto.state.store.ZoneMark`: the zone's marker after the sync and a digest of
what was synced (what the desired RRsets are built from, :class:`DesiredInputs`, and the
domain's DnsServer settings). The next sync asks only for the marker (one SOA query); when
marker and digest are both unchanged, the zone holds what the last sync left and the desired
records are the same, so building, reading and planning would find nothing to do: the result
says ``skipped: unchanged``. The digest is of the inputs rather than of the built records
because building is a pure function of them and costs a hundred times more; a dnsauto whose
building changes without a new release (a development checkout) bumps ``_DIGEST_VERSION``.

The zone is still read in full:

* when the last read in full is older than ``daemon.fullReadInterval``, so a change that does
  not move the marker (a zone file edited without raising its serial, a server restored from
  a backup of the same serial) is noticed within that time;
* after any error (a failed sync forgets the mark), a restore (which forgets the marks of the
  domains it touched), and a change of the domain's records or DnsServer settings (the digest);
* when retired DKIM keys' records are to be deleted, in ``dnsauto plan`` and ``--dry-run``.

The marker kept after a sync that wrote is read right after the write. A change made by
someone else between this sync's read and that moment, at a desired name the plan did not
touch, is only seen at the next full read; a change to the RRsets the sync wrote makes the
write fail (its prerequisites) and is read again at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from dnsauto.state.store import ZoneMark
from dnsauto.sync.desired import DesiredInputs
from dnsauto.sync.jobs import DomainJob
from dnsauto.sync.plan import Key

__all__ = ["SKIPPED_UNCHANGED", "desired_digest", "may_skip"]

SKIPPED_UNCHANGED = "unchanged"
"""The reason a sync skipped the read and the plan (``DomainResult.skipped``)."""

_DIGEST_VERSION = b"dnsauto-resync-2\n"
"""Part of every digest: a dnsauto whose planning changes bumps it, and reads every zone."""


def desired_digest(job: DomainJob, server_fingerprint: str, inputs: DesiredInputs) -> str:
    """A digest of what a sync of ``job`` would make the zone hold, and where: the inputs the
    desired RRsets are built from, the zone and the DnsServer's settings."""
    digest = hashlib.sha256(_DIGEST_VERSION)
    digest.update(f"{job.server_id}\n{job.origin or job.domain}\n".encode())
    digest.update(server_fingerprint.encode())
    digest.update(b"\n")
    digest.update(inputs.fingerprint())
    return digest.hexdigest()


def may_skip(
    mark: ZoneMark | None,
    digest: str,
    delete: Sequence[Key],
    *,
    now: datetime,
    full_read_interval: timedelta,
) -> bool:
    """Whether the zone need only be asked for its marker (see the module docstring)."""
    if mark is None or delete or mark.digest != digest:
        return False
    return now - mark.full_read_at < full_read_interval
