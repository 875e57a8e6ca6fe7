"""DKIM key rotation through Pending, Active, Retiring and Retired, on a fake clock."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.name
import pytest

from dnsauto.config.domain import AutomaticDkim
from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import Registry
from dnsauto.records.dkim import DkimKeyStore
from dnsauto.records.rotation import (
    DkimStage,
    next_rotation_event,
    plan_activation,
    plan_rotation,
)
from dnsauto.state.store import DB_FILE, DkimKeyRow, StateStore
from dnsauto.sync.engine import DomainResult, Engine, domain_jobs
from dnsauto.sync.propagation import Expectation, PropagationResult
from dnsauto.testing.memory import MemoryHost, MemoryProvider

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DOMAIN = "example.org"
ZONE = dns.name.from_text("example.org.")


@dataclass
class FakeClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeChecker:
    """Nameservers that serve exactly what the memory host holds (or lag, when told to)."""

    host: MemoryHost
    lagging: bool = False
    asked: list[list[Expectation]] = field(default_factory=list)

    async def wait(
        self, zone: dns.name.Name, expectations: Sequence[Expectation], **_: Any
    ) -> PropagationResult:
        self.asked.append(list(expectations))
        records = self.host.zones[zone]
        met = all(
            e.met_by(
                Expectation.of(records[(e.name, e.rdtype)]).values
                if (e.name, e.rdtype) in records
                else frozenset()
            )
            for e in expectations
        )
        propagated = met and not self.lagging
        lagging = {} if propagated else {"ns1 (127.0.0.1:53)": ["behind"]}
        return PropagationResult(propagated=propagated, seconds=0.0, lagging=lagging)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone("example.org.")
    fresh.add_zone("example.test.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    return fresh


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state", clock=clock) as opened:
        yield opened


def make_config(tmp_path: Path, registry: Registry, **dkim: Any) -> Config:
    management = {"@type": "Automatic", "algorithms": ["Dkim1Ed25519Sha256"], **dkim}
    document = {
        "bootstrap": {"serverHostname": "mail.example.org", "defaultDomain": "example.test"},
        "dnsServer": {"mem": {"@type": "Memory", "description": "memory"}},
        "domain": {
            DOMAIN: {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "mem"},
                "dkimManagement": management,
            }
        },
        "daemon": {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=registry)


@dataclass
class Rig:
    """A configured domain, its store and a fake DNS world, synced on demand."""

    config: Config
    registry: Registry
    store: StateStore
    host: MemoryHost
    clock: FakeClock
    checker: FakeChecker

    async def sync(self, *, ok: bool = True) -> DomainResult:
        async with Engine(self.config, self.registry, store=self.store) as engine:
            engine.checker = self.checker  # type: ignore[assignment]
            (result,) = await engine.run(domain_jobs(self.config, [DOMAIN]), apply=True, wait=True)
        assert (result.error is None) is ok, result.error
        return result

    def stages(self) -> list[tuple[str, str]]:
        return [(r.selector, r.stage) for r in self.store.dkim_keys(DOMAIN)]

    def published_selectors(self) -> list[str]:
        return sorted(
            name.labels[0].decode()
            for name, rdtype in self.host.zones[ZONE]
            if b"_domainkey" in name.labels and rdtype.name == "TXT"
        )

    def key_file(self, selector: str) -> Path:
        return self.store.state_dir / "dkim" / DOMAIN / f"{selector}.pem"


@pytest.fixture
def rig(
    tmp_path: Path, registry: Registry, store: StateStore, host: MemoryHost, clock: FakeClock
) -> Rig:
    return Rig(make_config(tmp_path, registry), registry, store, host, clock, FakeChecker(host))


FIRST = "v1-ed25519-20260105"
SECOND = "v1-ed25519-20260405"  # T0 + 90 days


async def test_a_key_goes_through_every_stage_on_stalwarts_default_schedule(rig: Rig) -> None:
    await rig.sync()
    assert rig.stages() == [(FIRST, "active")]
    assert rig.published_selectors() == [FIRST]

    rig.clock.advance(days=89, hours=23)
    await rig.sync()
    assert rig.stages() == [(FIRST, "active")], "rotateAfter (90 days) has not passed yet"

    rig.clock.advance(hours=1)
    await rig.sync()
    assert rig.stages() == [(FIRST, "retiring"), (SECOND, "active")]
    assert rig.published_selectors() == [FIRST, SECOND], "the old key stays published"

    rig.clock.advance(days=6, hours=23)
    await rig.sync()
    assert rig.stages() == [(FIRST, "retiring"), (SECOND, "active")]

    rig.clock.advance(hours=1)
    result = await rig.sync()
    assert rig.stages() == [(FIRST, "retired"), (SECOND, "active")]
    assert rig.published_selectors() == [SECOND], "retireAfter (7 days) removed the record"
    assert [(c.action, c.name.labels[0].decode()) for c in result.changes] == [("delete", FIRST)]
    assert rig.key_file(FIRST).exists()

    rig.clock.advance(days=29, hours=23)
    await rig.sync()
    assert rig.key_file(FIRST).exists()

    rig.clock.advance(hours=1)
    await rig.sync()
    assert not rig.key_file(FIRST).exists(), "deleteAfter (30 days) removed the private key"
    (old, new) = rig.store.dkim_keys(DOMAIN)
    assert old.key_deleted_at == rig.clock.now
    assert new.stage == "active"
    assert rig.key_file(SECOND).exists()


async def test_stage_times_are_recorded_in_the_store(rig: Rig) -> None:
    await rig.sync()
    rig.clock.advance(days=90)
    rotated_at = rig.clock.now
    await rig.sync()
    rig.clock.advance(days=7)
    retired_at = rig.clock.now
    await rig.sync()

    old, new = rig.store.dkim_keys(DOMAIN)
    assert (old.created, old.active_at) == (T0, T0)
    assert (old.retiring_at, old.retired_at, old.key_deleted_at) == (rotated_at, retired_at, None)
    assert (new.created, new.active_at, new.retiring_at) == (rotated_at, rotated_at, None)


async def test_a_new_key_stays_pending_and_the_old_one_active_until_its_record_is_live(
    rig: Rig,
) -> None:
    await rig.sync()
    rig.clock.advance(days=90)
    rig.checker.lagging = True
    result = await rig.sync(ok=False)
    assert "not live on every nameserver" in (result.error or "")
    assert rig.stages() == [(FIRST, "active"), (SECOND, "pending")]
    assert rig.published_selectors() == [FIRST, SECOND], "a pending key is published"

    rig.clock.advance(days=30)
    rig.checker.lagging = False
    await rig.sync()
    assert rig.stages() == [(FIRST, "retiring"), (SECOND, "active")]
    assert rig.store.dkim_keys(DOMAIN)[1].active_at == rig.clock.now


async def test_a_pending_key_published_without_waiting_is_activated_by_a_later_sync(
    rig: Rig,
) -> None:
    await rig.sync()
    rig.clock.advance(days=90)
    async with Engine(rig.config, rig.registry, store=rig.store) as engine:
        await engine.run(domain_jobs(rig.config), apply=True, wait=False)
    assert rig.stages() == [(FIRST, "active"), (SECOND, "pending")]

    rig.clock.advance(minutes=5)
    result = await rig.sync()
    assert result.applied == 0
    assert rig.stages() == [(FIRST, "retiring"), (SECOND, "active")]
    asked = {str(e.name) for batch in rig.checker.asked for e in batch}
    assert f"{SECOND}._domainkey.{DOMAIN}." in asked


async def test_plan_and_records_do_not_rotate(rig: Rig) -> None:
    await rig.sync()
    rig.clock.advance(days=365)
    async with Engine(rig.config, rig.registry, store=rig.store) as engine:
        (result,) = await engine.run(domain_jobs(rig.config, [DOMAIN]), apply=False)
    assert result.changes == []
    assert rig.stages() == [(FIRST, "active")]


async def test_a_dropped_algorithm_retires_its_key(
    rig: Rig, tmp_path: Path, registry: Registry
) -> None:
    both = ["Dkim1Ed25519Sha256", "Dkim2Ed25519Sha256"]
    rig.config = make_config(tmp_path, registry, algorithms=both)
    await rig.sync()
    assert rig.stages() == [(FIRST, "active"), ("v2-ed25519-20260105", "active")]

    rig.config = make_config(tmp_path, registry)
    rig.clock.advance(days=1)
    await rig.sync()
    assert rig.stages() == [(FIRST, "active"), ("v2-ed25519-20260105", "retiring")]
    rig.clock.advance(days=7)
    await rig.sync()
    assert rig.published_selectors() == [FIRST]


async def test_a_selector_template_without_a_date_cannot_rotate_and_says_so(
    rig: Rig, tmp_path: Path, registry: Registry
) -> None:
    rig.config = make_config(tmp_path, registry, selectorTemplate="mail")
    await rig.sync()
    rig.clock.advance(days=90)
    result = await rig.sync()
    assert rig.stages() == [("mail", "active")]
    assert any("DKIM rotation" in w and "already used" in w for w in result.warnings)


async def test_rotated_key_files_are_0600(rig: Rig) -> None:
    await rig.sync()
    rig.clock.advance(days=90)
    await rig.sync()
    for selector in (FIRST, SECOND):
        assert stat.S_IMODE(rig.key_file(selector).stat().st_mode) == 0o600
    assert stat.S_IMODE(rig.key_file(FIRST).parent.stat().st_mode) == 0o700


async def test_the_next_rotation_event_is_when_the_next_step_is_due(rig: Rig) -> None:
    await rig.sync()
    async with Engine(rig.config, rig.registry, store=rig.store) as engine:
        jobs = domain_jobs(rig.config)
        assert engine.next_dkim_event(jobs) == T0 + timedelta(days=90)
        rig.clock.advance(days=90)
        await engine.run(jobs, apply=True, wait=False)
        engine.checker = rig.checker  # type: ignore[assignment]
        await engine.run(jobs, apply=True, wait=True)
        assert engine.next_dkim_event(jobs) == rig.clock.now + timedelta(days=7)


async def test_an_rsa_and_an_ed25519_key_rotate_side_by_side(
    rig: Rig, tmp_path: Path, registry: Registry
) -> None:
    rig.config = make_config(
        tmp_path, registry, algorithms=["Dkim1Ed25519Sha256", "Dkim1RsaSha256"]
    )
    await rig.sync()
    rig.clock.advance(days=90)
    await rig.sync()
    assert rig.stages() == [
        (FIRST, "retiring"),
        ("v1-rsa-20260105", "retiring"),
        (SECOND, "active"),
        ("v1-rsa-20260405", "active"),
    ]


def test_signing_keys_follow_activation(tmp_path: Path, clock: FakeClock) -> None:
    management = AutomaticDkim.model_validate(
        {"@type": "Automatic", "algorithms": ["Dkim1Ed25519Sha256"]}
    )
    with StateStore(tmp_path, clock=clock) as state:
        keys = DkimKeyStore(state)
        (first,) = keys.keys_for(DOMAIN, management)
        clock.advance(days=90)
        keys.rotate(DOMAIN, management)
        (still,) = keys.keys_for(DOMAIN, management)
        assert still.selector == first.selector, "a pending key does not sign yet"
        keys.activate(DOMAIN, [SECOND])
        (now,) = keys.keys_for(DOMAIN, management)
        assert now.selector == SECOND


# --- the pure planning functions -------------------------------------------------------------


def row(selector: str, stage: str, **times: datetime) -> DkimKeyRow:
    return DkimKeyRow(
        domain=DOMAIN,
        selector=selector,
        algorithm="Dkim1Ed25519Sha256",
        stage=stage,
        public_value="v=DKIM1; k=ed25519; h=sha256; p=x",
        created=times.pop("created", T0),
        **times,
    )


DEFAULTS = AutomaticDkim.model_validate(
    {"@type": "Automatic", "algorithms": ["Dkim1Ed25519Sha256"]}
)


def test_a_domain_without_keys_gets_an_active_first_key() -> None:
    plan = plan_rotation([], DEFAULTS, T0)
    assert [(k.algorithm.value, k.stage) for k in plan.create] == [
        ("Dkim1Ed25519Sha256", DkimStage.ACTIVE)
    ]


def test_a_key_whose_successor_is_pending_gets_no_second_successor() -> None:
    rows = [row("a", "active", active_at=T0), row("b", "pending")]
    assert not plan_rotation(rows, DEFAULTS, T0 + timedelta(days=400))


def test_activation_retires_the_active_key_of_the_same_algorithm_only() -> None:
    other = DkimKeyRow(
        DOMAIN, "r", "Dkim1RsaSha256", "active", "v=DKIM1; k=rsa; p=y", T0, active_at=T0
    )
    rows = [row("a", "active", active_at=T0), row("b", "pending"), other]
    later = T0 + timedelta(days=90)
    updates = plan_activation(rows, ["b"], later)
    assert [(r.selector, r.stage) for r in updates] == [("b", "active"), ("a", "retiring")]
    assert updates[1].retiring_at == later


def test_migrated_keys_without_stage_times_count_from_their_creation() -> None:
    rows = [row("a", "retiring"), row("b", "active", active_at=T0)]
    assert next_rotation_event(rows, DEFAULTS) == T0 + timedelta(days=7)
    plan = plan_rotation(rows, DEFAULTS, T0 + timedelta(days=7))
    assert [(r.selector, r.stage) for r in plan.updates] == [("a", "retired")]


def test_custom_durations_are_honoured() -> None:
    fast = AutomaticDkim.model_validate(
        {
            "@type": "Automatic",
            "algorithms": ["Dkim1Ed25519Sha256"],
            "rotateAfter": "1d",
            "retireAfter": "1h",
            "deleteAfter": "2h",
        }
    )
    rows = [row("a", "retired", retired_at=T0), row("b", "active", active_at=T0)]
    plan = plan_rotation(rows, fast, T0 + timedelta(days=1))
    assert plan.delete_files == ["a"]
    assert [k.stage for k in plan.create] == [DkimStage.PENDING]


# --- a lost state store -----------------------------------------------------------------------


def lose_the_store(rig: Rig, how: str) -> None:
    """The state store is deleted (or emptied) under the keys; a fresh one takes its place."""
    state_dir = rig.store.state_dir
    rig.store.close()
    for path in state_dir.glob(f"{DB_FILE}*"):
        if how == "deleted" or path.name != DB_FILE:
            path.unlink()
        else:
            path.write_bytes(b"")
    rig.store = StateStore(state_dir, clock=rig.clock)


def dkim_values(rig: Rig) -> dict[str, set[str]]:
    return {
        name.labels[0].decode(): {r.to_text() for r in rrset}
        for (name, rdtype), rrset in rig.host.zones[ZONE].items()
        if b"_domainkey" in name.labels and rdtype.name == "TXT"
    }


@pytest.mark.parametrize("how", ["deleted", "emptied"])
@pytest.mark.parametrize(
    ("template", "later"),
    [
        ("s{version}-{algorithm}", {"days": 3}),
        ("v{version}-{algorithm}-{date-%Y%m%d}", {"hours": 2}),  # the default, same day
        ("v{version}-{algorithm}-{date-%Y%m%d}", {"days": 3}),  # the default, another day
    ],
)
async def test_key_files_survive_a_lost_state_store_and_stay_the_published_keys(
    rig: Rig, tmp_path: Path, registry: Registry, template: str, later: dict[str, float], how: str
) -> None:
    rig.config = make_config(tmp_path, registry, selectorTemplate=template)
    await rig.sync()
    ((selector, _),) = rig.stages()
    pem = rig.key_file(selector).read_bytes()
    published = dkim_values(rig)

    lose_the_store(rig, how)
    try:
        rig.clock.advance(**later)
        result = await rig.sync()
        assert rig.key_file(selector).read_bytes() == pem, "the MTA's key was overwritten"
        assert dkim_values(rig) == published, "the published key was swapped"
        assert result.changes == []
        assert rig.stages() == [(selector, "active")]
        assert sorted(p.name for p in rig.key_file(selector).parent.glob("*.pem")) == [
            f"{selector}.pem"
        ]
    finally:
        rig.store.close()


async def test_an_adopted_key_is_replaced_only_through_the_pending_stage(rig: Rig) -> None:
    await rig.sync()
    os.utime(rig.key_file(FIRST), (T0.timestamp(), T0.timestamp()))  # made at T0, on this clock
    lose_the_store(rig, "deleted")
    try:
        rig.clock.advance(days=90)
        rig.checker.lagging = True
        await rig.sync(ok=False)
        assert rig.stages() == [(FIRST, "active"), (SECOND, "pending")]
        assert rig.published_selectors() == [FIRST, SECOND]
    finally:
        rig.store.close()


async def test_a_key_file_the_store_does_not_know_is_moved_aside_not_overwritten(
    rig: Rig, tmp_path: Path, registry: Registry
) -> None:
    """A crash between writing a new key's file and committing its row leaves such a file."""
    rig.config = make_config(tmp_path, registry, selectorTemplate="s{version}-{algorithm}")
    await rig.sync()
    directory = rig.key_file("s1-ed25519").parent
    leftover = b"-----BEGIN PRIVATE KEY-----\nleft by a crash\n-----END PRIVATE KEY-----\n"
    (directory / "s2-ed25519.pem").write_bytes(leftover)

    both = ["Dkim1Ed25519Sha256", "Dkim2Ed25519Sha256"]
    rig.config = make_config(
        tmp_path, registry, selectorTemplate="s{version}-{algorithm}", algorithms=both
    )
    await rig.sync()
    assert rig.stages() == [("s1-ed25519", "active"), ("s2-ed25519", "active")]
    (aside,) = directory.glob("s2-ed25519.pem.unknown-*")
    assert aside.read_bytes() == leftover
    assert rig.key_file("s2-ed25519").read_bytes() != leftover
