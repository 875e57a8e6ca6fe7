"""Bulk publish: N mail domains from empty, dnsauto against its peers and the raw floor.

Against a BIND of its own on 127.0.0.1 (:mod:`bench._bind`) with N empty zones
``z{i}.bench.test.`` and one TSIG key (hmac-sha256). Every domain gets the full mail record
set of dnsauto's default ``publishRecords`` (MX, SPF, DKIM Ed25519 and RSA, DMARC, MTA-STS,
TLS-RPT, six SRV, CAA, autoconfig, autodiscover, ua-auto-config): 19 RRsets, about 1.6 KB of
UPDATE per zone.

Each round resets BIND (every zone empty again) before each of:

dnsauto
    ``dnsauto sync --no-wait --json``: one process, one ``Tsig`` DnsServer, N domains. The
    DKIM keys are made before the timed part (``dnsauto records``, cached between runs), so
    every tool sends the same record values and none pays for key generation. ``--no-wait``
    because none of the peers checks that the records are served; the same sync waiting for
    every RRset to be served (``authoritativeServers`` = the same BIND) is measured as well
    (``dnsauto_wait_s``).
nsupdate loop
    a shell loop running ``nsupdate -k KEYFILE`` once per zone, each with every record of its
    zone in one update.
octoDNS
    ``octodns-sync --doit`` from a YAML source (one file per zone) into
    ``octodns_bind.Rfc2136Provider``, in a virtual environment of its own in the cache.
raw client
    :mod:`bench._raw`: the same UPDATE messages dnsauto sends (one per zone, TSIG-signed,
    every RRset with its "does not exist" prerequisite), zone after zone, no reading and no
    planning: the floor.

Every tool is a fresh process, timed from start to exit (``os.wait4`` gives its peak RSS), and
every Python tool runs with compiled bytecode as an installed package has it. After each run
a few zones are transferred and compared with the desired records, so a tool that did less
work is caught. Ratios are taken within a round (the machine is shared and noisy) and the
median over the rounds is reported.

After dnsauto's publish, the same sync runs again (nothing to change): its time, the DNS
messages BIND received (from its statistics channel) and the writes among them, first with
``--no-wait`` (what a sync reads to plan) and then waiting (which asks for every desired RRset
once more, to prove it live).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring
import dns.zone

from bench import Figure
from bench._bind import Counters, ZoneServer, zone_names
from bench._peers import (
    OCTODNS_PACKAGES,
    Record,
    Target,
    by_zone,
    ensure_octodns,
    write_nsupdate,
    write_octodns,
    write_raw,
)

__all__ = ["PREFIXES", "TITLE", "Settings", "measure", "run"]

TITLE = "bulk publish of N mail domains vs nsupdate, octoDNS and a raw client; unchanged re-sync"
PREFIXES = ("bulk_publish", "resync", "scaling")
"""The figures' key prefixes (``python -m bench`` replaces what they held)."""

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("dnsauto", "nsupdate", "octodns", "raw", "dnsauto_wait")
ALGORITHM = "hmac-sha256"
KEY_CACHE_VERSION = 1
DISTINCT_KEYS = 1000
"""Domains above this many get copies of the keys of the first ones (RSA-2048 generation
takes about 20 minutes of CPU for 20,000 domains; the records have the same size)."""
KEY_MAX_AGE = timedelta(days=60)
"""Cached DKIM keys older than this are made again (``rotateAfter`` is 90 days)."""

CONFIG = """\
[bootstrap]
serverHostname = "mail.bench.test"
defaultDomain = "z0.bench.test"
requestTlsCertificate = true

[dnsServer.bench]
"@type" = "Tsig"
description = "The benchmark's BIND"
host = "127.0.0.1"
port = {port}
keyName = "bench-key"
key = {{ "@type" = "File", filePath = "{secret_file}" }}
tsigAlgorithm = "{algorithm}"
pollingInterval = "200ms"
propagationTimeout = "5m"

[mailServer]
mtaStsPolicyId = "20260101"

[mailServer.acme]
directory = "https://acme-v02.api.letsencrypt.org/directory"

[daemon]
stateDir = "{state}"

[daemon.dns]
authoritativeServers = ["127.0.0.1:{port}"]
"""
"""The dnsauto configuration; one ``[domain.*]`` table per zone follows it."""


