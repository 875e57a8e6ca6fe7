"""``Engine.stream``: every domain's result once, as it ends, with few domains begun at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import Registry
from dnsauto.sync.engine import Engine, domain_jobs
from dnsauto.testing.memory import MemoryHost, MemoryProvider

DOMAINS = [f"d{i}.example.test" for i in range(40)]


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone("example.test.")
    for domain in DOMAINS:
        fresh.add_zone(f"{domain}.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    return fresh


def make_config(tmp_path: Path, registry: Registry) -> Config:
    managed = {"dnsManagement": {"@type": "Automatic", "dnsServerId": "mem"}}
    document: dict[str, Any] = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "dnsServer": {"mem": {"@type": "Memory", "description": "memory"}},
        "domain": dict.fromkeys(DOMAINS, managed),
        "daemon": {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=registry)


async def test_every_domain_is_handed_out_once_and_saved(
    host: MemoryHost, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, registry)
    jobs = domain_jobs(config)
    begun: list[str] = []
    most_open = 0
    original = Engine._guarded

    async def counting(self: Engine, job: Any, **options: Any) -> Any:
        nonlocal most_open
        begun.append(job.domain)
        most_open = max(most_open, len(begun) - handed_out)
        return await original(self, job, **options)

    monkeypatch.setattr(Engine, "_guarded", counting)
    handed_out = 0
    seen: dict[int, str] = {}
    async with Engine(config, registry, concurrency=4) as engine:
        async for index, result in engine.stream(jobs, apply=True):
            handed_out += 1
            assert index not in seen
            seen[index] = result.domain
            assert result.error is None
            assert result.applied > 0
        assert sorted(seen) == list(range(len(jobs)))
        assert [seen[i] for i in range(len(jobs))] == [j.domain for j in jobs]
        assert most_open <= 8  # twice the concurrency, not every domain at once
        saved = engine.store.last_results()
    assert set(saved) >= {j.domain for j in jobs}
