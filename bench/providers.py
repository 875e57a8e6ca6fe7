"""HTTP providers' API economy at their fakes, and 1,000 domains through Cloudflare's rate limit.

Requests per provider
    For each HTTP plugin (the ten cloud ones), one mail domain (``example.com``, an empty
    zone at the plugin's fake server on loopback) is published with ``dnsauto sync --no-wait
    --json`` (a fresh process, the plugin found through its entry point, the API URL pointed
    at the fake; Route53's is moto in server mode behind the proxy its tests use, which
    counts), then synced
    again with nothing to change. The figures are the HTTP requests the fake received in each
    run, in total and without the zone lookup (the listing of the account's zones, which a
    long-running daemon makes once per provider instance, not per sync; OVH's clock reading
    ``/auth/time`` and Google's OAuth token are counted with it). Beside them, what
    two other ways would send for the same record set: one request per record (lexicon's
    way), and list + delete + create per RRset (Stalwart's ``dns-update``), each run.

1,000 domains through Cloudflare's rate limit
    The Cloudflare fake holds 1,000 empty zones. One ``CloudflareProvider`` (as the engine
    keeps one per DnsServer) makes, for every domain in turn, the calls a first sync makes:
    ``find_zone`` (the zone list, 50 a page, read once and cached), ``list_rrsets`` and one
    ``apply`` with the domain's mail record set (the RRsets the one-domain sync published
    above, with the domain's name put in). Its HTTP client keeps the documented limit
    (1,200 requests per 5 minutes, a token bucket that starts full) on a fake clock, so the
    rate-limit waits are counted, not slept: ``simulated_s`` is the time the limit imposes,
    ``floor_s`` the limit itself (requests beyond the first 1,200 at 4 a second), and
    ``wall_s`` the real time spent making the requests against the fake, waits excluded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.rrset
from dnsauto_bunny.testing import KEY as BUNNY_KEY
from dnsauto_bunny.testing import FakeBunny
from dnsauto_cloudflare.provider import CloudflareDnsServer, CloudflareProvider
from dnsauto_cloudflare.testing import TOKEN as CLOUDFLARE_TOKEN
from dnsauto_cloudflare.testing import FakeCloudflare
from dnsauto_desec.testing import TOKEN as DESEC_TOKEN
from dnsauto_desec.testing import FakeDesec
from dnsauto_digitalocean.testing import TOKEN as DIGITALOCEAN_TOKEN
from dnsauto_digitalocean.testing import FakeDigitalOcean
from dnsauto_dnsimple.testing import ACCOUNT as DNSIMPLE_ACCOUNT
from dnsauto_dnsimple.testing import TOKEN as DNSIMPLE_TOKEN
from dnsauto_dnsimple.testing import FakeDnsimple
from dnsauto_googleclouddns.testing import PROJECT as GOOGLE_PROJECT
from dnsauto_googleclouddns.testing import FakeCloudDns, service_account_json
from dnsauto_ovh.testing import APPLICATION_KEY as OVH_APPLICATION_KEY
from dnsauto_ovh.testing import APPLICATION_SECRET as OVH_APPLICATION_SECRET
from dnsauto_ovh.testing import CONSUMER_KEY as OVH_CONSUMER_KEY
from dnsauto_ovh.testing import FakeOvh
from dnsauto_porkbun.testing import API_KEY as PORKBUN_API_KEY
from dnsauto_porkbun.testing import SECRET_API_KEY as PORKBUN_SECRET
from dnsauto_porkbun.testing import FakePorkbun
from dnsauto_route53.testing import KEY_ID as ROUTE53_KEY_ID
from dnsauto_route53.testing import SECRET as ROUTE53_SECRET
from dnsauto_route53.testing import Route53Proxy
from dnsauto_spaceship.testing import API_KEY as SPACESHIP_API_KEY
from dnsauto_spaceship.testing import API_SECRET as SPACESHIP_SECRET
from dnsauto_spaceship.testing import FakeSpaceship

from bench import Figure
from dnsauto.plugin import Create, ProviderContext
from dnsauto.testing.cli import sync_config
from dnsauto.testing.fake_http import FakeApi, FakeClock

TITLE = "HTTP providers: requests per publish and re-sync at each fake; 1,000 domains rate-limited"

DOMAIN = "example.com"
_ZONE_LOOKUP = re.compile(
    r"^GET .*/(zones|domains/?|dnszone|whoami|accounts|domain/zone/?|managedZones"
    r"|hostedzonesbyname|auth/time)$|^POST .*/(domain/listAll|token)$"
)
"""``METHOD path`` of the account-level zone lookups (not of one zone's records), with the
calls a provider makes once per instance before them (OVH's clock, Google's OAuth token)."""


class MotoRoute53(Route53Proxy):
    """moto in server mode on loopback, behind the Route 53 tests' proxy (which records every
    request, as the other fakes do)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        super().__init__(f"http://{host}:{port}")

    async def close(self) -> None:
        await super().close()
        self.server.stop()

    def add_zone(self, name: str) -> None:
        import boto3

        client = boto3.client("route53", endpoint_url=self.moto, region_name="us-east-1",
                              aws_access_key_id=ROUTE53_KEY_ID,
                              aws_secret_access_key="admin")  # fmt: skip
        client.create_hosted_zone(Name=name + ".", CallerReference=name)


