"""RRset changes as the fewest per-record calls, for APIs that address each record by its id.

Cloudflare, DigitalOcean, Dnsimple, Bunny and Porkbun (and later OVH) store records, not
RRsets: changing or deleting one needs its id. :class:`RecordIds` remembers the id of every
value ``list_rrsets`` saw; :func:`record_calls` turns a batch of RRset changes into calls that
keep the values an update leaves alone, change a removed value into an added one in place where
it can, delete the other removed values by id and create the other added ones.

Writing whole RRsets this way avoids the bugs of Stalwart's ``dns-update`` crate: its delete
removes only the first matching record (stale values survive) and its create fails when a
second value is added (two MX, a CAA ``issue`` beside an ``iodef``).

A provider that makes one API call per record hands :func:`apply_record_by_record` a function
for each kind of call; when a call fails part way, the error says which calls and which changes
went through (see :mod:`dnsauto.plugin.batches`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

from dnsauto.plugin.batches import ApplyProgress
from dnsauto.plugin.changes import Change, Create, Delete, comparable_value
from dnsauto.plugin.errors import ConflictError, ProviderError

__all__ = [
    "ListedRecord",
    "NewRecord",
    "RecordCall",
    "RecordCalls",
    "RecordDelete",
    "RecordIds",
    "RecordUpdate",
    "apply_record_by_record",
    "indexed_calls",
    "record_calls",
]

_Key = tuple[dns.name.Name, dns.rdatatype.RdataType]

ListedRecord = tuple[dns.name.Name, dns.rdatatype.RdataType, dns.rdata.Rdata, str, int]
"""One record of a listing, as a provider parses it: (name, type, rdata, id, TTL)."""


@dataclass(frozen=True)
class NewRecord:
    """A record to create."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    ttl: int
    rdata: dns.rdata.Rdata


@dataclass(frozen=True)
class RecordUpdate:
    """The record ``id`` rewritten to hold ``rdata`` with ``ttl`` (a new value or a new TTL)."""

    id: str
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    ttl: int
    rdata: dns.rdata.Rdata


@dataclass(frozen=True)
class RecordDelete:
    """The record ``id`` to delete."""

    id: str
    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    rdata: dns.rdata.Rdata


@dataclass
class RecordCalls:
    """The per-record calls for a batch of RRset changes, in the order to make them."""

    deletes: list[RecordDelete] = field(default_factory=list)
    updates: list[RecordUpdate] = field(default_factory=list)
    creates: list[NewRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.deletes) + len(self.updates) + len(self.creates)


RecordCall = RecordDelete | RecordUpdate | NewRecord
"""One per-record API call."""


class RecordIds:
    """The provider ids of the records last listed, by name, type and value."""

    def __init__(self) -> None:
        self._ids: dict[_Key, dict[str, list[str]]] = {}

    def learn(
        self,
        records: Iterable[tuple[dns.name.Name, dns.rdatatype.RdataType, dns.rdata.Rdata, str]],
        names: Collection[dns.name.Name] | None = None,
    ) -> None:
        """Take ``(name, type, rdata, id)`` from a listing of ``names`` (all when ``None``).

        What was known at the listed names is forgotten first: the listing is the truth.
        """
        if names is None:
            self._ids.clear()
        else:
            wanted = set(names)
            for key in [k for k in self._ids if k[0] in wanted]:
                del self._ids[key]
        for name, rdtype, rdata, record_id in records:
            values = self._ids.setdefault((name, rdtype), {})
            values.setdefault(comparable_value(rdata), []).append(record_id)

    def rrsets_from_listing(
        self,
        records: Iterable[ListedRecord],
        names: Collection[dns.name.Name] | None = None,
    ) -> list[dns.rrset.RRset]:
        """The RRsets of a whole-zone listing at ``names`` (all when ``None``), the records
        grouped by name and type; the id of every record listed is learnt."""
        listed = list(records)
        self.learn((name, rdtype, rdata, record_id) for name, rdtype, rdata, record_id, _ in listed)
        wanted = set(names) if names is not None else None
        rrsets: dict[_Key, dns.rrset.RRset] = {}
        for name, rdtype, rdata, _, ttl in listed:
            if wanted is None or name in wanted:
                rrset = rrsets.get((name, rdtype))
                if rrset is None:
                    rrset = rrsets[(name, rdtype)] = dns.rrset.RRset(name, rdata.rdclass, rdtype)
                rrset.add(rdata, ttl)
        return list(rrsets.values())

    def ids_of(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, rdata: dns.rdata.Rdata
    ) -> list[str]:
        """Every id holding this value (APIs may hold duplicates; all go together)."""
        return list(self._ids.get((name, rdtype), {}).get(comparable_value(rdata), []))

    def forget(self, record_id: str) -> None:
        for values in self._ids.values():
            for ids in values.values():
                if record_id in ids:
                    ids.remove(record_id)

    def add(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        rdata: dns.rdata.Rdata,
        record_id: str,
    ) -> None:
        self._ids.setdefault((name, rdtype), {}).setdefault(comparable_value(rdata), []).append(
            record_id
        )


