"""Leases: which node of a cluster syncs which domain, and the fence every provider write passes.

Several ``dnsauto run`` nodes share one state store. Each domain is synced by at most one of
them at a time, the holder of its *lease*: a row ``(domain, owner, token, expires_at)``.

* A node claims a domain whose lease is free, released or expired; a claim adds one to the
  domain's ``token`` (the fencing token), which therefore only grows. Renewing a lease one
  still holds keeps its token.
* Every batch sent to a provider is journaled first (:mod:`dnsauto.sync.apply`); with leases
  the journal's transaction first checks, under a row lock, that this node still holds the
  lease with the token it claimed, and that the lease lasts at least the provider call it is
  about to cover (the DnsServer's ``timeout``), extending it in the same transaction when less
  remains. The journal rows record the node and the token. A node whose lease was taken (it was
  paused, or cut off from the store) fails that check and sends nothing more. A lease that ran
  out but that no other node claimed is still the node's (same owner, same token: nobody can
  have written under a newer one) and is renewed: a node slowed down (a loaded machine) keeps
  its domains until another node actually takes them. A sync's result is saved under the
  same check, in the result's transaction: a node that lost the lease writes no result over
  its new holder's.
* Nodes say they are alive in ``cluster_nodes`` (a heartbeat); a node whose heartbeat is older
  than the lease time is taken as gone, and the domains it held move when their leases expire.

Which live node should hold a domain is rendezvous hashing (:func:`preferred_node`): every
node computes the same answer from the same list of live nodes, with no coordinator; each
domain goes to the node with the highest hash of ``(node, domain)``, which spreads domains
evenly, and when a node joins or leaves only the domains it gains or loses move.

The calls are synchronous, one short transaction each, as the rest of the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dnsauto.plugin.errors import DnsautoError
from dnsauto.state.store import (
    StateStore,
    dialect_insert,
    leases_table,
    nodes_table,
    triggers_table,
)

__all__ = [
    "CHANNEL",
    "ForwardedTrigger",
    "LeaseHeldError",
    "LeaseLostError",
    "LeaseStore",
    "NodeRow",
    "TriggerQueue",
    "cluster_nodes",
    "preferred_node",
    "spread",
]

Clock = Callable[[], datetime]


class LeaseLostError(DnsautoError):
    """This node no longer holds the domain's lease: it sends nothing more for it."""


class LeaseHeldError(LeaseLostError):
    """Another node holds the domain's lease: this process (``dnsauto sync``, ``restore``)
    does not sync it."""


@dataclass(frozen=True)
class NodeRow:
    """A node as its last heartbeat left it."""

    node_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    domains_held: int
    stopped: bool