def _google_key(fake: Any) -> str:
    return service_account_json(fake.token_uri)


@dataclass(frozen=True)
class Plugin:
    type_name: str
    make: Callable[[], FakeApi]
    server: str
    """The DnsServer's fields besides ``@type`` and ``description``, as TOML."""
    secret: str | Callable[[Any], str]
    """``BENCH_SECRET``'s value (one made from the running fake, given it), never in output."""
    add_zone: Callable[[Any, str], object]


PLUGINS = (
    Plugin("Cloudflare", FakeCloudflare,
           'secret = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }',
           CLOUDFLARE_TOKEN, lambda fake, name: fake.add_zone(name)),
    Plugin("DeSEC", FakeDesec,
           'secret = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }',
           DESEC_TOKEN, lambda fake, name: fake.add_domain(name)),
    Plugin("DigitalOcean", FakeDigitalOcean,
           'secret = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }',
           DIGITALOCEAN_TOKEN, lambda fake, name: fake.add_domain(name)),
    Plugin("Dnsimple", FakeDnsimple,
           'authToken = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }\n'
           f'accountIdentifier = "{DNSIMPLE_ACCOUNT}"',
           DNSIMPLE_TOKEN, lambda fake, name: fake.add_zone(name)),
    Plugin("Bunny", FakeBunny,
           'secret = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }',
           BUNNY_KEY, lambda fake, name: fake.add_zone(name)),
    Plugin("Porkbun", FakePorkbun,
           f'apiKey = "{PORKBUN_API_KEY}"\n'
           'secretApiKey = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }',
           PORKBUN_SECRET, lambda fake, name: fake.add_domain(name)),
    Plugin("Spaceship", FakeSpaceship,
           f'apiKey = "{SPACESHIP_API_KEY}"\n'
           'secret = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }',
           SPACESHIP_SECRET, lambda fake, name: fake.add_domain(name)),
    Plugin("Ovh", FakeOvh,
           f'applicationKey = "{OVH_APPLICATION_KEY}"\n'
           'applicationSecret = { "@type" = "EnvironmentVariable", '
           'variableName = "BENCH_SECRET" }\n'
           f'consumerKey = {{ "@type" = "Value", secret = "{OVH_CONSUMER_KEY}" }}',
           OVH_APPLICATION_SECRET, lambda fake, name: fake.add_zone(name)),
    Plugin("GoogleCloudDns", FakeCloudDns,
           'serviceAccountJson = { "@type" = "EnvironmentVariable", '
           'variableName = "BENCH_SECRET" }\n'
           f'projectId = "{GOOGLE_PROJECT}"',
           _google_key, lambda fake, name: fake.add_zone(name)),
    Plugin("Route53", MotoRoute53,
           f'accessKeyId = "{ROUTE53_KEY_ID}"\n'
           'secretAccessKey = { "@type" = "EnvironmentVariable", variableName = "BENCH_SECRET" }\n'
           'sessionToken = { "@type" = "None" }',
           ROUTE53_SECRET, lambda fake, name: fake.add_zone(name)),
)  # fmt: skip
PER_RECORD_TYPES = ("DigitalOcean", "Dnsimple", "Bunny", "Porkbun", "Ovh")
"""Plugins that make one request per changed record (the others batch)."""
LISTED_BY_ID = ("Ovh",)
"""Plugins whose API lists record ids only, each record then read on its own (OVH): their
listing is one request plus one per record, and a batch ends with one zone refresh."""


@dataclass(frozen=True)
class Settings:
    domains: int = 1000
    plugins: tuple[str, ...] = tuple(p.type_name for p in PLUGINS)

    @classmethod
    def quick(cls) -> Settings:
        return cls(domains=20)


@dataclass
class SyncCounts:
    first: int = 0
    first_lookup: int = 0
    resync: int = 0
    resync_lookup: int = 0
    rrsets: int = 0
    records: int = 0
    published: list[dns.rrset.RRset] = field(default_factory=list)


