"""The daemon's DKIM rotation check: asks for a sync of each domain whose rotation step is due.

The engine takes the step (:mod:`dnsauto.records.rotation` says when); this job only finds
the domains that are due. It runs every ``daemon.dkimCheckInterval`` and also at the moment
the next step falls due, when that comes before the next regular check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from dnsauto.config.model import Config
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.registry import Registry
from dnsauto.service.logs import summary_of_names
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import DomainJob, Engine

__all__ = ["DkimRotation"]

log = logging.getLogger(__name__)

_JOB = "dkim"
"""The scheduler's id of the regular check."""

_NEXT_JOB = "dkim-next"


class DkimRotation:
    """The check, on the scheduler the daemon gives it.

    ``config``, ``jobs`` and ``scheduler`` are read at each check (a reload changes them);
    ``request(domains, reason)`` asks for their syncs; ``clock`` is the daemon's clock.
    """

    def __init__(
        self,
        *,
        config: Callable[[], Config],
        registry: Registry,
        jobs: Callable[[], Iterable[DomainJob]],
        open_store: Callable[[], StateStore],
        request: Callable[[Sequence[str], str], object],
        scheduler: Callable[[], Any],
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._registry = registry
        self._jobs = jobs
        self._open_store = open_store
        self._request = request
        self._scheduler = scheduler
        self._clock = clock

    def schedule(self, scheduler: Any, interval: float) -> None:
        """Add the regular check to ``scheduler``, every ``interval`` seconds, the first now."""
        scheduler.add_job(
            self.check,
            IntervalTrigger(seconds=interval, timezone=UTC),
            id=_JOB,
            name="DKIM rotation check",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    def reschedule(self, scheduler: Any, interval: float) -> None:
        """Check every ``interval`` seconds from now on."""
        scheduler.reschedule_job(_JOB, trigger=IntervalTrigger(seconds=interval, timezone=UTC))

    async def check(self) -> list[str]:
        """Ask for a sync of the domains whose DKIM rotation step is due; those domains.

        When the next step falls due before the next regular check, a check is set for then.
        """
        try:
            store = self._open_store()
        except DnsautoError as exc:
            log.warning("DKIM rotation check skipped: %s", exc.message)
            return []
        engine = Engine(self._config(), self._registry, store=store)
        try:
            now = store.clock()
            due: list[str] = []
            upcoming: list[datetime] = []
            for job in self._jobs():
                try:
                    moment = engine.next_dkim_event([job])
                except DnsautoError as exc:
                    log.warning(
                        "DKIM rotation check failed: %s", exc.message, extra={"domain": job.domain}
                    )
                    continue
                if moment is not None and moment <= now:
                    due.append(job.domain)
                elif moment is not None:
                    upcoming.append(moment)
        finally:
            await engine.aclose()
        if due:
            log.info("DKIM rotation step due for %s", summary_of_names(due))
            self._request(due, "dkim rotation")
        scheduler = self._scheduler()
        if upcoming and scheduler is not None:
            first = min(upcoming).timestamp() + (self._clock() - now.timestamp())
            regular = _next_fire(scheduler, _JOB)
            if regular is None or first < regular:
                scheduler.add_job(
                    self.check,
                    "date",
                    run_date=datetime.fromtimestamp(first, UTC),
                    id=_NEXT_JOB,
                    name="next DKIM rotation step",
                    replace_existing=True,
                    misfire_grace_time=None,
                )
        return due


def _next_fire(scheduler: Any, job_id: str) -> float | None:
    job = scheduler.get_job(job_id)
    if job is None or job.next_run_time is None:
        return None
    return float(job.next_run_time.timestamp())