def _score(node: str, domain: str) -> int:
    digest = hashlib.blake2b(f"{node}\0{domain}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def preferred_node(domain: str, nodes: Iterable[str]) -> str | None:
    """The node that should hold ``domain`` among ``nodes`` (rendezvous hashing)."""
    best: tuple[int, str] | None = None
    for node in nodes:
        candidate = (_score(node, domain), node)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[1]


def spread(domains: Iterable[str], nodes: Collection[str]) -> dict[str, list[str]]:
    """Each node's share of ``domains`` (by :func:`preferred_node`)."""
    shares: dict[str, list[str]] = {node: [] for node in nodes}
    for domain in domains:
        owner = preferred_node(domain, nodes)
        if owner is not None:
            shares[owner].append(domain)
    return shares


def cluster_nodes(store: StateStore) -> list[NodeRow]:
    """Every node that ever sent a heartbeat to ``store``, by id (none before any did)."""
    with store.read_transaction() as conn:
        if not sa.inspect(conn).has_table("cluster_nodes"):
            return []
        rows = conn.execute(sa.select(nodes_table).order_by(nodes_table.c.node_id))
        return [NodeRow(**dict(row._mapping)) for row in rows]


class LeaseStore:
    """One node's view of the leases and heartbeats in a :class:`StateStore`.

    ``lease_seconds``: how long a claim or renewal lasts, and how old a heartbeat may be before
    its node counts as gone. ``clock`` is the store's unless given (tests inject one).
    """

    def __init__(
        self,
        store: StateStore,
        node_id: str,
        *,
        lease_seconds: float,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock if clock is not None else store.clock
        self._tokens: dict[str, int] = {}
        """The domains this node holds, with the token of its claim."""

    # --- what this node holds -------------------------------------------------------------------

    def held(self) -> dict[str, int]:
        """The domains this node believes it holds, with their tokens."""
        return dict(self._tokens)

    def token_of(self, domain: str) -> int | None:
        return self._tokens.get(domain)

    # --- nodes ----------------------------------------------------------------------------------

    def heartbeat(self, host: str, pid: int, *, stopped: bool = False) -> None:
        """Say this node is alive (or, ``stopped``, that it left cleanly)."""
        with self.store.write_transaction() as conn:
            self._bounded(conn)
            self._heartbeat(conn, host, pid, now=self.clock(), stopped=stopped)

    def _heartbeat(
        self,
        conn: Connection,
        host: str,
        pid: int,
        *,
        now: datetime,
        stopped: bool,
        held: int | None = None,
    ) -> None:
        """``held``: the count of domains held to record (else what this node holds now)."""
        values = {
            "host": host,
            "pid": pid,
            "heartbeat_at": now,
            "domains_held": 0 if stopped else len(self._tokens) if held is None else held,
            "stopped": stopped,
        }
        updated = conn.execute(
            nodes_table.update().where(nodes_table.c.node_id == self.node_id).values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(
                nodes_table.insert().values(node_id=self.node_id, started_at=now, **values)
            )

    def mark_started(self) -> None:
        """This node (re)started now: its start time is reset."""
        with self.store.write_transaction() as conn:
            conn.execute(
                nodes_table.update()
                .where(nodes_table.c.node_id == self.node_id)
                .values(started_at=self.clock())
            )

    def nodes(self) -> list[NodeRow]:
        """Every node that ever sent a heartbeat, by id."""
        return cluster_nodes(self.store)

    def live_nodes(self) -> list[str]:
        """The nodes whose heartbeat is younger than the lease time and that did not stop."""
        since = self.clock() - self.lease
        query = (
            sa.select(nodes_table.c.node_id)
            .where(nodes_table.c.heartbeat_at > since, sa.not_(nodes_table.c.stopped))
            .order_by(nodes_table.c.node_id)
        )
        with self.store.read_transaction() as conn:
            return list(conn.execute(query).scalars())

    # --- leases ---------------------------------------------------------------------------------

    def acquire(
        self, domains: Collection[str], *, heartbeat: tuple[str, int] | None = None
    ) -> dict[str, int]:
        """Renew the leases of ``domains`` this node holds and claim those that are free,
        released or expired; drop from what this node holds the ones another node took.
        Returns the domains held now (of those asked for and of those held before).

        ``heartbeat`` (host, pid): the node's heartbeat is written in the same transaction,
        at the same time as the renewals, so the node counts as gone exactly when the leases
        it renewed run out."""
        now = self.clock()
        expires = now + self.lease
        wanted = sorted(set(domains))
        claimed: dict[str, int] = {}
        taken_by_others: list[str] = []
        with self.store.write_transaction() as conn:
            self._bounded(conn)
            rows = _lease_rows(conn, wanted, lock=True)
            renew: list[str] = []
            missing: list[str] = []
            for domain in wanted:
                row = rows.get(domain)
                if row is None:
                    missing.append(domain)
                elif self._holds_row(domain, row, now):
                    renew.append(domain)
                elif row.owner is None or row.expires_at <= now or row.owner == self.node_id:
                    # free, released, expired, or held by an earlier run of this node id
                    claimed[domain] = int(row.token) + 1
                else:
                    taken_by_others.append(domain)
            if renew:
                conn.execute(
                    leases_table.update()
                    .where(leases_table.c.domain.in_(renew))
                    .where(leases_table.c.owner == self.node_id)
                    .where(leases_table.c.expires_at < expires)
                    .values(expires_at=expires)
                )
            for domain, token in claimed.items():
                conn.execute(
                    leases_table.update()
                    .where(leases_table.c.domain == domain)
                    .values(owner=self.node_id, token=token, expires_at=expires, acquired_at=now)
                )
            if missing:
                inserted = _insert_new(conn, missing, self.node_id, now, expires)
                claimed.update(dict.fromkeys(inserted, 1))
            if heartbeat is not None:
                held = set(self._tokens).union(claimed).difference(taken_by_others)
                self._heartbeat(conn, *heartbeat, now=now, stopped=False, held=len(held))
        # Held only once committed: a claim whose commit failed (a PostgreSQL restart) is not
        # this node's, and its next claim must count as new, so that the domain is synced.
        self.forget(taken_by_others)
        self._tokens.update(claimed)
        return dict(self._tokens)

    def release(self, domains: Iterable[str]) -> None:
        """Give up the leases of ``domains`` now (their tokens stay, so the next claim's is
        higher); a domain this node does not hold is left alone."""
        mine = [d for d in domains if d in self._tokens]
        if not mine:
            return
        now = self.clock()
        with self.store.write_transaction() as conn:
            self._bounded(conn)
            for domain in mine:
                conn.execute(
                    leases_table.update()
                    .where(leases_table.c.domain == domain)
                    .where(leases_table.c.owner == self.node_id)
                    .where(leases_table.c.token == self._tokens[domain])
                    .values(owner=None, expires_at=now)
                )
        for domain in mine:
            self._tokens.pop(domain, None)

    def release_all(self) -> None:
        self.release(list(self._tokens))

    def forget(self, domains: Iterable[str]) -> None:
        """Drop ``domains`` from what this node believes it holds (a fence found them lost)."""
        for domain in domains:
            self._tokens.pop(domain, None)

    def leases(self) -> dict[str, tuple[str | None, int, datetime]]:
        """Every lease: domain -> (owner, token, expiry)."""
        with self.store.read_transaction() as conn:
            rows = conn.execute(sa.select(leases_table).order_by(leases_table.c.domain))
            return {r.domain: (r.owner, int(r.token), r.expires_at) for r in rows}

    def refusal(self, domain: str) -> LeaseHeldError:
        """The error for ``domain`` when this process did not get its lease: naming the node
        that holds it, and until when."""
        query = sa.select(leases_table.c.owner, leases_table.c.expires_at).where(
            leases_table.c.domain == domain
        )
        with self.store.read_transaction() as conn:
            row = conn.execute(query).first()
        if row is None or row.owner is None:
            return LeaseHeldError(f"{domain}: its lease could not be taken; try again")
        return LeaseHeldError(
            f"{domain}: node {row.owner} holds its lease (until "
            f"{row.expires_at:%Y-%m-%d %H:%M:%S} UTC) and syncs it; stop that node to sync "
            "the domain from here"
        )

    # --- the fence ------------------------------------------------------------------------------

    def guard(self, conn: Connection, domain: str, seconds: float) -> tuple[str, int]:
        """Inside the journal's transaction: this node still holds ``domain``'s lease with the
        token of its claim, for at least ``seconds`` more (extended here when less remains).
        Returns (node id, token) for the journal rows; :class:`LeaseLostError` otherwise."""
        token = self._tokens.get(domain)
        if token is None:
            raise LeaseLostError(f"{domain}: this node ({self.node_id}) holds no lease on it")
        now = self.clock()
        self._bounded(conn)
        row = _lease_rows(conn, [domain], lock=True).get(domain)
        if row is None or row.owner != self.node_id or int(row.token) != token:
            self._tokens.pop(domain, None)
            raise LeaseLostError(
                f"{domain}: the lease of node {self.node_id} (token {token}) was lost; "
                "nothing more is sent"
            )
        needed = now + timedelta(seconds=seconds)
        if row.expires_at < needed:
            # renewed first: the lease outlasts the provider call this batch makes. One that
            # ran out is renewed too while no other node claimed it: a claim changes the
            # token, so with the same token no other node can have written meanwhile
            conn.execute(
                leases_table.update()
                .where(leases_table.c.domain == domain)
                .values(expires_at=max(needed, now + self.lease))
            )
        return self.node_id, token

    def confirm(self, domain: str, seconds: float) -> tuple[str, int]:
        """:meth:`guard` in a transaction of its own (before a batch is sent again)."""
        with self.store.write_transaction() as conn:
            return self.guard(conn, domain, seconds)

    def _bounded(self, conn: Connection) -> None:
        """On PostgreSQL, a lease transaction neither waits for a row lock nor keeps its own
        longer than a lease: a node paused (SIGSTOP) inside one would otherwise hold the rows
        it locked, and every other node's claims, until it resumed. The server ends such a
        session (``idle_in_transaction_session_timeout``), which rolls its transaction back:
        a journal entry it had not committed is never written, so its batch is never sent."""
        if conn.dialect.name != "postgresql":
            return
        limit = max(1000, int(self.lease.total_seconds() * 1000))
        conn.exec_driver_sql(f"SET LOCAL idle_in_transaction_session_timeout = {limit}")
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {limit}")

    def _holds_row(self, domain: str, row: sa.Row[tuple[object, ...]], now: datetime) -> bool:
        """Still this node's claim: its owner and token (a lease that ran out but that no
        other node claimed is still it, and is renewed)."""
        token = self._tokens.get(domain)
        return token is not None and row.owner == self.node_id and int(row.token) == token


def _lease_rows(
    conn: Connection, domains: list[str], *, lock: bool
) -> Mapping[str, sa.Row[tuple[object, ...]]]:
    rows: dict[str, sa.Row[tuple[object, ...]]] = {}
    for start in range(0, len(domains), 500):
        query = sa.select(leases_table).where(
            leases_table.c.domain.in_(domains[start : start + 500])
        )
        if lock:
            query = query.with_for_update()
        for row in conn.execute(query):
            rows[row.domain] = row
    return rows


def _insert_new(
    conn: Connection, domains: list[str], node: str, now: datetime, expires: datetime
) -> list[str]:
    """Insert token-1 leases of ``domains`` for ``node`` where no row exists (a race with
    another node's insert is decided by the primary key); the domains this node got."""
    values = [
        {"domain": d, "owner": node, "token": 1, "expires_at": expires, "acquired_at": now}
        for d in domains
    ]
    insert = dialect_insert(conn.dialect.name)
    conn.execute(insert(leases_table).on_conflict_do_nothing(), values)
    rows = _lease_rows(conn, domains, lock=False)
    return [
        d
        for d, row in rows.items()
        if row.owner == node and int(row.token) == 1 and row.acquired_at == now
    ]


@dataclass(frozen=True)
class ForwardedTrigger:
    """A run asked for on one node of a domain another node holds."""

    id: int
    domain: str
    reason: str
    reload: bool
    """The configuration changed (over the API): the node reads it again before the run."""
    origin: str


CHANNEL = "dnsauto_triggers"
"""The PostgreSQL ``NOTIFY`` channel a forwarded run is announced on."""


class TriggerQueue:
    """Runs forwarded between nodes through the store: the asking node adds a row per domain;
    every node reads the rows added since it last looked and runs those of its domains."""

    KEEP = timedelta(hours=1)

    def __init__(self, store: StateStore, node_id: str, *, clock: Clock | None = None) -> None:
        self.store = store
        self.node_id = node_id
        self.clock = clock if clock is not None else store.clock
        with store.read_transaction() as conn:
            last = conn.execute(sa.select(sa.func.max(triggers_table.c.id))).scalar()
        self._seen = int(last or 0)

    def forward(self, domains: Iterable[str], reason: str, *, reload: bool) -> None:
        now = self.clock()
        rows = [
            {
                "domain": d,
                "reason": reason,
                "reload": reload,
                "origin": self.node_id,
                "created_at": now,
            }
            for d in domains
        ]
        if not rows:
            return
        with self.store.write_transaction() as conn:
            conn.execute(triggers_table.insert(), rows)
            if conn.dialect.name == "postgresql":  # wakes the listeners at the commit
                conn.execute(sa.select(sa.func.pg_notify(CHANNEL, self.node_id)))

    def take_new(self) -> list[ForwardedTrigger]:
        """The rows added since the last call (by other nodes), oldest first."""
        query = (
            sa.select(triggers_table)
            .where(triggers_table.c.id > self._seen)
            .order_by(triggers_table.c.id)
        )
        with self.store.read_transaction() as conn:
            rows = list(conn.execute(query))
        if rows:
            self._seen = max(int(r.id) for r in rows)
        return [
            ForwardedTrigger(int(r.id), r.domain, r.reason, bool(r.reload), r.origin)
            for r in rows
            if r.origin != self.node_id
        ]

    def prune(self) -> None:
        """Delete the rows older than :attr:`KEEP`."""
        before = self.clock() - self.KEEP
        with self.store.write_transaction() as conn:
            conn.execute(triggers_table.delete().where(triggers_table.c.created_at < before))
