"""The DKIM rotation check, without a daemon: real keys in a real state store, time made
controllable through the store's clock, and an APScheduler scheduler that is not started."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.registry import Registry
from dnsauto.records.dkim import DkimKeyStore
from dnsauto.service.dkim import DkimRotation
from dnsauto.state.store import StateStore
from dnsauto.sync.desired import managed_dkim
from dnsauto.sync.engine import domain_jobs

START = datetime(2026, 1, 5, 12, tzinfo=UTC)
DOMAINS = ("a.test", "b.test")


class Setup:
    def __init__(self, tmp_path: Path, registry: Registry) -> None:
        self.now = START
        self.config = make_config(tmp_path, registry)
        self.registry = registry
        self.store = StateStore(tmp_path / "state", clock=lambda: self.now)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.requests: list[tuple[list[str], str]] = []
        self.wall = time.time()
        """The daemon's clock (the scheduler's time), held still."""

    def rotation(self) -> DkimRotation:
        return DkimRotation(
            config=lambda: self.config,
            registry=self.registry,
            jobs=lambda: domain_jobs(self.config),
            open_store=lambda: self.store,
            request=self.request,
            scheduler=lambda: self.scheduler,
            clock=lambda: self.wall,
        )

    def regular_check_in(self, rotation: DkimRotation, seconds: float) -> None:
        """Schedule the regular check as it stands after its first run: next in ``seconds``."""
        rotation.schedule(self.scheduler, seconds)
        job = self.scheduler.get_job("dkim")
        job.modify(next_run_time=datetime.fromtimestamp(self.wall + seconds, UTC))

    def request(self, names: Sequence[str], reason: str) -> str:
        self.requests.append((list(names), reason))
        return "run1"

    def active_keys(self, domain: str) -> None:
        """Make the domain's keys and activate them now, as a first sync does."""
        (job,) = domain_jobs(self.config, [domain])
        dkim = managed_dkim(job)
        assert dkim is not None
        keys = DkimKeyStore(self.store)
        made = keys.for_sync(domain, dkim, rotate=False, now=self.now)
        keys.activate(domain, [key.selector for key in made.published], now=self.now)


def make_config(tmp_path: Path, registry: Registry) -> Config:
    document = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": DOMAINS[0],
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "domain": {
            d: {"dnsManagement": {"@type": "Automatic", "dnsServerId": "bootstrap"}}
            for d in DOMAINS[1:]
        },
        "daemon": {"stateDir": str(tmp_path / "state"), "dkimCheckInterval": "1h"},
    }
    return load_config(document, registry=registry)


@pytest.fixture
def setup(tmp_path: Path, registry: Registry) -> Iterator[Setup]:
    made = Setup(tmp_path, registry)
    yield made
    made.store.close()


async def test_no_step_is_due_before_rotate_after(setup: Setup) -> None:
    setup.active_keys("a.test")
    assert await setup.rotation().check() == []
    assert setup.requests == []


async def test_a_domain_whose_rotation_is_due_is_asked_for(setup: Setup) -> None:
    setup.active_keys("a.test")
    setup.active_keys("b.test")
    setup.now += timedelta(days=90)
    assert await setup.rotation().check() == ["a.test", "b.test"]
    assert setup.requests == [(["a.test", "b.test"], "dkim rotation")]


async def test_a_domain_without_keys_is_not_due(setup: Setup) -> None:
    setup.active_keys("a.test")
    setup.now += timedelta(days=90)
    assert await setup.rotation().check() == ["a.test"]


async def test_a_step_before_the_next_regular_check_gets_a_check_of_its_own(
    setup: Setup,
) -> None:
    setup.active_keys("a.test")
    rotation = setup.rotation()
    setup.regular_check_in(rotation, timedelta(days=365).total_seconds())
    await rotation.check()
    extra = setup.scheduler.get_job("dkim-next")
    assert extra is not None
    step = setup.wall + timedelta(days=90).total_seconds()
    assert extra.trigger.run_date.timestamp() == pytest.approx(step, abs=1e-3)


async def test_a_step_after_the_next_regular_check_is_left_to_it(setup: Setup) -> None:
    setup.active_keys("a.test")
    rotation = setup.rotation()
    setup.regular_check_in(rotation, timedelta(hours=1).total_seconds())
    await rotation.check()
    assert setup.scheduler.get_job("dkim-next") is None


async def test_a_store_that_cannot_be_opened_skips_the_check(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> StateStore:
        raise DnsautoError("state store: disk full")

    rotation = DkimRotation(
        config=lambda: setup.config,
        registry=setup.registry,
        jobs=lambda: domain_jobs(setup.config),
        open_store=broken,
        request=setup.request,
        scheduler=lambda: None,
        clock=lambda: setup.wall,
    )
    with caplog.at_level(logging.WARNING, logger="dnsauto.service.dkim"):
        assert await rotation.check() == []
    assert "DKIM rotation check skipped: state store: disk full" in caplog.messages
    assert setup.requests == []
