"""Knot DNS (``knotd`` from Debian's knot) on 127.0.0.1, configured from a temporary directory.

Knot 3.2 knows only the six full-length HMACs, so the keys named for the truncated algorithms
are configured with their base algorithm. Its ``database`` storage directory must exist, or
every update fails with SERVFAIL.
"""

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
    zone_file_text,
)


def knot_conf(
    workdir: Path,
    port: int,
    keys: list[TsigKeySpec],
    readonly: TsigKeySpec,
    update_only: TsigKeySpec,
) -> str:
    key_items = "\n".join(
        f"  - id: {k.name}\n    algorithm: {k.server_algorithm}\n    secret: {k.secret}"
        for k in [*keys, readonly, update_only]
    )
    writers = ", ".join(k.name for k in keys)
    zones = "\n".join(
        f"  - domain: {zone}\n    acl: [writers, readers, updaters]" for zone in (ZONE, CHILD_ZONE)
    )
    return f"""
server:
    rundir: "{workdir}"
    listen: {HOST}@{port}
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1

log:
  - target: stderr
    any: info

database:
    storage: "{workdir}/db"

key:
{key_items}

acl:
  - id: writers
    key: [{writers}]
    action: [update, transfer]
  - id: readers
    key: [{readonly.name}]
    action: [transfer]
  - id: updaters
    key: [{update_only.name}]
    action: [update]

template:
  - id: default
    storage: "{workdir}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
    semantic-checks: off

zone:
{zones}
"""


def start_knot() -> RunningServer:
    """Start ``knotd`` with :data:`ZONE` and :data:`CHILD_ZONE` and a key per algorithm."""
    knotd = find_program("knotd")
    tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-knot-")
    workdir = Path(tempdir.name)
    (workdir / "db").mkdir()
    port = free_port()
    keys = make_keys(full_length_only=True)
    readonly = make_key("hmac-sha256", prefix="readonly")
    update_only = make_key("hmac-sha256", prefix="update-only")
    for zone in (ZONE, CHILD_ZONE):
        (workdir / f"{zone}zone").write_text(zone_file_text(zone))
    conf = workdir / "knot.conf"
    conf.write_text(knot_conf(workdir, port, list(keys.values()), readonly, update_only))
    command = [knotd, "-c", str(conf)]
    return launch(
        "knot",
        command,
        tempdir=tempdir,
        port=port,
        keys=keys,
        readonly_key=readonly,
        update_only_key=update_only,
    )
