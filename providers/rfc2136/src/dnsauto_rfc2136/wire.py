"""Walking a DNS message's records without parsing them.

dnspython builds an object per name, record and RRset it reads. An authoritative server's
answer to an SOA or record query carries, besides the answer, the zone's NS set in the
authority section and their addresses in the additional section: most of the message, and
nothing the provider reads. :func:`slim` leaves them out before the message is parsed
(measured here: an SOA query found 0.8 ms of CPU, nearly half of it parsing those sections).

The answer a re-sync asks for most, the SOA at a zone's apex, is not parsed at all:
:func:`apex_serial` reads its serial from the wire (0.23 ms of dnspython per answer), and
:func:`rcode` and :func:`last_tsig` read what the TSIG check needs. Any other answer is left
to dnspython.

A zone transfer's answers are read by :func:`answer_records`: the owner names as label
tuples, the record data parsed by dnspython (0.5 ms a message of three records through
``dns.message.from_wire``, most of it names made and hashed). An UPDATE is rendered by
:func:`update_wire`: the bytes dnspython's renderer writes, with
names compressed by their lower-case labels (dnspython makes and hashes a ``Name`` for every
suffix of every owner name, one character at a time: a sixth of a publishing sync's CPU).
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.IN.SRV
import dns.rrset
import dns.update
import dns.wire

__all__ = [
    "AnswerRecord",
    "RecordSpan",
    "TsigRecord",
    "answer_records",
    "apex_serial",
    "last_tsig",
    "query_wire",
    "rcode",
    "read_tsig",
    "records",
    "slim",
    "update_wire",
]

_HEADER = struct.Struct("!HHHHHH")
_SOA, _OPT, _TSIG = 6, 41, 250
_IN = 1
_AA, _TC = 0x0400, 0x0200
_SOA_FIXED = 20
"""The five 32-bit fields after an SOA's two names."""
_SOA_IN = struct.pack("!HH", _SOA, _IN)
"""A question's type and class, SOA and IN."""


@dataclass(frozen=True)
class RecordSpan:
    """Where one record lies in a message."""

    start: int
    rdtype: int
    rdata: int
    """Where its rdata starts."""
    end: int
    pointer: int
    """The target of the compression pointer ending its owner name, or -1."""


def _skip_name(wire: bytes, offset: int) -> tuple[int, int]:
    """The offset after the name at ``offset``, and the target of the pointer ending it (-1
    without one)."""
    while True:
        length = wire[offset]
        if length >= 0xC0:
            return offset + 2, ((length & 0x3F) << 8) | wire[offset + 1]
        if length > 63:
            raise ValueError("a bad label")
        offset += length + 1
        if length == 0:
            return offset, -1


def records(wire: bytes) -> tuple[int, list[RecordSpan], tuple[int, int, int]]:
    """Where the question section ends, every record (answer, authority, additional in
    order), and the three sections' counts. Raises ValueError for a message that ends early
    or has a bad label."""
    try:
        _, _, questions, answers, authorities, additionals = _HEADER.unpack_from(wire)
        offset = 12
        for _ in range(questions):
            offset = _skip_name(wire, offset)[0] + 4
        question_end = offset
        spans = []
        for _ in range(answers + authorities + additionals):
            start = offset
            offset, pointer = _skip_name(wire, offset)
            rdtype, rdlength = struct.unpack_from("!H6xH", wire, offset)
            rdata = offset + 10
            offset = rdata + rdlength
            spans.append(RecordSpan(start, rdtype, rdata, offset, pointer))
    except (IndexError, struct.error):
        raise ValueError("the message ends early") from None
    if offset > len(wire):
        raise ValueError("the message ends early")
    return question_end, spans, (answers, authorities, additionals)


