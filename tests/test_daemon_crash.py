"""SIGKILL ``dnsauto run`` at random points of a first sync of 50 zones on a real BIND; after
a restart the zones are exactly what an uninterrupted sync made, and the journal holds every
change the killed daemon applied.

Each trial gets a fresh BIND and a copy of the state an uninterrupted sync started from (its
DKIM keys, so the records are the same), starts ``python -m dnsauto run``, waits until a random
number of domains have journaled a batch (plus a random few milliseconds, to land inside the
next one), and kills it. The restart runs the daemon in this process: same code, same state
directory, without paying the interpreter's start-up a second time. Two trials run at once.
``DNSAUTO_CRASH_SEED`` replays a failing seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dnsauto.plugin.registry import load_registry
from dnsauto.service.daemon import Daemon, load_checked
from dnsauto.state.store import DB_FILE, JournalEntry, StateStore
from dnsauto.testing.servers import RunningServer, ServerUnavailable
from tests.daemon_helpers import (
    DaemonProcess,
    Snapshot,
    config_text,
    poll,
    start_bind_zones,
    zone_snapshot,
)

pytestmark = [pytest.mark.servers, pytest.mark.slow]

DOMAINS = [f"m{i}.test" for i in range(50)]
ZONES = [f"{d}." for d in DOMAINS]
TRIALS = 20


def start_or_skip() -> RunningServer:
    try:
        return start_bind_zones(ZONES)
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")


def snapshots(server: RunningServer) -> dict[str, Snapshot]:
    return {zone: zone_snapshot(server, zone) for zone in ZONES}


def query(state: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """A read straight from the state store's SQLite file: cheap enough to poll with."""
    path = state / DB_FILE
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # no such table yet
            return []


def synced_since(state: Path, since: datetime) -> bool:
    """Every domain has a successful result saved at or after ``since``."""
    stamp = since.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = query(state, "SELECT count(*) FROM results WHERE ok AND finished_at >= ?", stamp)
    return bool(rows) and rows[0][0] == len(DOMAINS)


def write_config(server: RunningServer, directory: Path, state: Path) -> Path:
    secret = directory / "tsig.key"
    secret.write_text(server.key().secret)
    config = directory / "config.toml"
    config.write_text(config_text(server, state, DOMAINS, secret_file=secret))
    return config


def restart_in_process(config: Path, state: Path) -> None:
    """Run the daemon until every domain has synced again, then stop it."""
    registry = load_registry()
    loaded = load_checked(config, registry)
    since = datetime.now(UTC).replace(microsecond=0)

    async def run() -> None:
        daemon = Daemon(loaded, registry)
        await daemon.start()
        try:
            deadline = time.monotonic() + 60
            while not synced_since(state, since):
                assert time.monotonic() < deadline, "the restarted daemon did not converge"
                await asyncio.sleep(0.02)
        finally:
            await daemon.stop()

    asyncio.run(run())


@dataclass
class Reference:
    seed_state: Path
    """The state an uninterrupted sync started from, with its DKIM keys."""
    zones: dict[str, Snapshot]
    initial: dict[str, Snapshot]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    """An uninterrupted first sync by ``dnsauto run``, stopped with SIGTERM."""
    base = tmp_path_factory.mktemp("crash-reference")
    server = start_or_skip()
    try:
        initial = snapshots(server)
        seed_state = base / "seed"
        make_keys(write_config(server, base, seed_state))
        state = base / "state"
        shutil.copytree(seed_state, state)
        config = write_config(server, base, state)
        since = datetime.now(UTC).replace(microsecond=0)
        daemon = DaemonProcess(config, server.key().secret).start()
        try:
            poll(lambda: synced_since(state, since), timeout=60, what="every domain synced")
            daemon.signal(signal.SIGTERM)
            assert daemon.wait() == 0, daemon.log()[-3000:]
        finally:
            daemon.stop()
        yield Reference(seed_state, snapshots(server), initial)
    finally:
        server.stop()


