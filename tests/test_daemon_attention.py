"""Errors say whether to retry, with the daemon running against a real BIND: a key the server no
longer knows (a revoked TSIG key) is not retried and shows as needing attention; a SERVFAIL is
retried with backoff and then succeeds."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dnsauto_rfc2136.provider import TsigProvider
from dnsauto_rfc2136.transport import RetryPolicy

import dnsauto.sync.apply
from dnsauto.api.tasks import TaskTracker
from dnsauto.cli.service import status_document
from dnsauto.plugin import AuthenticationError, TransientError
from dnsauto.plugin.registry import load_registry
from dnsauto.service.daemon import Daemon, load_checked
from dnsauto.state.store import StateStore
from dnsauto.sync.jobs import DomainResult
from dnsauto.testing.servers import RunningServer, ServerUnavailable
from dnsauto.testing.servers.proxy import WireProxy
from tests.daemon_helpers import config_text, served, start_bind_zones, until

pytestmark = pytest.mark.servers

DOMAIN = "attention.test"


@pytest.fixture(scope="module")
def bind() -> Iterator[RunningServer]:
    try:
        server = start_bind_zones([f"{DOMAIN}."])
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


@pytest.fixture
async def proxy(bind: RunningServer) -> AsyncIterator[WireProxy]:
    proxy = await WireProxy((bind.host, bind.port)).start()
    yield proxy
    await proxy.stop()


class Results:
    """The daemon's results, as its result hook hands them over."""

    def __init__(self) -> None:
        self.all: list[DomainResult] = []

    def __call__(self, _run_id: str, result: DomainResult) -> None:
        self.all.append(result)


def start(path: Path, results: Results, tasks: TaskTracker) -> Daemon:
    registry = load_registry()
    daemon = Daemon(load_checked(path, registry), registry)
    daemon.result_listeners.append(results)
    daemon.result_listeners.append(tasks.record_result)
    return daemon


async def test_a_revoked_tsig_key_is_not_retried_and_needs_attention(
    bind: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    revoked = tmp_path / "revoked.key"  # same key name, a secret the server does not know
    revoked.write_text(base64.b64encode(os.urandom(32)).decode())
    state = tmp_path / "state"
    text = config_text(bind, state, [DOMAIN], secret_file=revoked).replace(
        'retryInitialDelay = "200ms"\n', 'retryInitialDelay = "10ms"\nretryMaxDelay = "10ms"\n'
    )
    path = tmp_path / "config.toml"
    path.write_text(text)
    results, tasks = Results(), TaskTracker()
    daemon = start(path, results, tasks)
    caplog.set_level(logging.INFO)
    await daemon.start()
    try:
        await until(lambda: bool(results.all))
        (first,) = results.all
        assert isinstance(first.exception, AuthenticationError)
        assert first.needs_attention
        await until(lambda: any("needs attention" in r.getMessage() for r in caplog.records))
        # No retry is scheduled: the next run is the periodic one, and it skips the domain.
        assert not any("retrying in" in r.getMessage() for r in caplog.records)
        assert DOMAIN not in daemon.waiting()

        def entry() -> dict[str, object]:
            (domain,) = status_document(str(state), [DOMAIN])["domains"]
            return domain

        await until(lambda: entry()["needsAttention"] is True)  # the status file is written soon
        entry_now = entry()
        assert entry_now["ok"] is False
        assert entry_now["needsAttention"] is True
        assert entry_now["nextReason"] != "retry"

        text_metrics = daemon.metrics.render().decode()
        assert (
            f'dnsauto_needs_attention{{domain="{DOMAIN}",error="AuthenticationError"}} 1.0'
            in text_metrics
        )
        (run_id,) = tasks.ids({}, {})
        task = tasks.view(run_id, waiting={}, syncing={}, last_results={})
        assert task is not None
        assert task["domains"][DOMAIN]["needsAttention"] is True
        assert task["domains"][DOMAIN]["status"] == "failed"
    finally:
        await daemon.stop()
    assert len(results.all) == 1
    assert not served(bind, f"_dmarc.{DOMAIN}.", "TXT")


async def test_a_servfail_is_retried_and_then_succeeds(
    bind: RunningServer,
    proxy: WireProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Few and quick retries inside the provider and the apply stage, so the daemon's own
    # backoff is what finally gets the records through.
    monkeypatch.setattr(TsigProvider, "retry", RetryPolicy(attempts=2, base=0.01, cap=0.01))
    monkeypatch.setattr(dnsauto.sync.apply, "RETRY_DELAY", 0.01)
    proxy.servfail_updates = 4  # 2 provider attempts x (the apply and its one retry)
    secret = tmp_path / "tsig.key"
    secret.write_text(bind.key().secret)
    state = tmp_path / "state"
    text = config_text(bind, state, [DOMAIN], secret_file=secret)
    text = text.replace(f"port = {bind.port}\n", f"port = {proxy.port}\n", 1)
    text = text.replace('retryInitialDelay = "200ms"\n', 'retryInitialDelay = "20ms"\n')
    path = tmp_path / "config.toml"
    path.write_text(text)
    results, tasks = Results(), TaskTracker()
    daemon = start(path, results, tasks)
    await daemon.start()
    try:
        await until(lambda: any(r.error is None for r in results.all))
    finally:
        await daemon.stop()
    failed, succeeded = results.all[0], results.all[-1]
    assert isinstance(failed.exception, TransientError)
    assert not failed.needs_attention
    assert succeeded.error is None
    assert succeeded.applied > 0
    assert proxy.servfail_updates == 0
    assert served(bind, f"_dmarc.{DOMAIN}.", "TXT")
    with StateStore(state) as store:
        assert store.last_results()[DOMAIN].ok