def config_text(plugin: Plugin, state: Path) -> str:
    dns_server = f'"@type" = "{plugin.type_name}"\ndescription = "fake {plugin.type_name}"\n'
    return sync_config(state, dns_server + plugin.server, domain=DOMAIN)


async def dnsauto_sync(config: Path, env: Mapping[str, str], secret: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dnsauto", "sync", "--no-wait", "--json", "--config", str(config),
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    text = (out + err).decode()
    if process.returncode != 0 or secret in text:
        raise RuntimeError(f"dnsauto sync failed (exit {process.returncode}): {text[-2000:]}")
    report: dict[str, Any] = json.loads(out)
    (domain,) = report["domains"]
    if not isinstance(domain, dict):
        raise RuntimeError(f"dnsauto sync: unexpected report {out[:200]!r}")
    if domain["error"] is not None:
        raise RuntimeError(f"dnsauto sync of {DOMAIN}: {domain['error']}")
    return domain


def _counts(fake: FakeApi, since: int) -> tuple[int, int]:
    made = fake.requests[since:]
    lookups = sum(1 for r in made if _ZONE_LOOKUP.search(f"{r.method} {r.path}"))
    return len(made), lookups


async def count_syncs(plugin: Plugin, folder: Path) -> SyncCounts:
    """The requests of a first publish and an unchanged re-sync of one mail domain."""
    config = folder / f"{plugin.type_name}.toml"
    config.write_text(config_text(plugin, folder / f"state-{plugin.type_name}"))
    counts = SyncCounts()
    async with plugin.make() as fake:
        plugin.add_zone(fake, DOMAIN)
        secret = plugin.secret if isinstance(plugin.secret, str) else plugin.secret(fake)
        env = {f"DNSAUTO_API_URL_{plugin.type_name.upper()}": fake.base_url,
               "BENCH_SECRET": secret}  # fmt: skip
        first = await dnsauto_sync(config, env, secret)
        counts.rrsets = int(first["changes"])
        counts.first, counts.first_lookup = _counts(fake, 0)
        before = len(fake.requests)
        again = await dnsauto_sync(config, env, secret)
        if again["changes"]:
            raise RuntimeError(f"{plugin.type_name}: the re-sync changed {again['changes']}")
        counts.resync, counts.resync_lookup = _counts(fake, before)
        if isinstance(fake, FakeCloudflare):
            counts.published = await _published(fake)
    counts.records = sum(len(r) for r in counts.published)
    return counts


async def _published(fake: FakeCloudflare) -> list[dns.rrset.RRset]:
    provider = _cloudflare(fake, FakeClock())
    try:
        zone = await provider.find_zone(dns.name.from_text(DOMAIN + "."))
        return await provider.list_rrsets(zone)
    finally:
        await provider.aclose()


def _cloudflare(fake: FakeCloudflare, clock: FakeClock) -> CloudflareProvider:
    secret = {"@type": "Value", "secret": CLOUDFLARE_TOKEN}
    settings = CloudflareDnsServer.model_validate(
        {"@type": "Cloudflare", "description": "bench", "secret": secret}
    )
    context = ProviderContext(server_id="bench")
    return CloudflareProvider(settings, context, base_url=fake.base_url, clock=clock)


def _for_domain(rrsets: Sequence[dns.rrset.RRset], domain: str) -> list[dns.rrset.RRset]:
    """The mail record set of ``example.com`` with ``domain``'s name put in."""
    moved = []
    for rrset in rrsets:
        text = rrset.to_text().replace(DOMAIN + ".", domain + ".").replace(DOMAIN, domain)
        moved.append(dns.rrset.from_text_list(
            text.split()[0], rrset.ttl, "IN", dns.rdatatype.to_text(rrset.rdtype),
            [line.split(None, 4)[4] for line in text.splitlines()],
        ))  # fmt: skip
    return moved


@dataclass
class BulkResult:
    domains: int
    requests: int
    simulated: float
    wall: float
    per_domain: float


async def bulk_cloudflare(count: int, mail_set: Sequence[dns.rrset.RRset]) -> BulkResult:
    """Publish ``count`` domains through one rate-limited Cloudflare provider, fake clock."""
    names = [f"d{i:04d}.bench.test" for i in range(count)]
    clock = FakeClock()
    fake = FakeCloudflare()
    async with fake:
        for name in names:
            fake.add_zone(name)
        provider = _cloudflare(fake, clock)
        started_clock, started = clock.now, time.perf_counter()
        try:
            for name in names:
                zone = await provider.find_zone(dns.name.from_text(name + "."))
                await provider.list_rrsets(zone)
                await provider.apply(zone, [Create(r) for r in _for_domain(mail_set, name)])
        finally:
            await provider.aclose()
        wall = time.perf_counter() - started
        for name in names[:: max(1, count // 10)]:  # spot-check that the records are there
            zone_id = next(z for z, held in fake.zones.items() if held.name == name)
            if len(fake.records(zone_id)) != sum(len(r) for r in mail_set):
                raise RuntimeError(f"{name}: {len(fake.records(zone_id))} records at the fake")
        requests = len(fake.requests)
    simulated = clock.now - started_clock
    lookups = sum(1 for r in fake.requests if _ZONE_LOOKUP.search(f"{r.method} {r.path}"))
    return BulkResult(count, requests, simulated, wall, (requests - lookups) / count)


def figures(counts: Mapping[str, SyncCounts], bulk: BulkResult) -> list[Figure]:
    found: list[Figure] = []
    canonical = counts.get("Cloudflare")
    records = canonical.records if canonical else 0
    for name, c in counts.items():
        key = f"providers.{name.lower()}"
        first_zone, resync_zone = c.first - c.first_lookup, c.resync - c.resync_lookup
        if name in LISTED_BY_ID:  # listing + a create a record + the refresh; ids + a GET each
            first_target, resync_target = records + 2, records + 1
        elif name in PER_RECORD_TYPES:
            first_target, resync_target = records + 1, 1  # a listing + one request a record
        else:
            first_target, resync_target = 3, 1
        found += [
            Figure(f"{key}.first_requests", c.first, "requests",
                   f"first publish of {c.rrsets} RRsets, zone lookup included"),
            Figure(f"{key}.first_requests_zone_known", first_zone, "requests",
                   "first publish once the zone id is known", f"<= {first_target}",
                   first_zone <= first_target),
            Figure(f"{key}.resync_requests", c.resync, "requests",
                   "unchanged re-sync, zone lookup included (a new process)"),
            Figure(f"{key}.resync_requests_zone_known", resync_zone, "requests",
                   "unchanged re-sync once the zone id is known", f"<= {resync_target}",
                   resync_zone <= resync_target),
        ]  # fmt: skip
    if canonical:
        found += [
            Figure("providers.mail_set.rrsets", canonical.rrsets, "RRsets",
                   "the mail record set of one domain (dnsauto's default publishRecords)"),
            Figure("providers.mail_set.records", records, "records", "its records"),
            Figure("providers.lexicon_way.requests", records, "requests",
                   "one request per record, every run (first publish and re-sync alike)"),
            Figure("providers.dns_update_way.requests", 3 * canonical.rrsets, "requests",
                   "list + delete + create per RRset (Stalwart's dns-update), every run"),
        ]  # fmt: skip
    per_second = 1200 / 300
    floor = max(0.0, bulk.requests - 1200) / per_second
    n = f"providers.cloudflare_{bulk.domains}"
    found += [
        Figure(f"{n}.requests", bulk.requests, "requests",
               f"{bulk.domains} first publishes, the zone list (50 a page) read once"),
        Figure(f"{n}.requests_per_domain", round(bulk.per_domain, 2), "requests",
               "per domain, zone list excluded"),
        Figure(f"{n}.simulated_s", round(bulk.simulated, 1), "s",
               "time the rate limit imposed (fake clock: 1,200 / 5 min, bucket full at start)"),
        Figure(f"{n}.floor_s", round(floor, 1), "s",
               "the limit itself: requests beyond the first 1,200, at 4 a second"),
        Figure(f"{n}.from_empty_s", round(bulk.requests / per_second, 1), "s",
               "the limit from an empty bucket: requests at 4 a second"),
        Figure(f"{n}.wall_s", round(bulk.wall, 2), "s",
               "real time making the requests against the fake, rate-limit waits excluded"),
    ]  # fmt: skip
    return found


async def measure(settings: Settings) -> list[Figure]:
    counts: dict[str, SyncCounts] = {}
    with tempfile.TemporaryDirectory(prefix="dnsauto-bench-providers-") as folder:
        for plugin in PLUGINS:
            if plugin.type_name in settings.plugins or plugin.type_name == "Cloudflare":
                counts[plugin.type_name] = await count_syncs(plugin, Path(folder))
    bulk = await bulk_cloudflare(settings.domains, counts["Cloudflare"].published)
    return figures(counts, bulk)


def run(quick: bool) -> list[Figure]:
    return asyncio.run(measure(Settings.quick() if quick else Settings()))
