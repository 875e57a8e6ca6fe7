"""A separate process that tells the moment a nameserver starts serving a TXT value.

``python -m bench._watch`` reads one JSON request per line on stdin,
``{"host": ..., "port": ..., "name": ..., "value": ..., "limit": seconds}``, and asks that
server for ``name``/TXT every half millisecond. When the first probe finds the value missing
it says so at once, ``{"watching": true}``, so that the parent makes the change only once it
is watched. Then it answers ``{"served_at": T, "probes": N}``: T is the ``time.monotonic()``
at which the first query answered with ``value`` was sent (the system-wide monotonic clock,
comparable with the parent's), or null when ``limit`` passed first. Being its own process, it
takes nothing from the measured process's event loop.
"""

from __future__ import annotations

import json
import sys
import time

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

PERIOD = 0.0005


def served(host: str, port: int, name: str, value: str) -> bool:
    query = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
    query.flags = 0
    try:
        response = dns.query.udp(query, host, timeout=0.2, port=port)
    except (OSError, dns.exception.DNSException):
        return False
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            texts = {b"".join(r.strings).decode() for r in rrset}
            if value in texts:
                return True
    return False


def watch(host: str, port: int, name: str, value: str, limit: float) -> dict[str, object]:
    give_up = time.monotonic() + limit
    probes = 0
    while time.monotonic() < give_up:
        sent = time.monotonic()
        probes += 1
        if served(host, port, name, value):
            return {"served_at": sent, "probes": probes}
        if probes == 1:
            print(json.dumps({"watching": True}), flush=True)
        time.sleep(PERIOD)
    return {"served_at": None, "probes": probes}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        answer = watch(
            request["host"],
            int(request["port"]),
            request["name"],
            request["value"],
            float(request.get("limit", 10)),
        )
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
