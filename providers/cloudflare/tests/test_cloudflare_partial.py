"""A failure in a later Cloudflare batch: exactly the changes not applied are reported."""

from __future__ import annotations

import tomllib
from pathlib import Path

import dns.name
import dnsauto_cloudflare.provider as cloudflare_module
import pytest
from cloudflare_helpers import ZONE
from dnsauto_cloudflare.provider import CloudflareProvider
from dnsauto_cloudflare.testing import TOKEN, FakeCloudflare
from test_cloudflare_sync import SERVER

from dnsauto.config.loader import load_config
from dnsauto.plugin import Create, PartialApplyError, ProviderInfo, Registry
from dnsauto.plugin.http import RetryPolicy
from dnsauto.sync.engine import Engine, domain_jobs
from dnsauto.testing import make_rrset
from dnsauto.testing.cli import sync_config
from dnsauto.testing.fake_http import Fault

APEX = dns.name.from_text(ZONE + ".")
THROTTLED_NOW = {"status": 429, "headers": {"Retry-After": "0"}, "times": 5}


def many_values(label: str, count: int):
    values = [f'"{label}{i}"' for i in range(count)]
    return make_rrset(dns.name.from_text(label, APEX), "TXT", 300, *values)


async def test_a_failed_second_batch_reports_the_changes_it_and_later_ones_held(fake):
    from cloudflare_helpers import make_provider

    provider = make_provider(fake, http={"retry": RetryPolicy(attempts=2)})
    zone = await provider.find_zone(APEX)
    changes = [Create(many_values(label, 150)) for label in ("a", "b", "c")]  # 450 records
    fake.fail_next(Fault(match="batch", status=503, after=1, times=5))
    with pytest.raises(PartialApplyError) as caught:
        await provider.apply(zone, changes)
    await provider.aclose()
    assert caught.value.applied == (changes[0],)
    assert caught.value.partly_applied == (changes[1],)
    assert caught.value.not_applied == (changes[2],)
    assert caught.value.transient
    assert len(fake.records(zone.id)) == 200


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch, fake: FakeCloudflare) -> None:
    """Batches of 4 records, so the mail record set takes several; the provider at the fake."""
    monkeypatch.setattr(cloudflare_module, "BATCH_RECORDS", 4)
    monkeypatch.setenv("DNSAUTO_API_URL_CLOUDFLARE", fake.base_url)
    monkeypatch.setenv("DNSAUTO_TEST_CF_TOKEN", TOKEN)


async def test_the_journal_agrees_with_the_zone_after_a_later_batch_fails(
    fake: FakeCloudflare, small_batches: None, tmp_path: Path
) -> None:
    registry = Registry()
    registry.add(ProviderInfo("Cloudflare", CloudflareProvider, "dnsauto-cloudflare", "0"))
    document = tomllib.loads(sync_config(tmp_path / "state", SERVER, domain=ZONE))
    config = load_config(document, registry=registry)
    zone_id = next(iter(fake.zones))
    fake.fail_next(Fault(match="batch", after=1, **THROTTLED_NOW))  # type: ignore[arg-type]
    async with Engine(config, registry) as engine:
        (result,) = await engine.run(domain_jobs(config), apply=True)
        entries = engine.store.journal(run_id=engine.run_id)
    assert result.error is not None
    assert "not applied:" in result.error
    held = {(r["type"], r["name"] + ".") for r in fake.records(zone_id)}
    applied = {(e.type, e.name) for e in entries if e.status == "applied"}
    assert applied
    assert applied <= held
    failed = {(e.type, e.name) for e in entries if e.status == "failed"}
    not_applied = {(c.rdtype.name, c.name.to_text()) for c in result.not_applied}
    assert failed <= not_applied
    assert not_applied.isdisjoint(applied)
    assert len(applied) + len(not_applied) == len(result.changes)
    assert result.applied == len(applied)
