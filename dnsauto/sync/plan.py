"""Desired versus current records: the changes one zone needs, with the ownership rules.

* Names only dnsauto writes (``_dmarc``, ``_smtp._tls``, ``*._domainkey``, SRV and TLSA names,
  the CNAMEs, the apex MX, ...) are replaced as whole RRsets.
* Shared names keep every foreign value. TXT at a name dnsauto does not own (the apex, MX hosts)
  is replaced by family, the ``v=`` tag of each value; SPF is merged into the one ``v=spf1``
  record already there rather than replacing it. CAA ``issue``/``issuewild`` values are replaced
  by issuer and ``iodef`` by URL; other CAs' values stay; blanks after ``;`` do not count.
* Nothing is deleted unless the caller names it.
* A name in a zone below the one planned (past a zone cut, :mod:`dnsauto.sync.cuts`) is left
  out: that zone's own domain publishes it, or nobody does (a warning says so).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

from dnsauto.plugin.changes import Change, Create, Delete, Update, comparable_value, rrset_values
from dnsauto.plugin.errors import UnsafePlanError
from dnsauto.plugin.names import canonical_order
from dnsauto.plugin.txt import txt_rdata
from dnsauto.records.spf import count_dns_lookups, is_spf, merge_spf
from dnsauto.sync.cuts import Cuts, Elsewhere, split_by_zone, zone_cut

__all__ = [
    "OWNED_TXT_LABELS",
    "Key",
    "ZonePlan",
    "is_shared",
    "leaves_unchanged",
    "plan_zone",
    "raise_ttls",
    "txt_family",
]

Key = tuple[dns.name.Name, dns.rdatatype.RdataType]

OWNED_TXT_LABELS = (
    b"_dmarc",
    b"_mta-sts",
    b"_ua-auto-config",
    b"_validation-persist",
    b"_domainkey",
)
"""TXT at a name with one of these labels belongs to dnsauto alone (as in Stalwart 0.16.7+)."""

SPF_LOOKUP_LIMIT = 10
TXT = dns.rdatatype.TXT
CAA = dns.rdatatype.CAA
CNAME = dns.rdatatype.CNAME


@dataclass
class ZonePlan:
    """The changes for one zone, and what the planner noticed on the way."""

    zone: dns.name.Name
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    existing_values: int = 0
    """How many record values the planner saw at the names it read."""
    existing: dict[Key, list[str]] = field(default_factory=dict)
    """Those values, by (name, type)."""
    elsewhere: list[Elsewhere] = field(default_factory=list)
    """The desired RRsets left out because they lie in a zone below this one."""

    def __bool__(self) -> bool:
        return bool(self.changes)

    def plan_id(self) -> str:
        """A short digest of the changes: the same plan made again has the same id, so an
        approval of a refused plan lets that plan through and no other."""
        digest = hashlib.sha256(self.zone.to_text().encode())
        for change in self.changes:
            parts = [change.action, change.name.to_text(), change.rdtype.name]
            parts += [*rrset_values(change.old), "->", *rrset_values(change.new)]
            digest.update(json.dumps(parts).encode())
        return digest.hexdigest()[:16]

    def removed_values(self, owned: Mapping[Key, set[str]] | None = None) -> int:
        """Values that the plan deletes or replaces; with ``owned``, only those not in it."""
        owned = owned or {}
        removed = 0
        for change in self.changes:
            if change.old is None:  # a create removes nothing (its new values need no text)
                continue
            gone = set(rrset_values(change.old)) - set(rrset_values(change.new))
            removed += len(gone - owned.get((change.name, change.rdtype), set()))
        return removed

    def raise_if_unsafe(
        self,
        max_share: float = 0.3,
        min_existing: int = 10,
        *,
        owned: Mapping[Key, set[str]] | None = None,
    ) -> None:
        """Refuse a plan removing more than ``max_share`` of at least ``min_existing`` values.

        With ``owned`` (the values dnsauto wrote, by (name, type)), only the other values count:
        the stop protects what dnsauto did not write, so a change of dnsauto's own records (a
        new ``serverHostname``) goes through however much it replaces.
        """
        if owned is None:
            existing, whose = self.existing_values, ""
        else:
            existing = sum(
                len(set(values) - owned.get(key, set())) for key, values in self.existing.items()
            )
            whose = " dnsauto did not write"
        if existing < min_existing:
            return
        share = self.removed_values(owned) / existing
        if share > max_share:
            raise UnsafePlanError(
                f"zone {self.zone.to_text()}: the plan removes or replaces {share:.0%} of the "
                f"{existing} existing values{whose} at the names it touches, more than "
                f"{max_share:.0%}; check it with 'dnsauto plan' and rerun with --force"
            )


def is_shared(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> bool:
    """Whether foreign values may live in the RRset at (name, type) beside dnsauto's."""
    if rdtype == CAA:
        return True
    if rdtype == TXT:
        return not any(label.lower() in OWNED_TXT_LABELS for label in name.labels)
    return False


