"""Zone-file text for RRsets: the fragment a person pastes into their DNS host."""

from __future__ import annotations

from collections.abc import Iterable

import dns.rrset

__all__ = ["to_zone_text"]


def to_zone_text(rrsets: Iterable[dns.rrset.RRset], *, comment: bool = False) -> str:
    """Render RRsets as BIND zone-file lines with absolute names, one record a line."""
    lines: list[str] = []
    for rrset in rrsets:
        for rdata in sorted(rrset, key=lambda r: r.to_text()):
            line = f"{rrset.name.to_text()} {rrset.ttl} IN {rrset.rdtype.name} {rdata.to_text()}"
            lines.append(f"; {line}" if comment else line)
    return "\n".join(lines)