@dataclass(frozen=True)
class Settings:
    sizes: tuple[int, ...] = (100, 1000, 5000)
    rounds: int = 3
    warm_up: bool = True
    """One untimed round of every tool at the smallest size first (bytecode, page cache)."""
    octodns_max: int = 1000
    """octoDNS runs up to this N (a larger N is skipped and said so: it would take about
    80 s a round there)."""
    wait_max: int = 1000
    """``dnsauto sync`` waiting for propagation runs up to this N."""
    all_rounds_max: int = 1000
    """Above this N the nsupdate loop and the re-syncs run in the first round only (they
    take minutes there); dnsauto and the raw client run every round."""
    octodns_workers: int = 8
    """octoDNS's ``max_workers``: plans this many zones at once (dnsauto syncs 8 at once)."""
    cache: Path | None = None
    """Where DKIM keys, octoDNS and bytecode are kept between runs (default: user cache)."""

    @classmethod
    def quick(cls) -> Settings:
        return cls(sizes=(20,), rounds=1, warm_up=False)


def run(quick: bool) -> list[Figure]:
    return measure(Settings.quick() if quick else Settings())


# --- processes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    seconds: float
    rss_kb: int | None
    """Peak RSS of the tool's process and its children; None without GNU time."""
    cpu_seconds: float
    """User and system CPU time of the tool and its children."""
    returncode: int
    output: Path


GNU_TIME = Path("/usr/bin/time")


def cache_dir(settings: Settings) -> Path:
    if settings.cache is not None:
        path = settings.cache
    elif os.environ.get("DNSAUTO_BENCH_CACHE"):
        path = Path(os.environ["DNSAUTO_BENCH_CACHE"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "dnsauto-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def tool_environment(cache: Path) -> dict[str, str]:
    """The environment of the timed tools: bytecode written to and read from the cache.

    An installed package has its bytecode compiled (pip does it at install); a checkout run
    with ``PYTHONDONTWRITEBYTECODE`` would compile every module at every start instead.
    """
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "VIRTUAL_ENV")
    }
    environment["PYTHONPYCACHEPREFIX"] = str(cache / "pycache")
    return environment


