"""PowerDNS Authoritative (``pdns_server`` with the gsqlite3 backend) on 127.0.0.1.

Traps: ``security-poll-suffix=`` must be empty (the default looks a name up off the machine),
and each zone needs ``TSIG-ALLOW-DNSUPDATE`` metadata, or unsigned updates are accepted.
PowerDNS 4.7 knows only the six full-length HMACs, so keys named for the truncated algorithms
are stored with their base algorithm.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from dnsauto.testing.servers._common import (
    CHILD_ZONE,
    HOST,
    ZONE,
    RunningServer,
    ServerUnavailable,
    TsigKeySpec,
    find_program,
    free_port,
    launch,
    make_key,
    make_keys,
    zone_records,
)

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")


def pdns_conf(workdir: Path, port: int) -> str:
    return f"""
launch=gsqlite3
gsqlite3-database={workdir}/pdns.sqlite3
local-address={HOST}
local-port={port}
socket-dir={workdir}
daemon=no
guardian=no
disable-syslog=yes
log-timestamp=yes
loglevel=6
security-poll-suffix=
dnsupdate=yes
allow-dnsupdate-from=127.0.0.0/8
disable-axfr=no
allow-axfr-ips=127.0.0.0/8
webserver=no
receiver-threads=1
distributor-threads=2
"""


def _database(
    path: Path, keys: list[TsigKeySpec], readonly: TsigKeySpec, update_only: TsigKeySpec
) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA.read_text())
        db.executemany(
            "INSERT INTO tsigkeys (name, algorithm, secret) VALUES (?, ?, ?)",
            [(k.bare_name, k.server_algorithm, k.secret) for k in [*keys, readonly, update_only]],
        )
        for zone in (ZONE, CHILD_ZONE):
            cursor = db.execute(
                "INSERT INTO domains (name, type) VALUES (?, 'NATIVE')", (zone.rstrip("."),)
            )
            zone_id = cursor.lastrowid
            rows = []
            for owner, ttl, rdtype, rdata in zone_records(zone):
                # Records at or below a delegation point in the parent are not authoritative.
                auth = 0 if zone == ZONE and owner.endswith(CHILD_ZONE) else 1
                content = rdata if rdtype == "TXT" else rdata.rstrip(".")
                rows.append((zone_id, owner.rstrip("."), rdtype, content, ttl, auth))
            db.executemany(
                "INSERT INTO records (domain_id, name, type, content, ttl, prio, disabled, auth)"
                " VALUES (?, ?, ?, ?, ?, 0, 0, ?)",
                rows,
            )
            writers = [*keys, update_only]
            metadata = [(zone_id, "TSIG-ALLOW-DNSUPDATE", k.bare_name) for k in writers]
            metadata += [(zone_id, "TSIG-ALLOW-AXFR", k.bare_name) for k in [*keys, readonly]]
            db.executemany(
                "INSERT INTO domainmetadata (domain_id, kind, content) VALUES (?, ?, ?)", metadata
            )


def start_pdns() -> RunningServer:
    """Start ``pdns_server`` with :data:`ZONE` and :data:`CHILD_ZONE` and a key per algorithm."""
    pdns_server = find_program("pdns_server")
    if not SCHEMA.exists():
        raise ServerUnavailable(f"pdns-backend-sqlite3 is not installed ({SCHEMA} missing)")
    tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-pdns-")
    workdir = Path(tempdir.name)
    port = free_port()
    keys = make_keys(full_length_only=True)
    readonly = make_key("hmac-sha256", prefix="readonly")
    update_only = make_key("hmac-sha256", prefix="update-only")
    _database(workdir / "pdns.sqlite3", list(keys.values()), readonly, update_only)
    (workdir / "pdns.conf").write_text(pdns_conf(workdir, port))
    command = [pdns_server, f"--config-dir={workdir}"]
    return launch(
        "pdns",
        command,
        tempdir=tempdir,
        port=port,
        keys=keys,
        readonly_key=readonly,
        update_only_key=update_only,
    )
