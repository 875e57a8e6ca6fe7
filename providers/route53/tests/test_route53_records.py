"""How RRsets are written to and read from Route 53: TXT quoting, 255-byte strings, octal
escapes, exact DELETEs, records dnsauto leaves alone."""

from __future__ import annotations

from typing import Any

import dns.name
import dns.rdata
from route53_helpers import ZONE, Route53Proxy, records

from dnsauto.plugin import Create, Delete, Update
from dnsauto.testing import make_rrset


def name(label: str) -> dns.name.Name:
    return dns.name.from_text(label, origin=dns.name.from_text(ZONE))


async def test_a_long_txt_value_goes_out_as_quoted_255_byte_strings(proxy, moto, route53):
    zone = await route53.find_zone(name("dkim"))
    key = "v=DKIM1; k=rsa; p=" + "A" * 400
    rdata = dns.rdata.from_text("IN", "TXT", f'"{key[:255]}" "{key[255:]}"')
    rrset = make_rrset(name("dkim"), "TXT", 300, rdata.to_text())
    await route53.apply(zone, [Create(rrset)])
    assert records(moto, moto.zone_id)[("dkim.example.com.", "TXT")] == [
        f'"{key[:255]}" "{key[255:]}"'
    ]


async def test_quotes_backslashes_and_non_ascii_bytes_use_route53_octal_escapes(moto, route53):
    zone = await route53.find_zone(name("esc"))
    rrset = make_rrset(name("esc"), "TXT", 300, r'"say \"hi\" \\ caf\195\169"')  # UTF-8 é
    await route53.apply(zone, [Create(rrset)])
    assert records(moto, moto.zone_id)[("esc.example.com.", "TXT")] == [
        r'"say \"hi\" \\ caf\303\251"'
    ]
    (listed,) = await route53.list_rrsets(zone, [name("esc")])
    assert listed == rrset


async def test_a_delete_sends_back_the_values_exactly_as_listed(moto, proxy: Route53Proxy, route53):
    # another tool stored the TXT unsplit in an odd spacing; dnsauto reads it as the same
    # record, and its DELETE must name the stored text, not dnsauto's rendering of it
    moto.change_resource_record_sets(HostedZoneId=moto.zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "odd.example.com.", "Type": "MX",
         "TTL": 300, "ResourceRecords": [{"Value": "10   MAIL.example.com."}]}}]})  # fmt: skip
    zone = await route53.find_zone(name("odd"))
    (listed,) = await route53.list_rrsets(zone, [name("odd")])
    new = make_rrset(name("odd"), "MX", 300, "20 mx.example.com.")
    await route53.apply(zone, [Update(listed, new)])
    assert "<Value>10   MAIL.example.com.</Value>" in proxy.requests[-1].body
    assert records(moto, moto.zone_id)[("odd.example.com.", "MX")] == ["20 mx.example.com."]
    await route53.list_rrsets(zone)
    await route53.apply(zone, [Delete(new)])
    assert ("odd.example.com.", "MX") not in records(moto, moto.zone_id)


async def test_alias_and_wildcard_records_are_read_or_left_alone(moto: Any, route53):
    moto.change_resource_record_sets(HostedZoneId=moto.zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "*.example.com.", "Type": "TXT",
         "TTL": 60, "ResourceRecords": [{"Value": '"wild"'}]}},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "cdn.example.com.", "Type": "A",
         "AliasTarget": {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": "d1.cloudfront.net.",
                         "EvaluateTargetHealth": False}}}]})  # fmt: skip
    zone = await route53.find_zone(name("x"))
    listed = {(r.name.to_text(), r.rdtype): r for r in await route53.list_rrsets(zone)}
    assert {r.to_text() for r in listed[("*.example.com.", 16)]} == {'"wild"'}
    assert not any(n == "cdn.example.com." for n, _ in listed)
