"""SIG(0) proven against independent implementations from Debian packages.

* BIND's signer: ``nsupdate -k`` with a ``dnssec-keygen -T KEY`` key; Ed25519 is
  deterministic, so our signature must equal nsupdate's byte for byte
  (bind9-dnsutils, bind9-utils).
* Verifiers that check the validity window: Perl's Net::DNS::SEC
  (libnet-dns-sec-perl) and Go's miekg/dns (golang-go,
  golang-github-miekg-dns-dev; built offline in GOPATH mode).
* A server that accepts only correctly SIG(0)-signed updates: trust-dns-server
  0.22 (librust-trust-dns-server-dev and its +dnssec-ring / +rusqlite feature
  packages), built offline with cargo from the crate sources Debian installs.
* What BIND 9.18.28+ does with SIG(0) (bind9): it ignores the signature.

Builds are cached under the temp dir, keyed by a hash of their sources and
tool versions, so only the first run pays for them (cargo: about a minute).
A missing tool skips its tests with the package to install.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import selectors
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from dnsauto_rfc2136 import sig0

pytestmark = pytest.mark.servers

HERE = Path(__file__).parent / "sig0_verifiers"
CACHE = Path(tempfile.gettempdir()) / "dnsauto-sig0-build-cache"
DEBIAN_CRATES = Path("/usr/share/cargo/registry")
DEBIAN_GOCODE = Path("/usr/share/gocode")
ZONE = dns.name.from_text("example.test.")
ALGORITHMS = sig0.SIG0_ALGORITHMS


# ------------------------------------------------------------------- helpers


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not found: apt-get install {package}")
    return path


def make_pem(algorithm: sig0.Sig0Algorithm) -> str:
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        curve = ec.SECP256R1() if algorithm == "ecdsa-p256-sha256" else ec.SECP384R1()
        key = ec.generate_private_key(curve)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass(frozen=True)
class Key:
    algorithm: sig0.Sig0Algorithm
    name: dns.name.Name
    pem: str

    @property
    def record(self) -> str:
        return sig0.public_key_record(self.pem, self.algorithm)

    @property
    def rr_line(self) -> str:
        return f"{self.name} IN KEY {self.record}"

    @property
    def rdata_hex(self) -> str:
        flags, protocol, algorithm, public = sig0.parse_key_record(self.record)
        number = sig0.ALGORITHM_NUMBERS[algorithm]
        return (struct.pack("!HBB", flags, protocol, number) + public).hex()

    def sign(self, wire: bytes, *, window: tuple[int, int] | None = None) -> bytes:
        inception, expiration = window or sig0.validity_window(int(time.time()))
        return sig0.sign_message(
            wire,
            signer=self.name,
            private_key_pem=self.pem,
            algorithm=self.algorithm,
            inception=inception,
            expiration=expiration,
        )


@pytest.fixture(scope="module")
def keys() -> dict[sig0.Sig0Algorithm, Key]:
    return {
        algorithm: Key(
            algorithm, dns.name.from_text(f"{algorithm}.keys", origin=ZONE), make_pem(algorithm)
        )
        for algorithm in ALGORITHMS
    }


def simple_update(name: str = "www", address: str = "192.0.2.10") -> bytes:
    update = dns.update.UpdateMessage(ZONE)
    update.add(name, 300, "A", address)
    return update.to_wire()


def tamper_address(wire: bytes, address: str) -> bytes:
    """Change the last octet of ``address`` where it appears as A rdata."""
    packed = socket.inet_aton(address)
    index = wire.index(b"\x00\x04" + packed) + 5
    tampered = bytearray(wire)
    tampered[index] ^= 0x01
    return bytes(tampered)


def _source_digest(paths: list[Path], extra: str) -> str:
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cached_build(kind: str, sources: list[Path], extra: str, build: Callable[[Path], Path]) -> Path:
    """Run ``build(directory)`` once per source hash; return the product it names."""
    directory = CACHE / f"{kind}-{_source_digest(sources, extra)}"
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "built"
    with (directory / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            product = Path(marker.read_text())
            if product.exists():
                return product
        product = build(directory)
        marker.write_text(str(product))
        return product


def run_build(command: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"building {what} failed ({' '.join(command)}):\n{result.stderr[-4000:]}")
    (cwd / "build-seconds").write_text(f"{time.monotonic() - started:.1f}\n")


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (for servers that need one given)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def exchange(wire: bytes, port: int, *, tcp: bool = False, timeout: float = 5.0) -> str:
    """Send raw ``wire`` to 127.0.0.1:port and return the response's rcode text."""
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as stream:
            stream.sendall(struct.pack("!H", len(wire)) + wire)
            header = b""
            while len(header) < 2:
                chunk = stream.recv(2 - len(header))
                assert chunk, "connection closed"
                header += chunk
            (length,) = struct.unpack("!H", header)
            response = b""
            while len(response) < length:
                chunk = stream.recv(length - len(response))
                assert chunk, "connection closed"
                response += chunk
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
            datagram.settimeout(timeout)
            datagram.sendto(wire, ("127.0.0.1", port))
            response = datagram.recv(65535)
    assert response[:2] == wire[:2], "response id differs"
    return dns.rcode.to_text(dns.message.from_wire(response).rcode())