def make_keys(config: Path) -> None:
    """Make every domain's DKIM keys in the configuration's state directory (a plan only)."""
    from dnsauto.sync.engine import Engine, domain_jobs

    registry = load_registry()
    loaded = load_checked(config, registry)

    async def plan() -> None:
        async with Engine(loaded, registry) as engine:
            results = await engine.run(domain_jobs(loaded), apply=False)
        assert all(r.error is None for r in results), [r.error for r in results]

    asyncio.run(plan())


def written(zones: dict[str, Snapshot], initial: dict[str, Snapshot]) -> Snapshot:
    """The RRsets that are not as the server started with them."""
    found: Snapshot = {}
    for zone, snapshot in zones.items():
        found.update({k: v for k, v in snapshot.items() if initial[zone].get(k) != v})
    return found


def check_journal_covers(
    entries: list[JournalEntry], zones: dict[str, Snapshot], initial: dict[str, Snapshot]
) -> None:
    """Every RRset the killed daemon wrote was journaled with exactly what it wrote, and every
    batch the journal calls applied is in the zone."""
    journaled = {(e.name, e.type, e.ttl, frozenset(e.new)) for e in entries}
    for (owner, rdtype), (ttl, values) in written(zones, initial).items():
        assert (owner, rdtype, ttl, values) in journaled, f"{owner} {rdtype} is not journaled"
    served = {k: v for snapshot in zones.values() for k, v in snapshot.items()}
    for entry in entries:
        if entry.status == "applied" and entry.new:
            assert served.get((entry.name, entry.type)) == (entry.ttl, frozenset(entry.new))


def kill_during_first_sync(
    reference: Reference, directory: Path, rng: random.Random
) -> tuple[int, int]:
    """One trial: (the number of domains journaled when killed, RRsets written by then)."""
    server = start_or_skip()
    try:
        state = directory / "state"
        shutil.copytree(reference.seed_state, state)
        config = write_config(server, directory, state)
        target = rng.randint(0, len(DOMAINS))

        def journaled() -> int:
            rows = query(state, "SELECT count(DISTINCT domain) FROM journal")
            return int(str(rows[0][0])) if rows else 0

        daemon = DaemonProcess(config, server.key().secret).start()
        try:
            poll(lambda: journaled() >= target, timeout=60, what=f"{target} domains journaled")
            time.sleep(rng.uniform(0, 0.005))  # somewhere inside the next batch
            daemon.signal(signal.SIGKILL)
            assert daemon.wait() == -signal.SIGKILL
        finally:
            daemon.stop()
        with StateStore(state) as store:
            entries = store.journal()
        after_kill = snapshots(server)
        try:
            check_journal_covers(entries, after_kill, reference.initial)
        except AssertionError as exc:
            raise AssertionError(f"killed after {target} domains journaled: {exc}") from None

        restart_in_process(config, state)
        final = snapshots(server)
        assert final == reference.zones, f"killed after {target} domains journaled"
        with StateStore(state) as store:
            check_journal_covers(store.journal(), final, reference.initial)
        return target, len(written(after_kill, reference.initial))
    finally:
        server.stop()


def test_killed_first_sync_converges_to_the_uninterrupted_result_after_restart(
    reference: Reference, tmp_path: Path
) -> None:
    seed = int(os.environ.get("DNSAUTO_CRASH_SEED", time.time_ns() % 100_000))
    rngs = [random.Random(seed * 1000 + trial) for trial in range(TRIALS)]
    directories = [tmp_path / f"trial{trial}" for trial in range(TRIALS)]
    for directory in directories:
        directory.mkdir()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(
                pool.map(kill_during_first_sync, [reference] * TRIALS, directories, rngs)
            )
    except AssertionError as exc:
        raise AssertionError(f"DNSAUTO_CRASH_SEED={seed}: {exc}") from None
    total = len(written(reference.zones, reference.initial))
    print(f"seed {seed}: (domains journaled, RRsets written of {total}) when killed: {outcomes}")
    assert any(written_then < total for _, written_then in outcomes)