def txt_family(text: str) -> str | None:
    """The ``v=`` tag that says what a TXT value is (``spf1``, ``DMARC1``), if it has one."""
    head = text.lstrip().split(";", 1)[0].split(" ", 1)[0]
    if head[:2].lower() == "v=" and len(head) > 2:
        return head[2:].lower()
    return None


_Ordered = tuple[tuple[bytes, ...], dns.rdatatype.RdataType]
"""A (name, type) key by the name's :func:`canonical_order`: equal for equal names."""


def plan_zone(
    zone: dns.name.Name,
    desired: Iterable[dns.rrset.RRset],
    current: Iterable[dns.rrset.RRset],
    *,
    delete: Iterable[Key] = (),
    min_ttl: int | None = None,
    cuts: Cuts | None = None,
) -> ZonePlan:
    """Compare ``desired`` with ``current`` and return the changes ``zone`` needs.

    ``current`` may hold RRsets at other names; only the names in ``desired`` and ``delete``
    are considered. ``delete`` names (name, type) RRsets that dnsauto created and no longer
    wants. A desired TTL below the provider's ``min_ttl`` is raised to it, with a warning.
    Names in a zone of ``cuts`` below ``zone`` are neither created nor deleted: they are
    listed in :attr:`ZonePlan.elsewhere` (with a warning when no configured domain publishes
    that zone).
    """
    # Looked up by each name's lower-case labels: a dnspython Name hashes itself one
    # character at a time, a tuple of bytes in C.
    current_by_key: dict[_Ordered, dns.rrset.RRset] = {
        (canonical_order(r.name), r.rdtype): r for r in current
    }
    types_at_name: dict[tuple[bytes, ...], set[dns.rdatatype.RdataType]] = {}
    for order, rdtype in current_by_key:
        types_at_name.setdefault(order, set()).add(rdtype)

    plan = ZonePlan(zone)
    if cuts:
        desired, plan.elsewhere = split_by_zone(zone, desired, cuts)
        plan.warnings.extend(_unpublished(plan.elsewhere))
        delete = [key for key in delete if zone_cut(key[0], zone, cuts) is None]
    if min_ttl is not None:
        desired = raise_ttls(desired, min_ttl, plan.warnings)
    touched: set[_Ordered] = set()
    for ordered, want in sorted(
        (((canonical_order(r.name), r.rdtype), r) for r in desired), key=lambda pair: pair[0]
    ):
        key = (want.name, want.rdtype)
        touched.add(ordered)
        have = current_by_key.get(ordered)
        if not want.name.is_subdomain(zone):
            plan.warnings.append(f"{want.name} is outside zone {zone}; not published")
            continue
        clash = _cname_clash(want, types_at_name.get(ordered[0], set()))
        if clash:
            plan.warnings.append(clash)
            continue
        if have is not None:
            plan.existing_values += len(have)
            plan.existing[key] = rrset_values(have)
        change = _change_for(want, have, plan.warnings)
        if change is not None:
            plan.changes.append(change)
    for key in delete:
        ordered = (canonical_order(key[0]), key[1])
        have = current_by_key.get(ordered)
        if ordered not in touched and have is not None:
            plan.existing_values += len(have)
            plan.existing[key] = rrset_values(have)
            plan.changes.append(Delete(have))
    return plan


def _unpublished(elsewhere: Iterable[Elsewhere]) -> list[str]:
    return [
        f"{name} {dns.rdatatype.to_text(rdtype)}: in zone {group.zone}, which no configured "
        "domain publishes; not published"
        for group in elsewhere
        if group.domain is None
        for name, rdtype in group.keys
    ]


def raise_ttls(
    rrsets: Iterable[dns.rrset.RRset], min_ttl: int, warnings: list[str]
) -> list[dns.rrset.RRset]:
    """``rrsets`` with every TTL below ``min_ttl`` raised to it, each raise said in ``warnings``."""
    raised: list[dns.rrset.RRset] = []
    for rrset in rrsets:
        if rrset.ttl < min_ttl:
            warnings.append(
                f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: TTL {rrset.ttl}s is below "
                f"the provider's minimum; published with {min_ttl}s"
            )
            rrset = dns.rrset.from_rdata_list(rrset.name, min_ttl, list(rrset))
        raised.append(rrset)
    return raised


def _cname_clash(want: dns.rrset.RRset, present: set[dns.rdatatype.RdataType]) -> str | None:
    others = present - {want.rdtype}
    if want.rdtype == CNAME and others:
        kinds = ", ".join(sorted(dns.rdatatype.to_text(t) for t in others))
        return (
            f"{want.name}: not publishing CNAME because foreign {kinds} records exist at the "
            "name (a CNAME cannot share its name); remove them or drop the record type"
        )
    if want.rdtype != CNAME and CNAME in present:
        return (
            f"{want.name}: not publishing {dns.rdatatype.to_text(want.rdtype)} because a "
            "foreign CNAME exists at the name"
        )
    return None


