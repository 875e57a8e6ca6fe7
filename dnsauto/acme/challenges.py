"""Challenge TXT values at a shared name, written through the sync's plan and apply stages.

An ``_acme-challenge`` name is shared: an order for ``example.com`` and ``*.example.com`` puts
two values there, another client may keep its own beside them, and a cleanup removes only the
values it was given. Both the ``dnsauto acme-hook`` (one value per call, see
:mod:`dnsauto.acme.hook`) and the service's orders (every value of an order, see
:mod:`dnsauto.acme.orders`) read the RRsets, plan and apply here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset

from dnsauto.plugin.changes import Change, Delete, Update, comparable_value
from dnsauto.plugin.errors import ConflictError, DnsautoError
from dnsauto.plugin.provider import Provider, Zone
from dnsauto.state.store import StateStore
from dnsauto.sync.apply import apply_changes
from dnsauto.sync.jobs import DomainJob, DomainResult
from dnsauto.sync.plan import plan_zone

__all__ = ["Planner", "apply_planned", "beside", "without_values"]

log = logging.getLogger(__name__)

Planner = Callable[[list[dns.rrset.RRset]], Sequence[Change]]
"""The changes to make, given every RRset now at the names (any type: a CNAME is a clash)."""


async def apply_planned(
    store: StateStore,
    run_id: str,
    provider: Provider[Any],
    job: DomainJob,
    zone: Zone,
    names: Sequence[dns.name.Name],
    plan: Planner,
    new_result: Callable[[], DomainResult],
) -> list[Change]:
    """Read the RRsets at ``names``, plan, apply them journaled (into a ``new_result()``) and
    return what was applied. A conflict (an RRset changed between the read and the write) is
    read and planned again once; a second one is raised."""
    wanted = set(names)
    for attempt in (1, 2):
        listed = await provider.list_rrsets(
            zone, list(names) if provider.capabilities.can_list_names else None
        )
        changes = list(plan([r for r in listed if r.name in wanted]))
        if not changes:
            return []
        try:
            await apply_changes(store, run_id, provider, job, zone, changes, new_result())
        except ConflictError as exc:
            if attempt == 2:
                raise
            log.warning("%s: %s; reading again and planning once more", zone.name, exc.message)
            continue
        return changes
    raise AssertionError("unreachable")  # pragma: no cover


def without_values(
    current: Sequence[dns.rrset.RRset], ours: Mapping[dns.name.Name, Collection[str]]
) -> list[Change]:
    """The changes that take ``ours`` (TXT values by name, as :func:`comparable_value` has
    them) out of the TXT RRsets in ``current``: an RRset keeps every other value, and goes
    when none is left."""
    changes: list[Change] = []
    for have in current:
        mine = ours.get(have.name, ())
        if have.rdtype != dns.rdatatype.TXT or not mine:
            continue
        keep = [r for r in have if comparable_value(r) not in mine]
        if len(keep) == len(have):
            continue
        if keep:
            changes.append(Update(have, dns.rrset.from_rdata_list(have.name, have.ttl, keep)))
        else:
            changes.append(Delete(have))
    return changes


def beside(zone: Zone, desired: Sequence[dns.rrset.RRset]) -> Planner:
    """A planner that adds the ``desired`` values beside whatever else is at their names
    (:func:`dnsauto.sync.plan.plan_zone`: a challenge name is shared). A name it cannot write
    (a CNAME there) is an error rather than a value that would never be served."""

    def plan(current: list[dns.rrset.RRset]) -> Sequence[Change]:
        planned = plan_zone(zone.name, list(desired), current, min_ttl=zone.min_ttl)
        if not planned.changes and planned.warnings:
            raise DnsautoError("; ".join(planned.warnings))
        return planned.changes

    return plan
