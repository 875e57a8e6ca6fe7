"""``check_hostname`` gives a name of plain letters, digits and hyphens the canonical form
IDNA gives it, and refuses what IDNA refuses, though it checks such a name without IDNA."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnsauto.plugin.names import _idna_hostname, check_hostname


def checked(text: str) -> str | type[Exception]:
    try:
        return check_hostname.__wrapped__(text)
    except ValueError as exc:
        return type(exc)


def by_idna(text: str) -> str | type[Exception]:
    try:
        if not text.strip().rstrip("."):
            raise ValueError("must be a domain name")
        return _idna_hostname(text, text.strip())
    except ValueError as exc:
        return type(exc)


@pytest.mark.parametrize(
    "text",
    [
        "example.test",
        "Mail.Example.TEST.",
        " z5.bench.test ",
        "xn--bcher-kva.example",
        "xn--abc.example",
        "ab--cd.example",
        "a--b.example",
        "-a.example",
        "a-.example",
        "a..example",
        "example",
        "example.test..",
        "1.2",
        "_dmarc.example.test",
        "a" * 63 + ".test",
        "a" * 64 + ".test",
        ".".join(["a" * 63] * 3 + ["a" * 61]),
        ".".join(["a" * 63] * 3 + ["a" * 62]),
    ],
)
def test_plain_names_are_checked_as_idna_checks_them(text: str) -> None:
    assert checked(text) == by_idna(text)


@given(st.text(alphabet="abcXYZ09-._ ", max_size=40))
def test_any_ascii_text_is_checked_as_idna_checks_it(text: str) -> None:
    assert checked(text) == by_idna(text)


@given(st.lists(st.text(alphabet="aZ0-", min_size=1, max_size=66), min_size=2, max_size=5))
def test_long_labels_and_names_are_checked_as_idna_checks_them(labels: list[str]) -> None:
    text = ".".join(labels)
    assert checked(text) == by_idna(text)