def _change_for(
    want: dns.rrset.RRset, have: dns.rrset.RRset | None, warnings: list[str]
) -> Change | None:
    if have is None:
        _warn_spf(want, warnings)
        return Create(want)
    if is_shared(want.name, want.rdtype):
        merged = _merge_shared(want, have)
        _warn_spf(merged, warnings)
        if _same_values(merged, have):
            return None
        return Update(have, merged)
    _warn_spf(want, warnings)
    if _same_values(want, have) and want.ttl == have.ttl:
        return None
    return Update(have, want)


def leaves_unchanged(want: dns.rrset.RRset, have: dns.rrset.RRset | None) -> bool:
    """Whether a plan for ``want`` would leave ``have`` as it is, TTLs aside.

    At a shared name that is: ``have`` already holds the managed values among the foreign
    ones, with an SPF record merged as :func:`plan_zone` merges it. Elsewhere: the same values.
    """
    if have is None:
        return False
    if is_shared(want.name, want.rdtype):
        return _same_values(_merge_shared(want, have), have)
    return _same_values(want, have)


def _same_values(a: dns.rrset.RRset, b: dns.rrset.RRset) -> bool:
    return set(rrset_values(a)) == set(rrset_values(b))


def _merge_shared(want: dns.rrset.RRset, have: dns.rrset.RRset) -> dns.rrset.RRset:
    if want.rdtype == TXT:
        values = _merge_txt(list(want), list(have))
    else:
        values = _merge_caa(list(want), list(have))
    merged = dns.rrset.RRset(want.name, want.rdclass, want.rdtype)
    for rdata in values:
        merged.add(rdata, want.ttl)
    return merged


def _merge_txt(
    wanted: Sequence[dns.rdata.Rdata], existing: Sequence[dns.rdata.Rdata]
) -> list[dns.rdata.Rdata]:
    wanted_texts = [_text(r) for r in wanted]
    wanted_families = {txt_family(t) for t in wanted_texts} - {None}
    result: list[dns.rdata.Rdata] = []
    existing_spf: list[str] = []
    for rdata in existing:
        text = _text(rdata)
        family = txt_family(text)
        if family == "spf1" and "spf1" in wanted_families:
            existing_spf.append(text)
        elif family is None or family not in wanted_families:
            result.append(rdata)
    for text in wanted_texts:
        if txt_family(text) == "spf1" and existing_spf:
            merged = existing_spf[0]
            for other in existing_spf[1:]:
                merged = merge_spf(merged, _spf_terms(other))
            text = merge_spf(merged, _spf_terms(text))
        rdata = txt_rdata(text)
        if not any(_text(r) == text for r in result):
            result.append(rdata)
    return result


def _text(rdata: dns.rdata.Rdata) -> str:
    """A TXT value's strings joined; bytes that are not UTF-8 never stop a plan."""
    return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]


def _spf_terms(spf: str) -> list[str]:
    """The mechanisms and modifiers of an SPF record that a merge must keep (not ``all``)."""
    terms = spf.split()[1:]
    return [t for t in terms if t.lstrip("+-~?").lower() != "all"]


def _caa_key(rdata: dns.rdata.Rdata) -> tuple[bytes, bytes]:
    tag = bytes(rdata.tag).lower()  # type: ignore[attr-defined]
    value = bytes(rdata.value)  # type: ignore[attr-defined]
    if tag in (b"issue", b"issuewild"):
        return tag, value.split(b";", 1)[0].strip().lower()
    return tag, value


def _merge_caa(
    wanted: Sequence[dns.rdata.Rdata], existing: Sequence[dns.rdata.Rdata]
) -> list[dns.rdata.Rdata]:
    wanted_keys = {_caa_key(r) for r in wanted}
    kept = [r for r in existing if _caa_key(r) not in wanted_keys]
    # A value already there in another spelling (``ca; accounturi=`` for ``ca;accounturi=``)
    # is kept as it is: rewriting it would change nothing but churn the RRset every sync.
    present = {comparable_value(r): r for r in existing}
    ours = [present.get(comparable_value(r), r) for r in wanted]
    return [*kept, *ours]


def _warn_spf(rrset: dns.rrset.RRset, warnings: list[str]) -> None:
    if rrset.rdtype != TXT:
        return
    for rdata in rrset:
        text = _text(rdata)
        if not is_spf(text):
            continue
        try:
            lookups = count_dns_lookups(text)
        except ValueError:
            continue
        if lookups > SPF_LOOKUP_LIMIT:
            warnings.append(
                f"{rrset.name}: the SPF record needs {lookups} DNS lookups, more than RFC 7208's "
                f"limit of {SPF_LOOKUP_LIMIT}; receivers will treat it as a permanent error"
            )