def record_calls(changes: Sequence[Change], ids: RecordIds) -> RecordCalls:
    """The per-record calls that carry out ``changes``.

    Raises ``ConflictError`` when a value to keep, change or delete has no known id: the zone
    changed since it was listed, or was not listed; the core reads it again and replans.
    """
    calls = RecordCalls()
    for change in changes:
        old = change.old if not isinstance(change, Create) else None
        new = change.new if not isinstance(change, Delete) else None
        _rrset_calls(old, new, ids, calls)
    return calls


def indexed_calls(changes: Sequence[Change], ids: RecordIds) -> list[tuple[int, RecordCall]]:
    """The calls of :func:`record_calls`, in its order, each with the index of its change."""
    per_change = [record_calls([change], ids) for change in changes]
    indexed: list[tuple[int, RecordCall]] = []
    for kind in ("deletes", "updates", "creates"):
        for index, calls in enumerate(per_change):
            indexed.extend((index, call) for call in getattr(calls, kind))
    return indexed


async def apply_record_by_record(
    changes: Sequence[Change],
    ids: RecordIds,
    *,
    delete: Callable[[RecordDelete], Awaitable[None]],
    update: Callable[[RecordUpdate], Awaitable[str]],
    create: Callable[[NewRecord], Awaitable[str]],
) -> None:
    """Carry out ``changes`` one record call at a time: every delete, then every update, then
    every create of the batch (:func:`indexed_calls`), keeping ``ids`` up to date; ``update``
    and ``create`` return the id of the record they wrote.

    A failing call's error names it, the calls made before it and those not made, so what the
    zone now holds is said, not guessed. When any call went through it is raised as a
    ``PartialApplyError`` naming the changes applied, partly applied and untouched (see
    :mod:`dnsauto.plugin.batches`); otherwise as it is.
    """
    calls = indexed_calls(changes, ids)
    described = [_describe(call) for _, call in calls]
    made = 0

    async def send(call: RecordCall) -> None:
        nonlocal made
        try:
            if isinstance(call, RecordDelete):
                await delete(call)
                ids.forget(call.id)
            elif isinstance(call, RecordUpdate):
                written = await update(call)
                ids.forget(call.id)
                ids.add(call.name, call.rdtype, call.rdata, written)
            else:
                ids.add(call.name, call.rdtype, call.rdata, await create(call))
        except ProviderError as exc:
            before, after = ", ".join(described[:made]) or "none", ", ".join(described[made:])
            exc.args = (f"{exc.message} (at {described[made]}; made before it: {before}; "
                        f"not made: {after})",)  # fmt: skip
            raise
        made += 1

    await ApplyProgress(changes, calls).one_by_one(send)


def _rrset_calls(
    old: dns.rrset.RRset | None,
    new: dns.rrset.RRset | None,
    ids: RecordIds,
    calls: RecordCalls,
) -> None:
    old_values = {comparable_value(r): r for r in old} if old is not None else {}
    new_values = {comparable_value(r): r for r in new} if new is not None else {}
    removed = [old_values[k] for k in sorted(old_values.keys() - new_values.keys())]
    added = [new_values[k] for k in sorted(new_values.keys() - old_values.keys())]
    if new is not None and old is not None and new.ttl != old.ttl:
        for key in sorted(old_values.keys() & new_values.keys()):
            for record_id in _known_ids(old, old_values[key], ids):
                calls.updates.append(
                    RecordUpdate(record_id, new.name, new.rdtype, new.ttl, new_values[key])
                )
    for rdata in removed:
        assert old is not None  # values are only removed from an existing RRset
        record_ids = _known_ids(old, rdata, ids)
        if added and new is not None:
            first, *record_ids = record_ids
            calls.updates.append(RecordUpdate(first, new.name, new.rdtype, new.ttl, added.pop(0)))
        calls.deletes.extend(RecordDelete(i, old.name, old.rdtype, rdata) for i in record_ids)
    if new is not None:
        calls.creates.extend(NewRecord(new.name, new.rdtype, new.ttl, rdata) for rdata in added)


def _known_ids(rrset: dns.rrset.RRset, rdata: dns.rdata.Rdata, ids: RecordIds) -> list[str]:
    found = ids.ids_of(rrset.name, rrset.rdtype, rdata)
    if not found:
        raise ConflictError(
            f"no record holds {rdata.to_text()} any more (or it was not listed)",
            name=rrset.name.to_text(),
            rdtype=dns.rdatatype.to_text(rrset.rdtype),
        )
    return found


def _describe(call: RecordCall) -> str:
    kind = {RecordDelete: "delete", RecordUpdate: "update", NewRecord: "create"}[type(call)]
    return f"{kind} {call.name} {dns.rdatatype.to_text(call.rdtype)} {call.rdata.to_text()[:60]}"
