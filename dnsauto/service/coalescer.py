"""Triggers merged per domain into runs: the daemon's schedule, without the daemon.

Runs are asked for per domain and coalesce, as external-dns's ``ScheduleRunOnce`` and
``ShouldRunOnce`` do: a domain has at most one run *waiting* (a :class:`Request`, due after a
delay) and at most one *in flight*. A request for a domain that already has a run waiting
joins it (a burst of triggers makes one run, due at the earliest of their times); a request
while the domain is syncing leaves one run waiting, which starts when the sync ends (exactly
one more run). Requests made together share a run id; :meth:`Coalescer.start_due` hands out
every due request whose domain is idle, grouped by run id.

A domain that failed is retried on its own schedule (:meth:`Coalescer.retry`): a request
that respects backoff (the periodic reconcile) leaves it alone.

The class reads time only from the clock it is given and starts nothing itself: the daemon
asks :meth:`Coalescer.next_due` when to wake, and runs what :meth:`Coalescer.start_due` returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["Coalescer", "Request", "Run"]


def _new_run_id() -> str:
    """A fresh run id: 12 hex digits."""
    return uuid.uuid4().hex[:12]


@dataclass
class Request:
    """A run of one domain that is waiting to start."""

    run_id: str
    due: float
    """Unix time (the coalescer's clock)."""
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    """Domains whose requests fell due together and start now under one run id."""

    run_id: str
    domains: list[str]
    reasons: list[str]


class Coalescer:
    """The waiting and running syncs of every domain, and their failures in a row.

    ``clock`` gives the time (Unix seconds); ``make_run_id`` the id of each new run.
    """

    def __init__(
        self, clock: Callable[[], float], *, make_run_id: Callable[[], str] = _new_run_id
    ) -> None:
        self.clock = clock
        self._make_run_id = make_run_id
        self._waiting: dict[str, Request] = {}
        self._running: dict[str, str] = {}
        self._failures: dict[str, int] = {}

    # --- asking for runs ------------------------------------------------------------------------

    def request(
        self,
        domains: Iterable[str],
        reason: str,
        *,
        delay: float = 0.0,
        respect_backoff: bool = False,
    ) -> str:
        """Ask for a run of ``domains`` in ``delay`` seconds; the run id.

        A domain that already has a run waiting keeps it (due at the earlier time, with
        ``reason`` added); when every domain named did, their common run id is returned.
        Otherwise the id is that of the new run, which the other domains join.
        ``respect_backoff``: domains that failed last time are left to their retry.
        """
        run_id = self._make_run_id()
        due = self.clock() + delay
        joined = set()
        for name in domains:
            if respect_backoff and self._failures.get(name):
                continue  # retried on its own schedule
            request = self._waiting.get(name)
            if request is not None:
                joined.add(request.run_id)
                request.due = min(request.due, due)
                if reason not in request.reasons:
                    request.reasons.append(reason)
            else:
                self._waiting[name] = Request(run_id, due, [reason])
                joined.add(run_id)
        if len(joined) == 1:
            return joined.pop()
        return run_id

    def retry(self, domain: str, delay: float) -> str:
        """Ask for the retry of a failed ``domain`` in ``delay`` seconds (the backoff the
        caller worked out); the run id. A run already waiting is kept, as :meth:`request`."""
        return self.request([domain], "retry", delay=delay)

    def forget(self, domain: str) -> None:
        """``domain`` is no longer configured: drop its waiting run, its run in flight and its
        failures (a run still in flight may finish; it is no longer this domain's)."""
        self._waiting.pop(domain, None)
        self._running.pop(domain, None)
        self._failures.pop(domain, None)

    # --- starting and finishing -----------------------------------------------------------------

    def next_due(self) -> float | None:
        """When the first waiting run of an idle domain falls due; None when there is none."""
        running = self._running
        dues = [r.due for name, r in self._waiting.items() if name not in running]
        return min(dues) if dues else None

    def start_due(self) -> list[Run]:
        """Start every due request whose domain is idle, grouped by run id: the domains are
        syncing from now until :meth:`finished`."""
        now = self.clock()
        runs: dict[str, Run] = {}
        waiting, running = self._waiting, self._running
        for name, request in list(waiting.items()):
            if request.due > now or name in running:
                continue
            del waiting[name]
            running[name] = request.run_id
            run = runs.get(request.run_id)
            if run is None:
                run = runs[request.run_id] = Run(request.run_id, [], [])
            run.domains.append(name)
            for reason in request.reasons:
                if reason not in run.reasons:
                    run.reasons.append(reason)
        return list(runs.values())

    def finished(self, domain: str, run_id: str) -> None:
        """The sync of ``domain`` in run ``run_id`` is over: the domain is idle again, and a
        run that waited for it can start."""
        if self._running.get(domain) == run_id:
            del self._running[domain]

    def succeeded(self, domain: str) -> None:
        """The domain's last sync worked: its failures in a row are reset."""
        self._failures.pop(domain, None)

    def failed(self, domain: str) -> int:
        """The domain's last sync failed; its failures in a row, this one included."""
        failures = self._failures.get(domain, 0) + 1
        self._failures[domain] = failures
        return failures

    # --- what is scheduled ----------------------------------------------------------------------

    def waiting(self) -> dict[str, Request]:
        """The domains with a run waiting to start."""
        return dict(self._waiting)

    def waiting_of(self, domain: str) -> Request | None:
        """The run waiting for ``domain``, if any."""
        return self._waiting.get(domain)

    def running(self) -> dict[str, str]:
        """The domains syncing now, with their run ids."""
        return dict(self._running)

    def running_of(self, domain: str) -> str | None:
        """The run id of ``domain``'s sync in flight, if any."""
        return self._running.get(domain)

    def failures(self, domain: str) -> int:
        """The domain's failed syncs in a row."""
        return self._failures.get(domain, 0)

    def failures_by_domain(self) -> dict[str, int]:
        """The domains whose last sync failed, with their failures in a row."""
        return dict(self._failures)

    def failing(self) -> list[str]:
        """The domains whose last sync failed, sorted."""
        return sorted(self._failures)
