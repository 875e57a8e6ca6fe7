"""Undo a run: put back what it replaced or deleted, remove what it created.

The journal says, per RRset, what a run found (``old``) and what it wrote (``new``). A restore
reads what the provider serves now and plans, per RRset:

* served exactly as before the run: nothing to do (already restored, or never applied);
* served as the run left it: change it back to ``old`` (an ``Update``, a ``Create`` for what the
  run deleted, a ``Delete`` for what it created);
* anything else: someone changed it since. That is a conflict, reported and left alone.

"As the run left it" accepts the ``new`` of every entry of the run for that RRset, applied or
not, so a batch whose outcome is unknown (``pending`` after a crash, ``failed`` on a provider
that is not atomic) is judged by what is served, not by what the journal guessed. The changes
carry what was read as their ``old``, so a provider that checks prerequisites refuses them if
the RRset changes between the read and the write.

Values are compared as record data (TXT by its joined strings, however a provider splits
them), not TTLs: providers round TTLs, and a value change is what matters. The TTL is put
back with the values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnsauto.plugin.changes import Change, Create, Delete, Update, comparable_value
from dnsauto.state.store import JournalEntry
from dnsauto.sync.plan import Key, ZonePlan

__all__ = ["RestoreTarget", "plan_restore", "restore_targets"]


@dataclass
class RestoreTarget:
    """One RRset a run touched: what it was before, and what the run may have left there."""

    domain: str
    zone: str
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    old: list[str]
    old_ttl: int
    written: list[list[str]] = field(default_factory=list)
    """The ``new`` values of each journal entry of the run for this RRset."""

    @property
    def key(self) -> Key:
        return (self.name, self.rdtype)


def restore_targets(entries: Sequence[JournalEntry]) -> list[RestoreTarget]:
    """One target per (zone, name, type) of a run's entries, oldest entry's ``old`` first.

    A run that touched an RRset twice (planned again after a conflict) restores it to what
    it found the first time.
    """
    targets: dict[tuple[str, str, str], RestoreTarget] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        where = (entry.zone, entry.name.lower(), entry.type)
        target = targets.get(where)
        if target is None:
            target = RestoreTarget(
                domain=entry.domain,
                zone=entry.zone,
                name=dns.name.from_text(entry.name),
                rdtype=dns.rdatatype.from_text(entry.type),
                old=list(entry.old),
                old_ttl=entry.old_ttl if entry.old_ttl is not None else entry.ttl,
            )
            targets[where] = target
        target.written.append(list(entry.new))
    return list(targets.values())


def _canonical(rdtype: dns.rdatatype.RdataType, values: Iterable[str]) -> frozenset[str]:
    """Zone-file values as comparable data (TXT joined; names case-folded)."""
    return frozenset(
        comparable_value(dns.rdata.from_text(dns.rdataclass.IN, rdtype, v)) for v in values
    )


def _served(rrset: dns.rrset.RRset | None) -> frozenset[str]:
    return frozenset(comparable_value(r) for r in rrset) if rrset is not None else frozenset()


def plan_restore(
    zone: dns.name.Name,
    run_id: str,
    targets: Sequence[RestoreTarget],
    current: Iterable[dns.rrset.RRset],
) -> tuple[ZonePlan, list[str]]:
    """The changes that undo ``targets`` in ``zone``, and the conflicts left alone."""
    served = {(r.name, r.rdtype): r for r in current}
    plan = ZonePlan(zone)
    conflicts: list[str] = []
    for target in targets:
        have = served.get(target.key)
        plan.existing_values += len(have) if have is not None else 0
        now = _served(have)
        before = _canonical(target.rdtype, target.old)
        if now == before and (have is None or have.ttl == target.old_ttl):
            continue
        if not any(now == _canonical(target.rdtype, values) for values in target.written):
            shown = ", ".join(sorted(r.to_text() for r in have)) if have is not None else "nothing"
            conflicts.append(
                f"{target.name} {dns.rdatatype.to_text(target.rdtype)}: changed since run "
                f"{run_id} (now serves {shown}); left as it is"
            )
            continue
        change = _undo(target, have)
        if change is not None:
            plan.changes.append(change)
    return plan, conflicts


def _undo(target: RestoreTarget, have: dns.rrset.RRset | None) -> Change | None:
    if not target.old:
        return Delete(have) if have is not None else None
    restored = dns.rrset.from_text_list(
        target.name, target.old_ttl, dns.rdataclass.IN, target.rdtype, target.old
    )
    return Create(restored) if have is None else Update(have, restored)
