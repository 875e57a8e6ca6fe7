"""The daemon's scheduling with a fake engine: coalescing, concurrency, backoff, reloads."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dnsauto.config.domain import Domain
from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.errors import ConfigError, ConfigProblem, DnsautoError
from dnsauto.plugin.registry import Registry
from dnsauto.service import daemon as daemon_module
from dnsauto.service.daemon import STATUS_FILE, Daemon
from dnsauto.service.sdnotify import Notifier
from dnsauto.sync.engine import DomainJob, DomainResult, Engine
from dnsauto.sync.jobs import job_update


@dataclass
class Call:
    run_id: str
    domain: str
    started: float
    ended: float | None = None


@dataclass
class FakeEngines:
    """Engines that record each sync, can hold syncs until released, and fail chosen domains."""

    calls: list[Call] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    gate: asyncio.Event | None = None
    in_flight: int = 0
    most_in_flight: int = 0

    def __call__(self, config: Config, run_id: str) -> FakeEngine:
        return FakeEngine(self, run_id)

    def runs_of(self, domain: str) -> list[Call]:
        return [c for c in self.calls if c.domain == domain]


class FakeEngine:
    def __init__(self, engines: FakeEngines, run_id: str) -> None:
        self.engines = engines
        self.run_id = run_id

    async def run(
        self, jobs: Sequence[DomainJob], *, apply: bool, force: bool = False, wait: bool = False
    ) -> list[DomainResult]:
        engines = self.engines
        calls = [Call(self.run_id, job.domain, time.monotonic()) for job in jobs]
        engines.calls.extend(calls)
        engines.in_flight += 1
        engines.most_in_flight = max(engines.most_in_flight, engines.in_flight)
        try:
            if engines.gate is not None:
                await engines.gate.wait()
            else:
                await asyncio.sleep(0.001)
        finally:
            engines.in_flight -= 1
        for call in calls:
            call.ended = time.monotonic()
        return [
            DomainResult(
                job.domain,
                job.server_id,
                applied=1,
                propagated=True,
                error="provider exploded" if job.domain in engines.failing else None,
            )
            for job in jobs
        ]

    async def aclose(self) -> None:
        pass


def make_config(
    tmp_path: Path, registry: Registry, domains: Sequence[str], **daemon: Any
) -> Config:
    document = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": domains[0],
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "domain": {
            d: {"dnsManagement": {"@type": "Automatic", "dnsServerId": "bootstrap"}}
            for d in domains[1:]
        },
        "daemon": {"stateDir": str(tmp_path / "state"), "triggerDelay": "50ms", **daemon},
    }
    return load_config(document, registry=registry)


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
async def running(tmp_path: Path, registry: Registry) -> Any:
    """Start a daemon over a fake engine; stop it at the end."""
    daemons: list[Daemon] = []

    async def start(
        domains: Sequence[str] = ("a.test", "b.test"),
        engines: FakeEngines | None = None,
        loader: Callable[[], Config] | None = None,
        **daemon: Any,
    ) -> tuple[Daemon, FakeEngines]:
        engines = engines or FakeEngines()
        config = make_config(tmp_path, registry, domains, **daemon)
        instance = Daemon(config, registry, engine_factory=engines, loader=loader)
        daemons.append(instance)
        await instance.start()
        return instance, engines

    yield start
    for instance in daemons:
        await instance.stop()


Start = Callable[..., Awaitable[tuple[Daemon, FakeEngines]]]


async def test_every_domain_syncs_once_at_start_in_one_run(running: Start) -> None:
    daemon, engines = await running(("a.test", "b.test", "c.test"))
    await until(lambda: len(engines.calls) == 3 and not daemon.syncing())
    assert sorted(c.domain for c in engines.calls) == ["a.test", "b.test", "c.test"]
    assert len({c.run_id for c in engines.calls}) == 1


async def test_ten_triggers_for_one_domain_make_one_run(running: Start) -> None:
    daemon, engines = await running(triggerDelay="200ms")
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    ids = set()
    for _ in range(10):
        ids.add(daemon.trigger(["a.test"], "test"))
        await asyncio.sleep(0.001)
    assert len(ids) == 1
    await until(lambda: len(engines.runs_of("a.test")) == 2)
    await asyncio.sleep(0.25)  # longer than triggerDelay: nothing more comes
    (_, triggered) = engines.runs_of("a.test")
    assert triggered.run_id == ids.pop()
    assert len(engines.runs_of("a.test")) == 2
    assert len(engines.runs_of("b.test")) == 1


async def test_triggers_during_a_run_make_exactly_one_more_run_after_it(running: Start) -> None:
    engines = FakeEngines(gate=asyncio.Event())
    daemon, _ = await running(("a.test",), engines)
    await until(lambda: len(engines.calls) == 1)
    for _ in range(5):
        daemon.trigger(["a.test"], "during")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert len(engines.calls) == 1, "no second sync of a domain while one is in flight"
    engines.gate.set()  # type: ignore[union-attr]
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    await asyncio.sleep(0.15)
    first, second = engines.calls
    assert len(engines.calls) == 2
    assert first.ended is not None
    assert second.started >= first.ended


async def test_trigger_returns_the_run_id_the_domains_sync_under(running: Start) -> None:
    daemon, engines = await running(("a.test", "b.test", "c.test"))
    await until(lambda: len(engines.calls) == 3 and not daemon.syncing())
    first = daemon.trigger(["a.test"], "one")
    both = daemon.trigger(["a.test", "b.test"], "two")
    assert both != first
    await until(lambda: len(engines.calls) == 5 and not daemon.syncing())
    later = {c.domain: c.run_id for c in engines.calls[3:]}
    assert later == {"a.test": first, "b.test": both}


async def test_no_run_starts_while_runs_are_held_and_the_held_ones_start_after(
    running: Start,
) -> None:
    daemon, engines = await running(triggerDelay="0ms")
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    with daemon.holding_runs():
        run_id = daemon.trigger(["a.test"], "held")
        with daemon.holding_runs():  # nested: the outer block still holds at its end
            pass
        for _ in range(20):  # turns enough for a run due now to start, were it not held
            await asyncio.sleep(0)
        assert daemon.waiting() == {"a.test": run_id}
        assert len(engines.calls) == 2
    await until(lambda: len(engines.calls) == 3 and not daemon.syncing())
    assert (engines.calls[2].domain, engines.calls[2].run_id) == ("a.test", run_id)


async def test_every_run_of_a_single_node_draws_from_one_set_of_rate_limits(
    tmp_path: Path, registry: Registry
) -> None:
    config = make_config(tmp_path, registry, ["a.test"])
    daemon = Daemon(config, registry)
    first, second = (daemon.make_engine(config, run_id) for run_id in ("r1", "r2"))
    try:
        assert isinstance(first, Engine)
        assert isinstance(second, Engine)
        assert first.rate_limits is not None
        assert first.rate_limits is second.rate_limits
    finally:
        await first.aclose()
        await second.aclose()
        daemon._open_store().close()


async def test_unknown_domain_cannot_be_triggered(running: Start) -> None:
    daemon, _ = await running()
    with pytest.raises(DnsautoError, match=r"not a configured domain: nope\.test"):
        daemon.trigger(["nope.test"], "test")


async def test_at_most_max_concurrent_domains_sync_at_once(running: Start) -> None:
    engines = FakeEngines(gate=asyncio.Event())
    domains = [f"d{i}.test" for i in range(6)]
    daemon, _ = await running(domains, engines, maxConcurrentDomains=2)
    await until(lambda: len(engines.calls) == 2)
    await asyncio.sleep(0.05)
    assert len(engines.calls) == 2
    engines.gate.set()  # type: ignore[union-attr]
    await until(lambda: len(engines.calls) == 6 and not daemon.syncing())
    assert engines.most_in_flight == 2


def retry_delays(caplog: pytest.LogCaptureFixture, domain: str) -> list[float]:
    """The delays the daemon chose for ``domain``'s retries, as it logged them."""
    return [
        float(record.args[-1])  # type: ignore[index]
        for record in caplog.records
        if record.msg.endswith("retrying in %gs") and getattr(record, "domain", None) == domain
    ]


