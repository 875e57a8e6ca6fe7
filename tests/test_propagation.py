"""Propagation against real servers: a BIND primary, a BIND and a Knot secondary (NOTIFY/IXFR).

Every test leaves the topology as it found it (``reset()``): no secondary frozen, paused or
cut off from NOTIFY, all serving the primary's serial. Timings are short (polling every 50 ms,
a second or two of timeout) and nothing sleeps for a fixed time: lags are made and ended by
the topology's controls, and the tests wait for states with deadlines.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dnsauto.config.daemon import DnsSettings
from dnsauto.plugin.changes import Delete, Update
from dnsauto.plugin.txt import txt_rrset
from dnsauto.sync.propagation import (
    Expectation,
    Nameserver,
    NameserverFinder,
    PropagationChecker,
    expectations_for,
)
from dnsauto.testing import make_rrset
from dnsauto.testing.servers.topology import Member, Topology

pytestmark = pytest.mark.servers

ZONE = dns.name.from_text("example.test.")
FAST = {"interval": 0.05, "query_timeout": 0.5}


@pytest.fixture
def net(topology: Topology) -> Iterator[Topology]:
    """The shared topology, in sync before the test and put back in sync after it."""
    topology.reset()
    try:
        yield topology
    finally:
        topology.reset()


@dataclass
class Asked:
    at: float
    server: Nameserver
    expectation: Expectation
    met: bool
    why: str


class RecordingChecker(PropagationChecker):
    """A checker that remembers every question it asked, when, and what came back; and the
    questions it gave up (cancelled before an answer or a query timeout)."""

    def __init__(self, finder: NameserverFinder) -> None:
        super().__init__(finder)
        self.log: list[Asked] = []
        self.given_up: list[Nameserver] = []
        self.in_flight: dict[Nameserver, int] = {}
        self.most_in_flight: dict[Nameserver, int] = {}

    async def ask(
        self, server: Nameserver, expectation: Expectation, query_timeout: float
    ) -> tuple[bool, str]:
        at = time.monotonic()
        self.in_flight[server] = self.in_flight.get(server, 0) + 1
        self.most_in_flight[server] = max(
            self.most_in_flight.get(server, 0), self.in_flight[server]
        )
        try:
            met, why = await super().ask(server, expectation, query_timeout)
        except asyncio.CancelledError:
            self.given_up.append(server)
            raise
        finally:
            self.in_flight[server] -= 1
        self.log.append(Asked(at, server, expectation, met, why))
        return met, why

    def answers_from(self, host: str) -> list[Asked]:
        return [a for a in self.log if a.server.host == host]


def settings(net: Topology, **fields: Any) -> DnsSettings:
    document = {"resolvers": [net.resolver], "authoritativePort": net.port, **fields}
    return DnsSettings.model_validate(document)


def checker(net: Topology, **fields: Any) -> RecordingChecker:
    return RecordingChecker(NameserverFinder(settings(net, **fields), timeout=2))


def fresh_name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}.example.test."


def txt(name: str, *texts: str, ttl: int = 300) -> dns.rrset.RRset:
    return txt_rrset(name, ttl, texts)


def publish_txt(net: Topology, name: str, *texts: str, ttl: int = 300) -> int:
    quoted = [" ".join(f'"{p}"' for p in _pieces(t)) for t in texts]
    operations: list[tuple[str, ...]] = [("delete", name, "TXT")]
    operations += [("add", name, str(ttl), "TXT", q) for q in quoted]
    return net.update(*operations)


def _pieces(text: str, size: int = 200) -> list[str]:
    """Split differently from dnsauto (200 bytes, not 255): the comparison must not care."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def others(net: Topology, lagging: Member) -> list[Member]:
    return [m for m in net.members if m is not lagging]


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


# --- all in sync, discovery ---------------------------------------------------------------------