def lookup(name: str, rdtype: str, port: int) -> set[str]:
    query = dns.message.make_query(dns.name.from_text(name, origin=ZONE), rdtype)
    response = dns.query.udp(query, "127.0.0.1", port=port, timeout=5)
    return {rdata.to_text() for rrset in response.answer for rdata in rrset}


# --------------------------------------------------------- BIND's signer (nsupdate)


@contextlib.contextmanager
def capturing_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback UDP 'server' that records each request and answers NOERROR."""
    captured: list[bytes] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            captured.append(data)
            unsigned, _ = sig0.split_sig0(data)
            request = dns.message.from_wire(unsigned)
            response = dns.message.make_response(request)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1]), captured
    finally:
        stop.set()
        thread.join(5)
        sock.close()


KEYGEN_ARGS = ("-T", "KEY", "-n", "HOST", "updater.example.test")
NSUPDATE_ALGORITHMS = {
    "ed25519": "ED25519",
    "ecdsa-p256-sha256": "ECDSAP256SHA256",
    "ecdsa-p384-sha384": "ECDSAP384SHA384",
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_nsupdate_signature(tmp_path: Path, algorithm: sig0.Sig0Algorithm) -> None:
    keygen = need("dnssec-keygen", "bind9-utils")
    nsupdate = need("nsupdate", "bind9-dnsutils")
    made = subprocess.run(
        [keygen, "-q", "-K", str(tmp_path), "-a", NSUPDATE_ALGORITHMS[algorithm], *KEYGEN_ARGS],
        capture_output=True,
        text=True,
        check=True,
    )
    base = tmp_path / made.stdout.strip()
    private = base.with_name(base.name + ".private").read_text()
    key_line = base.with_name(base.name + ".key").read_text()
    # Our view of BIND's key: same KEY rdata and key tag as dnssec-keygen's files.
    assert "IN KEY " + sig0.public_key_record(private, algorithm) in key_line
    assert f"+{sig0.key_tag(private, algorithm):05d}" in base.name

    with capturing_listener() as (port, captured):
        script = (
            f"server 127.0.0.1 {port}\nzone example.test\n"
            "prereq nxrrset www.example.test A\n"
            "update delete old.example.test TXT\n"
            "update add www.example.test 300 A 192.0.2.1\n"
            'update add example.test 300 TXT "v=spf1 -all"\n'
            "update add example.test 300 MX 10 mail.example.test\n"
            "send\n"
        )
        result = subprocess.run(
            [nsupdate, "-t", "5", "-k", str(base.with_name(base.name + ".private"))],
            input=script,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert len(captured) == 1
    signed = captured[0]
    unsigned, record = sig0.split_sig0(signed)
    assert record.signer == dns.name.from_text("updater.example.test.")
    assert record.expiration - record.inception == 2 * sig0.DEFAULT_FUDGE

    # BIND's signature verifies with our verifier, inside its window only.
    assert sig0.check_message(signed, key_line, record.inception) is None
    assert not sig0.verify_message(signed, key_line, record.expiration + 1)

    ours = sig0.sign_message(
        unsigned,
        signer=record.signer,
        private_key_pem=private,
        algorithm=algorithm,
        inception=record.inception,
        expiration=record.expiration,
    )
    if algorithm == "ed25519":
        assert ours == signed, "Ed25519 is deterministic: must equal nsupdate's bytes"
    else:  # ECDSA signatures are randomised: all but the signature must match
        assert ours[: -len(record.signature)] == signed[: -len(record.signature)]
        assert sig0.verify_message(ours, key_line, record.inception)


# -------------------------------------------- verifiers with a validity window


@pytest.fixture(scope="session")
def perl_verifier() -> list[str]:
    perl = need("perl", "perl")
    probe = subprocess.run([perl, "-MNet::DNS::SEC", "-e", "1"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("Perl Net::DNS::SEC missing: apt-get install libnet-dns-sec-perl")
    return [perl, str(HERE / "verify_sig0.pl")]


@pytest.fixture(scope="session")
def go_verifier() -> list[str]:
    go = need("go", "golang-go")
    if not (DEBIAN_GOCODE / "src/github.com/miekg/dns/sig0.go").exists():
        pytest.skip("miekg/dns sources missing: apt-get install golang-github-miekg-dns-dev")
    source = HERE / "miekg_verify" / "main.go"
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout

    def build(directory: Path) -> Path:
        package = directory / "src" / "miekg_verify"
        package.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, package / "main.go")
        env = {
            **os.environ,
            "GO111MODULE": "off",
            "GOPATH": f"{directory}:{DEBIAN_GOCODE}",
            "GOPROXY": "off",
            "GOFLAGS": "",
            "GOCACHE": str(directory / "gocache"),
            "GOTOOLCHAIN": "local",
        }
        binary = directory / "miekg_verify"
        run_build([go, "build", "-o", str(binary), "miekg_verify"], directory, env, "miekg_verify")
        return binary

    return [str(cached_build("miekg-verify", [source], version, build))]


VERIFIERS = ["perl_verifier", "go_verifier"]


def run_verifier(command: list[str], key: Key, wire: bytes) -> tuple[bool, str]:
    result = subprocess.run(
        [*command, key.rr_line], input=wire.hex(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0, result.stdout.strip()


@pytest.mark.parametrize("verifier", VERIFIERS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_independent_verifier(
    request: pytest.FixtureRequest,
    verifier: str,
    algorithm: sig0.Sig0Algorithm,
    keys: dict[sig0.Sig0Algorithm, Key],
) -> None:
    command: list[str] = request.getfixturevalue(verifier)
    key = keys[algorithm]
    update = dns.update.UpdateMessage(ZONE)
    update.present("www", "A", "192.0.2.1")
    update.delete("old", "TXT")
    update.replace("www", 300, "A", "192.0.2.20")
    update.add("@", 300, "MX", "10 mail.example.test.")
    update.add("_dmarc", 300, "TXT", '"v=DMARC1; p=reject"')
    wire = update.to_wire()
    now = int(time.time())
    signed = key.sign(wire)

    assert run_verifier(command, key, signed) == (True, "VALID")

    valid, reason = run_verifier(command, key, tamper_address(signed, "192.0.2.20"))
    assert not valid, reason

    other = Key(algorithm, key.name, make_pem(algorithm))
    valid, reason = run_verifier(command, other, signed)
    assert not valid, reason

    expired = key.sign(wire, window=(now - 7200, now - 3600))
    valid, reason = run_verifier(command, key, expired)
    assert not valid
    assert "expired" in reason or "bad time" in reason, reason

    not_yet = key.sign(wire, window=(now + 3600, now + 7200))
    valid, reason = run_verifier(command, key, not_yet)
    assert not valid
    assert "valid from" in reason or "bad time" in reason, reason


# ------------------------------------- trust-dns-server: SIG(0)-only updates


TRUST_DNS_CRATES = ("trust-dns-server-0.22.0", "rusqlite-0.28.0", "ring-0.16.20")


@pytest.fixture(scope="session")
def trust_dns_binary() -> Path:
    cargo = need("cargo", "cargo")
    missing = [crate for crate in TRUST_DNS_CRATES if not (DEBIAN_CRATES / crate).is_dir()]
    if missing:
        pytest.skip(
            f"crate sources {', '.join(missing)} missing in {DEBIAN_CRATES}: apt-get install "
            "librust-trust-dns-server-dev librust-trust-dns-server+dnssec-ring-dev "
            "librust-trust-dns-server+rusqlite-dev"
        )
    project = HERE / "trust_dns_server"
    sources = [project / "Cargo.toml", project / "src" / "main.rs"]
    version = subprocess.run(
        [cargo, "--version"], capture_output=True, text=True, check=True
    ).stdout

    def build(directory: Path) -> Path:
        (directory / "src").mkdir(exist_ok=True)
        shutil.copy(sources[0], directory / "Cargo.toml")
        shutil.copy(sources[1], directory / "src" / "main.rs")
        (directory / ".cargo").mkdir(exist_ok=True)
        (directory / ".cargo" / "config.toml").write_text(
            "[source.crates-io]\n"
            'replace-with = "debian"\n'
            "[source.debian]\n"
            f'directory = "{DEBIAN_CRATES}"\n'
            "[net]\n"
            "offline = true\n"
        )
        env = {
            **os.environ,
            "CARGO_TARGET_DIR": str(directory / "target"),
            "CARGO_NET_OFFLINE": "true",
        }
        run_build([cargo, "build", "--offline"], directory, env, "the trust-dns test server")
        return directory / "target" / "debug" / "sig0-test-server"

    return cached_build("trust-dns-server", sources, version, build)


@dataclass
class TrustDns:
    port: int
    keys: dict[sig0.Sig0Algorithm, Key]


@pytest.fixture(scope="module")
def trust_dns(
    trust_dns_binary: Path,
    keys: dict[sig0.Sig0Algorithm, Key],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TrustDns]:
    args = [str(trust_dns_binary), str(ZONE)]
    for key in keys.values():
        args += [str(key.name), key.rdata_hex]
    stderr_path = tmp_path_factory.mktemp("trust-dns") / "stderr"
    with (
        stderr_path.open("w") as stderr,
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True) as process,
    ):
        try:
            assert process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                line = process.stdout.readline() if selector.select(timeout=15) else ""
            match = re.fullmatch(r"READY (\d+)\n", line)
            if match is None:
                process.kill()
                process.wait(5)
                pytest.fail(
                    f"trust-dns test server did not start: {line!r} "
                    f"{stderr_path.read_text()[-2000:]}"
                )
            yield TrustDns(int(match.group(1)), keys)
        finally:
            process.terminate()
            process.wait(10)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trust_dns_accepts_signed_update(
    trust_dns: TrustDns, algorithm: sig0.Sig0Algorithm, tcp: bool
) -> None:
    name = f"ok-{algorithm}-{'tcp' if tcp else 'udp'}"
    signed = trust_dns.keys[algorithm].sign(simple_update(name, "192.0.2.10"))
    assert exchange(signed, trust_dns.port, tcp=tcp) == "NOERROR"
    assert lookup(name, "A", trust_dns.port) == {"192.0.2.10"}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trust_dns_accepts_a_full_batch(trust_dns: TrustDns, algorithm: sig0.Sig0Algorithm) -> None:
    """A realistic batch: prerequisites, deletions (class ANY and NONE), several types."""
    zone = f"batch-{algorithm}"
    first = dns.update.UpdateMessage(ZONE)
    first.add(zone, 300, "TXT", '"old"')
    first.add(f"old.{zone}", 300, "A", "192.0.2.99")
    assert exchange(trust_dns.keys[algorithm].sign(first.to_wire()), trust_dns.port) == "NOERROR"

    update = dns.update.UpdateMessage(ZONE)
    update.present(zone, "TXT", '"old"')
    update.absent(f"mail.{zone}")
    update.delete(zone, "TXT", '"old"')
    update.delete(f"old.{zone}")
    update.add(zone, 300, "MX", f"10 mail.{zone}.example.test.")
    update.add(zone, 300, "TXT", '"v=spf1 mx -all"')
    update.add(f"mail.{zone}", 300, "A", "192.0.2.25")
    update.add(f"mail.{zone}", 300, "AAAA", "2001:db8::25")
    update.add(f"autoconfig.{zone}", 300, "CNAME", f"mail.{zone}.example.test.")
    update.add(f"_imaps._tcp.{zone}", 300, "SRV", f"0 1 993 mail.{zone}.example.test.")
    update.add(f"_dmarc.{zone}", 300, "TXT", '"v=DMARC1; p=reject"')
    signed = trust_dns.keys[algorithm].sign(update.to_wire())
    assert exchange(signed, trust_dns.port, tcp=True) == "NOERROR"
    assert lookup(zone, "TXT", trust_dns.port) == {'"v=spf1 mx -all"'}
    assert lookup(zone, "MX", trust_dns.port) == {f"10 mail.{zone}.example.test."}
    assert lookup(f"mail.{zone}", "AAAA", trust_dns.port) == {"2001:db8::25"}
    assert lookup(f"old.{zone}", "A", trust_dns.port) == set()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trust_dns_refuses_tampered_update(
    trust_dns: TrustDns, algorithm: sig0.Sig0Algorithm
) -> None:
    name = f"tampered-{algorithm}"
    signed = trust_dns.keys[algorithm].sign(simple_update(name, "192.0.2.30"))
    assert exchange(tamper_address(signed, "192.0.2.30"), trust_dns.port) == "REFUSED"
    assert lookup(name, "A", trust_dns.port) == set()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_trust_dns_refuses_wrong_key(trust_dns: TrustDns, algorithm: sig0.Sig0Algorithm) -> None:
    registered = trust_dns.keys[algorithm]
    name = f"wrongkey-{algorithm}"
    # An unregistered key claiming a registered signer name.
    impostor = Key(algorithm, registered.name, make_pem(algorithm))
    assert exchange(impostor.sign(simple_update(name)), trust_dns.port) == "REFUSED"
    # A registered key claiming another key's signer name.
    others = [key for key in trust_dns.keys.values() if key.name != registered.name]
    swapped = Key(algorithm, others[0].name, registered.pem)
    assert exchange(swapped.sign(simple_update(name)), trust_dns.port) == "REFUSED"
    assert lookup(name, "A", trust_dns.port) == set()


def test_trust_dns_refuses_unsigned_and_tsig_updates(trust_dns: TrustDns) -> None:
    assert exchange(simple_update("unsigned"), trust_dns.port) == "REFUSED"
    assert exchange(simple_update("unsigned"), trust_dns.port, tcp=True) == "REFUSED"
    keyring = dns.tsigkeyring.from_text(
        {"tsig.example.test.": base64.b64encode(b"k" * 32).decode()}
    )
    update = dns.update.UpdateMessage(
        ZONE, keyring=keyring, keyname=dns.name.from_text("tsig.example.test.")
    )
    update.add("tsig", 300, "A", "192.0.2.40")
    assert exchange(update.to_wire(), trust_dns.port) == "REFUSED"
    assert lookup("unsigned", "A", trust_dns.port) == set()
    assert lookup("tsig", "A", trust_dns.port) == set()


def test_trust_dns_does_not_check_the_validity_window(trust_dns: TrustDns) -> None:
    """A fact, not a wish: trust-dns 0.22 accepts an expired SIG(0) (the Perl and Go
    verifiers above are the proof for the window)."""
    now = int(time.time())
    expired = trust_dns.keys["ed25519"].sign(
        simple_update("expired", "192.0.2.50"), window=(now - 7200, now - 3600)
    )
    assert exchange(expired, trust_dns.port) == "NOERROR"


def test_trust_dns_refuses_a_correct_signature_over_a_caa_issue_with_parameters(
    trust_dns: TrustDns, perl_verifier: list[str]
) -> None:
    """A fact, not a wish: trust-dns 0.22 checks a SIG(0) over its own re-encoding of the
    message, which writes the CAA value ``issuer;key=value`` back as ``issuer; key=value``
    (both are RFC 8659 syntax): the signature over the bytes sent no longer matches."""
    key = trust_dns.keys["ed25519"]
    value = "letsencrypt.org;accounturi=https://acme.test/acct/1"
    update = dns.update.UpdateMessage(ZONE)
    update.add("caa-parameters", 300, "CAA", f'0 issue "{value}"')
    signed = key.sign(update.to_wire())
    valid, reason = run_verifier(perl_verifier, key, signed)
    assert valid, reason
    assert exchange(signed, trust_dns.port) == "REFUSED"
    spaced = dns.update.UpdateMessage(ZONE)
    spaced.add("caa-parameters", 300, "CAA", f'0 issue "{value.replace(";", "; ")}"')
    assert exchange(key.sign(spaced.to_wire()), trust_dns.port) == "NOERROR"


# ----------------------------- dnsauto sync with a Sig0 DnsServer, to trust-dns


def sig0_sync_config(port: int, key: Key, domain: str, directory: Path) -> Path:
    """A configuration publishing ``domain`` through a ``Sig0`` DnsServer signing with ``key``
    (its private key in a file); returns its path.

    No ACME account URI: its CAA ``issue`` parameter is what trust-dns cannot verify (see
    :func:`test_trust_dns_refuses_a_correct_signature_over_a_caa_issue_with_parameters`)."""
    pem = directory / "sig0.pem"
    pem.write_text(key.pem)
    config = directory / "config.toml"
    config.write_text(f"""
