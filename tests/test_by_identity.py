"""A value made once for each object that many domains of a run share."""

from __future__ import annotations

import dns.rdata

from dnsauto.sync.by_identity import ByIdentity


def test_a_value_is_made_once_for_each_object_again_for_an_equal_other_and_once_forgotten() -> None:
    made: list[str] = []

    def counted(rdata: dns.rdata.Rdata) -> str:
        made.append(rdata.to_text())
        return rdata.to_text()

    value = ByIdentity(counted, kept=2)
    shared = dns.rdata.from_text("IN", "MX", "10 mail.example.test.")
    equal = dns.rdata.from_text("IN", "MX", "10 mail.example.test.")
    assert [value(shared), value(shared), value(equal)] == ["10 mail.example.test."] * 3
    assert len(made) == 2  # the equal one is another object: made again
    for other in (dns.rdata.from_text("IN", "MX", f"{n} x.test.") for n in range(3)):
        value(other)
    assert value(shared) == "10 mail.example.test."  # forgotten past `kept`, made again
    assert len(made) == 6
