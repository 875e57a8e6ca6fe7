"""The service behind ``dnsauto run``: schedules, triggers, retries, reloads and stops.

An APScheduler ``AsyncIOScheduler`` drives the timed work: a reconcile of every domain every
``daemon.syncInterval`` (plus a random jitter), the DKIM rotation check, the systemd watchdog,
and the wake-ups of the dispatcher below. Everything runs on one event loop.

Runs are asked for per domain and coalesce (:mod:`dnsauto.service.coalescer`): a trigger
is due after ``daemon.triggerDelay``, a burst of triggers makes one run, and a trigger while
the domain is syncing makes exactly one more run after it. The dispatcher starts every due
run whose domain is idle, at most ``daemon.maxConcurrentDomains`` domains at once; each
domain finishes on its own, so a slow or failing domain delays no other. The DKIM rotation
check (:mod:`dnsauto.service.dkim`) asks for the runs of the domains whose step is due.

A domain that failed transiently (a timeout, 429, 5xx, SERVFAIL, the state store unreachable,
or its result not saved) is retried after
``retryInitialDelay``, doubling each time up to ``retryMaxDelay``. A permanent failure
(credentials refused, zone not found, invalid data: ``DomainResult.needs_attention``) is not
retried: the domain shows as needing attention in ``dnsauto status``, the API's Task and the
``dnsauto_needs_attention`` metric until a reload or an API change asks for it again. The
periodic reconcile leaves a domain in backoff or needing attention alone.

Signals: SIGHUP reloads the configuration (a configuration with any problem is refused, each
problem logged, and the old one stays); SIGTERM and SIGINT stop new work, give the syncs in
flight ``daemon.shutdownTimeout`` to finish (the engine journals each batch before sending it,
so a sync cut short leaves nothing unjournaled) and return exit status 0.

The schedule is written to ``<stateDir>/daemon-status.json`` for ``dnsauto status``; the
last result of each domain is in the state store, which the engine writes.

With ``daemon.api.listen`` set and API keys declared, the daemon also serves the JMAP API
(:mod:`dnsauto.api.server`). A change made over it replaces the configuration as a reload does
(:meth:`Daemon.replace_config`), which asks for a run of every domain it added or changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from dnsauto.config.loader import load_config_file, resolve_secrets
from dnsauto.config.model import Config
from dnsauto.plugin.errors import ConfigError, DnsautoError
from dnsauto.plugin.names import lookup_key
from dnsauto.plugin.ratelimits import ProcessRateLimits
from dnsauto.plugin.registry import Registry
from dnsauto.service.backoff import backoff_delay
from dnsauto.service.cluster import Cluster, Listener
from dnsauto.service.coalescer import Coalescer
from dnsauto.service.dkim import DkimRotation
from dnsauto.service.logs import log_context, summary_of_names
from dnsauto.service.metrics import CountingRegistry, Metrics, MetricsServer
from dnsauto.service.sdnotify import Notifier, watchdog_interval
from dnsauto.service.status import (
    STATUS_FILE,
    StatusSnapshot,
    StatusWriter,
    read_status_file,
)
from dnsauto.state.leases import ForwardedTrigger, LeaseLostError
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import DomainJob, DomainResult, Engine, domain_jobs
from dnsauto.sync.jobs import JobUpdate, job_update

if TYPE_CHECKING:
    from dnsauto.acme.orders import OrderOutcome
    from dnsauto.api.server import ApiServer

__all__ = [
    "STATUS_FILE",
    "Daemon",
    "EngineFactory",
    "EngineLike",
    "load_checked",
    "read_status_file",
]

log = logging.getLogger(__name__)

_START_SLICE = 50
"""The workers of a run that start in one loop turn (:meth:`Daemon._run_domains`)."""

_GC_YOUNG_THRESHOLD = 10_000
"""Allocations between two passes of the cycle collector over the youngest objects (see
``serve``)."""

_SWITCH_INTERVAL = 0.0005
"""Seconds a thread holds the GIL before another waiting thread gets it (see ``serve``)."""


class EngineLike(Protocol):
    """What the daemon needs of :class:`~dnsauto.sync.engine.Engine` (tests give a fake)."""

    async def run(
        self,
        jobs: Sequence[DomainJob],
        *,
        apply: bool,
        force: bool = False,
        wait: bool = False,
        approved: Mapping[str, str] | None = None,
    ) -> list[DomainResult]: ...

    async def aclose(self) -> None: ...


EngineFactory = Callable[[Config, str], EngineLike]
"""Makes the engine of one run from the configuration and the run id."""


def load_checked(path: str | os.PathLike[str], registry: Registry) -> Config:
    """Read the configuration and every secret in it; :class:`ConfigError` lists all problems."""
    config = load_config_file(path, registry)
    problems = resolve_secrets(config, str(path))
    if problems:
        raise ConfigError(problems)
    return config


@dataclass
class _Slot:
    """One configured domain's schedule."""

    job: DomainJob
    removed: bool = False
    last_propagation: float | None = None
    instructions: list[str] = field(default_factory=list)
    """What a person was last told to enter (``Manual``), logged again only when it changes."""
    awaiting_approval: str | None = None
    """The id of the plan the unsafe-plan stop refused: not retried until a person approves."""
    needs_attention: str | None = None
    """Why the last sync failed when retrying cannot help (credentials refused, zone not found,
    invalid data): not retried until the configuration or the provider changes."""
    approved_plan: str | None = None
    """The plan a person approved, for the next run only."""