async def test_failing_domain_is_retried_with_growing_delays_and_others_run_on(
    running: Start, caplog: pytest.LogCaptureFixture
) -> None:
    engines = FakeEngines(failing={"bad.test"})
    daemon, _ = await running(
        ("good.test", "bad.test"),
        engines,
        retryInitialDelay="40ms",
        retryMaxDelay="160ms",
    )
    await until(lambda: len(engines.runs_of("bad.test")) >= 5, within=10)
    starts = [c.started for c in engines.runs_of("bad.test")]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert retry_delays(caplog, "bad.test")[:4] == [0.04, 0.08, 0.16, 0.16]
    for gap, wanted in zip(gaps, [0.04, 0.08, 0.16, 0.16], strict=False):
        assert gap >= wanted * 0.9, gaps  # never retried before its delay
    assert len(engines.runs_of("good.test")) == 1
    good = daemon.trigger(["good.test"], "test")
    await until(lambda: len(engines.runs_of("good.test")) == 2)
    assert engines.runs_of("good.test")[1].run_id == good
    text = daemon.metrics.render().decode()
    assert 'dnsauto_sync_failures_total{domain="bad.test"}' in text
    assert 'dnsauto_consecutive_failures{domain="good.test"} 0.0' in text
    assert 'dnsauto_sync_retries_total{domain="bad.test"}' in text