async def test_nameservers_are_discovered_through_the_configured_resolver(net: Topology) -> None:
    found = await NameserverFinder(settings(net)).nameservers(ZONE)
    assert sorted(found, key=lambda n: n.host) == [
        Nameserver("127.0.0.1", net.port, "ns1.example.test."),
        Nameserver("127.0.0.2", net.port, "ns2.example.test."),
        Nameserver("127.0.0.3", net.port, "ns3.example.test."),
    ]


async def test_a_change_every_nameserver_serves_is_propagated(net: Topology) -> None:
    name = fresh_name("sync")
    serial = publish_txt(net, name, "v=spf1 -all")
    net.wait_for_serial(serial)
    recorder = checker(net)
    result = await recorder.wait(ZONE, [Expectation.of(txt(name, "v=spf1 -all"))], **FAST)
    assert result.propagated
    assert result.lagging == {}
    assert result.rounds == 1
    assert len(result.nameservers) == 3
    assert {a.server.host for a in recorder.log} == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}


async def test_authoritative_servers_replace_discovery(net: Topology) -> None:
    name = fresh_name("override")
    with net.frozen():
        publish_txt(net, name, "only on the primary and ns2")
        expectation = Expectation.of(txt(name, "only on the primary and ns2"))
        # The resolver points nowhere: nothing may be looked up.
        overridden = checker(
            net, resolvers=["127.0.0.1:9"], authoritativeServers=[f"127.0.0.1:{net.port}"]
        )
        result = await overridden.wait(ZONE, [expectation], propagation_timeout=2, **FAST)
        assert result.propagated
        assert result.nameservers == [f"127.0.0.1:{net.port}"]
        discovered = await checker(net).wait(ZONE, [expectation], propagation_timeout=0.3, **FAST)
        assert not discovered.propagated
        assert discovered.lagging_nameservers == [f"ns3.example.test. (127.0.0.3:{net.port})"]


async def test_a_shared_name_is_live_when_a_plan_would_leave_it_alone(net: Topology) -> None:
    name = fresh_name("shared")
    desired = Expectation.shared(txt(name, "v=spf1 mx -all"))
    # Served: a foreign value, and the SPF record merged as a sync merges it.
    net.wait_for_serial(publish_txt(net, name, "verification=1", "v=spf1 include:x.test mx ~all"))
    result = await checker(net).wait(ZONE, [desired], propagation_timeout=2, **FAST)
    assert result.propagated, result.lagging
    # An SPF record without dnsauto's mechanism is not live.
    net.wait_for_serial(publish_txt(net, name, "verification=1", "v=spf1 include:x.test ~all"))
    result = await checker(net).wait(ZONE, [desired], propagation_timeout=0.2, **FAST)
    assert not result.propagated
    assert len(result.lagging) == 3


# --- a lagging secondary ------------------------------------------------------------------------


LAGS = ["knot frozen, then thawed", "bind without NOTIFY, then rndc refresh", "knot without NOTIFY"]


@pytest.mark.parametrize("lag", LAGS)
async def test_a_lagging_secondary_holds_the_result_until_it_serves_the_record(
    net: Topology, lag: str
) -> None:
    lagging = net.bind_secondary if lag.startswith("bind") else net.knot_secondary
    if "frozen" in lag:
        net.freeze()
    else:
        net.set_notify(lagging, False)
    name = fresh_name("lag")
    serial = publish_txt(net, name, "the new value")
    net.wait_for_serial(serial, others(net, lagging))
    recorder = checker(net)
    expectation = Expectation.of(txt(name, "the new value"))
    waiting = asyncio.create_task(
        recorder.wait(ZONE, [expectation], propagation_timeout=20, **FAST)
    )

    # Mid-poll: the lagging secondary has said "not yet" three times, and nobody is fooled.
    await until(lambda: len(recorder.answers_from(lagging.host)) >= 3, "three polls")
    assert not waiting.done()
    assert net.served(lagging, name, "TXT") == ("NXDOMAIN", set())
    released = time.monotonic()
    if "frozen" in lag:
        await asyncio.to_thread(net.thaw)
    else:
        await asyncio.to_thread(net.refresh, lagging)
    result = await waiting

    assert result.propagated
    assert result.lagging == {}
    asked = recorder.answers_from(lagging.host)
    assert all(not a.met for a in asked[:-1])
    assert asked[-1].met
    assert all(a.at < released for a in asked[:3])
    assert net.served(lagging, name, "TXT") == ("NOERROR", {"the new value"})
    # Once confirmed, a server is not asked again: the others were asked once, the lagging
    # one was polled until it served the record.
    for member in others(net, lagging):
        (only,) = recorder.answers_from(member.host)
        assert only.met


