"""The benchmarks still run (a few trials, no timing asserted: the figures are the benchmark's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench
from bench import bulk, burst
from bench import daemon as daemon_bench
from bench.__main__ import print_table, record
from bench.propagation import Settings, measure
from dnsauto.testing.servers.topology import Topology


def test_every_benchmark_module_is_found() -> None:
    found = bench.discover()
    assert {"propagation", "api"} <= set(found)
    assert all(b.title for b in found.values())


@pytest.mark.servers
async def test_the_propagation_benchmark_runs_and_records_its_figures(
    topology: Topology,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(trials=2, interval=0.2, repeats=2, emulated_repeats=1, emulated_rtt=0.02)
    figures = await measure(topology, settings)
    values = {f.key: f.value for f in figures}
    for key in (
        "propagation.detection_latency_ms.p50",
        "propagation.detection_latency_ms.p95",
        "propagation.detection_latency_ms.max",
        "propagation.poll_round_ms",
        "propagation.rtt_ms",
        "propagation.emulated_20ms.poll_round_in_rtts",
    ):
        assert isinstance(values[key], float), key
    assert values["propagation.false_reports"] == 0
    assert values["propagation.timeouts"] == 0

    results = tmp_path / "results.json"
    results.write_text(json.dumps({"other.figure": 1, "propagation.stale": 2}))
    record(results, "propagation", figures, quick=True)
    written = json.loads(results.read_text())
    assert written["other.figure"] == 1
    assert "propagation.stale" not in written
    assert written["propagation.poll_round_ms"] == values["propagation.poll_round_ms"]
    assert written["runs"]["propagation"]["quick"] is True

    print_table(figures)
    assert "propagation.false_reports" in capsys.readouterr().out


async def test_the_api_benchmark_runs_against_the_daemon_without_errors(tmp_path: Path) -> None:
    from bench.api import Settings as ApiSettings
    from bench.api import figures, load
    from tests.api_helpers import start_api_daemon

    settings = ApiSettings(requests=40, clients=8, warmup=4)
    with start_api_daemon(tmp_path) as daemon:
        result = await load(daemon.url, daemon.token, settings)
    values = {f.key: f.value for f in figures(result, settings)}
    assert values["api.requests"] == 40
    assert values["api.errors"] == 0, result.error_kinds
    for key in ("api.p50_ms", "api.p99_ms", "api.requests_per_second"):
        assert isinstance(values[key], float), key


@pytest.mark.servers
def test_the_bulk_benchmark_runs_at_twenty_zones(tmp_path: Path) -> None:
    """Every tool publishes the 20 zones (each checked by the benchmark itself); the re-sync
    writes nothing. Where octoDNS cannot be installed (no PyPI) the test skips at its end."""
    figures = bulk.measure(bulk.Settings.quick(), progress=lambda line: None)
    values = {f.key: f.value for f in figures}
    for tool in ("dnsauto", "nsupdate", "raw", "dnsauto_wait"):
        assert isinstance(values[f"bulk_publish.n20.{tool}_s"], float), tool
        assert isinstance(values[f"bulk_publish.n20.{tool}_cpu_s"], float), tool
    octodns = next(f for f in figures if f.key == "bulk_publish.n20.octodns_s")
    for ratio in ("speedup_vs_nsupdate", "slowdown_vs_raw"):
        assert isinstance(values[f"bulk_publish.n20.{ratio}"], float), ratio
    assert values["bulk_publish.n20.rrsets"] == 20 * 19
    assert values["resync.n20.writes"] == 0
    assert values["resync.n20.wait_writes"] == 0
    assert values["resync.n20.transfers_per_zone"] == 0.0  # the serial said: unchanged
    assert values["resync.n20.queries_per_zone"] <= 1.1
    assert isinstance(values["resync.n20.queries_per_rrset"], float)
    assert 0 < values["resync.n20.ratio_to_publish"] < 1  # the same round's publish
    assert 0 < values["resync.n20.ratio_to_publish_cpu"] < 1

    results = tmp_path / "results.json"
    results.write_text(json.dumps({"resync.n1000.writes": 5, "propagation.rtt_ms": 1}))
    record(results, "bulk", figures, quick=True, prefixes=("bulk_publish", "resync", "scaling"))
    written = json.loads(results.read_text())
    assert "resync.n1000.writes" not in written
    assert written["propagation.rtt_ms"] == 1
    assert written["resync.n20.writes"] == 0
    if not isinstance(octodns.value, float):
        pytest.skip(f"the octoDNS figures: {octodns.meaning}")


@pytest.mark.servers
def test_the_daemon_benchmark_runs() -> None:
    figures = daemon_bench.measure(daemon_bench.DaemonSettings.quick())
    values = {f.key: f.value for f in figures}
    assert isinstance(values["daemon.help_ms"], float)
    assert isinstance(values["daemon.idle_rss_mb"], float)


@pytest.mark.servers
def test_the_burst_benchmark_runs() -> None:
    (figure,) = burst.run(quick=True)
    assert figure.key == "burst.knot_n200_s"
    assert isinstance(figure.value, float)


@pytest.mark.slow
async def test_the_providers_benchmark_counts_requests_and_the_rate_limited_time() -> None:
    """Cloudflare only and 30 domains (the benchmark itself runs all five plugins and 1,000)."""
    from bench.providers import Settings as ProvidersSettings
    from bench.providers import measure as measure_providers

    figures = await measure_providers(ProvidersSettings(domains=30, plugins=("Cloudflare",)))
    values = {f.key: f.value for f in figures}
    assert values["providers.cloudflare.first_requests_zone_known"] == 2  # list + one batch
    assert values["providers.cloudflare.resync_requests_zone_known"] == 1  # the listing only
    assert values["providers.mail_set.rrsets"] == 19
    assert values["providers.cloudflare_30.requests"] == 1 + 30 * 2  # one page of zones
    assert values["providers.cloudflare_30.floor_s"] == 0.0  # within the bucket's 1,200
    assert not [f.key for f in figures if f.met is False]