async def test_periodic_reconcile_leaves_a_domain_in_backoff_alone(running: Start) -> None:
    engines = FakeEngines(failing={"bad.test"})
    daemon, _ = await running(
        ("good.test", "bad.test"), engines, retryInitialDelay="10m", retryMaxDelay="1h"
    )
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    daemon.scheduler.get_job("reconcile").modify(next_run_time=datetime.now(UTC))
    await until(lambda: len(engines.runs_of("good.test")) == 2)
    # The reconcile asked for both domains at once: had it taken bad.test, it would have run
    # with good.test, or joined its retry (the reasons would then say "periodic" too).
    assert len(engines.runs_of("bad.test")) == 1
    when, why = daemon.next_runs()["bad.test"]  # type: ignore[misc]
    assert why == "retry"
    assert 590 < when - time.time() <= 600


async def test_status_file_lists_the_next_run_of_every_domain(
    running: Start, tmp_path: Path
) -> None:
    daemon, engines = await running(syncInterval="1h", syncJitter="0s")
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    await asyncio.sleep(0.02)
    document = json.loads((tmp_path / "state" / STATUS_FILE).read_text())
    assert document["running"] is True
    assert set(document["domains"]) == {"a.test", "b.test"}
    entry = document["domains"]["a.test"]
    assert entry["nextReason"] == "periodic"
    assert entry["nextRun"] == document["nextReconcile"]
    assert entry["consecutiveFailures"] == 0
    await daemon.stop()
    document = json.loads((tmp_path / "state" / STATUS_FILE).read_text())
    assert document["running"] is False
    assert document["domains"]["a.test"]["nextRun"] is None