class Daemon:
    """The ``dnsauto run`` service. Call :meth:`serve`, or :meth:`start` and :meth:`stop`.

    Every method must be called from the event loop the daemon runs on.
    """

    def __init__(
        self,
        config: Config,
        registry: Registry,
        *,
        loader: Callable[[], Config] | None = None,
        engine_factory: EngineFactory | None = None,
        notifier: Notifier | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.metrics = Metrics()
        self.registry = CountingRegistry(registry, self.metrics)
        self.notifier = notifier if notifier is not None else Notifier()
        self.clock = clock
        self.started_at = clock()
        self.state_dir = Path(config.daemon.state_dir)
        self._loader = loader
        self._engine_factory = engine_factory or self.make_engine
        self._store = store
        self._owns_store = store is None
        self._slots: dict[str, _Slot] = {job.domain: _Slot(job) for job in domain_jobs(config)}
        self._runs = Coalescer(clock)
        """Which domains wait to sync, which sync now, which failed."""
        self.dkim = DkimRotation(
            config=lambda: self.config,
            registry=self.registry,
            jobs=lambda: [slot.job for slot in self._slots.values()],
            open_store=self._open_store,
            request=lambda names, reason: self._request(names, reason, delay=0.0),
            scheduler=lambda: self._scheduler,
            clock=clock,
        )
        """The DKIM rotation check (its :meth:`~DkimRotation.check` runs on the scheduler)."""
        self._limit = asyncio.Semaphore(config.daemon.max_concurrent_domains)
        self._rate_limits = ProcessRateLimits()
        """The providers' rate limits on a single node, which every run's engine draws from."""
        self.cluster: Cluster | None = None
        self._syncing: set[str] = set()
        self._listener: Listener | None = None
        self._forwarded_soon = False
        """The domains past the concurrency limit, syncing now (a run's others wait for it)."""
        """This node's leases, with ``[daemon.cluster]`` enabled (:mod:`.cluster`)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduler: Any = None
        self._metrics_server: MetricsServer | None = None
        self._api_server: ApiServer | None = None
        self.result_listeners: list[Callable[[str, DomainResult], None]] = []
        self.certificate_listeners: list[Callable[[str, OrderOutcome], None]] = []
        self._certificate_attention: dict[str, Config] = {}
        """Certificates whose last order the CA refused for good, with the configuration it
        was refused under: not ordered again until the configuration is another one."""
        """Told every domain's result with its run id (the API's ``x:Task/get``)."""
        self._stopping = False
        self._stopped = asyncio.Event()
        self._dispatch_soon = False
        self._holds = 0
        """How many :meth:`holding_runs` blocks are open: while any is, no run starts."""
        self._status = StatusWriter(self.state_dir / STATUS_FILE, self._status_snapshot)
        self.metrics.domains.set(len(self._slots))

    # --- life cycle -----------------------------------------------------------------------------

    async def serve(self) -> int:
        """Run until SIGTERM or SIGINT; reload on SIGHUP. Returns the exit status (0)."""
        loop = asyncio.get_running_loop()
        handled = []
        # The API runs its methods in worker threads. At Python's default 5 ms switch interval
        # each blocking call the event loop makes (a state store query, a socket write) hands
        # the GIL to a busy worker for 5 ms: a sync of a few dozen queries then took 50-300 ms
        # during a large /set, and every request waited behind it.
        sys.setswitchinterval(min(sys.getswitchinterval(), _SWITCH_INTERVAL))
        # The cycle collector's young passes, each 700 allocations by default, kept what a
        # large /set makes (thousands of Domains between two _settle_heap) in the young
        # generations and scanned it over and over: 2.5-3 s of pauses during a /set of 16,000
        # creates and full passes of 150-180 ms. Every 10,000: 1 s, none over 75 ms.
        gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        # SIGUSR1 writes every thread's stack to stderr (the log): what a daemon that seems
        # stuck is doing, without stopping it.
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
        try:
            await self.start()
            for signum, handler in (
                (signal.SIGTERM, self.request_stop),
                (signal.SIGINT, self.request_stop),
                (signal.SIGHUP, self.request_reload),
            ):
                loop.add_signal_handler(signum, handler)
                handled.append(signum)
            await self._stopped.wait()
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            faulthandler.unregister(signal.SIGUSR1)
            await self.stop()
        return 0

    async def start(self) -> None:
        """Open the state store, start the metrics and the scheduler, ask for a run of every
        domain, tell systemd. :class:`DnsautoError` when the store or the metrics address
        cannot be used."""
        daemon = self.config.daemon
        store = self._open_store()
        if daemon.cluster.enabled:
            self.cluster = Cluster(
                daemon.cluster,
                store,
                domains=lambda: self._slots.keys(),
                busy=lambda: self._syncing,
            )
            self.metrics.cluster_node.labels(self.cluster.node_id).set(1)
            if store.dialect == "postgresql":
                self._listener = Listener(
                    store,
                    asyncio.get_running_loop(),
                    self._notified,
                    retry=daemon.cluster.heartbeat_seconds,
                )
                self._listener.start()
            # Only a heartbeat now: the first claims come one heartbeat later, once the nodes
            # started together see each other (else the first would take every domain).
            await self.cluster.join()
        gc.collect()
        _settle_heap()
        if daemon.metrics.listen:
            self._metrics_server = MetricsServer(self.metrics, daemon.metrics.listen)
        if daemon.api.enabled:
            from dnsauto.api.server import ApiServer

            self._api_server = ApiServer(self, self._open_store())
            self.result_listeners.append(self._api_server.tasks.record_result)
            self.certificate_listeners.append(self._api_server.tasks.record_certificate)
            await self._api_server.start(daemon.api.listen)
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self._periodic,
            self._interval(),
            id="reconcile",
            name="reconcile every domain",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        self.dkim.schedule(scheduler, daemon.dkim_check_interval.total_seconds())
        if self.cluster is not None:
            self._spawn(self._cluster_loop(daemon.cluster.heartbeat_seconds))
        interval = watchdog_interval()
        if interval is not None and self.notifier.enabled:
            scheduler.add_job(
                self._watchdog,
                IntervalTrigger(seconds=interval, timezone=UTC),
                id="watchdog",
                name="systemd watchdog",
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "started: %d domains, reconcile every %ss, at most %d at once",
            len(self._slots),
            f"{daemon.sync_interval.total_seconds():g}",
            daemon.max_concurrent_domains,
        )
        self._request(list(self._slots), "start", delay=0.0)
        self.notifier.ready(f"started; syncing {len(self._slots)} domains")

    def request_stop(self) -> None:
        """Begin a clean stop (the SIGTERM and SIGINT handler)."""
        if not self._stopping:
            log.info("stopping: no new syncs; waiting for those in flight")
        self._stopping = True
        self._stopped.set()

    def request_reload(self) -> None:
        """Reload the configuration in the background (the SIGHUP handler)."""
        if self._stopping:
            return
        self._spawn(self.reload())

    async def stop(self) -> None:
        """Stop the scheduler, let syncs in flight finish within ``shutdownTimeout``, clean up."""
        self.request_stop()
        self.notifier.stopping()
        if self._api_server is not None:
            await self._api_server.close()
            self._api_server = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        tasks = set(self._tasks)
        if tasks:
            timeout = self.config.daemon.shutdown_timeout.total_seconds()
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                in_flight = sorted(self._runs.running())
                log.warning(
                    "stopping after %gs: cutting short the syncs of %s (their journal entries "
                    "stay as sent)",
                    timeout,
                    ", ".join(in_flight) or "nothing",
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=5)
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self.cluster is not None:
            await self.cluster.stop()
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        await self._status.drain()
        self.write_status()
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None
        self.notifier.close()
        log.info("stopped")

    # --- asking for runs ------------------------------------------------------------------------

    @property
    def domains(self) -> list[str]:
        return sorted(self._slots)

    @property
    def scheduler(self) -> Any:
        """The APScheduler ``AsyncIOScheduler`` while the daemon runs, else None."""
        return self._scheduler

    def trigger(self, domains: Iterable[str] | None = None, reason: str = "trigger") -> str:
        """Ask for a sync of ``domains`` (all when None) after ``triggerDelay``; the run id.

        A domain that already has a run waiting keeps it (the requests coalesce); when every
        domain named did, their common run id is returned. Otherwise the id is that of the new
        run, which the other domains join. A domain syncing now runs once more after it.
        """
        names = list(self._slots) if domains is None else [_domain_key(d) for d in domains]
        unknown = sorted(n for n in names if n not in self._slots)
        if unknown:
            raise DnsautoError(f"not a configured domain: {', '.join(unknown)}")
        if self._stopping:
            raise DnsautoError("the daemon is stopping")
        delay = self.config.daemon.trigger_delay.total_seconds()
        return self._request(names, reason, delay=delay, forward="run")

    def awaiting_approval(self) -> dict[str, str]:
        """The domains whose plan the unsafe-plan stop refused, with the plan's id."""
        return {
            name: slot.awaiting_approval
            for name, slot in self._slots.items()
            if slot.awaiting_approval is not None
        }

    def approve(self, domain: str, plan_id: str | None = None, reason: str = "approved") -> str:
        """Let the plan the unsafe-plan stop refused for ``domain`` through, in one run now;
        the run id. ``plan_id``, when given, must be that plan's id.

        :raises DnsautoError: no plan of the domain waits for approval, or another one does.
        """
        name = _domain_key(domain)
        slot = self._slots.get(name)
        if slot is None:
            raise DnsautoError(f"not a configured domain: {name}")
        waiting = slot.awaiting_approval
        if waiting is None:
            raise DnsautoError(f"no plan of {name} waits for approval")
        if plan_id is not None and plan_id != waiting:
            raise DnsautoError(f"plan {plan_id} of {name} is not the one waiting ({waiting})")
        if self._stopping:
            raise DnsautoError("the daemon is stopping")
        slot.approved_plan = waiting
        log.info("plan %s approved (%s)", waiting, reason, extra={"domain": name})
        return self._request([name], reason, delay=0.0)

    def _request(
        self,
        names: Sequence[str],
        reason: str,
        *,
        delay: float,
        respect_backoff: bool = False,
        forward: Literal["run", "reload"] | None = None,
    ) -> str:
        """Ask the coalescer for runs of ``names``. On a cluster node only the domains it holds
        run here; with ``forward``, the others are passed to the nodes that hold them (after
        reading the configuration again, with ``"reload"``), else left to their holders."""
        cluster = self.cluster
        if cluster is not None:
            held = cluster.mine(names)
            if forward is not None and len(held) < len(names):
                mine = set(held)
                others = [n for n in names if n not in mine]
                try:
                    cluster.forward(others, reason, reload=forward == "reload")
                except DnsautoError as exc:
                    log.warning(
                        "cannot pass the runs of %s to their nodes: %s",
                        summary_of_names(others),
                        exc.message,
                    )
            names = held
        run_id = self._runs.request(names, reason, delay=delay, respect_backoff=respect_backoff)
        self._wake()
        self._status_changed()
        return run_id

    @contextlib.contextmanager
    def holding_runs(self) -> Iterator[None]:
        """Start no run until the block ends (on the event loop). An API request that changes
        the configuration holds the runs its calls ask for until it is answered: its domains
        then sync once, as the whole request left them, rather than each call's domains
        beside the calls still being made (16 x 1,000 creates kept the event loop from
        answering for 100 to 200 ms at a time)."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds:
                self._wake()

    def _wake(self) -> None:
        """Start what is due now, and set the scheduler to wake the dispatcher next time."""
        if self._stopping:
            return
        loop = asyncio.get_running_loop()
        first = self._runs.next_due()
        if first is None:
            return
        if first <= self.clock():
            if not self._dispatch_soon:
                self._dispatch_soon = True
                loop.call_soon(self._dispatch)
        elif self._scheduler is not None:
            self._scheduler.add_job(
                self._dispatch_job,
                "date",
                run_date=datetime.fromtimestamp(first, UTC),
                id="dispatch",
                name="start due syncs",
                replace_existing=True,
                misfire_grace_time=None,
            )

    async def _dispatch_job(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        """Start every due request whose domain is idle; requests made together run together."""
        self._dispatch_soon = False
        if self._stopping or self._holds:
            return  # the end of the hold wakes the dispatcher again
        runs = self._runs.start_due()
        for run in runs:
            slots = [self._slots[name] for name in run.domains]
            self._spawn(self._run(run.run_id, slots, run.reasons))
        self._wake()
        if runs:
            self._status_changed()

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A background task's end; one that failed is a bug, and said at once (its exception
        would otherwise show only when the task is collected, if ever)."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("internal error in %s", task.get_coro(), exc_info=exc)

    # --- running --------------------------------------------------------------------------------

    def _open_store(self) -> StateStore:
        if self._store is None:
            self._store = self.config.daemon.open_store()
        return self._store

    def make_engine(self, config: Config, run_id: str) -> EngineLike:
        """The engine of one run, on the daemon's state store (the default engine factory)."""
        return Engine(
            config,
            self.registry,
            concurrency=config.daemon.max_concurrent_domains,
            run_id=run_id,
            store=self._open_store(),
            fence=None if self.cluster is None else self.cluster.leases,
            rate_limits=self._rate_limits if self.cluster is None else self.cluster.rate_limits,
        )

    async def _run(self, run_id: str, slots: list[_Slot], reasons: list[str]) -> None:
        log.info(
            "run %s (%s): %s",
            run_id,
            ", ".join(reasons),
            summary_of_names([s.job.domain for s in slots]),
            extra={"run_id": run_id},
        )
        try:
            engine = self._engine_factory(self.config, run_id)
        except Exception as exc:  # the state store cannot be opened, or a bug
            message = exc.message if isinstance(exc, DnsautoError) else repr(exc)
            log.error("run %s cannot start: %s", run_id, message, extra={"run_id": run_id})
            outcomes: list[DomainResult | None] = []
            for slot in slots:
                result = DomainResult(slot.job.domain, slot.job.server_id, error=message)
                self._finished(slot, run_id, result)
                self._release(slot, run_id)
                outcomes.append(result)
        else:
            try:
                outcomes = await self._run_domains(engine, run_id, slots)
            finally:
                with contextlib.suppress(Exception):
                    await engine.aclose()
        results = [(s, r) for s, r in zip(slots, outcomes, strict=True) if r is not None]
        if results:
            self._report(run_id, results)

    async def _run_domains(
        self, engine: EngineLike, run_id: str, slots: Sequence[_Slot]
    ) -> list[DomainResult | None]:
        """Sync ``slots`` with as many workers as domains may sync at once, each taking the
        next slot when its domain is done: a run of 16,000 domains is a few tasks, not 16,000
        started in the turns after the hand-over (800 a loop turn when 16 runs start). The
        workers start ``_START_SLICE`` a loop turn (``maxConcurrentDomains`` may be 1,000)."""
        outcomes: list[DomainResult | None] = [None] * len(slots)
        upcoming = iter(enumerate(slots))

        async def work() -> None:
            for index, slot in upcoming:
                outcomes[index] = await self._run_domain(engine, run_id, slot)

        workers = min(len(slots), self.config.daemon.max_concurrent_domains)
        tasks: list[asyncio.Future[None]] = []
        try:
            for start in range(0, workers, _START_SLICE):
                if tasks:
                    await asyncio.sleep(0)
                tasks.extend(
                    asyncio.ensure_future(work())
                    for _ in range(start, min(workers, start + _START_SLICE))
                )
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            for _, slot in upcoming:  # never begun: idle again, as a begun one would be
                self._release(slot, run_id)
            raise
        return outcomes

    async def _run_domain(
        self, engine: EngineLike, run_id: str, slot: _Slot
    ) -> DomainResult | None:
        """Sync one domain (None when the daemon stopped before its turn came)."""
        domain = slot.job.domain
        try:
            async with self._limit:
                if self._stopping:
                    return None
                if self.cluster is not None and not self.cluster.holds(domain):
                    return None  # its lease went to another node meanwhile
                self.metrics.in_flight.inc()
                self._syncing.add(domain)
                try:
                    approved, slot.approved_plan = slot.approved_plan, None  # one run only
                    with log_context(domain=domain, run_id=run_id):
                        result = await self._sync(engine, slot.job, approved)
                finally:
                    self._syncing.discard(domain)
                    self.metrics.in_flight.dec()
                self._finished(slot, run_id, result)
                if result.error is None and not slot.removed:
                    with log_context(domain=domain, run_id=run_id):
                        await self._certificates(engine, run_id, slot)
                return result
        finally:
            self._release(slot, run_id)

    async def _certificates(self, engine: EngineLike, run_id: str, slot: _Slot) -> None:
        """The ACME orders due of the domain's certificates, after its records synced; a
        failed one is retried with the domain (its own backoff decides when it orders again)."""
        if not isinstance(engine, Engine) or not self.config.acme.obtain_certificates:
            return  # off, or a test's fake engine (no providers to publish challenges through)
        # Imported here: the ACME client's libraries load only where certificates are ordered.
        from dnsauto.acme.orders import Orders, certificate_requests

        config = self.config
        requests = [
            r
            for r in certificate_requests(config, [slot.job.domain])
            if self._certificate_attention.get(r.name) is not config
        ]  # one the CA refused for good waits for the configuration to change
        if not requests:
            return
        orders = Orders(self.config, engine.store, engine.provider, engine.checker, run_id=run_id)
        for outcome in await orders.run(requests):
            for listener in self.certificate_listeners:
                listener(run_id, outcome)
            status = outcome.status
            if status.needs_attention:
                self._certificate_attention[status.name] = config
                log.error(
                    "certificate %s needs attention: %s; not ordered again until the "
                    "configuration changes",
                    status.name,
                    status.last_error,
                )
            else:
                self._certificate_attention.pop(status.name, None)
            self.metrics.certificate(
                status.name,
                outcome.action,
                not_after=status.not_after.timestamp() if status.not_after else None,
                renew_at=status.renew_at.timestamp() if status.renew_at else None,
                failures=status.failures,
                requests=status.requests,
            )
            if outcome.action != "current":
                log.info("certificate %s: %s", status.name, outcome.action)
            if outcome.failed and status.next_attempt is not None and not self._stopping:
                delay = max((status.next_attempt - self.clock_utc()).total_seconds(), 0.0)
                if self._runs.waiting_of(slot.job.domain) is None:
                    self._runs.retry(slot.job.domain, delay)
                    log.warning(
                        "certificate %s failed (%d in a row): %s; ordering again in %gs",
                        status.name,
                        status.failures,
                        status.last_error,
                        round(delay, 3),
                    )

    def clock_utc(self) -> datetime:
        return datetime.now(UTC)

    async def _sync(
        self, engine: EngineLike, job: DomainJob, approved: str | None = None
    ) -> DomainResult:
        try:
            if approved is None:
                (result,) = await engine.run([job], apply=True, wait=True)
            else:
                approval = {job.domain: approved}
                (result,) = await engine.run([job], apply=True, wait=True, approved=approval)
        except DnsautoError as exc:
            return DomainResult(job.domain, job.server_id, error=exc.message, exception=exc)
        except Exception as exc:  # a bug: keep the daemon and the other domains going
            log.exception("sync failed unexpectedly")
            return DomainResult(
                job.domain, job.server_id, error=f"internal error: {type(exc).__name__}: {exc}"
            )
        return result

    def _release(self, slot: _Slot, run_id: str) -> None:
        """The domain is idle again: start its waiting run if one is due."""
        self._runs.finished(slot.job.domain, run_id)
        if not self._stopping:
            self._wake()
        self._status_changed()

    def _finished(self, slot: _Slot, run_id: str, result: DomainResult) -> None:
        """Count and log a domain's result; on failure, schedule its retry."""
        domain = slot.job.domain
        for listener in self.result_listeners:
            listener(run_id, result)
        if isinstance(result.exception, LeaseLostError):
            self.metrics.cluster_leases_lost.inc()
            log.warning("stopped: %s", result.error, extra={"domain": domain, "run_id": run_id})
            if self.cluster is not None and self.cluster.holds(domain) and not self._stopping:
                self._request([domain], "lease", delay=0.0)  # claimed again meanwhile
            return  # else its new holder syncs it; no retry here
        ok = result.error is None
        failures = 0
        if slot.removed:
            pass  # its name may be configured again meanwhile: its count is not this one's
        elif ok:
            self._runs.succeeded(domain)
        else:
            failures = self._runs.failed(domain)
        slot.awaiting_approval = result.unsafe_plan
        attention = result.needs_attention and result.unsafe_plan is None
        slot.needs_attention = result.error if attention else None
        if not slot.removed:
            self.metrics.attention(domain, result.exception if attention else None)
        propagation = result.propagation.seconds if result.propagation is not None else None
        if propagation is not None and result.applied:
            slot.last_propagation = propagation
        if not slot.removed:
            self.metrics.record(
                domain=domain,
                server=slot.job.server_id,
                ok=ok,
                applied=result.applied,
                propagation_seconds=propagation,
                consecutive_failures=failures,
                finished_at=self.clock(),
                skipped=result.skipped,
            )
        labels = {"domain": domain, "run_id": run_id}
        if result.instructions and result.instructions != slot.instructions:
            slot.instructions = list(result.instructions)
            log.info("enter by hand:\n%s", "\n".join(result.instructions), extra=labels)
        if ok and result.instructions:
            log.info("synced: %d changes to make by hand", result.applied, extra=labels)
            return
        if ok:
            live = "live everywhere" if result.propagated else "not checked live"
            skipped = f" (skipped: {result.skipped})" if result.skipped else ""
            log.info(
                "synced: %d changes%s, %s, %.1fs",
                result.applied,
                skipped,
                live,
                result.seconds,
                extra=labels,
            )
            return
        if slot.removed:
            log.warning("failed: %s (no longer configured)", result.error, extra=labels)
            return
        if self._runs.waiting_of(domain) is not None or self._stopping:
            log.warning("failed (%d in a row): %s", failures, result.error, extra=labels)
            return
        if result.unsafe_plan is not None:  # a retry would be refused again: a person decides
            log.warning(
                "stopped: %s; to apply this plan (%s) once: dnsauto approve --domain %s",
                result.error,
                result.unsafe_plan,
                domain,
                extra=labels,
            )
            return
        if slot.needs_attention is not None:  # a retry would fail the same way: a person acts
            log.error(
                "needs attention: %s; not retried until the configuration or the provider changes",
                result.error,
                extra=labels,
            )
            return
        delay = self._backoff(failures)
        self._runs.retry(domain, delay)
        self.metrics.retries.labels(domain).inc()
        log.warning(
            "failed (%d in a row): %s; retrying in %gs",
            failures,
            result.error,
            round(delay, 3),
            extra=labels,
        )

    def _backoff(self, failures: int) -> float:
        daemon = self.config.daemon
        return backoff_delay(
            failures,
            daemon.retry_initial_delay.total_seconds(),
            daemon.retry_max_delay.total_seconds(),
        )

    def _report(self, run_id: str, results: list[tuple[_Slot, DomainResult]]) -> None:
        failed = sorted(r.domain for _, r in results if r.error is not None)
        changes = sum(r.applied for _, r in results)
        text = (
            f"run {run_id}: {len(results)} domains, {len(results) - len(failed)} ok, "
            f"{len(failed)} failed, {changes} changes"
        )
        if failed:
            text += f" (failed: {summary_of_names(failed)})"
        failing = self._runs.failing()
        if failing and failing != failed:
            text += f"; failing now: {summary_of_names(failing)}"
        self.notifier.status(text)
        log.info("%s", text, extra={"run_id": run_id})

    # --- scheduled jobs -------------------------------------------------------------------------

    def _interval(self) -> IntervalTrigger:
        daemon = self.config.daemon
        return IntervalTrigger(
            seconds=daemon.sync_interval.total_seconds(),
            jitter=daemon.jitter.total_seconds() or None,
            timezone=UTC,
        )

    async def _periodic(self) -> None:
        self._request(list(self._slots), "periodic", delay=0.0, respect_backoff=True)

    async def _watchdog(self) -> None:
        self.notifier.watchdog()

    async def _cluster_loop(self, interval: float) -> None:
        """A cluster pass every ``interval`` seconds from the start of the last one (at once
        after one that took longer), until the daemon stops."""
        while not self._stopping:
            started = time.monotonic()
            await self._cluster_tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopped.wait(), max(0.0, interval - (time.monotonic() - started))
                )

    async def _cluster_tick(self) -> None:
        """The cluster's pass (:meth:`Cluster.tick`): sync what it gained, run what other
        nodes forwarded, read the configuration again when they changed it."""
        cluster = self.cluster
        if cluster is None or self._stopping:
            return
        try:
            result = await cluster.tick()
        except DnsautoError as exc:
            self.metrics.cluster_store_failures.inc()
            log.warning("cluster: cannot renew the leases: %s", exc.message)
            return
        except Exception:  # a bug: the passes must go on, or this node's domains stall
            self.metrics.cluster_store_failures.inc()
            log.exception("cluster: internal error in the pass; the next pass tries again")
            return
        text = cluster.describe(result)
        if text:
            log.info("%s", text)
        self.metrics.cluster_domains_held.set(len(cluster.leases.held()))
        self.metrics.cluster_nodes_live.set(len(result.live))
        if result.lost:
            self.metrics.cluster_leases_lost.inc(len(result.lost))
        if result.gained:
            self._request(result.gained, "lease", delay=0.0)
        await self._run_forwarded(result.forwarded)

    def _notified(self) -> None:
        """A run was forwarded (PostgreSQL ``NOTIFY``): read the queue soon, once."""
        if not self._forwarded_soon and not self._stopping:
            self._forwarded_soon = True
            self._spawn(self._take_forwarded())

    async def _take_forwarded(self) -> None:
        self._forwarded_soon = False
        if self.cluster is None or self._stopping:
            return
        try:
            forwarded = await self.cluster.take_forwarded()
        except DnsautoError as exc:
            log.warning("cluster: cannot read the forwarded runs: %s", exc.message)
            return
        await self._run_forwarded(forwarded)

    async def _run_forwarded(self, triggers: Sequence[ForwardedTrigger]) -> None:
        """Run what other nodes forwarded here: the configuration read again first when they
        changed it; of the domains named, those this node holds, each with its reason."""
        cluster = self.cluster
        if cluster is None or not triggers:
            return
        if any(t.reload for t in triggers) and self._loader is not None:
            await self.reload()
        forwarded: dict[str, list[str]] = {}
        for trigger in triggers:
            if trigger.domain in self._slots and cluster.holds(trigger.domain):
                forwarded.setdefault(trigger.reason, []).append(trigger.domain)
        delay = self.config.daemon.trigger_delay.total_seconds()
        for reason, names in forwarded.items():
            self._request(names, reason, delay=delay)

    # --- reloading ------------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Load the configuration again; keep the old one (and say why) when it has problems."""
        if self._loader is None:
            log.warning("reload asked for, but this daemon has no configuration file")
            return False
        self.notifier.reloading()
        try:
            config = await self._load(self._loader)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            self.metrics.reloads.labels("refused").inc()
            self.notifier.ready(
                f"reload refused ({len(exc.problems)} problems); running on the previous "
                "configuration"
            )
            return False
        except DnsautoError as exc:
            log.error("reload refused: %s", exc.message)
            self.metrics.reloads.labels("refused").inc()
            self.notifier.ready("reload refused; running on the previous configuration")
            return False
        self._apply_config(config, "reload")
        self.metrics.reloads.labels("ok").inc()
        self.notifier.ready(f"reloaded; {len(self._slots)} domains")
        return True

    async def _load(self, loader: Callable[[], Config]) -> Config:
        """The loader's configuration, read in a worker thread (files, secrets, the store);
        read again when the API changed the configuration meanwhile, as that change is in the
        store but perhaps not in what was read."""
        for _ in range(3):
            before = self.config
            config = await asyncio.to_thread(loader)
            if self.config is before:
                return config
        return loader()  # changed at every try: once more, on the loop, uninterrupted

    def replace_config(
        self,
        config: Config,
        reason: str,
        domains: Collection[str] | None = None,
        jobs: JobUpdate | None = None,
    ) -> str | None:
        """Run on ``config`` from now on, as a reload does (the API's changes); the run id of
        the syncs of the domains it added or changed, None when there are none.

        ``domains``: only these Domain objects changed, so only their jobs are made again
        (an API /set of 1,000 Domains in a daemon of 16,000 must not redo all 16,000 on the
        event loop). ``jobs``: those jobs, made already (:func:`~dnsauto.sync.jobs.job_update`,
        in the API's worker thread); used when made from this configuration to ``config``."""
        return self._apply_config(config, reason, domains, forward="reload", update=jobs)

    def _changes(
        self, config: Config, domains: Collection[str] | None, update: JobUpdate | None = None
    ) -> tuple[dict[str, DomainJob], list[str], list[str], list[str]]:
        """The jobs of ``config`` that are new or changed, and the names of the domains it
        removes, adds and changes; only the ``domains`` named are looked at, when given."""
        if domains is None:
            jobs = {job.domain: job for job in domain_jobs(config)}
            named: Collection[str] = jobs.keys() | self._slots.keys()
        elif update is not None and update.before is self.config and update.config is config:
            jobs, named = update.jobs, update.names
        else:
            update = job_update(self.config, config, domains)
            jobs, named = update.jobs, update.names
        removed = sorted(n for n in named if n in self._slots and n not in jobs)
        added = sorted(n for n in jobs if n not in self._slots)
        changed = sorted(
            n for n, job in jobs.items() if n in self._slots and self._slots[n].job != job
        )
        return jobs, removed, added, changed

    def _apply_config(
        self,
        config: Config,
        reason: str,
        domains: Collection[str] | None = None,
        forward: Literal["reload"] | None = None,
        update: JobUpdate | None = None,
    ) -> str | None:
        old = self.config
        if config.daemon.state_dir != old.daemon.state_dir:
            log.warning("daemon.stateDir changed: it takes effect at the next start")
            daemon = config.daemon.model_copy(update={"state_dir": old.daemon.state_dir})
            config = config.model_copy(update={"daemon": daemon})
        if config.daemon.store != old.daemon.store:
            log.warning("daemon.store changed: it takes effect at the next start")
            daemon = config.daemon.model_copy(update={"store": old.daemon.store})
            config = config.model_copy(update={"daemon": daemon})
        if config.daemon.metrics.listen != old.daemon.metrics.listen:
            log.warning("daemon.metrics.listen changed: it takes effect at the next start")
        if config.daemon.api.listen != old.daemon.api.listen:
            log.warning("daemon.api.listen changed: it takes effect at the next start")
        everything = config.bootstrap != old.bootstrap or config.mail_server != old.mail_server
        jobs, removed, added, changed = self._changes(
            config, None if everything else domains, None if everything else update
        )
        if everything:  # every domain's records may change: all of them sync
            changed = sorted(n for n in jobs if n in self._slots)
        for name in removed:
            slot = self._slots.pop(name)
            slot.removed = True
            self._runs.forget(name)
            self.metrics.forget(name)
        for name in added:
            self._slots[name] = _Slot(jobs[name])
        for name in changed:
            self._slots[name].job = jobs[name]
        self.config = config
        _settle_heap()
        if config.daemon.max_concurrent_domains != old.daemon.max_concurrent_domains:
            self._limit = asyncio.Semaphore(config.daemon.max_concurrent_domains)
        scheduler = self._scheduler
        if scheduler is not None:
            if (config.daemon.sync_interval, config.daemon.jitter) != (
                old.daemon.sync_interval,
                old.daemon.jitter,
            ):
                scheduler.reschedule_job("reconcile", trigger=self._interval())
            if config.daemon.dkim_check_interval != old.daemon.dkim_check_interval:
                self.dkim.reschedule(scheduler, config.daemon.dkim_check_interval.total_seconds())
        self.metrics.domains.set(len(self._slots))
        log.info(
            "%s: %d domains; added %s; removed %s; changed %s",
            "reloaded" if reason == "reload" else f"configuration changed ({reason})",
            len(self._slots),
            summary_of_names(added) or "none",
            summary_of_names(removed) or "none",
            summary_of_names(changed) or "none",
        )
        if added or changed:
            return self._request([*added, *changed], reason, delay=0.0, forward=forward)
        self._status_changed()
        return None

    # --- status ---------------------------------------------------------------------------------

    def waiting(self, domains: Iterable[str] | None = None) -> dict[str, str]:
        """The domains with a run waiting to start (of ``domains``, when given), with its run
        id."""
        if domains is None:
            return {name: request.run_id for name, request in self._runs.waiting().items()}
        requests = ((name, self._runs.waiting_of(name)) for name in domains)
        return {name: request.run_id for name, request in requests if request is not None}

    def syncing(self) -> dict[str, str]:
        """The domains syncing now, with their run ids."""
        return self._runs.running()

    def next_runs(self) -> dict[str, tuple[float, str] | None]:
        """Each domain's next scheduled run: (Unix time, why), or None while none is set."""
        periodic = self._next_fire("reconcile")
        result: dict[str, tuple[float, str] | None] = {}
        for name in sorted(self._slots):
            request = self._runs.waiting_of(name)
            if request is not None:
                result[name] = (request.due, ", ".join(request.reasons))
            elif periodic is not None:
                result[name] = (periodic, "periodic")
            else:
                result[name] = None
        return result

    def _next_fire(self, job_id: str) -> float | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(job_id)
        if job is None or job.next_run_time is None:
            return None
        return float(job.next_run_time.timestamp())

    def _status_changed(self) -> None:
        self._status.changed()

    def write_status(self) -> None:
        """Write the schedule for ``dnsauto status`` now; once stopping, as not running."""
        self._status.write_now()

    def _status_snapshot(self) -> StatusSnapshot:
        """What the status file shows, taken on the event loop; made into the document
        elsewhere (:func:`~dnsauto.service.status.status_document`)."""
        running = not self._stopping
        return StatusSnapshot(
            running=running,
            started_at=self.started_at,
            updated_at=self.clock(),
            periodic=self._next_fire("reconcile") if running else None,
            slots=list(self._slots.items()),
            waiting=self._runs.waiting(),
            syncing=self._runs.running(),
            failures=self._runs.failures_by_domain(),
        )


def _settle_heap() -> None:
    """Take what is alive now (the code, the configuration, the domains' jobs) out of the
    cycle collector's sight. Its full passes then scan only what was made since: with 16,000
    domains each such pass had paused the event loop for 150-250 ms. A configuration that is
    replaced later is still freed, by reference counting (it holds no reference cycles)."""
    gc.freeze()


def _domain_key(name: str) -> str:
    return lookup_key(name)
