"""A batch is one UPDATE; past 64 KiB it is split, and a failure says which part failed."""

from __future__ import annotations

import dns.name
import pytest
from dnsauto_rfc2136.provider import _updates
from dnsauto_rfc2136.transport import MAX_MESSAGE_SIZE
from rfc2136_testing import tsig_provider

from dnsauto.plugin import ConflictError, Create, Delete, ProviderError, Zone
from dnsauto.testing import make_rrset
from dnsauto.testing.servers import ZONE, RunningServer

ZONE_NAME = dns.name.from_text(ZONE)


def big_creates(prefix: str, count: int) -> list[Create]:
    return [
        Create(
            make_rrset(dns.name.from_text(f"{prefix}-{i}", ZONE_NAME), "TXT", 300, f'"{"z" * 250}"')
        )
        for i in range(count)
    ]


def test_small_batch_is_one_message() -> None:
    changes = big_creates("one", 100)
    assert [part for _, part in _updates(ZONE_NAME, changes)] == [changes]


def test_batch_past_64_kib_is_split_in_order_into_messages_that_fit() -> None:
    changes = big_creates("split", 500)
    messages = _updates(ZONE_NAME, changes)
    assert len(messages) == 3
    assert [c for _, part in messages for c in part] == changes
    assert all(len(message.to_wire()) <= MAX_MESSAGE_SIZE - 1024 for message, _ in messages)


@pytest.mark.servers
async def test_failure_of_a_later_part_says_which_part_and_what_was_applied(
    bind_server: RunningServer,
) -> None:
    provider = tsig_provider(bind_server)
    zone = Zone(ZONE_NAME)
    changes = big_creates("parts", 400)
    taken = changes[-1].new
    await provider.apply(zone, [Create(taken)])
    try:
        with pytest.raises(ConflictError) as caught:
            await provider.apply(zone, changes)
        parts = len(_updates(ZONE_NAME, changes))
        assert parts > 1
        assert f"UPDATE {parts} of {parts}" in str(caught.value)
        assert f"UPDATEs 1-{parts - 1} were applied" in str(caught.value)
        listed = {r.name for r in await provider.list_rrsets(zone)}
        first_part = [c for c in changes if c.name in listed]
        assert changes[0] in first_part
        assert len(first_part) < len(changes)
    finally:
        listed = {r.name for r in await provider.list_rrsets(zone)}
        await provider.apply(zone, [Delete(c.new) for c in changes if c.name in listed])


def test_a_change_larger_than_any_update_is_refused_naming_it() -> None:
    values = [f'"{i:03d}{"z" * 250}"' for i in range(300)]  # 300 records of 254 bytes
    huge = Create(make_rrset(dns.name.from_text("huge", ZONE_NAME), "TXT", 300, *values))
    with pytest.raises(ProviderError, match="more than an UPDATE message can carry") as caught:
        _updates(ZONE_NAME, [*big_creates("before", 3), huge])
    assert "huge.example.test." in str(caught.value)
