"""A batch applied in several provider calls says exactly which changes went through."""

from __future__ import annotations

import dns.name
import pytest

from dnsauto.plugin.changes import Create, Delete, Update
from dnsauto.plugin.errors import PartialApplyError, ProviderError, TransientError
from dnsauto.plugin.record_ids import (
    NewRecord,
    RecordCall,
    RecordIds,
    apply_record_by_record,
    indexed_calls,
)
from dnsauto.testing import make_rrset

ZONE = dns.name.from_text("example.com.")


def txt(label: str, *values: str):
    return make_rrset(dns.name.from_text(label, ZONE), "TXT", 300, *values)


class FailingApi:
    """Takes record calls and refuses the one numbered ``fail_at`` (from 0)."""

    def __init__(self, fail_at: int, error: ProviderError) -> None:
        self.fail_at, self.error = fail_at, error
        self.made: list[RecordCall] = []

    async def send(self, call: RecordCall) -> str:
        if len(self.made) == self.fail_at:
            raise self.error
        self.made.append(call)
        return f"id{len(self.made)}"

    async def delete(self, call: RecordCall) -> None:
        await self.send(call)

    def apply(self, changes, ids: RecordIds):
        return apply_record_by_record(
            changes, ids, delete=self.delete, update=self.send, create=self.send
        )


def three_creates():
    return [Create(txt("a", '"1"')), Create(txt("b", '"1"', '"2"')), Create(txt("c", '"1"'))]


async def test_a_failing_record_call_names_the_applied_partly_applied_and_untouched_changes():
    changes = three_creates()
    api = FailingApi(fail_at=2, error=TransientError("HTTP 503", provider="fake"))
    with pytest.raises(PartialApplyError) as caught:
        await api.apply(changes, RecordIds())
    error = caught.value
    assert error.applied == (changes[0],)
    assert error.partly_applied == (changes[1],)
    assert error.not_applied == (changes[2],)
    assert error.transient


async def test_a_partial_failure_keeps_the_cause_and_says_how_much_went_through():
    api = FailingApi(fail_at=1, error=ProviderError("quota exceeded", provider="fake"))
    with pytest.raises(PartialApplyError) as caught:
        await api.apply(three_creates(), RecordIds())
    assert caught.value.message.startswith("quota exceeded (provider fake) (at create b.")
    assert caught.value.message.endswith("(1 of 3 changes applied)")
    assert not caught.value.transient
    assert isinstance(caught.value.__cause__, ProviderError)


async def test_a_failure_before_any_call_went_through_is_the_providers_own_error():
    cause = TransientError("HTTP 503", provider="fake")
    api = FailingApi(fail_at=0, error=cause)
    with pytest.raises(TransientError) as caught:
        await api.apply(three_creates(), RecordIds())
    assert caught.value is cause


async def test_every_delete_is_made_before_any_create_across_the_batch():
    old = txt("a", '"old"')
    ids = RecordIds()
    ids.learn([(old.name, old.rdtype, next(iter(old)), "r1")])
    changes = [Create(txt("b", '"new"')), Delete(old)]
    kinds = [type(call).__name__ for _, call in indexed_calls(changes, ids)]
    assert kinds == ["RecordDelete", "NewRecord"]


async def test_an_update_counts_as_applied_only_when_all_its_calls_went_through():
    old = txt("a", '"1"')
    ids = RecordIds()
    ids.learn([(old.name, old.rdtype, next(iter(old)), "r1")])
    update = Update(old, txt("a", '"1"', '"2"', '"3"'))
    api = FailingApi(fail_at=1, error=ProviderError("refused", provider="fake"))
    with pytest.raises(PartialApplyError) as caught:
        await api.apply([update], ids)
    assert caught.value.partly_applied == (update,)
    assert [type(c) for c in api.made] == [NewRecord]
