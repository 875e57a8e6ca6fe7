"""``dnsauto sync`` end to end against the fake Porkbun API."""

from __future__ import annotations

from pathlib import Path

from dnsauto_porkbun.testing import API_KEY, SECRET_API_KEY, FakePorkbun

from dnsauto.testing.cli import DOMAIN, SyncRun, assert_published, write_sync_config

FOREIGN = [
    {"type": "TXT", "content": "google-site-verification=abc", "ttl": "600"},
    {"type": "CAA", "content": '0 issue "digicert.com"', "ttl": "600"},
    {"type": "A", "name": "www." + DOMAIN, "content": "192.0.2.1", "ttl": "600"},
]
SERVER = f"""
"@type" = "Porkbun"
description = "fake Porkbun"
apiKey = "{API_KEY}"
secretApiKey = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_PORKBUN_SECRET" }}
"""


async def test_sync_publishes_the_mail_records_then_changes_nothing_and_keeps_foreign_ones(
    tmp_path: Path,
) -> None:
    config = write_sync_config(tmp_path, SERVER)
    async with FakePorkbun() as fake:
        env = {"DNSAUTO_API_URL_PORKBUN": fake.base_url,
               "DNSAUTO_TEST_PORKBUN_SECRET": SECRET_API_KEY}  # fmt: skip
        run = SyncRun(config, env=env, secret=SECRET_API_KEY)
        fake.add_domain(DOMAIN)
        for record in FOREIGN:
            fake.add_record(DOMAIN, record)
        before = len(fake.records(DOMAIN))
        domain = await run.sync()
        assert_published(
            {(r["type"], r["name"]) for r in fake.records(DOMAIN)},
            lambda rdtype, label: (rdtype, f"{label}.{DOMAIN}" if label else DOMAIN),
        )
        # The DnsServer's default TTL (5m) is below Porkbun's 600: raised, and said so.
        assert {r["ttl"] for r in fake.records(DOMAIN) if r["type"] != "NS"} == {"600"}
        created = len(fake.records(DOMAIN)) - before
        dns_calls = [r.path.split("/")[5] for r in fake.requests if "/v3/dns/" in r.path]
        writes = [call for call in dns_calls if call != "retrieve"]
        # One create per new record; the foreign apex TXT that dnsauto's SPF joins is kept as
        # it is (its TTL is already the 600 the SPF value is raised to); nothing edited or
        # deleted, never a ByNameType call.
        assert writes == ["create"] * created
        assert (fake.count("POST", "listAll"), fake.count("POST", "retrieve")) == (1, 1)
        first_requests = len(fake.requests)
        assert first_requests == 21  # 1 + 1 listing, 19 creates
        assert any("published with 600s" in w for w in domain["warnings"]), domain

        await run.sync()
        assert len(fake.requests) - first_requests == 2  # the domains, the records

        contents = [r["content"] for r in fake.records(DOMAIN)]
        assert "google-site-verification=abc" in contents
        assert "v=spf1 mx -all" in contents
        assert "192.0.2.1" in contents
        assert '0 issue "digicert.com"' in contents
