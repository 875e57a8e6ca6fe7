"""A batch that fails part way: the sync names what was not applied, the journal agrees."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from dnsauto.cli.output import sync_json
from dnsauto.plugin.changes import Change
from dnsauto.plugin.errors import PartialApplyError, TransientError
from dnsauto.plugin.provider import Capabilities
from dnsauto.plugin.registry import Registry
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import Engine, domain_jobs
from dnsauto.testing.memory import MemoryHost, MemoryProvider
from tests.test_engine import make_config


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone("example.test.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    monkeypatch.setattr(MemoryProvider, "capabilities", Capabilities(max_changes_per_batch=4))
    return fresh


@pytest.fixture
def second_batch_half_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider's second ``apply`` carries out its first two changes, then fails."""
    original = MemoryProvider.apply

    async def apply(self: MemoryProvider, zone: Any, changes: Sequence[Change]) -> None:
        if len(self.host.apply_calls) != 1:
            await original(self, zone, changes)
            return
        await original(self, zone, changes[:2])
        raise PartialApplyError(
            TransientError("HTTP 503", provider="mem"),
            applied=changes[:1],
            partly_applied=changes[1:2],
            not_applied=changes[2:],
        )

    monkeypatch.setattr(MemoryProvider, "apply", apply)


async def test_a_partly_applied_batch_is_journaled_change_by_change(
    host: MemoryHost, tmp_path: Path, registry: Registry, second_batch_half_applied: None
) -> None:
    config = make_config(tmp_path, registry)
    async with Engine(config, registry) as engine:
        (result,) = await engine.run(domain_jobs(config), apply=True)
        entries = engine.store.journal(run_id=engine.run_id)
    assert [e.status for e in entries] == ["applied"] * 5 + ["failed"] * 3
    assert entries[5].error is not None
    assert entries[5].error.startswith("partly applied: ")
    assert result.applied == 5
    planned = result.changes
    assert result.not_applied == planned[5:]
    assert [(e.name, e.type) for e in entries[5:]] == [
        (c.name.to_text(), c.rdtype.name) for c in planned[5:8]
    ]


async def test_the_sync_report_names_every_change_not_applied(
    host: MemoryHost, tmp_path: Path, registry: Registry, second_batch_half_applied: None
) -> None:
    config = make_config(tmp_path, registry)
    async with Engine(config, registry) as engine:
        (result,) = await engine.run(domain_jobs(config), apply=True)
    not_applied = result.changes[5:]
    assert result.error is not None
    assert result.error.startswith("HTTP 503 (provider mem) (1 of 4 changes applied, 1 partly)")
    for change in not_applied:
        assert f"{change.action} {change.rdtype.name} {change.name.to_text()}" in result.error
    (reported,) = sync_json([result])["domains"]
    assert [(c["name"], c["type"]) for c in reported["not_applied"]] == [
        (c.name.to_text(), c.rdtype.name) for c in not_applied
    ]


async def test_a_failed_batch_leaves_it_and_every_later_change_not_applied(
    host: MemoryHost, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = MemoryProvider.apply

    async def fail_second(self: MemoryProvider, zone: Any, changes: Sequence[Change]) -> None:
        if len(self.host.apply_calls) == 1:
            raise TransientError("HTTP 503", provider="mem")
        await original(self, zone, changes)

    monkeypatch.setattr(MemoryProvider, "apply", fail_second)
    config = make_config(tmp_path, registry)
    async with Engine(config, registry) as engine:
        (result,) = await engine.run(domain_jobs(config), apply=True)
    assert result.applied == 4
    assert result.not_applied == result.changes[4:]
    with StateStore(tmp_path / "state") as store:
        assert [e.status for e in store.journal()] == ["applied"] * 4 + ["failed"] * 4
