"""A BIND of its own for the bulk benchmark: N empty zones ``z{i}.bench.test.``, one TSIG key.

The key may update and transfer every zone. Each zone starts with only its SOA and an NS
record pointing outside the zones (``ns.bench.test.``), so there is no glue that a peer which
owns whole zones (octoDNS) would want to delete. BIND's statistics channel (JSON) counts what
the server received, so the benchmark counts messages, queries, transfers and updates without
a proxy in the path. :meth:`ZoneServer.reset` stops BIND, puts every zone back to empty (zone
files rewritten, journals removed) and starts it again on the same ports.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from dnsauto.testing.servers._common import (
    HOST,
    RunningServer,
    TsigKeySpec,
    find_program,
    free_port,
    launch,
)

__all__ = ["KEY_NAME", "Counters", "ZoneServer", "zone_names"]

KEY_NAME = "bench-key."
PARENT = "bench.test."
SOA = f"ns.{PARENT} hostmaster.{PARENT} 1 3600 600 86400 300"


def zone_names(count: int) -> list[str]:
    """``z0.bench.test.`` ... ``z{count-1}.bench.test.``."""
    return [f"z{i}.{PARENT}" for i in range(count)]


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Counters:
    """What BIND received, from its statistics channel (cumulative since it started)."""

    requests: int
    """DNS messages received, UDP and TCP (``Requestv4`` + ``Requestv6``)."""
    updates: int
    """UPDATE messages received (opcode UPDATE)."""
    updates_done: int
    """UPDATEs that changed a zone (``UpdateDone``)."""
    queries: int
    """Messages with opcode QUERY (questions, SOA lookups and zone transfers)."""
    transfers: int
    """AXFR and IXFR requests."""
    by_qtype: dict[str, int] = field(default_factory=dict)

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            requests=self.requests - other.requests,
            updates=self.updates - other.updates,
            updates_done=self.updates_done - other.updates_done,
            queries=self.queries - other.queries,
            transfers=self.transfers - other.transfers,
            by_qtype={
                k: v - other.by_qtype.get(k, 0)
                for k, v in self.by_qtype.items()
                if v != other.by_qtype.get(k, 0)
            },
        )


@dataclass
class ZoneServer:
    """``named`` with ``count`` empty zones on 127.0.0.1 (call :meth:`start`, then :meth:`stop`)."""

    count: int
    ready_timeout: float = 120.0
    threads: int = 2
    key: TsigKeySpec = field(
        default_factory=lambda: TsigKeySpec(
            name=KEY_NAME,
            algorithm="hmac-sha256",
            server_algorithm="hmac-sha256",
            secret=base64.b64encode(os.urandom(32)).decode(),
        )
    )
    host: str = HOST
    port: int = 0
    stats_port: int = 0
    startup_seconds: float = 0.0
    _tempdir: tempfile.TemporaryDirectory[str] | None = None
    _running: RunningServer | None = None

    @property
    def zones(self) -> list[str]:
        return zone_names(self.count)

    @property
    def workdir(self) -> Path:
        assert self._tempdir is not None
        return Path(self._tempdir.name)

    def start(self) -> None:
        named = find_program("named")
        if self._tempdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-bench-bind-")
            self.port = free_port()
            self.stats_port = _free_tcp_port()
            (self.workdir / "zones").mkdir()
            (self.workdir / "named.conf").write_text(self._named_conf())
        self._write_zone_files()
        conf = self.workdir / "named.conf"
        # launch() removes its temporary directory on stop; ours outlives restarts, so it
        # gets one of its own (it holds only the log).
        holder = tempfile.TemporaryDirectory(prefix="dnsauto-bench-bind-log-")
        command = [named, "-g", "-4", "-n", str(self.threads), "-c", str(conf)]
        self._running = launch(
            "bind",
            command,
            tempdir=holder,
            port=self.port,
            keys={self.key.algorithm: self.key},
            readonly_key=self.key,
            update_only_key=self.key,
            ready=self._ready_check(),
            ready_timeout=self.ready_timeout,
        )
        self.startup_seconds = self._running.startup_seconds

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None

    def close(self) -> None:
        self.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def reset(self) -> None:
        """Every zone empty again: stop, rewrite the zone files, drop the journals, start."""
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        """CPU time (user and system) that ``named`` has used since it started."""
        if self._running is None:
            return 0.0
        fields = Path(f"/proc/{self._running.process.pid}/stat").read_text().rpartition(")")[2]
        utime, stime = (int(v) for v in fields.split()[11:13])
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        return self._running.log() if self._running is not None else ""

    # --- files ------------------------------------------------------------------------------

    def _zone_file(self, zone: str) -> Path:
        return self.workdir / "zones" / f"{zone}db"

    def _write_zone_files(self) -> None:
        for zone in self.zones:
            path = self._zone_file(zone)
            path.write_text(
                f"$ORIGIN {zone}\n$TTL 300\n@ 300 IN SOA {SOA}\n@ 300 IN NS ns.{PARENT}\n"
            )
            path.with_name(path.name + ".jnl").unlink(missing_ok=True)

    def _named_conf(self) -> str:
        key = self.key
        zones = "\n".join(
            f'zone "{zone.rstrip(".")}" {{ type primary; file "{self._zone_file(zone)}"; '
            f'update-policy {{ grant "{key.bare_name}" zonesub ANY; }}; }};'
            for zone in self.zones
        )
        work = self.workdir
        return f"""
