"""A zone served by a primary and two secondaries on one shared port: the propagation topology.

``example.test.`` lives on a BIND primary at 127.0.0.1 (``ns1``, takes DNS UPDATEs signed
with :attr:`Topology.update_key`), a BIND secondary at 127.0.0.2 (``ns2``) and a Knot
secondary at 127.0.0.3 (``ns3``). The zone's NS RRset names the three and their A records
point at those addresses, so nameserver discovery through the primary (it answers the NS
and A questions authoritatively) finds all three on :attr:`Topology.port`. The primary
sends NOTIFY to both secondaries; they transfer by IXFR, TSIG-signed. BIND's default rate
limits (``notify-rate`` on the primary, ``serial-query-rate`` on the secondary, 20/s each)
delayed one secondary by 0.5 to 1 s after most updates here; raised to 1000/s (with
``notify-delay 0``) both secondaries follow an update within about 20 ms.

named listens only on addresses configured on an interface (otherwise it starts without an
error and never answers), so 127.0.0.2/32 and 127.0.0.3/32 are added to ``lo`` when missing
(as root, or inside a network namespace such as ``unshare -rn`` makes) and removed when the
last topology of this network namespace stops. Without either, :class:`TopologyUnavailable`
says how to run the tests.

Ways to make a secondary lag, each deterministic (see the methods):

* :meth:`Topology.freeze` / :meth:`Topology.thaw`: ``knotc zone-freeze`` postpones Knot's
  transfers; it keeps answering with the old zone (stale but answering).
* :meth:`Topology.paused`: ``SIGSTOP`` / ``SIGCONT``; the server does not answer at all.
* :meth:`Topology.set_notify` off (the primary is reconfigured through ``rndc reconfig``), then
  :meth:`Topology.refresh` (``rndc refresh`` / ``knotc zone-refresh``) forces the transfer.
  The SOA refresh is an hour, so nothing else moves the secondary meanwhile.

Everything waits by polling with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.update

from dnsauto.testing.servers._common import (
    READY_TIMEOUT,
    ZONE,
    ServerFailed,
    ServerUnavailable,
    TsigKeySpec,
    find_program,
    make_key,
)

__all__ = [
    "BIND_SECONDARY",
    "KNOT_SECONDARY",
    "PRIMARY",
    "Member",
    "Topology",
    "TopologyUnavailable",
    "loopback_addresses",
    "start_topology",
]

PRIMARY = "127.0.0.1"
BIND_SECONDARY = "127.0.0.2"
KNOT_SECONDARY = "127.0.0.3"
EXTRA_ADDRESSES = (BIND_SECONDARY, KNOT_SECONDARY)

NS_NAMES = {
    PRIMARY: f"ns1.{ZONE}",
    BIND_SECONDARY: f"ns2.{ZONE}",
    KNOT_SECONDARY: f"ns3.{ZONE}",
}


class TopologyUnavailable(ServerUnavailable):
    """The topology cannot run here (no root, no network namespace, a program missing)."""


# --- loopback addresses -------------------------------------------------------------------------


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    ip = find_program("ip")
    return subprocess.run([ip, *args], capture_output=True, text=True, check=False)


def _lo_addresses() -> set[str]:
    listed = _ip("-o", "-4", "addr", "show", "dev", "lo")
    if listed.returncode != 0:
        raise TopologyUnavailable(f"cannot list the addresses of lo: {listed.stderr.strip()}")
    return {line.split()[3].split("/")[0] for line in listed.stdout.splitlines()}


def _netns_id() -> str:
    try:
        return str(os.stat("/proc/self/ns/net").st_ino)
    except OSError:
        return "default"


def _how_to_run() -> str:
    try:
        unshare = find_program("unshare")
    except ServerUnavailable:
        return "run the tests as root (unshare is not installed)"
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        return (
            "run the tests as root (network namespaces are not available here: "
            f"unshare -rn failed with {probe.returncode})"
        )
    return "run the tests as root, or inside a network namespace: unshare -rn .venv/bin/pytest"


@dataclass
class _Holders:
    """Who in this network namespace uses the extra addresses, and which ones were added."""

    pids: list[int] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    def release_if_unused(self) -> None:
        if not self.pids:
            for address in self.added:
                _ip("addr", "del", f"{address}/32", "dev", "lo")
            self.added = []


@contextlib.contextmanager
def _locked_holders() -> Iterator[_Holders]:
    state_path = Path(tempfile.gettempdir()) / f"dnsauto-loopback-{_netns_id()}.json"
    with state_path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            stored = json.loads(state_path.read_text()) if state_path.exists() else {}
        except (OSError, ValueError):
            stored = {}
        holders = _Holders(
            pids=[p for p in stored.get("pids", []) if isinstance(p, int) and _alive(p)],
            added=[a for a in stored.get("added", []) if isinstance(a, str)],
        )
        try:
            yield holders
        finally:
            state_path.write_text(json.dumps({"pids": holders.pids, "added": holders.added}))


@contextlib.contextmanager
def loopback_addresses(addresses: Sequence[str] = EXTRA_ADDRESSES) -> Iterator[None]:
    """Make ``addresses`` (/32) exist on ``lo`` while the block runs.

    Holders in this network namespace are counted in a small locked file, so that two test
    sessions sharing the machine never remove an address the other one still uses; the
    addresses this code added are removed when the last holder leaves.
    """
    with _locked_holders() as holders:
        missing = [a for a in addresses if a not in _lo_addresses()]
        if missing and "UP" not in _ip("-o", "link", "show", "dev", "lo").stdout:
            _ip("link", "set", "dev", "lo", "up")  # a new network namespace starts with lo down
        for address in missing:
            added = _ip("addr", "add", f"{address}/32", "dev", "lo")
            if added.returncode != 0:
                holders.release_if_unused()
                raise TopologyUnavailable(
                    f"the topology needs {', '.join(missing)} on lo and cannot add them "
                    f"({added.stderr.strip() or 'ip addr add failed'}): {_how_to_run()}"
                )
            holders.added.append(address)
        holders.pids.append(os.getpid())
    try:
        yield
    finally:
        with _locked_holders() as holders:
            if os.getpid() in holders.pids:
                holders.pids.remove(os.getpid())
            holders.release_if_unused()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _shared_free_port(hosts: Sequence[str]) -> int:
    """A port free for UDP and TCP on every one of ``hosts``."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        held: list[socket.socket] = []
        try:
            for host in hosts:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    sock = socket.socket(socket.AF_INET, kind)
                    held.append(sock)
                    sock.bind((host, port))
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return port
    raise ServerFailed(f"no port free on all of {', '.join(hosts)}")