[bootstrap]
serverHostname = "mail.{domain}"
defaultDomain = "{domain}"

[bootstrap.dnsServer]
"@type" = "Sig0"
description = "trust-dns, SIG(0)-signed updates only"
host = "127.0.0.1"
port = {port}
signerName = "{key.name}"
publicKey = "{key.record}"
key = {{ "@type" = "File", filePath = "{pem}" }}
sig0Algorithm = "{key.algorithm}"
pollingInterval = "200ms"
propagationTimeout = "10s"

[domain."{domain}".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"

[daemon]
stateDir = "{directory / "state"}"

[daemon.dns]
authoritativeServers = ["127.0.0.1:{port}"]
""")
    return config


def run_dnsauto(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnsauto", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_dnsauto_sync_with_sig0_publishes_to_a_server_that_checks_signatures(
    trust_dns: TrustDns, algorithm: sig0.Sig0Algorithm, tmp_path: Path
) -> None:
    domain = f"mail-{algorithm}.example.test"
    config = sig0_sync_config(trust_dns.port, trust_dns.keys[algorithm], domain, tmp_path)
    synced = run_dnsauto(config, "sync", "--json")
    assert synced.returncode == 0, synced.stderr + synced.stdout
    (report,) = json.loads(synced.stdout)["domains"]
    assert report["error"] is None
    assert report["propagated"] is True
    assert report["changes"] > 10
    desired = json.loads(run_dnsauto(config, "records", "--format", "json").stdout)
    for record in desired:
        name = dns.name.from_text(record["name"])
        assert set(record["values"]) <= lookup(name.to_text(), record["type"], trust_dns.port)
    again = run_dnsauto(config, "sync", "--json")
    assert again.returncode == 0, again.stderr + again.stdout
    assert json.loads(again.stdout)["domains"][0]["changes"] == 0


def test_dnsauto_sync_with_an_unregistered_sig0_key_is_refused_and_writes_nothing(
    trust_dns: TrustDns, tmp_path: Path
) -> None:
    registered = trust_dns.keys["ed25519"]
    impostor = Key("ed25519", registered.name, make_pem("ed25519"))
    domain = "mail-impostor.example.test"
    synced = run_dnsauto(
        sig0_sync_config(trust_dns.port, impostor, domain, tmp_path), "sync", "--json"
    )
    assert synced.returncode != 0, synced.stdout
    (report,) = json.loads(synced.stdout)["domains"]
    assert "REFUSED" in report["error"], report
    assert lookup(f"{domain}.", "MX", trust_dns.port) == set()
    assert impostor.pem not in synced.stdout + synced.stderr


# -------------------------------------------------- BIND 9.18.28+ and SIG(0)


def bind_version(named: str) -> tuple[int, int, int]:
    text = subprocess.run([named, "-v"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"BIND (\d+)\.(\d+)\.(\d+)", text)
    assert match, text
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


@contextlib.contextmanager
def serving(command: list[str], directory: Path, port: int) -> Iterator[int]:
    """Run a DNS server until it answers the zone's SOA on ``port``; stop it afterwards."""
    log_path = directory / "server.log"
    with (
        log_path.open("w") as log,
        subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory) as process,
    ):
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    query = dns.message.make_query(ZONE, "SOA")
                    dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
                    break
                except (dns.exception.Timeout, OSError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"{command[0]} did not start:\n{log_path.read_text()}")
                    time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(10)


