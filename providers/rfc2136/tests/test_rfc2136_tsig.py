"""TSIG: every algorithm against every server, and the wire encoding behind it."""

from __future__ import annotations

import base64
import struct
import time
from dataclasses import replace

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.tsig
import dns.update
import pytest
from dnsauto_rfc2136.tsig import ALGORITHMS, TsigFailure, TsigKey
from rfc2136_testing import tsig_provider

from dnsauto.plugin import Create, Delete
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import ALGORITHMS as SERVER_ALGORITHMS
from dnsauto.testing.servers import TRUNCATED_BASE, ZONE, RunningServer

ZONE_NAME = dns.name.from_text(ZONE)
KEY = TsigKey(dns.name.from_text("k."), b"s" * 32, "hmac-sha256")


def test_every_stalwart_hmac_algorithm_has_an_encoding() -> None:
    assert sorted(ALGORITHMS) == sorted(SERVER_ALGORITHMS)


@pytest.mark.servers
@pytest.mark.parametrize("algorithm", SERVER_ALGORITHMS)
async def test_every_tsig_algorithm_updates_and_transfers_on_every_server(
    dns_server: RunningServer, algorithm: str
) -> None:
    provider = tsig_provider(dns_server, algorithm)
    name = dns.name.from_text(f"alg-{algorithm}", ZONE_NAME)
    rrset = make_rrset(name, "TXT", 300, f'"signed with {algorithm}"')
    zone = await provider.find_zone(name)
    await provider.apply(zone, [Create(rrset)])
    listed = await provider.list_rrsets(zone, [name])
    await provider.apply(zone, [Delete(rrset)])
    assert [r.to_text() for r in listed] == [rrset.to_text()]


@pytest.mark.servers
@pytest.mark.parametrize("algorithm", sorted(TRUNCATED_BASE))
async def test_dnspython_names_for_truncated_algorithms_get_badkey_everywhere(
    dns_server: RunningServer, algorithm: str
) -> None:
    """Why dnsauto does not use dnspython's TSIG for these: no server knows its names."""
    key = dns_server.key(algorithm)
    update = dns.update.UpdateMessage(ZONE)
    update.add("alg-dnspython", 300, "TXT", '"x"')
    update.use_tsig(dns.tsig.Key(key.name, key.secret, algorithm))
    # BIND and Knot answer BADKEY; PowerDNS an unsigned REFUSED, a FormError to dnspython.
    expected = dns.exception.FormError if dns_server.kind == "pdns" else dns.tsig.PeerBadKey
    with pytest.raises(expected):
        await dns.asyncquery.udp(update, dns_server.host, port=dns_server.port, timeout=5)


