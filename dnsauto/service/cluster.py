"""A ``dnsauto run`` node in a cluster: heartbeats, leases, and runs forwarded to the owner.

Every ``[daemon.cluster]`` heartbeat (a third of ``leaseSeconds``) the node, in one pass:

1. reads the live nodes (a heartbeat younger than the lease time) and works out, by rendezvous
   hashing (:func:`dnsauto.state.leases.preferred_node`), which of its configured domains it
   should hold;
2. releases the leases of the domains that now belong to another live node (a node joined),
   unless it is syncing them now: those go at the next pass;
3. renews the leases it keeps and claims the free or expired ones it should hold (a node left
   or died): each domain gained is synced at once ("gained" against what the last pass
   that ended told the daemon, so claims of a pass cut off after their commit are not
   missed). Its heartbeat (``cluster_nodes``, with
   the count held) is written in the renewals' transaction: it counts as gone exactly when
   the leases it renewed run out;
4. reads the runs other nodes forwarded to it (:class:`~dnsauto.state.leases.TriggerQueue`):
   an API change on any node reaches the node that holds the domain, which reads the
   configuration again when it changed, and runs the domain through its coalescer;
5. writes the DKIM key files of the keys changed since its last pass, whichever node made,
   rotated or retired them (:meth:`~dnsauto.records.dkim.DkimKeyStore.write_files`), so the
   MTA on every node's machine has every key; its first pass writes them all. "Since" reaches
   back a lease time before the last pass began: a write stamped by another node's clock
   (as far off as a lease allows) or committed late is not missed.

On PostgreSQL a forwarded run is also announced with ``NOTIFY`` (:data:`CHANNEL`): each node
keeps one connection ``LISTEN``ing in a thread of its own (:class:`Listener`) and reads the
queue at once, so a run reaches its node in milliseconds, not at the next heartbeat. The
heartbeat's read stays: a notification lost while the connection was down (a PostgreSQL
restart) is caught up there.

The safety of the provider's writes does not depend on this loop's timing: each batch is
journaled under a check of the lease in the same transaction (:mod:`dnsauto.sync.apply`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from dnsauto.config.cluster import ClusterSettings, default_node_id
from dnsauto.plugin.errors import DnsautoError
from dnsauto.records.dkim import DkimKeyStore
from dnsauto.service.logs import summary_of_names
from dnsauto.state.leases import (
    CHANNEL,
    ForwardedTrigger,
    LeaseStore,
    TriggerQueue,
    preferred_node,
)
from dnsauto.state.ratelimits import StoreRateLimits
from dnsauto.state.store import StateStore

__all__ = ["Cluster", "CommandLeases", "Listener", "TickResult", "command_leases"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickResult:
    """What one pass changed."""

    live: list[str]
    gained: list[str]
    released: list[str]
    lost: list[str]
    forwarded: list[ForwardedTrigger]


class Cluster:
    """One node's membership. ``domains``: the configured domains; ``busy``: those syncing
    now (their leases are not given away mid-sync)."""

    def __init__(
        self,
        settings: ClusterSettings,
        store: StateStore,
        *,
        domains: Callable[[], Collection[str]],
        busy: Callable[[], Collection[str]],
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id or default_node_id()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.store = store
        self.leases = LeaseStore(store, self.node_id, lease_seconds=settings.lease_seconds)
        self.triggers = TriggerQueue(store, self.node_id)
        self._domains = domains
        self._busy = busy
        self.live: list[str] = []
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dnsauto-cluster")
        """A thread of its own: renewals do not queue behind the syncs' store writes and DKIM
        key generation in the default pool."""
        self._ticks = 0
        self.key_files = DkimKeyStore(store)
        self.rate_limits = StoreRateLimits(store)
        """The providers' rate limits, shared with the other nodes through the store."""
        self._keys_since: datetime | None = None
        self._announced: dict[str, int] = {}
        """The leases (domain -> token) the last pass that ended told the daemon of."""
        self._joined = False
        """Whether this node's start is in the store (:meth:`join`, else the next pass)."""

    def holds(self, domain: str) -> bool:
        """Whether this node believes it holds ``domain``'s lease (the fence decides)."""
        return self.leases.token_of(domain) is not None

    def held(self) -> list[str]:
        return sorted(self.leases.held())

    def mine(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if self.holds(n)]

    def forward(self, names: Sequence[str], reason: str, *, reload: bool) -> None:
        """Ask the nodes holding ``names`` to run them (a row each in the store)."""
        self.triggers.forward(names, reason, reload=reload)

    async def take_forwarded(self) -> list[ForwardedTrigger]:
        """The runs forwarded since the last look (a notification said there are some)."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.triggers.take_new)

    async def tick(self) -> TickResult:
        """One pass (see the module docstring); errors of the store are the caller's."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._tick)

    def _tick(self) -> TickResult:
        if not self._joined:
            self._join()
        leases = self.leases
        # What the daemon was last told it holds, rather than what this node held when the
        # pass began: a pass that fails after its claims committed (a step after them cut
        # off by a PostgreSQL restart) returns nothing, and its claims would then count as
        # held before at the next pass, so never as gained and never synced.
        announced = self._announced
        before = set(leases.held())
        live = leases.live_nodes()
        if self.node_id not in live:  # a clock far behind the store's: count itself in
            live = sorted({*live, self.node_id})
        self.live = live
        configured = set(self._domains())
        busy = set(self._busy())
        should = {d for d in configured if preferred_node(d, live) == self.node_id}
        release = sorted((before - should) - busy)
        leases.release(release)
        keep = should | (before & busy & configured)
        acquired = leases.acquire(keep, heartbeat=(self.host, self.pid))
        now_held = set(acquired)
        lost = sorted((before | set(announced)) - now_held - set(release))
        # a new token is a new claim, even of a domain held before (its lease ran out and a
        # batch's fence dropped it meanwhile): the domain syncs again under the new one
        gained = sorted(d for d, token in acquired.items() if announced.get(d) != token)
        self._ticks += 1
        if self._ticks % 360 == 1:  # before the queue is taken: a failure here loses nothing
            self.triggers.prune()
        forwarded = self.triggers.take_new()
        self._write_key_files()
        self._announced = dict(acquired)
        return TickResult(live, gained, release, lost, forwarded)

    def _write_key_files(self) -> None:
        """Step 5 of the pass; a store that cannot be read now is read again next pass."""
        started = self.store.clock()
        try:
            self.key_files.write_files(self._keys_since)
        except DnsautoError as exc:
            log.warning("cluster: cannot read the DKIM keys to write their files: %s", exc.message)
            return
        self._keys_since = started - timedelta(seconds=self.settings.lease_seconds)

    async def join(self) -> None:
        """Say this node is alive (its first heartbeat); it claims nothing yet. A store that
        cannot be reached now (a PostgreSQL restarting as the node starts) is told again by
        the first pass that reaches it: a node never stops for it."""
        async with self._lock:
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._join)
            except DnsautoError as exc:
                log.warning("cluster: cannot join yet (the next pass will): %s", exc.message)

    def _join(self) -> None:
        self.leases.heartbeat(self.host, self.pid)
        self.leases.mark_started()
        self._joined = True

    async def stop(self) -> None:
        """Leave cleanly: give every lease up and say so, so the others take over at once."""
        async with self._lock:
            try:
                await asyncio.to_thread(self._leave)
            except DnsautoError as exc:
                log.warning("cannot release the leases at stop: %s", exc.message)

    def _leave(self) -> None:
        try:
            self.leases.release_all()
            self.leases.heartbeat(self.host, self.pid, stopped=True)
        finally:
            self._executor.shutdown(wait=False)

    def describe(self, result: TickResult) -> str | None:
        """A log line for a pass that changed something, else None."""
        parts = []
        if result.gained:
            parts.append(f"claimed {summary_of_names(result.gained)}")
        if result.released:
            parts.append(f"handed over {summary_of_names(result.released)}")
        if result.lost:
            parts.append(f"lost {summary_of_names(result.lost)}")
        if not parts:
            return None
        return (
            f"node {self.node_id}: {'; '.join(parts)}; holds {len(self.leases.held())}, "
            f"{len(result.live)} nodes live"
        )