SOA_AND_NS = "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n"


@contextlib.contextmanager
def run_named(directory: Path, zone_text: str, zone_options: str) -> Iterator[int]:
    named = need("named", "bind9")
    port = free_port()
    (directory / "example.test.db").write_text(zone_text)
    (directory / "named.conf").write_text(
        f'options {{ directory "{directory}"; pid-file "named.pid";\n'
        f"  listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n"
        "  recursion no; dnssec-validation no; };\n"
        "controls { };\n"
        f'zone "example.test" {{ type primary; file "example.test.db"; {zone_options} }};\n'
    )
    # -d 3: the CVE-2024-1975 notice is a debug message.
    with serving([named, "-g", "-d", "3", "-c", str(directory / "named.conf")], directory, port):
        yield port


@pytest.fixture
def modern_bind() -> str:
    named = need("named", "bind9")
    version = bind_version(named)
    if version < (9, 18, 28):
        pytest.skip(f"BIND {version} predates the removal of SIG(0) (CVE-2024-1975)")
    return named


def test_bind_ignores_sig0_so_key_policies_refuse(
    tmp_path: Path, modern_bind: str, keys: dict[sig0.Sig0Algorithm, Key]
) -> None:
    key = keys["ed25519"]
    zone = f"{SOA_AND_NS}{key.rr_line}\n"
    policy = f"update-policy {{ grant {key.name} zonesub ANY; }};"
    with run_named(tmp_path, zone, policy) as port:
        assert exchange(key.sign(simple_update("bind-policy")), port) == "REFUSED"
        assert lookup("bind-policy", "A", port) == set()
    log = (tmp_path / "server.log").read_text()
    assert "request has a SIG(0) signature but its support was removed (CVE-2024-1975)" in log