async def test_a_change_of_the_ttl_alone_waits_for_the_lagging_secondary(net: Topology) -> None:
    name = fresh_name("ttl")
    net.wait_for_serial(publish_txt(net, name, "same text", ttl=300))
    with net.frozen():
        serial = publish_txt(net, name, "same text", ttl=600)
        net.wait_for_serial(serial, others(net, net.knot_secondary))
        (expectation,) = expectations_for(
            [Update(txt(name, "same text", ttl=300), txt(name, "same text", ttl=600))]
        )
        result = await checker(net).wait(ZONE, [expectation], propagation_timeout=0.3, **FAST)
        assert not result.propagated
        ((server, problems),) = result.lagging.items()
        assert server.startswith("ns3.example.test.")
        assert "TTL 300, not 600" in problems[0]
    result = await checker(net).wait(ZONE, [expectation], propagation_timeout=5, **FAST)
    assert result.propagated


# --- a stopped secondary ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["bind", "knot"])
async def test_a_stopped_secondary_times_out_and_is_named(net: Topology, which: str) -> None:
    stopped = net.bind_secondary if which == "bind" else net.knot_secondary
    names = [fresh_name(f"stopped{i}") for i in range(5)]
    with net.paused(stopped):
        serial = net.update(*(("replace", n, "300", "TXT", '"x"') for n in names))
        net.wait_for_serial(serial, others(net, stopped))
        expectations = [Expectation.of(txt(n, "x")) for n in names]
        recorder = checker(net)
        # The query timeout is far beyond the propagation timeout: only giving up the
        # questions still out at the deadline ends this wait before the server resumes.
        result = await recorder.wait(
            ZONE, expectations, interval=0.05, query_timeout=600, propagation_timeout=1.0
        )
    assert not result.propagated
    assert result.lagging_nameservers == [f"{stopped.label} ({stopped.host}:{net.port})"]
    problems = result.lagging[result.lagging_nameservers[0]]
    assert len(problems) == 5
    assert all("no answer within 1s" in p for p in problems)
    # The 5 questions to the silent server were out at once, and the wait gave them up.
    (silent,) = (s for s in recorder.most_in_flight if s.host == stopped.host)
    assert recorder.most_in_flight[silent] == 5
    assert recorder.given_up.count(silent) == 5
    assert recorder.answers_from(stopped.host) == []


# --- deletions ----------------------------------------------------------------------------------


async def test_a_deleted_name_propagates_as_nxdomain(net: Topology) -> None:
    name = fresh_name("gone")
    net.wait_for_serial(publish_txt(net, name, "to be deleted"))
    net.wait_for_serial(net.update(("delete", name)))
    expectations = expectations_for([Delete(txt(name, "to be deleted"))])
    result = await checker(net).wait(ZONE, expectations, propagation_timeout=5, **FAST)
    assert result.propagated
    assert net.served(net.knot_secondary, name, "TXT") == ("NXDOMAIN", set())


