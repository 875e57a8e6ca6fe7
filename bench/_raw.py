"""The raw client: the bulk benchmark's floor, a minimal dnspython loop with no planning at all.

``python -m bench._raw INPUT.json`` reads ``{"host", "port", "key_name", "secret", "algorithm",
"zones": {zone: [{"name", "type", "ttl", "values"}, ...]}}`` and sends, zone after zone, one
TSIG-signed UPDATE per zone with every RRset: the same message dnsauto's RFC 2136 provider
sends when it creates them (for each RRset the prerequisite "does not exist", then the add),
over TCP, as dnsauto does for a message this size. It reads nothing first, keeps no journal
and checks nothing but the answer's rcode. Exit 1 when an UPDATE is not answered NOERROR.
"""

from __future__ import annotations

import json
import sys

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.update


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        work = json.load(file)
    keyring = dns.tsigkeyring.from_text({work["key_name"]: work["secret"]})
    algorithm = dns.name.from_text(work["algorithm"])
    host, port = work["host"], int(work["port"])
    failed = 0
    for zone, records in work["zones"].items():
        update = dns.update.UpdateMessage(zone, keyring=keyring, keyalgorithm=algorithm)
        for record in records:
            name = dns.name.from_text(record["name"])
            rdtype = dns.rdatatype.from_text(record["type"])
            rrset = dns.rrset.from_text_list(
                name, record["ttl"], dns.rdataclass.IN, rdtype, record["values"]
            )
            update.absent(name, rdtype)
            update.add(name, rrset)
        answer = dns.query.tcp(update, host, port=port, timeout=30)
        if answer.rcode() != dns.rcode.NOERROR:
            print(f"{zone}: {dns.rcode.to_text(answer.rcode())}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
