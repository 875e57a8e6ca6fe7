"""What the daemon's tests share: a BIND with many zones, a systemd notify socket, the
``dnsauto run`` subprocess, configuration text, and reading zones back."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.zone

from dnsauto.testing.servers._common import (
    HOST,
    RunningServer,
    find_program,
    free_port,
    launch,
    make_key,
    soa_answered,
)

ROOT = Path(__file__).resolve().parent.parent
TSIG_ENV = "DNSAUTO_TEST_TSIG"

# --- a BIND serving many zones ------------------------------------------------------------------


def _zone_text(zone: str) -> str:
    return (
        f"$ORIGIN {zone}\n$TTL 300\n"
        f"@ 300 IN SOA ns1.{zone} hostmaster.{zone} 1 3600 600 86400 300\n"
        f"@ 300 IN NS ns1.{zone}\n"
        f"ns1 300 IN A {HOST}\n"
    )


def start_bind_zones(zones: Sequence[str]) -> RunningServer:
    """``named`` on 127.0.0.1 with ``zones`` (absolute names), each updatable with one key."""
    named = find_program("named")
    tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-bind-zones-")
    workdir = Path(tempdir.name)
    port = free_port()
    key = make_key("hmac-sha256")
    readonly = make_key("hmac-sha256", prefix="readonly")
    update_only = make_key("hmac-sha256", prefix="update-only")
    clauses = []
    for zone in zones:
        (workdir / f"{zone}db").write_text(_zone_text(zone))
        clauses.append(
            f'zone "{zone.rstrip(".")}" {{ type primary; file "{zone}db"; '
            f'update-policy {{ grant "{key.bare_name}" zonesub ANY; }}; '
            f'allow-transfer {{ key "{key.bare_name}"; }}; }};'
        )
    keys = "\n".join(
        f'key "{k.bare_name}" {{ algorithm hmac-sha256; secret "{k.secret}"; }};'
        for k in (key, readonly, update_only)
    )
    conf = workdir / "named.conf"
    conf.write_text(
        f"""
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
    check-integrity no;
}};
controls {{ }};
logging {{ channel out {{ stderr; severity warning; }}; category default {{ out; }}; }};
{keys}
{chr(10).join(clauses)}
"""
    )
    server = launch(
        "bind",
        [named, "-g", "-4", "-n", "2", "-c", str(conf)],
        tempdir=tempdir,
        port=port,
        keys={"hmac-sha256": key},
        readonly_key=readonly,
        update_only_key=update_only,
        ready=lambda: all(soa_answered(HOST, port, z) for z in (zones[0], zones[-1])),
    )
    server.zones = tuple(zones)
    return server


Snapshot = dict[tuple[str, str], tuple[int, frozenset[str]]]
"""(owner, type) -> (TTL, values) of a zone, SOA left out."""


def zone_snapshot(server: RunningServer, zone: str) -> Snapshot:
    """The zone's RRsets by AXFR (TSIG-signed), without the SOA (its serial moves)."""
    key = server.key("hmac-sha256")
    keyring = dns.tsigkeyring.from_text({key.bare_name: ("hmac-sha256", key.secret)})
    transferred = dns.zone.from_xfr(
        dns.query.xfr(
            server.host,
            zone,
            port=server.port,
            timeout=5,
            lifetime=10,
            keyring=keyring,
            keyname=key.bare_name,
            keyalgorithm="hmac-sha256",
            relativize=False,
        ),
        relativize=False,
    )
    snapshot: Snapshot = {}
    for name, rdataset in transferred.iterate_rdatasets():
        if rdataset.rdtype == dns.rdatatype.SOA:
            continue
        owner = name.to_text()
        values = frozenset(r.to_text() for r in rdataset)
        snapshot[(owner, dns.rdatatype.to_text(rdataset.rdtype))] = (rdataset.ttl, values)
    return snapshot


def served(server: RunningServer, name: str, rdtype: str) -> set[str]:
    query = dns.message.make_query(name, rdtype)
    response = dns.query.udp(query, server.host, port=server.port, timeout=2)
    return {r.to_text() for rrset in response.answer for r in rrset}


# --- configuration ------------------------------------------------------------------------------


