"""What the daemon's runs did, for ``x:Task/get``: a Task is one run, its id the run id.

A Task has Stalwart's ``TaskDnsManagement`` shape (``domainId``, ``updateRecords``,
``onSuccessRenewCertificate``, ``status`` a ``TaskStatus``) and dnsauto's fields beside it:
``runStatus`` (the run's status as a word), ``reasons`` and ``domains`` (each domain's outcome,
by name, with its Domain's ``domainId``; an alias's is its domain's).
A run that ordered certificates by ACME (``[acme] obtainCertificates``) has
``onSuccessRenewCertificate`` true, as Stalwart's task that chains an ``AcmeRenewal``, and
``certificates``: each one's ``action`` (issued, renewed, staged, deployed, failed), ``error``,
``needsAttention`` and ``nextAttempt``; a failed order fails the Task.

The daemon reports every domain's result (:meth:`TaskTracker.record_result`); the API notes the
runs it asked for (:meth:`TaskTracker.requested`). The most recent :data:`KEEP` runs are kept in
memory; an older run (or one from before a restart) is still found while it is some domain's
last result in the state store.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dnsauto.acme.orders import OrderOutcome
    from dnsauto.state.store import DomainStatus
    from dnsauto.sync.engine import DomainResult

__all__ = ["KEEP", "RunIndex", "TaskTracker"]

KEEP = 200


@dataclass
class _DomainOutcome:
    ok: bool
    error: str | None
    changes: int
    propagated: bool
    finished_at: str
    awaiting_approval: str | None = None
    """The id of the plan the unsafe-plan stop refused (``x:Domain/approve`` lets it run)."""
    needs_attention: bool = False
    """The failure is permanent: the daemon does not retry it until the configuration changes."""


@dataclass
class _Run:
    reasons: list[str] = field(default_factory=list)
    domains: dict[str, _DomainOutcome | None] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: _iso(time.time()))
    """When the run was first heard of (Stalwart's ``createdAt``)."""
    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunIndex:
    """The names waiting, syncing and last finished under each run id. Made once for all the
    views of one ``x:Task/get``: each view walking the daemon's waiting and syncing domains and
    every last result made a get of 17 runs over 16,000 domains walk them 17 times."""

    waiting: dict[str, list[str]]
    syncing: dict[str, list[str]]
    finished: dict[str, list[str]]

    @classmethod
    def of(
        cls,
        waiting: Mapping[str, str],
        syncing: Mapping[str, str],
        last_results: Mapping[str, DomainStatus],
    ) -> RunIndex:
        return cls(
            _by_run(waiting.items()),
            _by_run(syncing.items()),
            _by_run((name, status.run_id) for name, status in last_results.items()),
        )


def _by_run(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for name, run_id in pairs:
        names.setdefault(run_id, []).append(name)
    return names


class TaskTracker:
    """The recent runs and their per-domain outcomes."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self.version = 0
        """Counts the changes to the runs (the ``x:Task`` state of the EventSource)."""
        self.listeners: list[Callable[[], None]] = []
        """Called after each change, from the thread that made it."""

    def _changed(self) -> None:
        self.version += 1
        for listener in list(self.listeners):
            listener()

    def _run(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None:
            run = self._runs[run_id] = _Run()
            while len(self._runs) > self.keep:
                self._runs.popitem(last=False)
        return run

    def requested(self, run_id: str, domains: Iterable[str], reason: str) -> None:
        """The API asked for a run of ``domains``; the daemon said ``run_id``."""
        run = self._run(run_id)
        if reason not in run.reasons:
            run.reasons.append(reason)
        for name in domains:
            run.domains.setdefault(name, None)
        self._changed()

    def record_result(self, run_id: str, result: DomainResult) -> None:
        """The daemon finished a domain of run ``run_id`` (the daemon's result hook)."""
        self._run(run_id).domains[result.domain] = _DomainOutcome(
            ok=result.error is None,
            error=result.error,
            changes=result.applied,
            propagated=result.propagated,
            finished_at=_iso(time.time()),
            awaiting_approval=result.unsafe_plan,
            needs_attention=result.needs_attention and result.unsafe_plan is None,
        )
        self._changed()

    def record_certificate(self, run_id: str, outcome: OrderOutcome) -> None:
        """The daemon ordered (or checked) a certificate in run ``run_id``."""
        if outcome.action == "current":
            return
        status = outcome.status
        self._run(run_id).certificates[status.name] = {
            "names": list(status.names),
            "action": outcome.action,
            "error": outcome.error.message if outcome.error is not None else None,
            "needsAttention": status.needs_attention,
            "nextAttempt": _iso(status.next_attempt.timestamp()) if status.next_attempt else None,
            "finishedAt": _iso(time.time()),
        }
        self._changed()

    def ids(self, waiting: Mapping[str, str], syncing: Mapping[str, str]) -> list[str]:
        """The runs known: the recent ones, then those waiting or running."""
        known = dict.fromkeys(reversed(self._runs))
        known.update(dict.fromkeys(syncing.values()))
        known.update(dict.fromkeys(waiting.values()))
        return list(known)

    def view(
        self,
        run_id: str,
        *,
        waiting: Mapping[str, str],
        syncing: Mapping[str, str],
        last_results: Mapping[str, DomainStatus],
        families: Callable[[str], Iterable[str]] = lambda name: (),
        domain_id: Callable[[str], str | None] = lambda name: None,
        index: RunIndex | None = None,
    ) -> dict[str, Any] | None:
        """The Task object of run ``run_id``, or None when nothing is known of it.
        ``families``: the record families a domain publishes (its ``publishRecords``);
        ``domain_id``: the id of the Domain a name belongs to (an alias: its domain's);
        ``index``: :meth:`RunIndex.of` the three mappings, when several views are made."""
        run = self._runs.get(run_id)
        index = index if index is not None else RunIndex.of(waiting, syncing, last_results)
        names: dict[str, _DomainOutcome | None] = dict(run.domains) if run else {}
        for name in (*index.waiting.get(run_id, ()), *index.syncing.get(run_id, ())):
            names.setdefault(name, None)
        for name in index.finished.get(run_id, ()):
            status = last_results[name]
            if names.get(name) is None:
                names[name] = _DomainOutcome(
                    ok=status.ok,
                    error=status.error,
                    changes=status.changes,
                    propagated=status.propagated,
                    finished_at=_iso(status.finished_at.timestamp()),
                )
        if run is None and not names:
            return None
        domains: dict[str, Any] = {}
        for name, outcome in sorted(names.items()):
            if outcome is not None:
                domains[name] = {
                    "status": _finished_status(outcome),
                    "error": outcome.error,
                    "changes": outcome.changes,
                    "propagated": outcome.propagated,
                    "finishedAt": outcome.finished_at,
                    "needsAttention": outcome.needs_attention,
                }
                if outcome.awaiting_approval is not None:
                    domains[name]["planId"] = outcome.awaiting_approval
                continue
            if syncing.get(name) == run_id:
                state = "running"
            elif waiting.get(name) == run_id:
                state = "waiting"
            else:
                state = "superseded"
            domains[name] = {
                "status": state,
                "error": None,
                "changes": None,
                "propagated": None,
                "finishedAt": None,
                "needsAttention": False,
            }
        certificates = dict(run.certificates) if run else {}
        for name, entry in domains.items():
            entry["domainId"] = domain_id(name)
        run_status = _overall([d["status"] for d in domains.values()])
        failed_certificates = {
            name: {"status": "failed", "error": entry["error"], "finishedAt": entry["finishedAt"]}
            for name, entry in certificates.items()
            if entry["action"] == "failed"
        }
        if failed_certificates and run_status == "succeeded":
            run_status = "failed"
        finished = [d["finishedAt"] for d in domains.values() if d["finishedAt"]]
        created_at = run.created_at if run else min(finished, default=_iso(time.time()))
        update_records = {
            family: True for name in domains for family in sorted(set(families(name)))
        }
        return {
            "id": run_id,
            "@type": "DnsManagement",
            # Stalwart's TaskDnsManagement: one domain per task; a run of several has none
            "domainId": next(iter(domains.values()))["domainId"] if len(domains) == 1 else None,
            "updateRecords": dict(sorted(update_records.items())),
            "onSuccessRenewCertificate": bool(certificates),
            "status": _task_status(run_status, {**domains, **failed_certificates}, created_at),
            "runStatus": run_status,
            "reasons": list(run.reasons) if run else [],
            "domains": domains,
            **({"certificates": certificates} if certificates else {}),
        }


def _task_status(run_status: str, domains: Mapping[str, Any], created_at: str) -> dict[str, Any]:
    """Stalwart's ``TaskStatus`` of a run: ``Pending`` while waiting or running, ``Failed``
    when a domain failed or awaits approval (neither is retried on its own), and dnsauto's
    ``Completed`` for a finished run (Stalwart deletes a task that succeeded)."""
    if run_status in ("waiting", "running"):
        return {"@type": "Pending", "createdAt": created_at, "due": created_at}
    if run_status in ("failed", "awaitingApproval"):
        failed = {
            name: entry
            for name, entry in domains.items()
            if entry["status"] in ("failed", "awaitingApproval")
        }
        reasons = [
            f"{name}: {entry['error'] or 'the plan waits for approval'}"
            for name, entry in failed.items()
        ]
        return {
            "@type": "Failed",
            "createdAt": created_at,
            "failedAt": max(str(e["finishedAt"]) for e in failed.values()),
            "failedAttemptNumber": 1,
            "failureReason": "; ".join(reasons),
        }
    finished = [str(d["finishedAt"]) for d in domains.values() if d["finishedAt"]]
    return {
        "@type": "Completed",
        "createdAt": created_at,
        "completedAt": max(finished, default=created_at),
    }


def _finished_status(outcome: _DomainOutcome) -> str:
    if outcome.ok:
        return "succeeded"
    return "failed" if outcome.awaiting_approval is None else "awaitingApproval"


def _overall(states: list[str]) -> str:
    if "running" in states:
        return "running"
    if "waiting" in states:
        return "waiting"
    if "failed" in states:
        return "failed"
    if "awaitingApproval" in states:
        return "awaitingApproval"
    if "succeeded" in states or not states:
        return "succeeded"
    return "superseded"


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