def timed(command: Sequence[str], environment: Mapping[str, str], output: Path) -> Timed:
    """Run ``command`` to its end: wall time, peak RSS (with its children's), exit status.

    The peak RSS comes from GNU time, which forks the tool: a process forked from this one
    (tens of MB) would report at least this one's RSS, whatever it then runs.
    """
    usage = output.with_suffix(".rss")
    usage.unlink(missing_ok=True)
    wrapper = [str(GNU_TIME), "-q", "-f", "%M", "-o", str(usage)] if GNU_TIME.exists() else []
    cpu_before = _children_cpu()
    with output.open("wb") as out:
        started = time.perf_counter()
        done = subprocess.run(
            [*wrapper, *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(environment),
            cwd=ROOT,
            check=False,
        )
        seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    rss: int | None = None
    if wrapper:
        lines = usage.read_text().split()
        rss = int(lines[-1]) if lines and lines[-1].isdigit() else None
    return Timed(seconds, rss, cpu, done.returncode, output)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _dnsauto() -> list[str]:
    script = Path(sys.executable).parent / "dnsauto"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dnsauto"]


# --- DKIM keys and the records --------------------------------------------------------------


def config_text(
    count: int, *, port: int, secret_file: Path, state: Path, domains: Sequence[int] | None = None
) -> str:
    text = CONFIG.format(port=port, secret_file=secret_file, state=state, algorithm=ALGORITHM)
    indexes = range(count) if domains is None else domains
    tables = [
        f'[domain."z{i}.bench.test".dnsManagement]\n"@type" = "Automatic"\ndnsServerId = "bench"\n'
        # CAA is published only for a domain whose certificates are managed, as in Stalwart
        f'[domain."z{i}.bench.test".certificateManagement]\n"@type" = "Automatic"\n'
        for i in indexes
    ]
    return text + "\n" + "\n".join(tables)


@dataclass(frozen=True)
class Keys:
    """DKIM keys of ``count`` domains, made once (a state directory to copy), and the records."""

    state: Path
    records: list[Record]
    count: int


def prepare_keys(cache: Path, count: int, environment: Mapping[str, str]) -> Keys:
    """The cached keys of at least ``count`` domains, made (two processes at once) if missing.

    The keys are made by ``dnsauto records``; the records of every domain come from
    ``dnsauto records --format json`` and are what every tool publishes.
    """
    base = cache / "keys"
    meta_path = base / "meta.json"
    fingerprint = hashlib.sha256(f"{KEY_CACHE_VERSION}\n{CONFIG}".encode()).hexdigest()[:16]
    meta: dict[str, Any] = {}
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    created = meta.get("created")
    fresh = (
        meta.get("fingerprint") == fingerprint
        and isinstance(created, str)
        and datetime.now(UTC) - datetime.fromisoformat(created) < KEY_MAX_AGE
    )
    if fresh and meta.get("count", 0) >= count:
        records = json.loads((base / "records.json").read_text())
        return Keys(base / "state", records, int(meta["count"]))
    if not fresh:
        shutil.rmtree(base, ignore_errors=True)
        created = datetime.now(UTC).isoformat()
    base.mkdir(parents=True, exist_ok=True)
    state = base / "state"
    secret = base / "unused.secret"
    secret.write_text("AAAA\n")
    # Two processes make the keys at once (RSA-2048 generation is most of the time).
    made = min(count, DISTINCT_KEYS)
    halves = [range(0, made, 2), range(1, made, 2)]
    processes = []
    for index, half in enumerate(halves):
        config = base / f"make-{index}.toml"
        config.write_text(
            config_text(count, port=53, secret_file=secret, state=state, domains=list(half))
        )
        processes.append(
            subprocess.Popen(
                [*_dnsauto(), "records", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=dict(environment),
                cwd=ROOT,
            )
        )
    for process in processes:
        _, errors = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"dnsauto records failed: {errors.decode()[-2000:]}")
    for index in range(made, count):  # the keys of z{index % made}, adopted by `records`
        target = state / "dkim" / f"z{index}.bench.test"
        if not target.exists():
            shutil.copytree(state / "dkim" / f"z{index % made}.bench.test", target)
    config = base / "all.toml"
    config.write_text(config_text(count, port=53, secret_file=secret, state=state))
    done = subprocess.run(
        [*_dnsauto(), "records", "--config", str(config), "--format", "json"],
        capture_output=True,
        env=dict(environment),
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dnsauto records failed: {done.stderr.decode()[-2000:]}")
    (base / "records.json").write_bytes(done.stdout)
    meta = {"fingerprint": fingerprint, "created": created, "count": count}
    meta_path.write_text(json.dumps(meta))
    return Keys(state, json.loads(done.stdout), count)


# --- checking what a tool published ---------------------------------------------------------


def _normalized(rdtype: int, rdata: dns.rdata.Rdata) -> str:
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode()  # type: ignore[attr-defined]
    return rdata.to_text()


def published(server: ZoneServer, zone: str) -> dict[tuple[str, str], set[str]]:
    """The zone's RRsets as served (TXT strings joined), without its SOA and NS."""
    keyring = dns.tsigkeyring.from_text({server.key.name: server.key.secret})
    transferred = dns.zone.from_xfr(
        dns.query.xfr(
            server.host,
            zone,
            port=server.port,
            keyring=keyring,
            keyalgorithm=dns.name.from_text(ALGORITHM),
            relativize=False,
            lifetime=30,
        ),
        relativize=False,
    )
    found: dict[tuple[str, str], set[str]] = {}
    for name, rdataset in transferred.iterate_rdatasets():
        if rdataset.rdtype in (dns.rdatatype.SOA, dns.rdatatype.NS):
            continue
        key = (name.to_text(), dns.rdatatype.to_text(rdataset.rdtype))
        found[key] = {_normalized(rdataset.rdtype, r) for r in rdataset}
    return found


def desired(records: Sequence[Record]) -> dict[tuple[str, str], set[str]]:
    wanted = {}
    for record in records:
        rdtype = dns.rdatatype.from_text(record["type"])
        wanted[(record["name"], record["type"])] = {
            _normalized(rdtype, dns.rdata.from_text(dns.rdataclass.IN, rdtype, v))
            for v in record["values"]
        }
    return wanted


def check_published(server: ZoneServer, grouped: Mapping[str, Sequence[Record]], tool: str) -> None:
    """Raise unless the first, a middle and the last zone hold exactly the desired records."""
    zones = list(grouped)
    for zone in {zones[0], zones[len(zones) // 2], zones[-1]}:
        if published(server, zone) != desired(grouped[zone]):
            raise RuntimeError(f"{tool} did not publish the desired records of {zone}")


# --- one size -------------------------------------------------------------------------------


@dataclass
class Sample:
    run: Timed
    counters: Counters
    bind_cpu_seconds: float
    """CPU time BIND spent meanwhile."""

    @property
    def seconds(self) -> float:
        return self.run.seconds

    @property
    def rss_kb(self) -> int | None:
        return self.run.rss_kb

    @property
    def cpu_seconds(self) -> float:
        return self.run.cpu_seconds


@dataclass
class SizeResult:
    count: int
    rrsets: int
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    resync: list[Sample] = field(default_factory=list)
    resync_wait: list[Sample] = field(default_factory=list)
    resync_changes: list[int] = field(default_factory=list)
    resync_publish: list[Sample] = field(default_factory=list)
    """The publish each re-sync followed (its round's)."""
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, tool: str, sample: Sample) -> None:
        self.samples.setdefault(tool, []).append(sample)


class Bench:
    """The tools, their inputs and the BIND they publish to, for one N."""

    def __init__(
        self,
        server: ZoneServer,
        keys: Keys,
        work: Path,
        environment: Mapping[str, str],
        octodns: Path | None,
        settings: Settings,
    ) -> None:
        self.server = server
        self.work = work
        self.environment = environment
        self.keys = keys
        self.octodns = octodns
        self.settings = settings
        count = server.count
        everything = by_zone(keys.records, zone_names(keys.count))
        self.grouped = {zone: everything[zone] for zone in server.zones}
        self.rrsets = sum(len(r) for r in self.grouped.values())
        secret_file = work / "tsig.secret"
        secret_file.write_text(server.key.secret + "\n")
        secret_file.chmod(0o600)
        self.state = work / "state"
        self.config = work / "config.toml"
        self.config.write_text(
            config_text(count, port=server.port, secret_file=secret_file, state=self.state)
        )
        key_file = server.key_file(work)
        self.loop = write_nsupdate(work, self.grouped, server.host, server.port, key_file)
        target = Target(server.host, server.port, server.key.name, server.key.secret, ALGORITHM)
        self.raw = write_raw(work / "raw.json", self.grouped, target)
        self.octodns_config = write_octodns(work, self.grouped, target, settings.octodns_workers)
        self.resync_now = True
        """Whether the re-syncs follow dnsauto's publish in this round."""

    def _run(self, tool: str, command: Sequence[str]) -> Sample:
        before, bind_cpu = self.server.counters(), self.server.cpu_seconds()
        result = timed(command, self.environment, self.work / f"{tool}.out")
        after, bind_cpu = self.server.counters(), self.server.cpu_seconds() - bind_cpu
        if result.returncode != 0:
            tail = result.output.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{tool} exited {result.returncode}:\n{tail}")
        return Sample(result, after - before, bind_cpu)

    def _fresh_state(self) -> None:
        """The state directory as the keys were made: the store, and the N domains' keys."""
        shutil.rmtree(self.state, ignore_errors=True)
        (self.state / "dkim").mkdir(parents=True, mode=0o700)
        self.state.chmod(0o700)
        for path in self.keys.state.iterdir():
            if path.is_file():
                shutil.copy2(path, self.state / path.name)
        for zone in self.server.zones:
            domain = zone.rstrip(".")
            shutil.copytree(self.keys.state / "dkim" / domain, self.state / "dkim" / domain)

    def _sync(self, tool: str, *, wait: bool) -> tuple[Sample, dict[str, Any]]:
        command = [*_dnsauto(), "sync", "--config", str(self.config), "--json"]
        sample = self._run(tool, command if wait else [*command, "--no-wait"])
        document: dict[str, Any] = json.loads(sample.run.output.read_text())
        failed = [d for d in document["domains"] if d["error"]]
        if failed:
            raise RuntimeError(f"{tool}: {len(failed)} domains failed, e.g. {failed[0]}")
        return sample, document

    def publish(self, tool: str, result: SizeResult) -> None:
        """Reset BIND, publish every zone with ``tool``, check, record the sample."""
        self.server.reset()
        if tool in ("dnsauto", "dnsauto_wait"):
            self._fresh_state()
            sample, document = self._sync(tool, wait=tool == "dnsauto_wait")
            changes = sum(d["changes"] for d in document["domains"])
            if changes != self.rrsets:
                raise RuntimeError(f"{tool} made {changes} changes, not {self.rrsets}")
        elif tool == "nsupdate":
            sample = self._run(tool, ["bash", str(self.loop)])
        elif tool == "raw":
            sample = self._run(tool, [sys.executable, "-m", "bench._raw", str(self.raw)])
        else:
            assert self.octodns is not None
            command = [str(self.octodns), "--config-file", str(self.octodns_config), "--doit"]
            sample = self._run(tool, command)
        check_published(self.server, self.grouped, tool)
        result.add(tool, sample)
        if tool == "dnsauto" and self.resync_now:
            self.resync(result)

    def resync(self, result: SizeResult) -> None:
        """The same sync again, nothing to change: with ``--no-wait``, then waiting."""
        sample, document = self._sync("resync", wait=False)
        result.resync.append(sample)
        result.resync_publish.append(result.samples["dnsauto"][-1])
        result.resync_changes.append(sum(d["changes"] for d in document["domains"]))
        if self.server.count <= self.settings.wait_max:
            sample, _ = self._sync("resync_wait", wait=True)
            result.resync_wait.append(sample)


@contextmanager
def _bench(
    count: int, keys: Keys, environment: Mapping[str, str], octodns: Path | None, s: Settings
) -> Iterator[Bench]:
    server = ZoneServer(count)
    with tempfile.TemporaryDirectory(prefix="dnsauto-bench-bulk-") as work:
        try:
            server.start()
            yield Bench(server, keys, Path(work), environment, octodns, s)
        finally:
            server.close()


def _tools(count: int, settings: Settings, octodns: Path | None, round_index: int) -> list[str]:
    every_round = count <= settings.all_rounds_max or round_index == 0
    tools = ["dnsauto"]
    if every_round:
        tools.append("nsupdate")
    if octodns is not None and count <= settings.octodns_max:
        tools.append("octodns")
    tools.append("raw")
    if count <= settings.wait_max:
        tools.append("dnsauto_wait")
    return tools


def measure_size(
    count: int,
    settings: Settings,
    keys: Keys,
    environment: Mapping[str, str],
    octodns: Path | None,
    progress: Callable[[str], None] = print,
) -> SizeResult:
    with _bench(count, keys, environment, octodns, settings) as bench:
        result = SizeResult(count, bench.rrsets)
        for round_index in range(settings.rounds):
            tools = _tools(count, settings, octodns, round_index)
            bench.resync_now = count <= settings.all_rounds_max or round_index == 0
            for tool in tools:
                bench.publish(tool, result)
            line = ", ".join(f"{t} {result.samples[t][-1].seconds:.2f}s" for t in tools)
            progress(f"   N={count} round {round_index + 1}/{settings.rounds}: {line}")
    return result


def warm_up(
    keys: Keys, environment: Mapping[str, str], octodns: Path | None, settings: Settings
) -> None:
    """One untimed run of every tool: bytecode compiled, files cached."""
    count = min(settings.sizes)
    once = Settings(sizes=(count,), rounds=1, wait_max=count, octodns_max=count)
    with _bench(count, keys, environment, octodns, once) as bench:
        scratch = SizeResult(count, bench.rrsets)
        for tool in _tools(count, once, octodns, 0):
            bench.publish(tool, scratch)


# --- figures --------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def size_figures(result: SizeResult, settings: Settings) -> list[Figure]:
    n = result.count
    key = f"bulk_publish.n{n}"
    at_target = n == 1000
    samples = result.samples
    figures: list[Figure] = [
        Figure(f"{key}.rrsets", result.rrsets, "", f"RRsets published ({n} zones)"),
    ]
    meanings = {
        "dnsauto": "dnsauto sync --no-wait (one process)",
        "nsupdate": "shell loop, one nsupdate per zone",
        "octodns": "octodns-sync --doit into Rfc2136Provider",
        "raw": "raw dnspython client, same UPDATEs, no planning",
        "dnsauto_wait": "dnsauto sync, waiting until BIND serves every RRset",
    }
    for tool in TOOLS:
        runs = samples.get(tool, [])
        if not runs:
            why = result.skipped.get(tool, "not run")
            figures.append(Figure(f"{key}.{tool}_s", None, "s", f"{meanings[tool]}: {why}"))
            continue
        figures += [
            Figure(
                f"{key}.{tool}_s",
                _round(_median([r.seconds for r in runs])),
                "s",
                f"{meanings[tool]}, median of {len(runs)}",
            ),
            Figure(
                f"{key}.{tool}_cpu_s",
                _round(_median([r.cpu_seconds for r in runs])),
                "s",
                "its CPU time (user + system, with its children)",
            ),
            Figure(
                f"{key}.{tool}_rss_mb",
                _round(_median([r.rss_kb / 1024 for r in runs if r.rss_kb is not None]), 1),
                "MB",
                "peak RSS",
            ),
        ]
    dnsauto = samples.get("dnsauto", [])
    if dnsauto:
        figures += [
            Figure(
                f"{key}.dnsauto_ms_per_zone",
                _round(_median([r.seconds for r in dnsauto]) * 1000 / n, 2),  # type: ignore[operator]
                "ms",
                "dnsauto time per zone",
            ),
            Figure(
                f"{key}.dnsauto_messages_per_zone",
                _round(dnsauto[-1].counters.requests / n, 2),
                "",
                "DNS messages BIND received from dnsauto, per zone",
            ),
            Figure(
                f"{key}.bind_cpu_ms_per_zone",
                _round(_median([r.bind_cpu_seconds for r in dnsauto]) * 1000 / n, 2),  # type: ignore[operator]
                "ms",
                "BIND's CPU time per zone during dnsauto's run",
            ),
        ]

    def ratio(peer: str, invert: bool) -> float | None:
        pairs = list(zip(samples.get("dnsauto", []), samples.get(peer, []), strict=False))
        if not pairs:
            return None
        values = [(d.seconds / p.seconds) if invert else (p.seconds / d.seconds) for d, p in pairs]
        return _round(statistics.median(values), 2)

    for peer, name, target, meaning in (
        ("nsupdate", "speedup_vs_nsupdate", 3.0, "nsupdate loop time / dnsauto time"),
        ("octodns", "speedup_vs_octodns", 10.0, "octoDNS time / dnsauto time"),
    ):
        value = ratio(peer, invert=False)
        figures.append(
            Figure(
                f"{key}.{name}",
                value,
                "x",
                f"{meaning}, median of per-round ratios",
                f">= {target:g}" if at_target else "",
                (value is not None and value >= target) if at_target else None,
            )
        )
    cpu_pairs = list(zip(samples.get("dnsauto", []), samples.get("raw", []), strict=False))
    if cpu_pairs:
        figures.append(
            Figure(
                f"{key}.cpu_slowdown_vs_raw",
                _round(statistics.median(d.cpu_seconds / r.cpu_seconds for d, r in cpu_pairs), 2),
                "x",
                "dnsauto CPU time / raw client CPU time (no waiting counted)",
            )
        )
    slowdown = ratio("raw", invert=True)
    figures.append(
        Figure(
            f"{key}.slowdown_vs_raw",
            slowdown,
            "x",
            "dnsauto time / raw client time, median of per-round ratios",
            "<= 1.5" if at_target else "",
            (slowdown is not None and slowdown <= 1.5) if at_target else None,
        )
    )
    return figures + resync_figures(result)


def resync_figures(result: SizeResult) -> list[Figure]:
    n = result.count
    key = f"resync.n{n}"
    if not result.resync:
        return []
    last = result.resync[-1].counters
    writes = max(max(s.counters.updates for s in result.resync), max(result.resync_changes))
    per_rrset = round(max(s.counters.queries for s in result.resync) / result.rrsets, 3)
    transfers = round(last.transfers / n, 2)
    per_zone = round(max(s.counters.queries for s in result.resync) / n, 3)
    figures = [
        Figure(
            f"{key}.seconds",
            _round(_median([s.seconds for s in result.resync])),
            "s",
            f"unchanged re-sync of {n} zones, --no-wait, median of {len(result.resync)}",
        ),
        Figure(f"{key}.messages", last.requests, "", "DNS messages BIND received"),
        Figure(
            f"{key}.writes",
            writes,
            "",
            "UPDATE messages received (and changes reported), worst run",
            "== 0",
            writes == 0,
        ),
        Figure(
            f"{key}.queries_per_rrset",
            per_rrset,
            "",
            f"queries (SOA + AXFR) per (zone, name, type), {result.rrsets} RRsets",
            "<= 1",
            per_rrset <= 1,
        ),
        Figure(
            f"{key}.queries_per_zone",
            per_zone,
            "",
            "queries (SOA + AXFR) per zone: an unchanged zone is asked its serial only",
            "<= 1.1",
            per_zone <= 1.1,
        ),
        Figure(f"{key}.transfers_per_zone", transfers, "", "AXFRs per zone (0: none was read)"),
    ]
    pairs = list(zip(result.resync, result.resync_publish, strict=True))
    for suffix, what, ratios in (
        ("", "time", [r.seconds / p.seconds for r, p in pairs]),
        ("_cpu", "CPU time", [r.cpu_seconds / p.cpu_seconds for r, p in pairs]),
    ):
        ratio = _round(statistics.median(ratios), 3)
        figures.append(
            Figure(
                f"{key}.ratio_to_publish{suffix}",
                ratio,
                "x",
                f"unchanged re-sync {what} / the same round's publish {what}, median",
                "<= 0.2" if n >= 1000 else "",
                (ratio is not None and ratio <= 0.2) if n >= 1000 else None,
            )
        )
    if result.resync_wait:
        wait_last = result.resync_wait[-1].counters
        figures += [
            Figure(
                f"{key}.wait_s",
                _round(_median([s.seconds for s in result.resync_wait])),
                "s",
                "the same re-sync, waiting until every RRset is proven served",
            ),
            Figure(
                f"{key}.wait_queries_per_rrset",
                round(wait_last.queries / result.rrsets, 3),
                "",
                "queries per RRset when waiting (plan + one proof question each)",
            ),
            Figure(
                f"{key}.wait_writes",
                max(s.counters.updates for s in result.resync_wait),
                "",
                "UPDATE messages received when waiting",
                "== 0",
                all(s.counters.updates == 0 for s in result.resync_wait),
            ),
        ]
    return figures


def scaling_figures(results: Mapping[int, SizeResult]) -> list[Figure]:
    """dnsauto's time per zone at the largest N over that at each smaller N.

    The target is on the largest over the smallest (5,000 over 100). Each time includes the
    process's start (about half a second), which weighs most at the smallest N; the ratio
    over the next size shows the growth without it.
    """
    measured = sorted(n for n, r in results.items() if r.samples.get("dnsauto"))
    if len(measured) < 2:
        return []
    large = measured[-1]

    def per_zone(n: int) -> float:
        return statistics.median(s.seconds for s in results[n].samples["dnsauto"]) / n

    figures = []
    for small in measured[:-1]:
        value = round(per_zone(large) / per_zone(small), 2)
        smallest = small == measured[0]
        figures.append(
            Figure(
                f"scaling.per_zone_ratio_{large}_vs_{small}",
                value,
                "x",
                f"dnsauto time per zone at {large} / at {small}",
                "<= 1.3" if smallest else "",
                value <= 1.3 if smallest else None,
            )
        )
    return figures


@contextmanager
def _cache_lock(cache: Path) -> Iterator[None]:
    """Held while the cache is filled, so two benchmark runs never fill it at once."""
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def measure(settings: Settings, progress: Callable[[str], None] = print) -> list[Figure]:
    cache = cache_dir(settings)
    environment = tool_environment(cache)
    started = time.monotonic()
    octodns: Path | None = None
    octodns_missing = ""
    with _cache_lock(cache):
        keys = prepare_keys(cache, max(settings.sizes), environment)
        progress(f"   DKIM keys of {keys.count} domains ready ({time.monotonic() - started:.0f}s)")
        try:
            octodns = ensure_octodns(cache)
        except RuntimeError as exc:
            octodns_missing = str(exc)
            progress(f"   octoDNS skipped: {exc}")
    if settings.warm_up:
        warm_up(keys, environment, octodns, settings)
    results: dict[int, SizeResult] = {}
    figures: list[Figure] = []
    for count in settings.sizes:
        result = measure_size(count, settings, keys, environment, octodns, progress)
        if octodns is None:
            result.skipped["octodns"] = f"skipped, {octodns_missing}"
        elif count > settings.octodns_max:
            result.skipped["octodns"] = (
                f"skipped above N={settings.octodns_max} (minutes a round; see bench/README.md)"
            )
        if count > settings.wait_max:
            result.skipped["dnsauto_wait"] = f"skipped above N={settings.wait_max} (time)"
        results[count] = result
        figures += size_figures(result, settings)
    figures += scaling_figures(results)
    progress(f"   ({', '.join(OCTODNS_PACKAGES)}; {time.monotonic() - started:.0f}s in all)")
    return figures
