"""RRset changes as the fewest per-record calls, for record-id APIs."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import pytest

from dnsauto.plugin.changes import Create, Delete, Update
from dnsauto.plugin.errors import ConflictError, PartialApplyError, TransientError
from dnsauto.plugin.record_ids import RecordIds, apply_record_by_record, record_calls
from dnsauto.testing import make_rrset

NAME = dns.name.from_text("example.com.")


def known(*rrsets_and_ids):
    ids = RecordIds()
    records = []
    for rrset, record_ids in rrsets_and_ids:
        for rdata, record_id in zip(sorted(rrset, key=str), record_ids, strict=True):
            records.append((rrset.name, rrset.rdtype, rdata, record_id))
    ids.learn(records)
    return ids


def test_adding_a_second_mx_creates_only_the_new_record():
    old = make_rrset(NAME, "MX", 300, "10 mx1.example.com.")
    new = make_rrset(NAME, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    calls = record_calls([Update(old, new)], known((old, ["r1"])))
    assert (calls.deletes, calls.updates) == ([], [])
    assert [c.rdata.to_text() for c in calls.creates] == ["20 mx2.example.com."]


def test_deleting_an_rrset_deletes_every_record_by_id():
    old = make_rrset(NAME, "TXT", 300, '"a"', '"b"', '"c"')
    calls = record_calls([Delete(old)], known((old, ["r1", "r2", "r3"])))
    assert sorted(d.id for d in calls.deletes) == ["r1", "r2", "r3"]
    assert len(calls) == 3


def test_a_replaced_value_is_rewritten_in_place():
    old = make_rrset(NAME, "TXT", 300, '"v=spf1 -all"')
    new = make_rrset(NAME, "TXT", 300, '"v=spf1 mx -all"')
    calls = record_calls([Update(old, new)], known((old, ["r1"])))
    assert [(u.id, u.rdata.to_text()) for u in calls.updates] == [("r1", '"v=spf1 mx -all"')]
    assert len(calls) == 1


def test_removed_values_beyond_the_added_ones_are_deleted():
    old = make_rrset(NAME, "TXT", 300, '"a"', '"b"', '"c"')
    new = make_rrset(NAME, "TXT", 300, '"a"', '"d"')
    calls = record_calls([Update(old, new)], known((old, ["ra", "rb", "rc"])))
    assert len(calls.updates) == 1
    assert len(calls.deletes) == 1
    assert {calls.updates[0].id, calls.deletes[0].id} == {"rb", "rc"}


def test_a_ttl_change_rewrites_the_kept_records_with_the_new_ttl():
    old = make_rrset(NAME, "TXT", 300, '"a"')
    new = make_rrset(NAME, "TXT", 3600, '"a"')
    calls = record_calls([Update(old, new)], known((old, ["ra"])))
    assert [(u.id, u.ttl) for u in calls.updates] == [("ra", 3600)]


def test_a_txt_split_differently_is_the_same_value():
    old = make_rrset(NAME, "TXT", 300, '"abc" "def"')
    new = make_rrset(NAME, "TXT", 300, '"abcdef"')
    assert len(record_calls([Update(old, new)], known((old, ["r1"])))) == 0


def test_creating_an_rrset_needs_no_ids():
    new = make_rrset(NAME, "CAA", 300, '0 issue "letsencrypt.org"', '0 iodef "mailto:a@b.c"')
    assert len(record_calls([Create(new)], RecordIds()).creates) == 2


def test_a_value_without_a_known_id_is_a_conflict():
    old = make_rrset(NAME, "TXT", 300, '"a"')
    with pytest.raises(ConflictError):
        record_calls([Delete(old)], RecordIds())


def test_a_new_listing_of_a_name_replaces_what_was_known_there():
    old = make_rrset(NAME, "TXT", 300, '"a"')
    ids = known((old, ["r1"]))
    ids.learn([], names=[NAME])
    assert ids.ids_of(NAME, dns.rdatatype.TXT, next(iter(old))) == []


async def test_running_the_calls_keeps_the_ids_known_for_the_next_change():
    old = make_rrset(NAME, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    new = make_rrset(NAME, "MX", 300, "10 mx1.example.com.", "30 mx3.example.com.")
    ids = known((old, ["r1", "r2"]))
    made: list[str] = []

    async def delete(call):
        made.append(f"delete {call.id}")

    async def write(call):
        made.append(f"write {call.rdata}")
        return "r3"

    await apply_record_by_record([Update(old, new)], ids, delete=delete, update=write, create=write)
    assert made == ["write 30 mx3.example.com."]
    (rdata,) = [r for r in new if r.preference == 30]
    assert ids.ids_of(NAME, dns.rdatatype.MX, rdata) == ["r3"]
    calls = record_calls([Delete(new)], ids)
    assert sorted(d.id for d in calls.deletes) == ["r1", "r3"]


async def test_a_failing_call_names_the_calls_made_and_not_made():
    rrset = make_rrset(NAME, "TXT", 300, '"one"', '"two"', '"three"')
    ids = RecordIds()
    count = 0

    async def create(call):
        nonlocal count
        count += 1
        if count == 2:
            raise TransientError("HTTP 503")
        return f"r{count}"

    async def never(call):
        raise AssertionError("not called")

    change = Create(rrset)
    with pytest.raises(PartialApplyError) as caught:
        await apply_record_by_record([change], ids, delete=never, update=never, create=create)
    assert caught.value.partly_applied == (change,)
    assert caught.value.transient
    assert isinstance(caught.value.cause, TransientError)
    message = caught.value.message
    assert message.startswith("HTTP 503 (at create example.com. TXT")
    assert message.endswith("(0 of 1 changes applied, 1 partly)")
    made, not_made = message.split("not made: ")
    assert made.count("create ") == 2  # the failing one, and the one made before it
    assert not_made.count("create ") == 2  # the failing one, and the one after it


def test_a_listing_is_grouped_into_rrsets_at_the_names_asked_and_every_id_is_learnt():
    mx = make_rrset(NAME, "MX", 300, "10 mx1.example.com.", "20 mx2.example.com.")
    other = make_rrset(dns.name.from_text("www.example.com."), "TXT", 600, '"foreign"')
    listed = [(r.name, r.rdtype, rdata, f"id-{i}", r.ttl)
              for r in (mx, other) for i, rdata in enumerate(r)]  # fmt: skip
    ids = RecordIds()
    (only,) = ids.rrsets_from_listing(listed, [NAME])
    assert only == mx
    assert only.ttl == 300
    assert ids.ids_of(other.name, other.rdtype, next(iter(other))) == ["id-0"]  # learnt too
    assert sorted(r.to_text() for r in ids.rrsets_from_listing(listed)) == sorted(
        r.to_text() for r in (mx, other)
    )