def tsig_server_table(
    server_id: str, server: RunningServer, secret_file: Path | None = None, **extra: str
) -> str:
    """A Tsig DnsServer table; its key from ``$DNSAUTO_TEST_TSIG`` or ``secret_file``."""
    key = server.key("hmac-sha256")
    secret = (
        f'{{ "@type" = "File", filePath = "{secret_file}" }}'
        if secret_file is not None
        else f'{{ "@type" = "EnvironmentVariable", variableName = "{TSIG_ENV}" }}'
    )
    lines = [
        f"[dnsServer.{server_id}]",
        '"@type" = "Tsig"',
        f'description = "test {server.kind}"',
        f'host = "{server.host}"',
        f"port = {server.port}",
        f'keyName = "{key.bare_name}"',
        f"key = {secret}",
        'tsigAlgorithm = "hmac-sha256"',
        'pollingInterval = "50ms"',
        'propagationTimeout = "10s"',
    ]
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"


PUBLISH = '["dkim", "spf", "mx", "dmarc", "tlsRpt", "mtaSts"]'


def domain_table(domain: str, server_id: str, publish: str = PUBLISH) -> str:
    return (
        f'[domain."{domain}"]\n'
        f'dnsManagement = {{ "@type" = "Automatic", dnsServerId = "{server_id}", '
        f"publishRecords = {publish} }}\n"
        'dkimManagement = { "@type" = "Automatic", algorithms = ["Dkim1Ed25519Sha256"] }\n'
    )


def config_text(
    server: RunningServer,
    state_dir: Path,
    domains: Iterable[str],
    *,
    daemon: str = "",
    servers: str = "",
    secret_file: Path | None = None,
) -> str:
    """A configuration publishing ``domains`` through ``server`` (DnsServer id ``bind``)."""
    names = list(domains)
    return (
        "[bootstrap]\n"
        f'serverHostname = "mail.{names[0]}"\n'
        f'defaultDomain = "{names[0]}"\n'
        "generateDkimKeys = false\n\n"
        + tsig_server_table("bind", server, secret_file)
        + servers
        + "\n"
        + "".join(domain_table(d, "bind") for d in names)
        + '\n[mailServer]\nmtaStsPolicyId = "20260101"\n\n'
        "[daemon]\n"
        f'stateDir = "{state_dir}"\n'
        'triggerDelay = "10ms"\n'
        'retryInitialDelay = "200ms"\n'
        f"{daemon}\n"
        "[daemon.dns]\n"
        f'authoritativeServers = ["{server.host}:{server.port}"]\n'
    )


# --- the notify socket --------------------------------------------------------------------------


class NotifySocket:
    """A ``$NOTIFY_SOCKET`` like systemd's: collects the datagrams the service sends."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify.sock"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.path))
        self.socket.settimeout(0.05)
        self.messages: list[dict[str, str]] = []

    def _drain(self) -> None:
        while True:
            try:
                data = self.socket.recv(65536)
            except (TimeoutError, BlockingIOError):
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append(fields)

    def mark(self) -> int:
        """A point in the message history: take it before causing a notification."""
        self._drain()
        return len(self.messages)

    def wait_for(
        self, test: Callable[[dict[str, str]], bool], after: int = 0, timeout: float = 20
    ) -> dict[str, str]:
        """The first message from position ``after`` on that passes ``test``."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages[after:]:
                if test(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no such notification in {timeout}s: {self.messages}")
            self._drain()

    def close(self) -> None:
        self.socket.close()


# --- the daemon process -------------------------------------------------------------------------


@dataclass
class DaemonProcess:
    """``python -m dnsauto run`` with its stderr in a file."""

    config: Path
    secret: str
    env: dict[str, str] = field(default_factory=dict)
    args: Sequence[str] = ()
    """Options of ``run``."""
    global_args: Sequence[str] = ()
    """Options before the command (``-v``)."""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> DaemonProcess:
        self.log_path = self.config.with_suffix(f".{time.monotonic_ns()}.log")
        env = {**os.environ, TSIG_ENV: self.secret, **self.env}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dnsauto",
                    *self.global_args,
                    "run",
                    "-c",
                    str(self.config),
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=ROOT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = 20) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def wait_log(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged; log:\n{self.log()[-3000:]}")
            time.sleep(0.01)


def poll(condition: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout}s")
        time.sleep(0.02)


async def until(condition: Callable[[], bool], what: str = "condition", within: float = 30) -> None:
    """:func:`poll` for a test running on the event loop (the daemon under test runs there)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not in {within:g}s"
        await asyncio.sleep(0.01)
