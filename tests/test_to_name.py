"""``to_name`` makes the absolute name dnspython's ``from_text`` makes, and refuses what it
refuses, whichever way it builds it (plain ASCII labels are split at the dots)."""

from __future__ import annotations

import dns.exception
import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnsauto.plugin.names import to_name


def from_text(text: str) -> dns.name.Name | type[Exception]:
    try:
        return dns.name.from_text(text.rstrip(".") + ".")
    except dns.exception.DNSException as exc:
        return type(exc)


def made(text: str) -> dns.name.Name | type[Exception]:
    try:
        return to_name(text)
    except dns.exception.DNSException as exc:
        return type(exc)


@pytest.mark.parametrize(
    "text",
    [
        "example.test",
        "_dmarc.Example.TEST.",
        "default._domainkey.d00042.bench-zone.test.",
        "_25._tcp.mx.example.test",
        "*.example.test",
        "a b.example.test",
        "@",
        ".",
        "a..example.test",
        "..",
        "a" * 63 + ".test",
        "a" * 64 + ".test",
        ".".join(["a" * 63] * 4),
        "münchen.example",
        "xn--mnchen-3ya.example",
        r"a\.b.example.test",
        r"\065bc.example.test",
    ],
)
def test_a_name_is_the_one_from_text_makes(text: str) -> None:
    assert made(text) == from_text(text)


def test_a_plain_name_keeps_its_case_as_from_text_does() -> None:
    assert to_name("_DMARC.Example.test").labels == (b"_DMARC", b"Example", b"test", b"")


@given(st.text(alphabet=st.sampled_from("aZ09-_.*\\ @"), max_size=80))
def test_any_ascii_text_is_the_name_from_text_makes_or_the_same_refusal(text: str) -> None:
    assert made(text) == from_text(text)
