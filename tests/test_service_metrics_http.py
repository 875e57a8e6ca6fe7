"""Every provider HTTP request, retry and throttle reaches the daemon's Prometheus metrics,
by DnsServer @type and id: an engine run against two fake APIs, the text read from /metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from dnsauto_cloudflare.testing import TOKEN as CLOUDFLARE_TOKEN
from dnsauto_cloudflare.testing import FakeCloudflare
from dnsauto_desec.testing import TOKEN as DESEC_TOKEN
from dnsauto_desec.testing import FakeDesec

from dnsauto.plugin.registry import load_registry
from dnsauto.service.daemon import load_checked
from dnsauto.service.metrics import CountingRegistry, Metrics, MetricsServer
from dnsauto.sync.engine import Engine, domain_jobs
from dnsauto.testing.fake_http import Fault
from dnsauto.testing.servers import HOST
from dnsauto.testing.servers._common import free_port


def config_text(state: Path) -> str:
    return f"""
[bootstrap]
serverHostname = "mail.example.com"
defaultDomain = "example.com"

[bootstrap.dnsServer]
"@type" = "Cloudflare"
description = "fake Cloudflare"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_CF_TOKEN" }}

[dnsServer.desec]
"@type" = "DeSEC"
description = "fake deSEC"
secret = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_DESEC_TOKEN" }}

[domain."example.com".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"

[domain."example.org".dnsManagement]
"@type" = "Automatic"
dnsServerId = "desec"

[mailServer]
mtaStsPolicyId = "20260101"

[mailServer.acme]
accountUri = "https://acme.test/acct/1"

[daemon]
stateDir = "{state}"
"""


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode())


def sample(text: str, series: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_http_requests_retries_and_throttles_are_exported_per_dns_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeCloudflare() as cloudflare, FakeDesec() as desec:
        cloudflare.add_zone("example.com")
        desec.add_domain("example.org")
        monkeypatch.setenv("DNSAUTO_API_URL_CLOUDFLARE", cloudflare.base_url)
        monkeypatch.setenv("DNSAUTO_API_URL_DESEC", desec.base_url)
        monkeypatch.setenv("DNSAUTO_TEST_CF_TOKEN", CLOUDFLARE_TOKEN)
        monkeypatch.setenv("DNSAUTO_TEST_DESEC_TOKEN", DESEC_TOKEN)
        # Cloudflare: its record listing throttled once (429, Retry-After 0), then a 502.
        cloudflare.fail_next(
            Fault(match=r"GET .*/dns_records$", status=429, headers={"Retry-After": "0"})
        )
        cloudflare.fail_next(Fault(match=r"GET .*/dns_records$", status=502))
        path = tmp_path / "config.toml"
        path.write_text(config_text(tmp_path / "state"))
        metrics = Metrics()
        registry = CountingRegistry(load_registry(), metrics)
        config = load_checked(path, registry)
        port = free_port()
        server = MetricsServer(metrics, f"{HOST}:{port}")
        try:
            async with Engine(config, registry) as engine:
                results = await engine.run(domain_jobs(config), apply=True, wait=False)
            assert [r.error for r in results] == [None, None]
            text = await asyncio.to_thread(scrape, f"http://{HOST}:{port}/metrics")
        finally:
            server.close()

    def value(name: str, type_name: str, server: str) -> float | None:
        return sample(
            text, f'dnsauto_provider_http_{name}_total{{server="{server}",type="{type_name}"}}'
        )

    assert value("requests", "Cloudflare", "bootstrap") == len(cloudflare.requests)
    assert value("retries", "Cloudflare", "bootstrap") == 2
    assert value("throttled", "Cloudflare", "bootstrap") == 1
    assert value("requests", "DeSEC", "desec") == len(desec.requests)
    assert value("retries", "DeSEC", "desec") == 0
    assert value("throttled", "DeSEC", "desec") == 0
    assert len(cloudflare.requests) >= 4  # the listing three times, the batch
    assert len(desec.requests) >= 2
    # No series mixes one DnsServer's @type with another's id.
    assert value("requests", "Cloudflare", "desec") is None
    assert value("requests", "DeSEC", "bootstrap") is None