def slim(wire: bytes) -> bytes:
    """``wire`` without what the provider never reads: its authority section when the answer
    section is not empty, and every additional record but OPT (the extended rcode) and TSIG
    (checked over the whole ``wire``, by the signer's checker). An answer without answer
    records keeps its authority: the SOA there names the enclosing zone.

    The message is returned unchanged when it cannot be walked (dnspython then says why) or
    when a kept record's name points into what is left out.
    """
    try:
        _, spans, (answers, authorities, _) = records(wire)
    except ValueError:
        return wire
    kept_sections = answers + (0 if answers else authorities)
    if kept_sections == len(spans):
        return wire
    cut = spans[kept_sections].start
    kept = [s for s in spans[answers + authorities :] if s.rdtype in (_OPT, _TSIG)]
    for span in kept:
        if span.pointer >= cut or (span.rdtype == _TSIG and _points_past(wire, span.rdata, cut)):
            return wire
    header = wire[:6] + struct.pack("!HHH", answers, authorities if not answers else 0, len(kept))
    return header + wire[12:cut] + b"".join(wire[s.start : s.end] for s in kept)


def _points_past(wire: bytes, offset: int, cut: int) -> bool:
    """Whether the name at ``offset`` (a TSIG's algorithm) ends in a pointer at or past
    ``cut``."""
    try:
        return _skip_name(wire, offset)[1] >= cut
    except (IndexError, ValueError):
        return True


def query_wire(name: dns.name.Name, rdtype: int, payload: int | None) -> bytes:
    """A question for ``name``'s ``rdtype`` records, as dnspython's ``make_query(name, rdtype,
    use_edns=0, payload=payload)`` renders it without RD (recursion is not asked of an
    authoritative server), with a random id: the bytes without the Message (70 us).
    ``payload`` None: without EDNS (a zone transfer's question, over TCP)."""
    header = _HEADER.pack(secrets.randbits(16), 0, 1, 0, 0, 0 if payload is None else 1)
    question = name.to_wire() + struct.pack("!HH", rdtype, _IN)  # type: ignore[operator]
    if payload is None:
        return header + question
    return header + question + struct.pack("!BHHIH", 0, _OPT, payload, 0, 0)


def rcode(wire: bytes, spans: list[RecordSpan] | None = None) -> int:
    """The message's rcode: the header's four bits and the OPT record's extended ones."""
    spans = records(wire)[1] if spans is None else spans
    value = wire[3] & 0x0F
    for span in spans:
        if span.rdtype == _OPT:
            value |= wire[span.rdata - 6] << 4  # the TTL's first byte
    return value


def last_tsig(wire: bytes) -> RecordSpan | None:
    """The message's TSIG record: the last one, in the additional section (None without a
    TSIG). ValueError when a TSIG stands anywhere else (RFC 8945 5.2: a format error)."""
    _, spans, (answers, authorities, _) = records(wire)
    for index, span in enumerate(spans):
        if span.rdtype == _TSIG and (index != len(spans) - 1 or index < answers + authorities):
            raise ValueError("a TSIG record that is not the message's last")
    if spans and spans[-1].rdtype == _TSIG:
        return spans[-1]
    return None


@dataclass(frozen=True)
class TsigRecord:
    """A message's TSIG record (RFC 8945 section 4.2), read from the wire."""

    start: int
    """Where the record starts: the message before it is what its MAC covers."""
    owner: _Labels
    """The key name's labels, as on the wire."""
    algorithm: _Labels
    time_signed: int
    fudge: int
    mac: bytes
    original_id: int
    error: int
    other: bytes


def read_tsig(wire: bytes) -> TsigRecord | None:
    """The message's TSIG (None without one), read without dnspython (its rdata parser and
    names were most of checking an answer's signature). ValueError for a TSIG that is not the
    message's last record (:func:`last_tsig`) or whose data is not as long as it says."""
    span = last_tsig(wire)
    if span is None:
        return None
    try:
        owner = _read_name(wire, span.start)
        algorithm = _read_name(wire, span.rdata)
        offset = _skip_name(wire, span.rdata)[0]
        high, low, fudge, size = struct.unpack_from("!HIHH", wire, offset)
        mac = wire[offset + 10 : offset + 10 + size]
        offset += 10 + size
        original_id, error, other_size = struct.unpack_from("!HHH", wire, offset)
        other = wire[offset + 6 : offset + 6 + other_size]
        offset += 6 + other_size
    except (IndexError, struct.error):
        raise ValueError("the TSIG record ends early") from None
    if offset != span.end:
        raise ValueError("the TSIG record's data is not as long as it says")
    return TsigRecord(
        span.start, owner, algorithm, (high << 32) | low, fudge, mac, original_id, error, other
    )


