"""BIND 9 (``named`` from Debian's bind9) on 127.0.0.1, configured from a temporary directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dnsauto.testing.servers._common import (
    CHILD_ZONE,
    HOST,
    ZONE,
    RunningServer,
    TsigKeySpec,
    find_program,
    free_port,
    launch,
    make_key,
    make_keys,
    soa_answered,
    zone_file_text,
)


def _key_clause(key: TsigKeySpec) -> str:
    return f'key "{key.bare_name}" {{ algorithm {key.server_algorithm}; secret "{key.secret}"; }};'


def named_conf(
    workdir: Path,
    port: int,
    keys: list[TsigKeySpec],
    readonly: TsigKeySpec,
    update_only: TsigKeySpec,
    *,
    signed: bool = False,
) -> str:
    grants = " ".join(f'grant "{k.bare_name}" zonesub ANY;' for k in [*keys, update_only])
    transfer = " ".join(f'key "{k.bare_name}";' for k in [*keys, readonly])
    # BIND signs a dynamic zone in place: every name gets RRSIGs, the apex DNSKEY and NSEC.
    policy = "dnssec-policy default; " if signed else ""
    zones = "\n".join(
        f'zone "{zone.rstrip(".")}" {{ type primary; file "{zone}db"; {policy}'
        f"update-policy {{ {grants} }}; allow-transfer {{ {transfer} }}; }};"
        for zone in (ZONE, CHILD_ZONE)
    )
    return f"""
options {{
    directory "{workdir}";
    pid-file "{workdir}/named.pid";
    session-keyfile "{workdir}/session.key";
    managed-keys-directory "{workdir}";
    listen-on port {port} {{ {HOST}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    notify no;
    dnssec-validation no;
    allow-transfer {{ none; }};
    allow-query {{ any; }};
    // The contract suite writes MX and SRV targets that have no address records, which
    // BIND's default integrity check refuses (REFUSED, "has no address records").
    check-integrity no;
}};
controls {{ }};
logging {{
    channel out {{ stderr; severity info; print-time yes; print-category yes; }};
    category default {{ out; }};
    category update {{ out; }};
    category update-security {{ out; }};
    category security {{ out; }};
    category xfer-out {{ out; }};
    category queries {{ out; }};
}};
{chr(10).join(_key_clause(k) for k in [*keys, readonly, update_only])}
{zones}
"""


def start_bind(*, signed: bool = False) -> RunningServer:
    """Start ``named`` with :data:`ZONE` and :data:`CHILD_ZONE` and a key per algorithm;
    ``signed``: both zones signed by BIND's default DNSSEC policy (ready once they are)."""
    named = find_program("named")
    tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-bind-")
    workdir = Path(tempdir.name)
    port = free_port()
    keys = make_keys(full_length_only=False)
    readonly = make_key("hmac-sha256", prefix="readonly")
    update_only = make_key("hmac-sha256", prefix="update-only")
    for zone in (ZONE, CHILD_ZONE):
        (workdir / f"{zone}db").write_text(zone_file_text(zone))
    conf = workdir / "named.conf"
    conf.write_text(
        named_conf(workdir, port, list(keys.values()), readonly, update_only, signed=signed)
    )
    command = [named, "-g", "-4", "-n", "2", "-c", str(conf)]
    ready = (
        (lambda: all(soa_answered(HOST, port, z, signed=True) for z in (ZONE, CHILD_ZONE)))
        if signed
        else None
    )
    return launch(
        "bind",
        command,
        tempdir=tempdir,
        port=port,
        keys=keys,
        readonly_key=readonly,
        update_only_key=update_only,
        ready=ready,
    )
