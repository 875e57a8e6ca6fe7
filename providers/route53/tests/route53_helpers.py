"""Route 53 test fixtures: moto in server mode on 127.0.0.1, and the proxy in front of it
(:class:`dnsauto_route53.testing.Route53Proxy`, shared with the benchmark)."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import dns.name
import dns.rrset
import pytest
from dnsauto_route53.provider import Route53DnsServer, Route53Provider
from dnsauto_route53.testing import (  # the tests import these from here
    KEY_ID,
    NS,  # noqa: F401
    SECRET,
    TOKEN,
    ZONE,
    Route53Proxy,
    error_xml,  # noqa: F401
    xml_fault,  # noqa: F401
)
from moto.server import ThreadedMotoServer

from dnsauto.plugin import ProviderContext
from dnsauto.testing.fake_http import FakeClock


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws(url: str) -> Any:
    """A boto3 client straight at moto, for setting up zones and looking at them."""
    return boto3.client("route53", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=KEY_ID, aws_secret_access_key="admin")  # fmt: skip


@pytest.fixture
def moto(moto_server: str) -> Any:
    """moto, emptied, with the hosted zone ``example.com.``; the client has ``.zone_id``."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    client = aws(moto_server)
    client.zone_id = add_zone(client, ZONE)
    return client


def add_zone(client: Any, name: str, *, private: bool = False) -> str:
    options: dict[str, Any] = {"Name": name, "CallerReference": name + str(private)}
    if private:
        options |= {"VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-1"},
                    "HostedZoneConfig": {"PrivateZone": True, "Comment": ""}}  # fmt: skip
    zone_id: str = client.create_hosted_zone(**options)["HostedZone"]["Id"]
    return zone_id.split("/")[-1]


def records(client: Any, zone_id: str) -> dict[tuple[str, str], list[str]]:
    pages = client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return {(r["Name"], r["Type"]): [v["Value"] for v in r.get("ResourceRecords", [])]
            for page in pages for r in page["ResourceRecordSets"]}  # fmt: skip


def served(client: Any, zone_id: str) -> list[dns.rrset.RRset]:
    """What moto holds in the zone, as the zone's nameservers would serve it (names in values
    are absolute, as Route 53 reads them; not the SOA, whose value moto gives as a dict's repr)."""
    pages = client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [dns.rrset.from_text_list(r["Name"], r["TTL"], "IN", r["Type"],
                                     [v["Value"] for v in r["ResourceRecords"]],
                                     origin=dns.name.root, relativize=False)
            for page in pages for r in page["ResourceRecordSets"]
            if r.get("ResourceRecords") and r["Type"] != "SOA"]  # fmt: skip


@pytest.fixture
async def proxy(moto_server: str, moto: Any) -> AsyncIterator[Route53Proxy]:
    async with Route53Proxy(moto_server) as fake:
        yield fake


def settings(**fields: Any) -> Route53DnsServer:
    return Route53DnsServer.model_validate(
        {
            "@type": "Route53",
            "description": "test",
            "timeout": "5s",
            "accessKeyId": KEY_ID,
            "secretAccessKey": {"@type": "Value", "secret": SECRET},
            "sessionToken": {"@type": "Value", "secret": TOKEN},
            **fields,
        }
    )


def make_provider(url: str, clock: FakeClock | None = None, **fields: Any) -> Route53Provider:
    return Route53Provider(settings(**fields), ProviderContext(server_id="r53"),
                           endpoint_url=url, clock=clock or FakeClock())  # fmt: skip


@pytest.fixture
async def route53(proxy: Route53Proxy) -> AsyncIterator[Route53Provider]:
    provider = make_provider(proxy.base_url)
    yield provider
    await provider.aclose()
