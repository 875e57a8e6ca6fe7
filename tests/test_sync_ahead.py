"""The read-ahead of a run of many domains: their zone marks and DKIM keys, a window at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dnsauto.state.store import StateStore, ZoneMark
from dnsauto.sync.ahead import Ahead
from dnsauto.sync.engine import DomainResult
from tests.sqlite_trace import is_select, traced_statements

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DOMAINS = [f"d{n}.test" for n in range(5)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path) as opened:
        for domain in DOMAINS:
            mark = ZoneMark(domain, f"{domain}.", "7", "digest", NOW)
            opened.save_result("run", DomainResult(domain, "m", zone=domain), zone_mark=mark)
        yield opened


@pytest.fixture
def selects(store: StateStore) -> Iterator[list[str]]:
    with traced_statements(store, is_select) as seen:
        yield seen


def test_the_first_domain_of_a_window_reads_the_whole_window_in_one_query_each(
    store: StateStore, selects: list[str]
) -> None:
    ahead = Ahead(store, DOMAINS, window=2)
    first = ahead.known("d0.test")
    assert first is not None
    assert first.mark is not None
    assert first.mark.marker == "7"
    assert len(selects) == 2, "one query for the marks, one for the keys"
    second = ahead.known("d1.test")
    assert second is not None
    assert second.mark is not None
    assert len(selects) == 2, "the second domain of the window was read with the first"
    assert ahead.known("d2.test") is not None
    assert len(selects) == 4


def test_a_domain_out_of_the_next_window_or_asked_twice_reads_for_itself(
    store: StateStore,
) -> None:
    ahead = Ahead(store, DOMAINS, window=2)
    assert ahead.known("d4.test") is None, "beyond the next window"
    assert ahead.known("d0.test") is not None
    assert ahead.known("d0.test") is None, "handed out once"


def test_a_domain_without_keys_or_mark_is_known_to_have_none(store: StateStore) -> None:
    ahead = Ahead(store, ["new.test", *DOMAINS], window=3)
    known = ahead.known("new.test")
    assert known is not None
    assert (known.mark, known.keys) == (None, [])