def apex_serial(wire: bytes, qname: bytes) -> int | None:
    """The serial of an authoritative NOERROR answer, not truncated, to the question SOA of
    ``qname`` (its lower-case wire form), whose answer section is that name's SOA and nothing
    else; None for any other message (dnspython reads those)."""
    try:
        _, flags, questions, answers, _, _ = _HEADER.unpack_from(wire)
        if questions != 1 or answers != 1 or flags & _TC or not flags & _AA:
            return None
        end = 12 + len(qname)
        if wire[12:end].lower() != qname or wire[end : end + 4] != _SOA_IN:
            return None
        _, spans, _ = records(wire)
        if rcode(wire, spans) != 0:
            return None
        soa = spans[0]
        if soa.rdtype != _SOA or struct.unpack_from("!H", wire, soa.rdata - 8)[0] != _IN:
            return None
        if not _owner_is(wire, soa.start, qname):
            return None
        fixed = _skip_name(wire, _skip_name(wire, soa.rdata)[0])[0]
        if fixed + _SOA_FIXED != soa.end:
            return None
        return int(struct.unpack_from("!I", wire, fixed)[0])
    except (IndexError, ValueError, struct.error):
        return None


def _owner_is(wire: bytes, offset: int, qname: bytes) -> bool:
    """Whether the name at ``offset`` is the question's: a pointer to it, or the same labels."""
    if wire[offset] >= 0xC0:
        return wire[offset : offset + 2] == b"\xc0\x0c"
    return wire[offset : offset + len(qname)].lower() == qname


# --- rendering an UPDATE --------------------------------------------------------------------

_Labels = tuple[bytes, ...]
_Table = dict[_Labels, int]
"""Where each name suffix (lower-case labels, the root's empty label last) was first written."""
_MAX_POINTER = 0x3FFF


def update_wire(message: dns.update.UpdateMessage, max_size: int) -> bytes | None:
    """``message`` in wire format, unsigned, or None when it is longer than ``max_size``: the
    bytes of ``message.to_wire(max_size=...)``, each RRset's records in their own order
    (dnspython shuffles them). A message with EDNS, a TSIG or additional records is rendered
    by dnspython."""
    if message.opt is not None or message.tsig is not None or message.additional:
        try:
            return message.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            return None
    out = bytearray(12)
    table: _Table = {}
    origin = message.origin
    for zone in message.zone:
        _put_name(out, _absolute(zone.name, origin), table)
        out += struct.pack("!HH", zone.rdtype, zone.rdclass)
    prerequisites = sum(_put_rrset(out, r, table, origin) for r in message.prerequisite)
    updates = sum(_put_rrset(out, r, table, origin) for r in message.update)
    if len(out) > max_size:
        return None
    _HEADER.pack_into(
        out, 0, message.id, message.flags, len(message.zone), prerequisites, updates, 0
    )
    return bytes(out)


def _absolute(name: dns.name.Name, origin: dns.name.Name | None) -> _Labels:
    """The labels of ``name``, made absolute with ``origin`` as dnspython's renderer does."""
    labels: _Labels = name.labels
    if labels and labels[-1] == b"":
        return labels
    if origin is None:
        raise dns.name.NeedAbsoluteNameOrOrigin
    return name.derelativize(origin).labels


def _put_name(
    out: bytearray, labels: _Labels, table: _Table, lowered: _Labels | None = None
) -> None:
    """Write an absolute name as dnspython's ``Name.to_wire`` does: each suffix of two labels
    or more that was written before becomes a pointer to it (within the first 16 KiB).
    ``lowered``: the labels in lower case, when the caller has them."""
    if lowered is None:
        lowered = tuple(label.lower() for label in labels)
    for index, label in enumerate(labels):
        if label:  # the root alone is never compressed
            suffix = lowered[index:]
            position = table.get(suffix)
            if position is not None:
                out += struct.pack("!H", 0xC000 | position)
                return
            if len(out) <= _MAX_POINTER:
                table[suffix] = len(out)
        out.append(len(label))
        out += label