# --- servers ------------------------------------------------------------------------------------


@dataclass
class Member:
    """One server of the topology."""

    label: str
    """Its NS name, e.g. ``ns2.example.test.``."""
    kind: str
    """``bind`` or ``knot``."""
    host: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    control: list[str] = field(default_factory=list)
    """The control command (rndc or knotc with its options), without the subcommand."""

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.kind}.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __str__(self) -> str:
        return f"{self.label} ({self.host}:{self.port})"

    def start(self, command: list[str]) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
            )

    def signal(self, signum: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def run_control(self, *args: str) -> str:
        done = subprocess.run(
            [*self.control, *args], capture_output=True, text=True, timeout=15, check=False
        )
        if done.returncode != 0:
            raise ServerFailed(
                f"{' '.join(args)} at {self} failed ({done.returncode}): "
                f"{(done.stdout + done.stderr).strip()}"
            )
        return done.stdout


def query(member: Member, name: str, rdtype: str, timeout: float = 1.0) -> dns.message.Message:
    """Ask ``member`` directly (no recursion), over TCP when the UDP answer is truncated."""
    message = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    message.flags = 0
    response, _ = dns.query.udp_with_fallback(message, member.host, timeout, member.port)
    return response


def serial_of(member: Member, timeout: float = 0.2) -> int | None:
    """The zone's SOA serial at ``member``, or None when it does not answer it."""
    try:
        response = query(member, ZONE, "SOA", timeout)
    except (OSError, dns.exception.DNSException):
        return None
    if response.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(rrset[0].serial)
    return None


_PRIMARY_OPTIONS = "notify explicit; notify-delay 0; notify-rate 1000; startup-notify-rate 1000;"
_SECONDARY_OPTIONS = "notify no; allow-transfer { none; }; serial-query-rate 1000;"


def _key_clause(key: TsigKeySpec) -> str:
    return f'key "{key.bare_name}" {{ algorithm {key.server_algorithm}; secret "{key.secret}"; }};'


def zone_text(serial: int = 1) -> str:
    lines = [
        f"$ORIGIN {ZONE}",
        "$TTL 300",
        f"@ SOA ns1.{ZONE} hostmaster.{ZONE} {serial} 3600 600 86400 300",
        *(f"@ NS {label}" for label in NS_NAMES.values()),
        *(f"{label} A {address}" for address, label in NS_NAMES.items()),
        '@ TXT "foreign apex text"',
    ]
    return "\n".join(lines) + "\n"


def _named_options(member: Member, extra: str) -> str:
    return f"""
options {{
    directory "{member.workdir}";
    pid-file "{member.workdir}/named.pid";
    session-keyfile "{member.workdir}/session.key";
    managed-keys-directory "{member.workdir}";
    listen-on port {member.port} {{ {member.host}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    allow-query {{ any; }};
    check-integrity no;
    notify-source {member.host};
    transfer-source {member.host};
    {extra}
}};
logging {{
    channel out {{ stderr; severity info; print-time yes; print-category yes; }};
    category default {{ out; }};
    category notify {{ out; }};
    category xfer-in {{ out; }};
    category xfer-out {{ out; }};
    category update {{ out; }};
}};
"""


@dataclass
class Topology:
    """The running primary and secondaries; call :meth:`stop` (or use :func:`start_topology`)."""

    port: int
    primary: Member
    bind_secondary: Member
    knot_secondary: Member
    update_key: TsigKeySpec
    transfer_key: TsigKeySpec
    rndc_key: TsigKeySpec
    zone: str = ZONE
    notify_to: set[str] = field(default_factory=lambda: set(EXTRA_ADDRESSES))
    _control_ports: tuple[int, int] = (0, 0)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _addresses: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def members(self) -> list[Member]:
        return [self.primary, self.bind_secondary, self.knot_secondary]

    @property
    def secondaries(self) -> list[Member]:
        return [self.bind_secondary, self.knot_secondary]

    @property
    def resolver(self) -> str:
        """``host:port`` of a server that answers the NS and A questions of the zone."""
        return f"{PRIMARY}:{self.port}"

    def member(self, host_or_label: str) -> Member:
        for member in self.members:
            if host_or_label in (member.host, member.label, member.label.rstrip(".")):
                return member
        raise KeyError(host_or_label)

    # --- configuration --------------------------------------------------------------------------

    def _primary_conf(self) -> str:
        notify = " ".join(
            f'{address} port {self.port} key "{self.transfer_key.bare_name}";'
            for address in sorted(self.notify_to)
        )
        rndc = self.rndc_key.bare_name
        extra = f'{_PRIMARY_OPTIONS} allow-transfer {{ key "{self.transfer_key.bare_name}"; }};'
        also_notify = f"also-notify {{ {notify} }};" if notify else ""
        return f"""{_named_options(self.primary, extra)}
controls {{ inet {PRIMARY} port {self._control_ports[0]} allow {{ 127.0.0.0/8; }}
           keys {{ "{rndc}"; }}; }};
{_key_clause(self.update_key)}
{_key_clause(self.transfer_key)}
{_key_clause(self.rndc_key)}
zone "{ZONE.rstrip(".")}" {{
    type primary; file "{ZONE}db"; notify {"explicit" if notify else "no"}; {also_notify}
    update-policy {{ grant "{self.update_key.bare_name}" zonesub ANY; }};
}};
"""

    def _bind_secondary_conf(self) -> str:
        member = self.bind_secondary
        xfr = self.transfer_key.bare_name
        options = _named_options(member, _SECONDARY_OPTIONS)
        return f"""{options}
controls {{ inet {PRIMARY} port {self._control_ports[1]} allow {{ 127.0.0.0/8; }}
           keys {{ "{self.rndc_key.bare_name}"; }}; }};
{_key_clause(self.transfer_key)}
{_key_clause(self.rndc_key)}
zone "{ZONE.rstrip(".")}" {{
    type secondary; file "{ZONE}db";
    primaries {{ {PRIMARY} port {self.port} key "{xfr}"; }};
}};
"""

    def _knot_conf(self) -> str:
        member = self.knot_secondary
        key = self.transfer_key
        return f"""
server:
    rundir: "{member.workdir}"
    listen: {member.host}@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

log:
  - target: stderr
    any: info

database:
    storage: "{member.workdir}/db"

control:
    listen: "{member.workdir}/knot.sock"

key:
  - id: {key.name}
    algorithm: {key.server_algorithm}
    secret: {key.secret}

remote:
  - id: primary
    address: {PRIMARY}@{self.port}
    key: {key.name}

acl:
  - id: notify-from-primary
    address: 127.0.0.0/8
    key: {key.name}
    action: notify

template:
  - id: default
    storage: "{member.workdir}"
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off

zone:
  - domain: {ZONE}
    master: primary
    acl: notify-from-primary
"""

    # --- lifecycle ------------------------------------------------------------------------------

    def _start(self) -> None:
        named = find_program("named")
        knotd = find_program("knotd")
        rndc = find_program("rndc")
        knotc = find_program("knotc")
        for member in self.members:
            member.workdir.mkdir(parents=True, exist_ok=True)
        (self.knot_secondary.workdir / "db").mkdir(exist_ok=True)
        (self.primary.workdir / f"{ZONE}db").write_text(zone_text())
        rndc_conf = self.primary.workdir.parent / "rndc.conf"
        rndc_conf.write_text(
            f"{_key_clause(self.rndc_key)}\n"
            f'options {{ default-key "{self.rndc_key.bare_name}"; }};\n'
        )
        for member, port in zip(
            (self.primary, self.bind_secondary), self._control_ports, strict=True
        ):
            member.control = [rndc, "-c", str(rndc_conf), "-s", PRIMARY, "-p", str(port)]
        self.knot_secondary.control = [
            knotc,
            "-c",
            str(self.knot_secondary.workdir / "knot.conf"),
            "-s",
            str(self.knot_secondary.workdir / "knot.sock"),
            "-t",
            "10",
        ]
        (self.primary.workdir / "named.conf").write_text(self._primary_conf())
        (self.bind_secondary.workdir / "named.conf").write_text(self._bind_secondary_conf())
        (self.knot_secondary.workdir / "knot.conf").write_text(self._knot_conf())
        for member in (self.primary, self.bind_secondary):
            conf = str(member.workdir / "named.conf")
            member.start([named, "-g", "-4", "-n", "1", "-c", conf])
        self.knot_secondary.start([knotd, "-c", str(self.knot_secondary.workdir / "knot.conf")])
        self.wait_until(lambda: serial_of(self.primary) == 1, "the primary to answer")
        self.wait_in_sync()

    def stop(self) -> None:
        for member in self.members:
            member.stop()
        self._addresses.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def logs(self) -> str:
        return "\n".join(f"--- {m}\n{m.log()[-3000:]}" for m in self.members)

    def wait_until(
        self, ready: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT
    ) -> None:
        """Poll ``ready()`` every few milliseconds until it is true; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not ready():
            for member in self.members:
                if member.process is not None and member.process.poll() is not None:
                    raise ServerFailed(
                        f"{member} exited with {member.process.returncode} while waiting for "
                        f"{what}; logs:\n{self.logs()}"
                    )
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"timed out after {timeout:g}s waiting for {what}:\n{self.logs()}"
                )
            time.sleep(0.003)

    # --- state ----------------------------------------------------------------------------------

    def serial(self, member: Member | None = None) -> int | None:
        return serial_of(member or self.primary)

    def wait_for_serial(
        self, serial: int, members: Sequence[Member] | None = None, timeout: float = READY_TIMEOUT
    ) -> None:
        """Wait until every one of ``members`` (default all) serves ``serial`` or newer."""
        chosen = list(members) if members is not None else self.members

        def caught_up() -> bool:
            return all((serial_of(m) or 0) >= serial for m in chosen)

        self.wait_until(caught_up, f"serial {serial} at {', '.join(map(str, chosen))}", timeout)

    def wait_in_sync(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait until both secondaries serve the primary's serial."""
        serial = self.serial()
        assert serial is not None, "the primary does not answer"
        self.wait_for_serial(serial, self.secondaries, timeout)

    def served(self, member: Member, name: str, rdtype: str) -> tuple[str, set[str]]:
        """``member``'s rcode and values (TXT joined) at ``name``/``rdtype``."""
        response = query(member, name, rdtype)
        values: set[str] = set()
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.from_text(rdtype):
                for rdata in rrset:
                    if rrset.rdtype == dns.rdatatype.TXT:
                        values.add(b"".join(rdata.strings).decode())
                    else:
                        values.add(rdata.to_text())
        return dns.rcode.to_text(response.rcode()), values

    # --- writing --------------------------------------------------------------------------------

    def update(self, *operations: tuple[str, ...]) -> int:
        """Send one DNS UPDATE to the primary; return the new serial.

        Each operation is ``("replace", name, ttl, type, rdata...)``, ``("add", ...)`` (same
        shape), ``("delete", name)`` or ``("delete", name, type)``.
        """
        keyring = dns.tsigkeyring.from_text({self.update_key.name: self.update_key.secret})
        message = dns.update.UpdateMessage(
            ZONE,
            keyring=keyring,
            keyname=dns.name.from_text(self.update_key.name),
            keyalgorithm=self.update_key.server_algorithm,
        )
        for op, name, *rest in operations:
            if op == "delete":
                message.delete(name, *rest)
            else:
                ttl, rdtype, *values = rest
                method = message.replace if op == "replace" else message.add
                method(name, int(ttl), rdtype, *values)
        before = self.serial() or 0
        response = dns.query.tcp(message, PRIMARY, timeout=5, port=self.port)
        if response.rcode() != dns.rcode.NOERROR:
            raise ServerFailed(f"UPDATE refused: {dns.rcode.to_text(response.rcode())}")
        after = self.serial() or 0
        assert after > before, f"the primary's serial did not move ({before} -> {after})"
        return after

    # --- making a secondary lag -----------------------------------------------------------------

    def _freeze_state(self) -> str:
        """Knot's ``freeze:`` field of zone-status (``freezing``, ``yes``, ``thawing``), or ""."""
        status = self.knot_secondary.run_control("zone-status", ZONE)
        fields = (f.strip() for f in status.split("|"))
        return next((f.partition(":")[2].strip() for f in fields if f.startswith("freeze:")), "")

    def freeze(self) -> None:
        """Knot postpones every transfer of the zone (it still answers, with the old data)."""
        self.knot_secondary.run_control("zone-freeze", ZONE)
        # Asynchronous: "freezing" until the zone is frozen ("yes").
        self.wait_until(lambda: self._freeze_state() == "yes", "knot to freeze the zone")

    def thaw(self) -> None:
        """Knot runs the transfers it postponed.

        Knot may hold the zone "thawing" until its next whole-second tick (measured: up to a
        second when a transfer is pending); this returns once it has thawed.
        """
        self.knot_secondary.run_control("zone-thaw", ZONE)
        # Asynchronous too; a freeze right after an unfinished thaw would be undone by it.
        self.wait_until(lambda: self._freeze_state() == "", "knot to thaw the zone")

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    @contextlib.contextmanager
    def paused(self, member: Member) -> Iterator[None]:
        """``member`` stops answering (SIGSTOP) while the block runs, then goes on (SIGCONT)."""
        member.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            member.signal(signal.SIGCONT)

    def set_notify(self, member: Member, enabled: bool) -> None:
        """Whether the primary sends NOTIFY to the secondary ``member`` (``rndc reconfig``)."""
        if enabled:
            self.notify_to.add(member.host)
        else:
            self.notify_to.discard(member.host)
        (self.primary.workdir / "named.conf").write_text(self._primary_conf())
        self.primary.run_control("reconfig")

    @contextlib.contextmanager
    def notify_off(self, member: Member) -> Iterator[None]:
        self.set_notify(member, False)
        try:
            yield
        finally:
            self.set_notify(member, True)

    def reset(self) -> None:
        """Undo every way of lagging (thaw, SIGCONT, NOTIFY on) and wait until all agree."""
        for member in self.members:
            member.signal(signal.SIGCONT)
        if self._freeze_state():
            self.thaw()
        if self.notify_to != set(EXTRA_ADDRESSES):
            self.notify_to = set(EXTRA_ADDRESSES)
            (self.primary.workdir / "named.conf").write_text(self._primary_conf())
            self.primary.run_control("reconfig")
        for member in self.secondaries:
            self.refresh(member)
        self.wait_in_sync()

    def refresh(self, member: Member) -> None:
        """Make the secondary ``member`` check the primary's serial now and transfer."""
        if member.kind == "knot":
            member.run_control("zone-refresh", ZONE)
        else:
            member.run_control("refresh", ZONE.rstrip("."))


def start_topology() -> Topology:
    """Start the primary and both secondaries, in sync; raise :class:`TopologyUnavailable`."""
    for program in ("named", "knotd", "rndc", "knotc", "ip"):
        try:
            find_program(program)
        except ServerUnavailable as exc:
            raise TopologyUnavailable(str(exc)) from None
    addresses = contextlib.ExitStack()
    addresses.enter_context(loopback_addresses())
    try:
        tempdir = tempfile.TemporaryDirectory(prefix="dnsauto-topology-")
        root = Path(tempdir.name)
        port = _shared_free_port([PRIMARY, *EXTRA_ADDRESSES])
        members = [
            Member(NS_NAMES[host], kind, host, port, root / name)
            for name, kind, host in (
                ("primary", "bind", PRIMARY),
                ("secondary-bind", "bind", BIND_SECONDARY),
                ("secondary-knot", "knot", KNOT_SECONDARY),
            )
        ]
        topology = Topology(
            port=port,
            primary=members[0],
            bind_secondary=members[1],
            knot_secondary=members[2],
            update_key=make_key("hmac-sha256", prefix="update"),
            transfer_key=make_key("hmac-sha256", prefix="transfer"),
            rndc_key=TsigKeySpec(
                "rndc-key.", "hmac-sha256", "hmac-sha256", base64.b64encode(os.urandom(32)).decode()
            ),
            _tempdir=tempdir,
            _addresses=addresses,
        )
        topology._control_ports = (_shared_free_port([PRIMARY]), _shared_free_port([PRIMARY]))
    except BaseException:
        addresses.close()
        raise
    try:
        topology._start()
    except BaseException:
        topology.stop()
        raise
    return topology
