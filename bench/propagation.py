"""Propagation: how soon ``wait`` sees the last nameserver catch up, and what one round costs.

Against the real topology of the tests (``dnsauto/testing/servers/topology.py``:
a BIND primary, a BIND
and a Knot secondary of ``example.test.`` on 127.0.0.1-3, one shared port), and nothing
outside 127.0.0.0/8.

Detection latency
    Per trial the Knot secondary is frozen, a new TXT value is written at the primary, the BIND
    secondary takes it, and ``PropagationChecker.wait`` starts (nameservers found through the
    primary as resolver, ``pollingInterval`` 1 s). At a random moment, uniform over two polling
    intervals, Knot is thawed and transfers the change. A separate process asks Knot every half
    millisecond and notes when it first serves the value: the moment the last nameserver serves
    the record. The latency is from that moment to ``wait`` returning. A "false report" is
    ``wait`` saying propagated before that moment (or before the thaw, or while any
    nameserver still serves something else). Target: every latency <= pollingInterval + 100 ms,
    no false report.

One poll round
    20 RRsets on the 3 nameservers, all live; one round is ``PropagationChecker.check`` (60
    questions at once). On loopback a round trip is a fraction of a millisecond, so the round is
    bound by the CPU that sends and parses 60 messages; to show that the questions overlap, the
    same is measured through a relay that holds every answer until 50 ms after its question
    arrived (an emulated far nameserver): there one round takes about one round trip, where
    asking one question after another takes 60. Target: a round <= 2 round trips.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.name

from bench import Figure
from dnsauto.config.daemon import DnsSettings
from dnsauto.plugin.txt import txt_rrset
from dnsauto.sync.propagation import Expectation, Nameserver, NameserverFinder, PropagationChecker
from dnsauto.testing.servers.topology import Topology, start_topology

__all__ = ["TITLE", "Settings", "measure", "run"]

TITLE = "detection latency of a late secondary; one poll round over 3 nameservers x 20 RRsets"

ZONE = dns.name.from_text("example.test.")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    trials: int = 50
    interval: float = 1.0
    """``pollingInterval`` in seconds."""
    rrsets: int = 20
    repeats: int = 50
    """Rounds (and single questions per server) measured for the round figures."""
    emulated_rtt: float = 0.05
    emulated_repeats: int = 10
    seed: int = 4

    @classmethod
    def quick(cls) -> Settings:
        return cls(trials=3, interval=0.2, repeats=5, emulated_repeats=2)


def run(quick: bool) -> list[Figure]:
    """Start the topology, measure, stop it."""
    topology = start_topology()
    try:
        return asyncio.run(measure(topology, Settings.quick() if quick else Settings()))
    finally:
        topology.stop()


async def measure(topology: Topology, settings: Settings) -> list[Figure]:
    """Every figure of this benchmark, against a running topology (left as found)."""
    detection = await detection_latency(topology, settings)
    rounds = await poll_round(topology, settings)
    return detection + rounds


def _checker(topology: Topology, **fields: object) -> PropagationChecker:
    document = {"resolvers": [topology.resolver], "authoritativePort": topology.port, **fields}
    return PropagationChecker(NameserverFinder(DnsSettings.model_validate(document)))


@contextmanager
def _helper(module: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A helper process of this package, talking JSON lines; it ends when its stdin closes."""
    with subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as process:
        try:
            yield process
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()


def _exchange(process: subprocess.Popen[str], request: dict[str, object] | None) -> object:
    assert process.stdin is not None
    assert process.stdout is not None
    if request is not None:
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"{process.args!r} ended")
    return json.loads(line)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# --- detection latency --------------------------------------------------------------------------


async def detection_latency(topology: Topology, settings: Settings) -> list[Figure]:
    checker = _checker(topology)
    rng = random.Random(settings.seed)
    knot = topology.knot_secondary
    latencies: list[float] = []
    false_reports = 0
    timeouts = 0
    topology.reset()
    with _helper("bench._watch") as watcher:
        for trial in range(settings.trials):
            name = f"detect-{trial}-{uuid.uuid4().hex[:8]}.example.test."
            value = f"trial {trial}"
            await asyncio.to_thread(topology.freeze)
            serial = await asyncio.to_thread(
                topology.update, ("replace", name, "300", "TXT", f'"{value}"')
            )
            others = [topology.primary, topology.bind_secondary]
            await asyncio.to_thread(topology.wait_for_serial, serial, others)
            expectation = Expectation.of(txt_rrset(name, 300, [value]))
            waiting = asyncio.create_task(
                checker.wait(
                    ZONE,
                    [expectation],
                    interval=settings.interval,
                    propagation_timeout=2 * settings.interval + 5,
                    query_timeout=1,
                )
            )
            await asyncio.sleep(rng.uniform(0.0, 2 * settings.interval))
            early = waiting.done()
            request = {"host": knot.host, "port": knot.port, "name": name, "value": value}
            acknowledged = await asyncio.to_thread(_exchange, watcher, request)
            assert acknowledged == {"watching": True}, acknowledged
            watched = asyncio.create_task(asyncio.to_thread(_exchange, watcher, None))
            released = time.monotonic()
            await asyncio.to_thread(topology.thaw)
            result = await waiting
            returned = time.monotonic()
            served = await watched
            assert isinstance(served, dict)
            served_at = served["served_at"]
            if not result.propagated:
                timeouts += 1
                continue
            live_everywhere = all(
                topology.served(m, name, "TXT")[1] == {value} for m in topology.members
            )
            # The watcher's first positive probe is sent up to one probe period after the
            # moment; 5 ms covers that and a round trip.
            if (
                early
                or returned < released
                or served_at is None
                or returned < served_at - 0.005
                or not live_everywhere
            ):
                false_reports += 1
                continue
            latencies.append(returned - served_at)
    topology.reset()
    bound = settings.interval * 1000 + 100
    worst = _ms(max(latencies)) if latencies else None
    quantiles = latencies * 19
    if len(latencies) > 1:
        quantiles = statistics.quantiles(latencies, n=20, method="inclusive")
    key = "propagation.detection_latency_ms"
    return [
        Figure("propagation.trials", settings.trials, "", "trials (a late secondary each)"),
        Figure("propagation.polling_interval_ms", _ms(settings.interval), "ms", "pollingInterval"),
        Figure(
            f"{key}.p50",
            _ms(statistics.median(latencies)) if latencies else None,
            "ms",
            "last nameserver serves -> wait returns, median",
        ),
        Figure(
            f"{key}.p95",
            _ms(quantiles[18]) if quantiles else None,
            "ms",
            "same, 95th percentile",
        ),
        Figure(
            f"{key}.max",
            worst,
            "ms",
            "same, worst trial",
            f"<= {bound:g}",
            worst is not None and worst <= bound,
        ),
        Figure(
            "propagation.false_reports",
            false_reports,
            "",
            "propagated reported before the last nameserver served",
            "== 0",
            false_reports == 0,
        ),
        Figure(
            "propagation.timeouts",
            timeouts,
            "",
            "trials where wait gave up",
            "== 0",
            timeouts == 0,
        ),
    ]