def test_bind_accepts_tampered_sig0_where_the_address_is_allowed(
    tmp_path: Path, modern_bind: str, keys: dict[sig0.Sig0Algorithm, Key]
) -> None:
    """With an address ACL, BIND applies a SIG(0) update without verifying it."""
    key = keys["ed25519"]
    with run_named(tmp_path, SOA_AND_NS, "allow-update { 127.0.0.1; };") as port:
        tampered = tamper_address(key.sign(simple_update("bind-acl", "192.0.2.60")), "192.0.2.60")
        assert exchange(tampered, port) == "NOERROR"
        assert lookup("bind-acl", "A", port) == {"192.0.2.61"}


# ------------------------- Knot 3.2 and PowerDNS 4.7 do not verify SIG(0) either


def assert_applies_unverified_sig0(port: int, key: Key) -> None:
    """A tampered and an expired SIG(0) update are both applied: no protection."""
    now = int(time.time())
    tampered = tamper_address(key.sign(simple_update("tampered", "192.0.2.70")), "192.0.2.70")
    assert exchange(tampered, port) == "NOERROR"
    assert lookup("tampered", "A", port) == {"192.0.2.71"}
    expired = key.sign(simple_update("expired", "192.0.2.80"), window=(now - 7200, now - 3600))
    assert exchange(expired, port) == "NOERROR"
    assert lookup("expired", "A", port) == {"192.0.2.80"}