async def test_reload_with_problems_keeps_the_old_configuration(
    running: Start, tmp_path: Path, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Config:
        raise ConfigError(
            [
                ConfigProblem("dnsServer.x.port", "must be at most 65535", "config.toml"),
                ConfigProblem("domain.y", "unknown key", "config.toml"),
            ]
        )

    daemon, engines = await running(loader=broken)
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    before = daemon.config
    assert await daemon.reload() is False
    assert daemon.config is before
    assert daemon.domains == ["a.test", "b.test"]
    refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert refused == [
        "reload refused: config.toml: dnsServer.x.port: must be at most 65535",
        "reload refused: config.toml: domain.y: unknown key",
    ]
    assert 'dnsauto_config_reloads_total{result="refused"} 1.0' in daemon.metrics.render().decode()


async def test_reload_publishes_new_domains_and_unschedules_removed_ones(
    running: Start, tmp_path: Path, registry: Registry
) -> None:
    new = make_config(tmp_path, registry, ["a.test", "c.test"], triggerDelay="50ms")
    daemon, engines = await running(loader=lambda: new)
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    assert await daemon.reload() is True
    assert daemon.domains == ["a.test", "c.test"]
    await until(lambda: len(engines.runs_of("c.test")) == 1 and not daemon.syncing())
    await asyncio.sleep(0.05)
    assert len(engines.runs_of("a.test")) == 1, "an unchanged domain is not synced again"
    assert "b.test" not in daemon.next_runs()
    with pytest.raises(DnsautoError):
        daemon.trigger(["b.test"], "test")


async def test_reload_reads_the_configuration_and_its_secrets_off_the_event_loop(
    running: Start, tmp_path: Path, registry: Registry
) -> None:
    new = make_config(tmp_path, registry, ["a.test", "b.test"])
    readers: list[int] = []

    def loader() -> Config:
        readers.append(threading.get_ident())
        return new

    daemon, engines = await running(loader=loader)
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    assert await daemon.reload() is True
    assert readers
    assert threading.get_ident() not in readers


async def test_a_reload_does_not_undo_an_api_change_made_while_it_reads(
    running: Start, tmp_path: Path, registry: Registry
) -> None:
    stale = make_config(tmp_path, registry, ["a.test", "b.test"])
    fresh = make_config(tmp_path, registry, ["a.test", "b.test", "c.test"])
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    changed = threading.Event()
    answers = iter([stale, fresh])

    def loader() -> Config:
        assert threading.get_ident() != loop_thread, "waiting here would block the loop"
        if not changed.is_set():  # the API changes the configuration while the file is read
            loop.call_soon_threadsafe(lambda: (daemon.replace_config(fresh, "api"), changed.set()))
            changed.wait()
        return next(answers)

    daemon, engines = await running(loader=loader)
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    assert await daemon.reload() is True
    assert daemon.domains == ["a.test", "b.test", "c.test"]


async def test_a_change_naming_its_domains_remakes_only_their_jobs(
    running: Start, tmp_path: Path, registry: Registry
) -> None:
    daemon, engines = await running(["a.test", "b.test", "c.test"])
    await until(lambda: len(engines.calls) == 3 and not daemon.syncing())
    fresh = make_config(tmp_path, registry, ["a.test", "b.test", "d.test"])
    run_id = daemon.replace_config(fresh, "api", {"c.test", "d.test"})
    assert run_id is not None
    assert daemon.domains == ["a.test", "b.test", "d.test"]
    await until(lambda: len(engines.runs_of("d.test")) == 1 and not daemon.syncing())
    assert [len(engines.runs_of(d)) for d in ("a.test", "b.test")] == [1, 1]


async def test_a_change_handed_over_with_its_jobs_makes_no_jobs_on_the_loop(
    running: Start, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, engines = await running(["a.test", "b.test", "c.test"])
    await until(lambda: len(engines.calls) == 3 and not daemon.syncing())
    fresh = make_config(tmp_path, registry, ["a.test", "b.test", "d.test"])
    jobs = job_update(daemon.config, fresh, {"c.test", "d.test"})

    def not_here(*args: Any) -> Any:
        raise AssertionError("jobs made on the event loop")

    monkeypatch.setattr(daemon_module, "job_update", not_here)
    monkeypatch.setattr(daemon_module, "domain_jobs", not_here)
    run_id = daemon.replace_config(fresh, "api", {"c.test", "d.test"}, jobs)
    assert daemon.domains == ["a.test", "b.test", "d.test"]
    assert daemon.waiting(["a.test", "d.test"]) == {"d.test": run_id}
    await until(lambda: len(engines.runs_of("d.test")) == 1 and not daemon.syncing())


async def test_jobs_made_from_another_configuration_than_the_daemons_are_made_again(
    running: Start, tmp_path: Path, registry: Registry
) -> None:
    daemon, engines = await running(["a.test", "b.test", "c.test"])
    await until(lambda: len(engines.calls) == 3 and not daemon.syncing())
    fresh = make_config(tmp_path, registry, ["a.test", "b.test", "d.test"])
    other = make_config(tmp_path, registry, ["a.test", "b.test"])  # as before a reload
    stale = job_update(other, fresh, {"d.test"})
    daemon.replace_config(fresh, "api", {"c.test", "d.test"}, stale)
    assert daemon.domains == ["a.test", "b.test", "d.test"]


async def test_an_alias_a_change_adds_or_drops_is_synced_or_forgotten_with_its_domain(
    running: Start, tmp_path: Path, registry: Registry
) -> None:
    daemon, engines = await running(["a.test", "b.test"])
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    plain = make_config(tmp_path, registry, ["a.test", "b.test"])
    document = plain.model_dump(mode="json", by_alias=True, exclude_unset=True)
    document["domain"]["b.test"]["aliases"] = ["alias.test"]
    aliased = load_config(document, registry=registry)
    daemon.replace_config(
        aliased, "api", {"b.test"}, job_update(daemon.config, aliased, {"b.test"})
    )
    assert daemon.domains == ["a.test", "alias.test", "b.test"]
    await until(lambda: len(engines.runs_of("alias.test")) == 1 and not daemon.syncing())
    daemon.replace_config(plain, "api", {"b.test"}, job_update(daemon.config, plain, {"b.test"}))
    assert daemon.domains == ["a.test", "b.test"]


async def test_a_run_of_many_domains_starts_its_syncs_over_several_loop_turns(
    running: Start,
) -> None:
    engines = FakeEngines()
    loop = asyncio.get_running_loop()
    started_by_turn: list[int] = []

    def turn() -> None:  # once a loop turn, until every sync has started
        started_by_turn.append(len(engines.calls))
        if len(engines.calls) < 120:
            loop.call_soon(turn)

    loop.call_soon(turn)
    names = [f"d{n}.test" for n in range(120)]
    daemon, _ = await running(names, engines, maxConcurrentDomains=200)
    await until(lambda: len(engines.calls) == 120 and not daemon.syncing())
    assert any(0 < started < 120 for started in started_by_turn)


async def test_stop_waits_for_syncs_in_flight_and_starts_no_new_ones(running: Start) -> None:
    engines = FakeEngines(gate=asyncio.Event())
    daemon, _ = await running([f"d{i}.test" for i in range(4)], engines, maxConcurrentDomains=1)
    await until(lambda: len(engines.calls) == 1)
    stopping = asyncio.ensure_future(daemon.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    engines.gate.set()  # type: ignore[union-attr]
    await asyncio.wait_for(stopping, 5)
    assert len(engines.calls) == 1
    assert engines.calls[0].ended is not None


async def test_stop_cuts_syncs_short_after_the_shutdown_timeout(
    running: Start, caplog: pytest.LogCaptureFixture
) -> None:
    engines = FakeEngines(gate=asyncio.Event())  # never opened: the sync would never end
    daemon, _ = await running(("a.test",), engines, shutdownTimeout="100ms")
    await until(lambda: len(engines.calls) == 1)
    started = time.monotonic()
    await asyncio.wait_for(daemon.stop(), 30)
    assert time.monotonic() - started >= 0.09
    assert engines.calls[0].ended is None
    assert "stopping after 0.1s: cutting short the syncs of a.test" in caplog.text


async def test_a_metrics_address_in_use_stops_the_start_with_its_reason(
    tmp_path: Path, registry: Registry
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = make_config(
            tmp_path, registry, ["a.test"], metrics={"listen": f"127.0.0.1:{port}"}
        )
        daemon = Daemon(config, registry, engine_factory=FakeEngines())
        with pytest.raises(DnsautoError, match=rf"metrics.listen 127.0.0.1:{port}: cannot listen"):
            await daemon.start()
        await daemon.stop()


class WitnessNotifier(Notifier):
    """A real notifier (datagrams to a socket) that also notes, as each message leaves,
    whether the daemon's scheduler runs then and which jobs it has."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.daemon: Daemon | None = None
        self.seen: list[tuple[tuple[str, ...], bool, set[str]]] = []

    def send(self, *fields: str) -> bool:
        scheduler = self.daemon.scheduler if self.daemon is not None else None
        running = scheduler is not None and bool(scheduler.running)
        jobs = {job.id for job in scheduler.get_jobs()} if scheduler is not None else set()
        self.seen.append((fields, running, jobs))
        return super().send(*fields)


async def test_ready_is_sent_only_once_the_scheduler_runs_its_jobs(
    tmp_path: Path, registry: Registry
) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(path))
        notifier = WitnessNotifier(path)
        config = make_config(tmp_path, registry, ["a.test"])
        daemon = Daemon(config, registry, engine_factory=FakeEngines(), notifier=notifier)
        notifier.daemon = daemon
        await daemon.start()
        try:
            assert systemd.recv(4096).startswith(b"READY=1\n")
        finally:
            await daemon.stop()
    ready = [(running, jobs) for fields, running, jobs in notifier.seen if "READY=1" in fields]
    assert ready, notifier.seen
    running, jobs = ready[0]
    assert running, "READY=1 was sent before the scheduler started"
    assert {"reconcile", "dkim"} <= jobs


async def test_a_change_naming_one_domain_does_not_rebuild_the_domain_table_per_domain(
    running: Start, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"d{i}.test" for i in range(300)]
    daemon, engines = await running(names)
    await until(lambda: len(engines.calls) == len(names) and not daemon.syncing())
    fresh = make_config(tmp_path, registry, [*names, "new.test"])
    built: list[None] = []
    original = Config.bootstrap_domain

    def counted(self: Config) -> Domain:
        built.append(None)
        return original(self)

    monkeypatch.setattr(Config, "bootstrap_domain", counted)
    daemon.replace_config(fresh, "api", {"new.test"})
    # the default domain's Domain is made for what needs it, not once per configured domain:
    # per domain, that was an /set of 1,000 in a daemon of 16,000 stalling the loop for seconds
    assert len(built) <= 3
    assert "new.test" in daemon.domains