async def test_a_deleted_rrset_propagates_as_nodata_and_waits_for_the_lagging_one(
    net: Topology,
) -> None:
    name = fresh_name("nodata")
    net.wait_for_serial(
        net.update(
            ("add", name, "300", "A", "192.0.2.1"),
            ("add", name, "300", "TXT", '"to be deleted"'),
        )
    )
    expectations = expectations_for([Delete(txt(name, "to be deleted"))])
    with net.frozen():
        serial = net.update(("delete", name, "TXT"))
        net.wait_for_serial(serial, others(net, net.knot_secondary))
        result = await checker(net).wait(ZONE, expectations, propagation_timeout=0.3, **FAST)
        assert not result.propagated
        ((server, (problem,)),) = result.lagging.items()
        assert server.startswith("ns3.example.test.")
        assert problem.endswith("serves to be deleted")
    result = await checker(net).wait(ZONE, expectations, propagation_timeout=5, **FAST)
    assert result.propagated
    assert net.served(net.knot_secondary, name, "TXT") == ("NOERROR", set())


# --- propagationDelay ---------------------------------------------------------------------------


async def test_no_nameserver_is_asked_before_the_propagation_delay(net: Topology) -> None:
    name = fresh_name("delay")
    net.wait_for_serial(publish_txt(net, name, "x"))
    recorder = checker(net)
    await recorder.finder.nameservers(ZONE)  # discovery asks the resolver, not the nameservers
    started = time.monotonic()
    result = await recorder.wait(ZONE, [Expectation.of(txt(name, "x"))], delay=0.4, **FAST)
    assert result.propagated
    assert min(a.at for a in recorder.log) - started >= 0.4
    assert result.seconds >= 0.4


# --- long TXT -----------------------------------------------------------------------------------


def dkim_value(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; h=sha256; p={base64.b64encode(der).decode()}"


@pytest.mark.parametrize("bits", [2048, 4096])
async def test_a_dkim_rsa_key_over_255_bytes_is_compared_by_its_text(
    net: Topology, bits: int
) -> None:
    value = dkim_value(bits)
    assert len(value) > 255
    name = fresh_name("sel._domainkey")
    net.wait_for_serial(publish_txt(net, name, value))
    wanted = Expectation.of(txt(name, value))  # split at 255 bytes, served split at 200
    result = await checker(net).wait(ZONE, [wanted], propagation_timeout=2, **FAST)
    assert result.propagated
    tampered = value[:-10] + ("A" if value[-10] != "A" else "B") + value[-9:]
    wrong = Expectation.of(txt(name, tampered))
    result = await checker(net).wait(ZONE, [wrong], propagation_timeout=0.2, **FAST)
    assert not result.propagated
    assert len(result.lagging) == 3


async def test_an_rrset_too_big_for_udp_is_read_over_tcp(net: Topology) -> None:
    values = [f"{i} {'x' * 400}" for i in range(5)]  # about 2 kB: truncated at 1232 bytes
    name = fresh_name("big")
    net.wait_for_serial(publish_txt(net, name, *values))
    assert net.served(net.primary, name, "TXT")[1] == set(values)
    result = await checker(net).wait(
        ZONE, [Expectation.of(txt(name, *values))], propagation_timeout=2, **FAST
    )
    assert result.propagated, result.lagging


# --- failures count as not propagated ----------------------------------------------------------


class FakeServer(asyncio.DatagramProtocol):
    """Answers every query with ``rcode`` (and the AA flag when ``authoritative``)."""

    def __init__(self, rcode: dns.rcode.Rcode, *, authoritative: bool = True) -> None:
        self.rcode = rcode
        self.authoritative = authoritative
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.set_rcode(self.rcode)
        if self.authoritative:
            response.flags |= dns.flags.AA
            for question in query.question:
                response.answer.append(make_rrset(question.name, "TXT", 300, '"x"'))
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (FakeServer(dns.rcode.SERVFAIL), "answered SERVFAIL"),
        (FakeServer(dns.rcode.REFUSED), "answered REFUSED"),
        (FakeServer(dns.rcode.NOERROR, authoritative=False), "not authoritative for the zone"),
    ],
    ids=["servfail", "refused", "not-authoritative"],
)
async def test_a_server_that_fails_counts_as_not_propagated(
    net: Topology, answer: FakeServer, reason: str
) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: answer, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        servers = [f"127.0.0.1:{port}", f"127.0.0.1:{net.port}"]
        name = fresh_name("fail")
        net.wait_for_serial(publish_txt(net, name, "x"))
        result = await checker(net, authoritativeServers=servers).wait(
            ZONE, [Expectation.of(txt(name, "x"))], propagation_timeout=0.2, **FAST
        )
    finally:
        transport.close()
    assert not result.propagated
    assert result.lagging == {f"127.0.0.1:{port}": [f"{name} TXT: {reason}"]}