# --- one poll round -----------------------------------------------------------------------------


async def _timed_median(repeats: int, action: Callable[[], Awaitable[None]]) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def _round_figures(
    checker: PropagationChecker,
    servers: Sequence[Nameserver],
    expectations: Sequence[Expectation],
    repeats: int,
) -> tuple[float, float, float]:
    """Median one-question time, one-round time and one-after-another time, in seconds."""

    async def one_question() -> None:
        for server in servers:
            ok, why = await checker.ask(server, expectations[0], 2)
            assert ok, why

    async def one_round() -> None:
        failures = await checker.check(servers, expectations, 2)
        assert not failures, failures

    async def one_after_another() -> None:
        for server in servers:
            for expectation in expectations:
                ok, why = await checker.ask(server, expectation, 2)
                assert ok, why

    await one_round()  # warm up
    rtt = await _timed_median(repeats, one_question) / len(servers)
    round_time = await _timed_median(repeats, one_round)
    sequential = await _timed_median(max(1, repeats // 5), one_after_another)
    return rtt, round_time, sequential


async def poll_round(topology: Topology, settings: Settings) -> list[Figure]:
    names = [f"round-{i}-{uuid.uuid4().hex[:6]}.example.test." for i in range(settings.rrsets)]
    values = [f"v=spf1 ip4:192.0.2.{i} -all" for i in range(settings.rrsets)]
    serial = await asyncio.to_thread(
        topology.update,
        *(("replace", n, "300", "TXT", f'"{v}"') for n, v in zip(names, values, strict=True)),
    )
    await asyncio.to_thread(topology.wait_for_serial, serial)
    expectations = [
        Expectation.of(txt_rrset(n, 300, [v])) for n, v in zip(names, values, strict=True)
    ]
    checker = _checker(topology)
    servers = await checker.finder.nameservers(ZONE)
    questions = len(servers) * len(expectations)
    rtt, round_time, sequential = await _round_figures(
        checker, servers, expectations, settings.repeats
    )
    delay_ms = f"{settings.emulated_rtt * 1000:g}"
    upstreams = [f"{s.host}:{s.port}" for s in servers]
    with _helper("bench._delay", delay_ms, *upstreams) as relay:
        ports = _exchange(relay, None)
        assert isinstance(ports, list)
        far = [Nameserver("127.0.0.1", p, s.label) for s, p in zip(servers, ports, strict=True)]
        far_rtt, far_round, far_sequential = await _round_figures(
            checker, far, expectations, settings.emulated_repeats
        )
    in_rtts = round(far_round / far_rtt, 2)
    emulated = f"propagation.emulated_{delay_ms}ms"
    return [
        Figure("propagation.poll_round_questions", questions, "", "questions in one round"),
        Figure("propagation.rtt_ms", _ms(rtt), "ms", "one question, loopback, median"),
        Figure(
            "propagation.poll_round_ms",
            _ms(round_time),
            "ms",
            f"one round ({questions} questions at once), loopback, median",
        ),
        Figure(
            "propagation.poll_round_sequential_ms",
            _ms(sequential),
            "ms",
            f"the {questions} questions one after another, loopback",
        ),
        Figure(f"{emulated}.rtt_ms", _ms(far_rtt), "ms", "one question through the relay"),
        Figure(
            f"{emulated}.poll_round_ms",
            _ms(far_round),
            "ms",
            "one round through the relay, median",
        ),
        Figure(
            f"{emulated}.poll_round_sequential_ms",
            _ms(far_sequential),
            "ms",
            "one after another through the relay",
        ),
        Figure(
            f"{emulated}.poll_round_in_rtts",
            in_rtts,
            "RTT",
            "one round / one question, through the relay",
            "<= 2",
            in_rtts <= 2,
        ),
    ]