options {{
    directory "{work}";
    pid-file "{work}/named.pid";
    session-keyfile "{work}/session.key";
    managed-keys-directory "{work}";
    listen-on port {self.port} {{ {HOST}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    notify no;
    dnssec-validation no;
    allow-query {{ any; }};
    allow-transfer {{ key "{key.bare_name}"; }};
    check-integrity no;
    check-names primary ignore;
}};
controls {{ }};
statistics-channels {{ inet {HOST} port {self.stats_port} allow {{ {HOST}; }}; }};
logging {{
    channel out {{ stderr; severity warning; print-time yes; print-category yes; }};
    category default {{ out; }};
}};
key "{key.bare_name}" {{ algorithm {key.server_algorithm}; secret "{key.secret}"; }};
{zones}
"""

    def _ready_check(self) -> Any:
        pending = list(reversed(self.zones))

        def ready() -> bool:
            while pending:
                if not _soa_answered(self.port, pending[-1]):
                    return False
                pending.pop()
            return True

        return ready

    # --- statistics -------------------------------------------------------------------------

    def counters(self) -> Counters:
        """What the server received so far (from its statistics channel)."""
        url = f"http://{HOST}:{self.stats_port}/json/v1/server"
        with urllib.request.urlopen(url, timeout=10) as response:
            document = json.load(response)
        ns = document.get("nsstats", {})
        opcodes = document.get("opcodes", {})
        qtypes = {str(k): int(v) for k, v in document.get("qtypes", {}).items()}
        return Counters(
            requests=int(ns.get("Requestv4", 0)) + int(ns.get("Requestv6", 0)),
            updates=int(opcodes.get("UPDATE", 0)),
            updates_done=int(ns.get("UpdateDone", 0)),
            queries=int(opcodes.get("QUERY", 0)),
            transfers=qtypes.get("AXFR", 0) + qtypes.get("IXFR", 0),
            by_qtype=qtypes,
        )

    def serials(self, zones: Sequence[str]) -> dict[str, int]:
        """Each zone's SOA serial, as served."""
        found = {}
        for zone in zones:
            query = dns.message.make_query(zone, dns.rdatatype.SOA)
            answer = dns.query.udp(query, self.host, port=self.port, timeout=2)
            found[zone] = int(answer.answer[0][0].serial) if answer.answer else -1
        return found

    def key_file(self, directory: Path) -> Path:
        """A BIND key file (for ``nsupdate -k``) of the key, written into ``directory``."""
        key = self.key
        path = directory / "bench.key"
        path.write_text(
            f'key "{key.bare_name}" {{ algorithm {key.server_algorithm}; '
            f'secret "{key.secret}"; }};\n'
        )
        path.chmod(0o600)
        return path


def _soa_answered(port: int, zone: str) -> bool:
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    try:
        response = dns.query.udp(query, HOST, port=port, timeout=0.2)
    except (OSError, dns.exception.DNSException):
        return False
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)