def test_knot_applies_tampered_sig0_where_the_address_is_allowed(
    tmp_path: Path, keys: dict[sig0.Sig0Algorithm, Key]
) -> None:
    knotd = need("knotd", "knot")
    port = free_port()
    key = keys["ed25519"]
    (tmp_path / "db").mkdir()
    (tmp_path / "example.test.zone").write_text(f"{SOA_AND_NS}{key.rr_line}\n")
    (tmp_path / "knot.conf").write_text(
        f'server:\n  rundir: "{tmp_path}"\n  listen: 127.0.0.1@{port}\n'
        f'database:\n  storage: "{tmp_path}/db"\n'
        "acl:\n  - id: local\n    address: 127.0.0.1\n    action: update\n"
        f'template:\n  - id: default\n    storage: "{tmp_path}"\n    file: "%s.zone"\n'
        "    zonefile-sync: -1\n"
        "zone:\n  - domain: example.test.\n    acl: local\n"
    )
    with serving([knotd, "-c", str(tmp_path / "knot.conf")], tmp_path, port):
        assert_applies_unverified_sig0(port, key)


PDNS_SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")


def test_pdns_applies_tampered_sig0_where_the_address_is_allowed(
    tmp_path: Path, keys: dict[sig0.Sig0Algorithm, Key]
) -> None:
    pdns_server = need("pdns_server", "pdns-server")
    if not PDNS_SCHEMA.exists():
        pytest.skip("PowerDNS sqlite schema missing: apt-get install pdns-backend-sqlite3")
    port = free_port()
    key = keys["ed25519"]
    with sqlite3.connect(tmp_path / "pdns.sqlite3") as db:
        db.executescript(PDNS_SCHEMA.read_text())
        zone_id = db.execute(
            "INSERT INTO domains (name, type) VALUES ('example.test', 'NATIVE')"
        ).lastrowid
        db.executemany(
            "INSERT INTO records (domain_id, name, type, content, ttl, prio, disabled, auth)"
            " VALUES (?, ?, ?, ?, 300, 0, 0, 1)",
            [
                (
                    zone_id,
                    "example.test",
                    "SOA",
                    "ns.example.test hostmaster.example.test 1 3600 600 86400 60",
                ),
                (zone_id, "example.test", "NS", "ns.example.test"),
                (zone_id, "ns.example.test", "A", "127.0.0.1"),
                (zone_id, str(key.name).rstrip("."), "KEY", key.record),
            ],
        )
    db.close()
    (tmp_path / "pdns.conf").write_text(
        f"launch=gsqlite3\ngsqlite3-database={tmp_path}/pdns.sqlite3\n"
        f"local-address=127.0.0.1\nlocal-port={port}\nsocket-dir={tmp_path}\n"
        "daemon=no\nguardian=no\ndisable-syslog=yes\nsecurity-poll-suffix=\n"
        "dnsupdate=yes\nallow-dnsupdate-from=127.0.0.0/8\nwebserver=no\n"
    )
    with serving([pdns_server, f"--config-dir={tmp_path}"], tmp_path, port):
        assert_applies_unverified_sig0(port, key)
