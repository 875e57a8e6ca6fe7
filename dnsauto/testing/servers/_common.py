"""What the three test servers share: keys, zones, ports, start-up and shutdown."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

HOST = "127.0.0.1"
ZONE = "example.test."
CHILD_ZONE = "sub.example.test."
"""A zone delegated from :data:`ZONE` and served by the same server."""

ALGORITHMS = (
    "hmac-md5",
    "hmac-sha1",
    "hmac-sha224",
    "hmac-sha256",
    "hmac-sha256-128",
    "hmac-sha384",
    "hmac-sha384-192",
    "hmac-sha512",
    "hmac-sha512-256",
)
"""Every HMAC algorithm of Stalwart's ``tsigAlgorithm`` list (``gss`` needs a KDC)."""

TRUNCATED_BASE = {
    "hmac-sha256-128": "hmac-sha256",
    "hmac-sha384-192": "hmac-sha384",
    "hmac-sha512-256": "hmac-sha512",
}

READY_TIMEOUT = 20.0


class ServerUnavailable(Exception):
    """The server's program is not installed; tests that need it skip."""


class ServerFailed(Exception):
    """The server did not start; the message carries its log."""


@dataclass(frozen=True)
class TsigKeySpec:
    """One TSIG key configured at a test server."""

    name: str
    """Absolute key name, e.g. ``key-hmac-sha256.``."""
    algorithm: str
    """The algorithm a client names in its settings for this key."""
    server_algorithm: str
    """The algorithm the server was configured with (a truncated one's base where the server
    knows only full-length HMACs)."""
    secret: str
    """Base64."""

    @property
    def bare_name(self) -> str:
        return self.name.rstrip(".")


def make_key(
    algorithm: str, *, server_algorithm: str | None = None, prefix: str = "key"
) -> TsigKeySpec:
    return TsigKeySpec(
        name=f"{prefix}-{algorithm}.",
        algorithm=algorithm,
        server_algorithm=server_algorithm or algorithm,
        secret=base64.b64encode(os.urandom(32)).decode(),
    )


def make_keys(full_length_only: bool) -> dict[str, TsigKeySpec]:
    keys = {}
    for algorithm in ALGORITHMS:
        server_algorithm = TRUNCATED_BASE.get(algorithm, algorithm) if full_length_only else None
        keys[algorithm] = make_key(algorithm, server_algorithm=server_algorithm)
    return keys


def zone_records(zone: str) -> list[tuple[str, int, str, str]]:
    """The records each test server starts with, as (owner, ttl, type, rdata)."""
    if zone == ZONE:
        return [
            (ZONE, 300, "SOA", f"ns1.{ZONE} hostmaster.{ZONE} 1 3600 600 86400 300"),
            (ZONE, 300, "NS", f"ns1.{ZONE}"),
            (f"ns1.{ZONE}", 300, "A", HOST),
            (ZONE, 300, "TXT", '"foreign apex text"'),
            (CHILD_ZONE, 300, "NS", f"ns1.{CHILD_ZONE}"),
            (f"ns1.{CHILD_ZONE}", 300, "A", HOST),
        ]
    if zone == CHILD_ZONE:
        return [
            (CHILD_ZONE, 300, "SOA", f"ns1.{CHILD_ZONE} hostmaster.{ZONE} 1 3600 600 86400 300"),
            (CHILD_ZONE, 300, "NS", f"ns1.{CHILD_ZONE}"),
            (f"ns1.{CHILD_ZONE}", 300, "A", HOST),
        ]
    raise ValueError(zone)


def zone_file_text(zone: str) -> str:
    lines = [f"$ORIGIN {zone}", "$TTL 300"]
    lines += [
        f"{owner} {ttl} IN {rdtype} {rdata}" for owner, ttl, rdtype, rdata in zone_records(zone)
    ]
    return "\n".join(lines) + "\n"


def find_program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if found is None:
        raise ServerUnavailable(f"{name} is not installed")
    return found


@contextmanager
def bound_port_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A TCP and a UDP socket bound to one port of the loopback address, closed on exit."""
    for _ in range(50):
        with (
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            tcp.bind((HOST, 0))
            try:
                udp.bind((HOST, tcp.getsockname()[1]))
            except OSError:
                continue
            yield tcp, udp
            return
    raise ServerFailed("no free port on 127.0.0.1")


def free_port() -> int:
    """A port free for both UDP and TCP on the loopback address."""
    with bound_port_pair() as (tcp, _udp):
        return int(tcp.getsockname()[1])


@dataclass
class RunningServer:
    """A DNS server started for the tests, on 127.0.0.1 from a temporary directory."""

    kind: str
    port: int
    workdir: Path
    keys: dict[str, TsigKeySpec]
    """Keys allowed to update and transfer both zones, by client algorithm name."""
    readonly_key: TsigKeySpec
    """A key the server knows and allows to transfer the zones, but not to update them."""
    update_only_key: TsigKeySpec
    """A key allowed to update the zones, but not to transfer them (AXFR)."""
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float = 0.0
    host: str = HOST
    zones: tuple[str, ...] = (ZONE, CHILD_ZONE)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def key(self, algorithm: str = "hmac-sha256") -> TsigKeySpec:
        return self.keys[algorithm]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; waits for the process to end."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def soa_answered(host: str, port: int, zone: str, *, signed: bool = False) -> bool:
    """Whether the server answers ``zone``'s SOA; ``signed``: with its signature (RRSIG)."""
    query = dns.message.make_query(zone, dns.rdatatype.SOA, want_dnssec=signed)
    try:
        response = dns.query.udp(query, host, port=port, timeout=0.05)
    except (OSError, dns.exception.DNSException):
        return False
    if signed:
        return any(rrset.rdtype == dns.rdatatype.RRSIG for rrset in response.answer)
    return response.rcode() == dns.rcode.NOERROR and bool(response.answer)


def launch(
    kind: str,
    command: list[str],
    *,
    tempdir: tempfile.TemporaryDirectory[str],
    port: int,
    keys: dict[str, TsigKeySpec],
    readonly_key: TsigKeySpec,
    update_only_key: TsigKeySpec,
    ready: Callable[[], bool] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> RunningServer:
    """Start ``command`` and wait (polling SOA queries, with a deadline) until it answers."""
    workdir = Path(tempdir.name)
    log_path = workdir / f"{kind}.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
        )
    server = RunningServer(
        kind=kind,
        port=port,
        workdir=workdir,
        keys=keys,
        readonly_key=readonly_key,
        update_only_key=update_only_key,
        process=process,
        log_path=log_path,
        _tempdir=tempdir,
    )
    deadline = started + ready_timeout
    is_ready = ready or (lambda: all(soa_answered(HOST, port, z) for z in server.zones))
    while not is_ready():
        if process.poll() is not None or time.monotonic() > deadline:
            log_text = server.log()
            server.stop()
            state = (
                f"exited with {process.returncode}"
                if process.returncode is not None
                else f"not answering after {ready_timeout:.0f}s"
            )
            raise ServerFailed(f"{kind} {state}; log:\n{log_text[-4000:]}")
        time.sleep(0.002)
    server.startup_seconds = time.monotonic() - started
    return server