class Listener(threading.Thread):
    """``LISTEN`` on :data:`CHANNEL` on a connection of the store's pool; each notification
    calls ``notified`` on ``loop``. A lost connection is made again every ``retry`` seconds."""

    def __init__(
        self,
        store: StateStore,
        loop: asyncio.AbstractEventLoop,
        notified: Callable[[], None],
        *,
        retry: float,
    ) -> None:
        super().__init__(name="dnsauto-listen", daemon=True)
        self.store = store
        self.loop = loop
        self.notified = notified
        self.retry = retry
        self._halt = threading.Event()
        self.listening = threading.Event()
        """Set while a connection listens (for the tests)."""

    def run(self) -> None:
        while not self._halt.is_set():
            proxy = None
            try:
                proxy = self.store.driver_connection()
                conn = proxy.driver_connection
                conn.autocommit = True
                conn.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                while not self._halt.is_set():
                    for _ in conn.notifies(timeout=self.retry, stop_after=1):
                        self.loop.call_soon_threadsafe(self.notified)
            except Exception as exc:  # connection lost (a restart), or none to be had now
                self.listening.clear()
                log.debug("cluster: LISTEN connection lost: %s", exc)
                self._halt.wait(self.retry)
            finally:
                if proxy is not None:
                    with contextlib.suppress(Exception):
                        proxy.invalidate()

    def stop(self) -> None:
        self._halt.set()


@dataclass
class CommandLeases:
    """What a one-shot command (``dnsauto sync``, ``restore``) holds on a cluster: the leases
    it got, for its engine's fence, and the providers' shared rate limits."""

    fence: LeaseStore
    rate_limits: StoreRateLimits


@contextlib.asynccontextmanager
async def command_leases(
    settings: ClusterSettings, store: StateStore, domains: Collection[str]
) -> AsyncIterator[CommandLeases | None]:
    """Claim the leases of ``domains`` for a command on a cluster (None without one), renew
    them every heartbeat while it runs, and give them up at its end.

    The command is no node: it writes no heartbeat, so no domain is ever spread to it, and it
    claims only leases that are free, released or expired (a node stopped or dead); a domain
    that a live node holds is not synced by it (the engine says which node holds it).
    """
    if not settings.enabled:
        yield None
        return
    node_id = f"cli-{default_node_id()}"
    fence = LeaseStore(store, node_id, lease_seconds=settings.lease_seconds)
    await asyncio.to_thread(fence.acquire, domains)
    renewing = asyncio.create_task(_renew(fence, settings.heartbeat_seconds))
    try:
        yield CommandLeases(fence, StoreRateLimits(store))
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        try:
            await asyncio.to_thread(fence.release_all)
        except DnsautoError as exc:  # they run out by themselves
            log.warning("cannot release the leases: %s", exc.message)


async def _renew(fence: LeaseStore, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(fence.acquire, list(fence.held()))
        except DnsautoError as exc:  # the fence stops a batch whose lease ran out
            log.warning("cannot renew the leases: %s", exc.message)
