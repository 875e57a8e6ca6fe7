"""DKIM key rotation: which stage each key moves to, and when (Stalwart's ``DkimManagement``).

Per algorithm of the domain's ``dkimManagement``::

    Pending --(its TXT record is served by every nameserver)--> Active
    Active  --(a Pending successor became Active)------------> Retiring
    Retiring --(retireAfter, default 7 d)--------------------> Retired  (TXT RRset deleted)
    Retired --(deleteAfter, default 30 d)--------------------> private key file deleted

and an Active key older than ``rotateAfter`` (default 90 d, counted from when it became
Active) gets a Pending successor. A Pending, Active or Retiring key is published; a Retired one
is not. The first key of an algorithm starts Active: there is no older key to sign with
meanwhile, so waiting would gain nothing. A key whose algorithm was dropped from the
configuration starts retiring.

These functions only decide; :class:`~dnsauto.records.dkim.DkimKeyStore` makes, writes and
deletes. Time is always passed in, so tests drive a rotation with a fake clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dnsauto.config.domain import AutomaticDkim, DkimAlgorithm
from dnsauto.state.store import DkimKeyRow

__all__ = [
    "DkimStage",
    "NewKey",
    "RotationPlan",
    "missing_keys",
    "next_rotation_event",
    "plan_activation",
    "plan_rotation",
]


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


@dataclass(frozen=True)
class NewKey:
    """A key to generate: its algorithm and the stage it starts in."""

    algorithm: DkimAlgorithm
    stage: DkimStage


@dataclass
class RotationPlan:
    """What a rotation step does to one domain's keys."""

    create: list[NewKey] = field(default_factory=list)
    updates: list[DkimKeyRow] = field(default_factory=list)
    """Rows with their new stage and stage times."""
    delete_files: list[str] = field(default_factory=list)
    """Selectors whose private key file goes (their rows are in ``updates``)."""
    notes: list[str] = field(default_factory=list)
    """One line per transition, for the log."""

    def __bool__(self) -> bool:
        return bool(self.create or self.updates)


def _stage(row: DkimKeyRow) -> DkimStage:
    # A dict lookup: the enum's call was most of planning a rotation, which every sync does.
    found = _STAGES.get(row.stage)
    return found if found is not None else DkimStage(row.stage)


_STAGES: dict[str, DkimStage] = {stage.value: stage for stage in DkimStage}


def _active_since(row: DkimKeyRow) -> datetime:
    return row.active_at or row.created


def missing_keys(rows: Sequence[DkimKeyRow], management: AutomaticDkim) -> list[NewKey]:
    """A first, active key for each configured algorithm that has no published key."""
    configured = [DkimAlgorithm(a) for a in management.algorithms]
    return [
        NewKey(a, DkimStage.ACTIVE)
        for a in configured
        if not any(r.algorithm == a.value and _stage(r).is_published for r in rows)
    ]


def plan_rotation(
    rows: Sequence[DkimKeyRow], management: AutomaticDkim, now: datetime
) -> RotationPlan:
    """The time-driven steps due at ``now``: new keys, retirements and key file deletions."""
    plan = RotationPlan()
    configured = [DkimAlgorithm(a) for a in management.algorithms]
    for algorithm in configured:
        mine = [r for r in rows if r.algorithm == algorithm.value]
        by_stage = {s: [r for r in mine if _stage(r) is s] for s in DkimStage}
        active, pending = by_stage[DkimStage.ACTIVE], by_stage[DkimStage.PENDING]
        if not active and not pending:
            stage = DkimStage.PENDING if by_stage[DkimStage.RETIRING] else DkimStage.ACTIVE
            plan.create.append(NewKey(algorithm, stage))
            plan.notes.append(f"{algorithm}: new key ({stage})")
        elif active and not pending:
            newest = max(active, key=_active_since)
            if _active_since(newest) + management.rotate_after <= now:
                plan.create.append(NewKey(algorithm, DkimStage.PENDING))
                plan.notes.append(
                    f"{algorithm}: {newest.selector} is older than rotateAfter; new pending key"
                )
    for row in rows:
        stage = _stage(row)
        dropped = row.algorithm not in {a.value for a in configured}
        if dropped and stage in (DkimStage.ACTIVE, DkimStage.PENDING):
            plan.updates.append(_move(row, DkimStage.RETIRING, now))
            plan.notes.append(f"{row.selector}: algorithm no longer configured; retiring")
        elif (
            stage is DkimStage.RETIRING
            and _since(row.retiring_at, row) + management.retire_after <= now
        ):
            plan.updates.append(_move(row, DkimStage.RETIRED, now))
            plan.notes.append(f"{row.selector}: retired; its TXT record is removed")
        elif (
            stage is DkimStage.RETIRED
            and row.key_deleted_at is None
            and _since(row.retired_at, row) + management.delete_after <= now
        ):
            plan.updates.append(dataclasses.replace(row, key_deleted_at=now))
            plan.delete_files.append(row.selector)
            plan.notes.append(f"{row.selector}: deleteAfter passed; private key file deleted")
    return plan


def plan_activation(
    rows: Sequence[DkimKeyRow], confirmed: Collection[str], now: datetime
) -> list[DkimKeyRow]:
    """Pending keys in ``confirmed`` (their records are live) become Active; the Active keys
    of the same algorithms start retiring."""
    promoted = [r for r in rows if _stage(r) is DkimStage.PENDING and r.selector in confirmed]
    algorithms = {r.algorithm for r in promoted}
    updates = [_move(r, DkimStage.ACTIVE, now) for r in promoted]
    updates += [
        _move(r, DkimStage.RETIRING, now)
        for r in rows
        if _stage(r) is DkimStage.ACTIVE and r.algorithm in algorithms
    ]
    return updates


def next_rotation_event(rows: Sequence[DkimKeyRow], management: AutomaticDkim) -> datetime | None:
    """When the next time-driven step of these keys is due (a scheduler wakes up then).

    Pending keys wait for propagation, not for time, so they give no time.
    """
    times: list[datetime] = []
    for row in rows:
        stage = _stage(row)
        if stage is DkimStage.ACTIVE:
            times.append(_active_since(row) + management.rotate_after)
        elif stage is DkimStage.RETIRING:
            times.append(_since(row.retiring_at, row) + management.retire_after)
        elif stage is DkimStage.RETIRED and row.key_deleted_at is None:
            times.append(_since(row.retired_at, row) + management.delete_after)
    return min(times, default=None)


def _since(moment: datetime | None, row: DkimKeyRow) -> datetime:
    """A stage time, or the key's creation when the stage time is unknown (migrated keys)."""
    return moment or row.created


def _move(row: DkimKeyRow, stage: DkimStage, now: datetime) -> DkimKeyRow:
    """The row in ``stage``, with the time it entered it."""
    if stage is DkimStage.ACTIVE:
        return dataclasses.replace(row, stage=stage.value, active_at=now)
    if stage is DkimStage.RETIRING:
        return dataclasses.replace(row, stage=stage.value, retiring_at=now)
    if stage is DkimStage.RETIRED:
        return dataclasses.replace(row, stage=stage.value, retired_at=now)
    return dataclasses.replace(row, stage=stage.value)