async def test_a_real_server_that_refuses_the_zone_counts_as_not_propagated(
    net: Topology,
) -> None:
    other = dns.name.from_text("other.test.")
    result = await checker(net, authoritativeServers=[f"127.0.0.2:{net.port}"]).wait(
        other, [Expectation.absent(other, dns.rdatatype.TXT)], propagation_timeout=0.2, **FAST
    )
    assert not result.propagated
    assert result.lagging == {f"127.0.0.2:{net.port}": ["other.test. TXT: answered REFUSED"]}


# --- the command line, end to end ---------------------------------------------------------------


def write_config(path: Path, net: Topology, **domain: Any) -> None:
    key = net.update_key
    document = {
        "bootstrap": {"serverHostname": "mail.example.test", "defaultDomain": "example.test"},
        "dnsServer": {
            "primary": {
                "@type": "Tsig",
                "description": "the BIND primary",
                "host": "127.0.0.1",
                "port": net.port,
                "keyName": key.name,
                "key": {"@type": "Value", "secret": key.secret},
                "tsigAlgorithm": key.algorithm,
                "timeout": "1s",
                "pollingInterval": "50ms",
                "propagationTimeout": "1s",
            }
        },
        "domain": {
            "example.test": {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "primary"},
                **domain,
            }
        },
        "daemon": {
            "stateDir": str(path.parent / "state"),
            "dns": {"resolvers": [net.resolver], "authoritativePort": net.port},
        },
    }
    path.write_text(tomli_w.dumps(document))


def dnsauto(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "dnsauto", "--config", str(config), *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_sync_waits_for_every_nameserver_and_check_tells_when_one_lags(
    net: Topology, tmp_path: Path
) -> None:
    config = tmp_path / "dnsauto.toml"
    write_config(config, net)

    started = time.monotonic()
    status, out = dnsauto(config, "sync")
    took = time.monotonic() - started
    (domain,) = out["domains"]
    assert status == 0, out
    assert domain["changes"] > 0
    assert domain["propagated"] is True
    assert domain["lagging"] == []
    assert 0 < domain["seconds"] < took  # the sync's own figure, within the command's run
    assert dnsauto(config, "check")[0] == 0

    with net.frozen():
        write_config(config, net, reportAddressUri="mailto:reports@example.test")
        status, out = dnsauto(config, "sync")
        (domain,) = out["domains"]
        assert status == 1
        assert domain["changes"] > 0
        assert domain["propagated"] is False
        assert domain["lagging"] == [f"ns3.example.test. (127.0.0.3:{net.port})"]
        assert "lagging: ns3.example.test." in domain["error"]

        status, out = dnsauto(config, "check")
        (domain,) = out["domains"]
        assert status == 1
        assert domain["live"] is False
        assert list(domain["missing"]) == [f"ns3.example.test. (127.0.0.3:{net.port})"]

        # Nothing left to write, but the change is still not live everywhere: not propagated.
        status, out = dnsauto(config, "sync")
        (domain,) = out["domains"]
        assert status == 1
        assert domain["changes"] == 0
        assert domain["propagated"] is False

    net.wait_in_sync()
    assert dnsauto(config, "check")[0] == 0
    status, out = dnsauto(config, "sync")
    assert status == 0
    assert out["domains"][0]["propagated"] is True