def _put_rrset(
    out: bytearray, rrset: dns.rrset.RRset, table: _Table, origin: dns.name.Name | None
) -> int:
    """Write ``rrset``'s records (an empty one as one record without data, as a deletion or
    a prerequisite is); the number written."""
    rdclass = rrset.rdclass if rrset.deleting is None else rrset.deleting
    owner = _absolute(rrset.name, origin)
    lowered = tuple(label.lower() for label in owner)
    if not rrset:
        _put_name(out, owner, table, lowered)
        out += struct.pack("!HHIH", rrset.rdtype, rdclass, 0, 0)
        return 1
    fixed = struct.pack("!HHI", rrset.rdtype, rdclass, rrset.ttl)
    for rdata in rrset:
        _put_name(out, owner, table, lowered)
        out += fixed
        start = len(out)
        out += b"\0\0"
        _put_rdata(out, rdata, table, origin)
        struct.pack_into("!H", out, start, len(out) - start - 2)
    return len(rrset)


def _put_rdata(
    out: bytearray, rdata: dns.rdata.Rdata, table: _Table, origin: dns.name.Name | None
) -> None:
    """The record's data; the names of the types dnspython compresses (RFC 3597 section 4:
    those of RFC 1035) compressed as it does them, every other type as its ``to_wire``."""
    kind = type(rdata)
    fields: Any = rdata  # dnspython's record classes do not declare their fields' types
    if kind in _TARGET_ONLY:
        _put_name(out, _absolute(fields.target, origin), table)
    elif kind is dns.rdtypes.ANY.MX.MX:
        out += struct.pack("!H", fields.preference)
        _put_name(out, _absolute(fields.exchange, origin), table)
    elif kind is dns.rdtypes.ANY.SOA.SOA:
        _put_name(out, _absolute(fields.mname, origin), table)
        _put_name(out, _absolute(fields.rname, origin), table)
        out += struct.pack(
            "!IIIII", fields.serial, fields.refresh, fields.retry, fields.expire, fields.minimum
        )
    elif kind is dns.rdtypes.IN.SRV.SRV:  # its target is never compressed (RFC 2782)
        out += struct.pack("!HHH", fields.priority, fields.weight, fields.port)
        for label in _absolute(fields.target, origin):
            out.append(len(label))
            out += label
    else:
        out += rdata.to_wire(None, None, origin) or b""


_TARGET_ONLY = frozenset(
    {dns.rdtypes.ANY.NS.NS, dns.rdtypes.ANY.CNAME.CNAME, dns.rdtypes.ANY.PTR.PTR}
)


# --- reading a zone transfer's answers ------------------------------------------------------


@dataclass(frozen=True)
class AnswerRecord:
    """One record of an answer section."""

    owner: _Labels
    """The owner's labels as on the wire (the root's empty label last)."""
    rdata: dns.rdata.Rdata
    ttl: int


def answer_records(wire: bytes) -> list[AnswerRecord]:
    """The answer section's records, each owner's compression pointers followed and its data
    parsed by dnspython (``dns.rdata.from_wire_parser``). Raises ``dns.exception.FormError``
    for a message that cannot be read: one that ends early, a bad label or pointer, record
    data that is not its type's."""
    try:
        _, spans, (answers, _, _) = records(wire)
        found = []
        for span in spans[:answers]:
            owner = _read_name(wire, span.start)
            rdtype, rdclass, ttl = struct.unpack_from("!HHI", wire, span.rdata - 10)
            parser = dns.wire.Parser(wire, span.rdata)
            with parser.restrict_to(span.end - span.rdata):
                rdata = dns.rdata.from_wire_parser(rdclass, rdtype, parser)
            found.append(AnswerRecord(owner, rdata, ttl))
    except IndexError:
        raise dns.exception.FormError("the message ends early") from None  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise dns.exception.FormError(str(exc)) from None  # type: ignore[no-untyped-call]
    return found


def _read_name(wire: bytes, offset: int) -> _Labels:
    """The labels of the name at ``offset``; each pointer must point before the last."""
    labels: list[bytes] = []
    floor = offset
    while True:
        length = wire[offset]
        if length >= 0xC0:
            target = ((length & 0x3F) << 8) | wire[offset + 1]
            if target >= floor:
                raise ValueError("a compression pointer that does not point back")
            floor = offset = target
        elif length > 63:
            raise ValueError("a bad label")
        elif length == 0:
            labels.append(b"")
            return tuple(labels)
        else:
            labels.append(wire[offset + 1 : offset + 1 + length])
            offset += length + 1
