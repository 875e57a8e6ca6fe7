"""A provider that fails for one domain, with the daemon running against a real BIND: the other
domains are not delayed, the failing one is retried with growing delays, and its failure shows
in ``dnsauto status`` and in the metrics."""

from __future__ import annotations

import asyncio
import itertools
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dnsauto.cli.service import status_document
from dnsauto.config.model import Config
from dnsauto.plugin.registry import load_registry
from dnsauto.service.daemon import Daemon, EngineLike, load_checked
from dnsauto.sync.engine import DomainJob, DomainResult
from dnsauto.testing.servers import HOST, RunningServer, ServerUnavailable
from dnsauto.testing.servers._common import free_port
from tests.daemon_helpers import config_text, served, start_bind_zones, until

pytestmark = pytest.mark.servers

GOOD = ["a.test", "b.test", "c.test"]


@pytest.fixture(scope="module")
def bind() -> Iterator[RunningServer]:
    try:
        server = start_bind_zones([f"{d}." for d in GOOD])
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


@dataclass
class Attempt:
    domain: str
    started: float
    ended: float = 0.0
    error: str | None = None


@dataclass
class RecordingEngines:
    """Real engines whose syncs are timed, per domain."""

    attempts: list[Attempt] = field(default_factory=list)

    def of(self, domain: str) -> list[Attempt]:
        return [a for a in self.attempts if a.domain == domain and a.ended]

    def wrap(self, make: EngineLike) -> EngineLike:
        engines = self

        class Timed:
            async def run(
                self,
                jobs: Sequence[DomainJob],
                *,
                apply: bool,
                force: bool = False,
                wait: bool = False,
            ) -> list[DomainResult]:
                attempt = Attempt(jobs[0].domain, time.monotonic())
                engines.attempts.append(attempt)
                results = await make.run(jobs, apply=apply, force=force, wait=wait)
                attempt.ended = time.monotonic()
                attempt.error = results[0].error
                return results

            async def aclose(self) -> None:
                await make.aclose()

        return Timed()


async def test_failing_domain_is_retried_with_backoff_without_delaying_the_others(
    bind: RunningServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    black_hole: int,
) -> None:
    metrics_port = free_port()
    secret = tmp_path / "tsig.key"
    secret.write_text(bind.key().secret)
    stall = (
        "[dnsServer.stall]\n"
        '"@type" = "Tsig"\ndescription = "answers nothing"\n'
        f'host = "{HOST}"\nport = {black_hole}\n'
        f'keyName = "x"\nkey = {{ "@type" = "File", filePath = "{secret}" }}\n'
        'tsigAlgorithm = "hmac-sha256"\ntimeout = "2s"\n'
    )
    state = tmp_path / "state"
    text = config_text(bind, state, GOOD, servers=stall, secret_file=secret).replace(
        "[daemon]\n",
        '[domain."bad.test"]\n'
        'dnsManagement = { "@type" = "Automatic", dnsServerId = "stall" }\n'
        'dkimManagement = { "@type" = "Manual" }\n\n'
        "[daemon]\n"
        'retryInitialDelay = "100ms"\nretryMaxDelay = "400ms"\n'
        f'metrics = {{ listen = "{HOST}:{metrics_port}" }}\n',
    )
    text = text.replace('retryInitialDelay = "200ms"\n', "")
    path = tmp_path / "config.toml"
    path.write_text(text)
    registry = load_registry()
    config = load_checked(path, registry)
    recorder = RecordingEngines()

    def engines(config: Config, run_id: str) -> EngineLike:
        return recorder.wrap(daemon.make_engine(config, run_id))

    daemon = Daemon(config, registry, engine_factory=engines)
    await daemon.start()
    try:
        await until(lambda: len(recorder.of("bad.test")) >= 3, within=20)
        bad = recorder.of("bad.test")
        good = [a for d in GOOD for a in recorder.of(d)]

        # The others finished while the failing domain still waited for its first answer.
        assert len(good) == 3
        assert all(a.error is None for a in good)
        assert max(a.ended for a in good) < bad[0].ended
        assert "no answer from" in (bad[0].error or "")
        for domain in GOOD:
            assert served(bind, f"_dmarc.{domain}.", "TXT")

        # Each retry waits twice as long as the one before, and not less.
        chosen = [
            float(r.args[-1])  # type: ignore[index]
            for r in caplog.records
            if r.msg.endswith("retrying in %gs") and getattr(r, "domain", None) == "bad.test"
        ]
        assert chosen[:2] == [0.1, 0.2]
        waits = [later.started - earlier.ended for earlier, later in itertools.pairwise(bad)]
        for waited, backoff in zip(waits, [0.1, 0.2], strict=False):
            assert waited >= backoff * 0.9, waits

        document = status_document(str(state), [*GOOD, "bad.test"])
        entries = {d["domain"]: d for d in document["domains"]}
        assert entries["bad.test"]["ok"] is False
        assert "no answer from" in entries["bad.test"]["error"]
        assert entries["bad.test"]["consecutiveFailures"] >= 2
        assert entries["bad.test"]["nextReason"] == "retry"
        assert all(entries[d]["ok"] and entries[d]["changes"] > 0 for d in GOOD)

        metrics = await asyncio.to_thread(scrape, f"http://{HOST}:{metrics_port}/metrics")
        failures = _sample(metrics, 'dnsauto_sync_failures_total{domain="bad.test"}')
        assert failures >= 2
        assert _sample(metrics, 'dnsauto_consecutive_failures{domain="bad.test"}') >= 2
        assert _sample(metrics, 'dnsauto_sync_failures_total{domain="a.test"}') == 0
        assert _sample(metrics, 'dnsauto_last_success_timestamp_seconds{domain="a.test"}') > 0
        assert (
            _sample(
                metrics,
                'dnsauto_provider_requests_total{operation="read_zone",server="stall",'
                'status="TransientError"}',
            )
            >= 3
        )
        assert _sample(metrics, 'dnsauto_propagation_seconds_count{server="bind"}') == 3
    finally:
        await daemon.stop()


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode())


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