@pytest.mark.servers
@pytest.mark.parametrize("algorithm", sorted(TRUNCATED_BASE))
async def test_bind_style_short_mac_works_only_with_bind(
    dns_server: RunningServer, algorithm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why dnsauto sends the full MAC: a truncated one is refused by Knot and PowerDNS."""
    spec = ALGORITHMS[algorithm]
    short = replace(spec, sent_mac_size=spec.min_mac_size)
    monkeypatch.setitem(ALGORITHMS, "short-mac", short)
    key_spec = dns_server.key(algorithm)
    key = TsigKey(dns.name.from_text(key_spec.name), base64.b64decode(key_spec.secret), "short-mac")
    update = dns.update.UpdateMessage(ZONE)
    update.add("alg-short", 300, "TXT", '"x"')
    wire, mac = key.sign(update.to_wire(), int(time.time()))
    assert len(mac) == spec.min_mac_size
    provider = tsig_provider(dns_server, algorithm)
    answer = await provider.transport._udp(wire)
    message = dns.message.from_wire(answer, keyring=False)
    check = key.verifier(mac, time.time).check(answer)
    if dns_server.kind == "bind":
        assert (message.rcode(), check.signed) == (dns.rcode.NOERROR, True)
        await provider.apply(
            await provider.find_zone(ZONE_NAME),
            [Delete(make_rrset("alg-short.example.test.", "TXT", 300, '"x"'))],
        )
    elif dns_server.kind == "knot":
        assert check.error == dns.rcode.BADSIG
    else:
        assert (message.rcode(), check.signed) == (dns.rcode.REFUSED, False)


def test_truncated_algorithm_goes_out_under_its_base_name_with_the_full_mac() -> None:
    key = TsigKey(dns.name.from_text("k."), b"s" * 32, "hmac-sha512-256")
    wire, mac = key.sign(dns.update.UpdateMessage(ZONE).to_wire(), 1_700_000_000)
    tsig = dns.message.from_wire(wire, keyring=False).tsig
    assert tsig is not None
    assert tsig[0].algorithm == dns.name.from_text("hmac-sha512.")
    assert len(mac) == len(tsig[0].mac) == 64


def test_hmac_md5_goes_out_under_its_rfc_name() -> None:
    key = TsigKey(dns.name.from_text("k."), b"s" * 16, "hmac-md5")
    wire, _ = key.sign(dns.update.UpdateMessage(ZONE).to_wire(), 1_700_000_000)
    tsig = dns.message.from_wire(wire, keyring=False).tsig
    assert tsig is not None
    assert tsig[0].algorithm == dns.name.from_text("HMAC-MD5.SIG-ALG.REG.INT.")


@pytest.mark.parametrize(
    "algorithm",
    ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"],
)
def test_signature_is_byte_for_byte_dnspythons_for_full_length_algorithms(
    algorithm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns.message.time, "time", lambda: 1_700_000_000.5)
    update = dns.update.UpdateMessage(ZONE, id=4711)
    update.add("same", 300, "TXT", '"bytes"')
    ours, _ = TsigKey(dns.name.from_text("k."), b"s" * 32, algorithm).sign(
        update.to_wire(), 1_700_000_000
    )
    name = "HMAC-MD5.SIG-ALG.REG.INT." if algorithm == "hmac-md5" else algorithm
    update.use_tsig(dns.tsig.Key("k.", b"s" * 32, name))
    assert ours == update.to_wire()


def signed_answer(
    query_mac: bytes,
    *,
    tamper: bool = False,
    skew: int = 0,
    key_name: str = "k.",
    algorithm: str = "hmac-sha256",
) -> bytes:
    """An answer signed the way a server signs it, by dnspython."""
    query = dns.message.make_query(ZONE, "SOA")
    answer = dns.message.make_response(query)
    answer.use_tsig(dns.tsig.Key(key_name, b"s" * 32, algorithm))
    answer.request_mac = query_mac
    original = dns.message.time.time
    dns.message.time.time = lambda: original() + skew  # type: ignore[assignment]
    try:
        wire = answer.to_wire()
    finally:
        dns.message.time.time = original  # type: ignore[assignment]
    if tamper:
        wire = wire[:2] + struct.pack("!H", struct.unpack("!H", wire[2:4])[0] ^ 0x0400) + wire[4:]
    return wire


def check(wire: bytes, request_mac: bytes) -> object:
    return KEY.verifier(request_mac, time.time).check(wire)


def test_answer_signed_with_the_key_verifies() -> None:
    assert check(signed_answer(b"m" * 32), b"m" * 32).signed  # type: ignore[attr-defined]


def test_answer_signed_with_the_key_s_name_in_capitals_verifies() -> None:
    assert check(signed_answer(b"m" * 32, key_name="K."), b"m" * 32).signed  # type: ignore[attr-defined]


def test_answer_signed_with_another_key_name_is_rejected() -> None:
    with pytest.raises(TsigFailure, match="signed with key other"):
        check(signed_answer(b"m" * 32, key_name="other."), b"m" * 32)


def test_answer_signed_with_another_algorithm_is_rejected() -> None:
    with pytest.raises(TsigFailure, match="signed with algorithm hmac-sha512"):
        check(signed_answer(b"m" * 32, algorithm="hmac-sha512"), b"m" * 32)


def test_tampered_answer_is_rejected() -> None:
    with pytest.raises(TsigFailure, match="does not verify"):
        check(signed_answer(b"m" * 32, tamper=True), b"m" * 32)


def test_answer_to_another_request_is_rejected() -> None:
    with pytest.raises(TsigFailure, match="does not verify"):
        check(signed_answer(b"m" * 32), b"n" * 32)


def test_answer_signed_far_from_our_clock_is_rejected() -> None:
    with pytest.raises(TsigFailure, match="from our clock"):
        check(signed_answer(b"m" * 32, skew=-1000), b"m" * 32)


def test_unsigned_successful_answer_to_a_signed_request_is_rejected() -> None:
    answer = dns.message.make_response(dns.message.make_query(ZONE, "SOA")).to_wire()
    with pytest.raises(TsigFailure, match="not signed"):
        check(answer, b"m" * 32)
