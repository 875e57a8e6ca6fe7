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
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

import dns.name

__all__ = ["RecordSpan", "apex_serial", "last_tsig", "query_wire", "rcode", "records", "slim"]

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


def query_wire(name: dns.name.Name, rdtype: int, payload: int) -> bytes:
    """A question for ``name``'s ``rdtype`` records, as dnspython's ``make_query(name, rdtype,
    use_edns=0, payload=payload)`` renders it without RD (recursion is not asked of an
    authoritative server), with a random id: the bytes without the Message (70 us)."""
    header = _HEADER.pack(secrets.randbits(16), 0, 1, 0, 0, 1)
    opt = struct.pack("!BHHIH", 0, _OPT, payload, 0, 0)
    return header + name.to_wire() + struct.pack("!HH", rdtype, _IN) + opt  # type: ignore[operator]


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
