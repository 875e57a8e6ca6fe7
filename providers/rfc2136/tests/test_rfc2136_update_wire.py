"""An UPDATE is rendered by wire.update_wire: the bytes dnspython's renderer writes (the
records of each RRset in their own order), with its compression, its size limit and its
refusal of relative names."""

from __future__ import annotations

import random

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.update
import pytest
from dnsauto_rfc2136.provider import _update_message
from dnsauto_rfc2136.wire import update_wire

from dnsauto.plugin import Create, Delete, Update
from dnsauto.testing import make_rrset

ZONE = dns.name.from_text("Example.TEST.")


def at(name: str) -> dns.name.Name:
    return dns.name.from_text(name, ZONE)


def mail_changes() -> list[Create | Update | Delete]:
    """A publish's creates, a re-sync's updates and deletes: every record type dnsauto writes,
    names in mixed case, and names that compress into each other and into record data."""
    return [
        Create(make_rrset(ZONE, "MX", 3600, "10 mail.example.test.", "20 MX2.Example.Test.")),
        Create(make_rrset(ZONE, "TXT", 3600, '"v=spf1 mx -all"')),
        Create(make_rrset(at("_dmarc"), "TXT", 3600, '"v=DMARC1; p=reject"')),
        Create(make_rrset(at("s1._domainkey"), "TXT", 3600, f'"{"k" * 255}" "{"p" * 100}"')),
        Create(make_rrset(at("mta-sts"), "CNAME", 3600, "mail.example.test.")),
        Create(make_rrset(at("_imaps._tcp"), "SRV", 3600, "0 1 993 mail.example.test.")),
        Create(make_rrset(at("_submissions._TCP"), "SRV", 3600, "0 1 465 mail.example.test.")),
        Create(make_rrset(ZONE, "CAA", 3600, '0 issue "letsencrypt.org"', '0 iodef "x@y.z"')),
        Create(make_rrset(at("_25._tcp.mail"), "TLSA", 3600, "3 1 1 " + "ab" * 32)),
        Create(make_rrset(at("mail"), "A", 3600, "192.0.2.1")),
        Create(make_rrset(at("mail"), "AAAA", 3600, "2001:db8::1")),
        Create(make_rrset(at("sub"), "NS", 3600, "ns1.sub.example.test.")),
        Create(make_rrset(at("ptr"), "PTR", 3600, "mail.example.test.")),
        Update(
            make_rrset(at("autoconfig"), "CNAME", 300, "old.example.test."),
            make_rrset(at("autoconfig"), "CNAME", 300, "mail.example.test."),
        ),
        Update(
            make_rrset(at("_smtp._tls"), "TXT", 300, '"v=TLSRPTv1; rua=mailto:a@b.c"'),
            make_rrset(at("_smtp._tls"), "TXT", 600, '"v=TLSRPTv1; rua=mailto:d@e.f"'),
        ),
        Delete(make_rrset(at("gone"), "TXT", 300, '"a"', '"b"')),
        Delete(make_rrset(at("_old._tcp"), "SRV", 300, "0 1 143 mail.example.test.")),
    ]


@pytest.fixture
def unshuffled(monkeypatch: pytest.MonkeyPatch) -> None:
    """dnspython renders an RRset's records in a random order; these tests compare bytes."""
    monkeypatch.setattr(random, "shuffle", lambda items: None)


@pytest.mark.usefixtures("unshuffled")
def test_an_update_is_the_bytes_dnspython_renders() -> None:
    message = _update_message(ZONE, mail_changes())
    assert update_wire(message, 65535) == message.to_wire()


@pytest.mark.usefixtures("unshuffled")
def test_each_kind_of_change_alone_is_the_bytes_dnspython_renders() -> None:
    for change in mail_changes():
        message = _update_message(ZONE, [change])
        assert update_wire(message, 65535) == message.to_wire(), change


def test_an_update_reads_back_as_the_message_it_was_rendered_from() -> None:
    message = _update_message(ZONE, mail_changes())
    wire = update_wire(message, 65535)
    assert wire is not None
    assert dns.message.from_wire(wire) == dns.message.from_wire(message.to_wire())


def test_names_are_compressed_as_dnspython_compresses_them() -> None:
    message = _update_message(ZONE, mail_changes())
    wire = update_wire(message, 65535)
    assert wire is not None
    assert len(wire) == len(message.to_wire())


def test_an_update_longer_than_the_limit_is_none() -> None:
    message = _update_message(ZONE, mail_changes())
    size = len(message.to_wire())
    assert update_wire(message, size) is not None
    assert update_wire(message, size - 1) is None


@pytest.mark.usefixtures("unshuffled")
def test_a_relative_name_is_made_absolute_with_the_zone_as_dnspython_makes_it() -> None:
    message = dns.update.UpdateMessage(ZONE)
    relative = dns.name.from_text("www", None)
    message.update.append(make_rrset(relative, "MX", 60, "10 mail"))
    message.update.append(make_rrset(relative, "SRV", 60, "0 1 25 mail"))
    assert update_wire(message, 65535) == message.to_wire()


def test_a_relative_name_without_an_origin_is_refused_as_dnspython_refuses_it() -> None:
    message = dns.update.UpdateMessage(ZONE)
    message.origin = None
    message.update.append(make_rrset(dns.name.from_text("www", None), "A", 60, "192.0.2.1"))
    with pytest.raises(dns.name.NeedAbsoluteNameOrOrigin):
        message.to_wire()
    with pytest.raises(dns.name.NeedAbsoluteNameOrOrigin):
        update_wire(message, 65535)


def test_a_signed_message_is_left_to_dnspython() -> None:
    message = _update_message(ZONE, mail_changes()[:2])
    message.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0"}), "k.")
    wire = update_wire(message, 65535)
    assert wire is not None
    assert dns.message.from_wire(wire, keyring=False).had_tsig


def test_a_later_name_past_16_kib_is_written_whole() -> None:
    changes = [Create(make_rrset(at(f"n{i}"), "TXT", 60, f'"{"z" * 250}"')) for i in range(80)]
    message = _update_message(ZONE, changes)
    wire = update_wire(message, 65535)
    assert wire is not None
    assert dns.message.from_wire(wire) == dns.message.from_wire(message.to_wire())
    assert len(wire) == len(message.to_wire())
