"""The daemon rotates DKIM keys when their time comes, on a real BIND, with time made
controllable through the state store's clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dnsauto.plugin.registry import load_registry
from dnsauto.service.daemon import Daemon, load_checked
from dnsauto.state.store import StateStore
from dnsauto.testing.servers import RunningServer, ServerUnavailable
from tests.daemon_helpers import config_text, served, start_bind_zones, until

pytestmark = pytest.mark.servers

DOMAIN = "dkim.test"


@pytest.fixture(scope="module")
def bind() -> Iterator[RunningServer]:
    try:
        server = start_bind_zones([f"{DOMAIN}."])
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


def key_served(bind: RunningServer, selector: str) -> bool:
    return bool(served(bind, f"{selector}._domainkey.{DOMAIN}.", "TXT"))


async def test_daemon_rotates_a_key_after_rotate_after_and_removes_it_after_retire_after(
    bind: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dnsauto.service")
    secret = tmp_path / "tsig.key"
    secret.write_text(bind.key().secret)
    state = tmp_path / "state"
    path = tmp_path / "config.toml"
    path.write_text(config_text(bind, state, [DOMAIN], secret_file=secret))
    registry = load_registry()
    config = load_checked(path, registry)
    now = [datetime(2026, 1, 5, 12, tzinfo=UTC)]
    store = StateStore(state, clock=lambda: now[0])
    daemon = Daemon(config, registry, store=store)

    def synced_runs() -> set[str]:
        result = store.last_results().get(DOMAIN)
        return {result.run_id} if result is not None and result.ok else set()

    await daemon.start()
    try:
        await until(lambda: bool(synced_runs()), within=20)
        (first,) = store.dkim_keys(DOMAIN)
        assert first.stage == "active"
        assert key_served(bind, first.selector)

        # Nothing is due yet: the check asks for no sync.
        await daemon.dkim.check()
        assert daemon.next_runs()[DOMAIN][1] == "periodic"  # type: ignore[index]

        now[0] += timedelta(days=90)
        before = synced_runs()
        await daemon.dkim.check()
        await until(
            lambda: synced_runs() not in (set(), before) and not daemon.syncing(), within=20
        )
        old, new = store.dkim_keys(DOMAIN)
        assert (old.selector, old.stage) == (first.selector, "retiring")
        assert new.stage == "active"
        assert new.selector != old.selector
        assert key_served(bind, old.selector)
        assert key_served(bind, new.selector)

        now[0] += timedelta(days=7)
        before = synced_runs()
        await daemon.dkim.check()
        await until(
            lambda: synced_runs() not in (set(), before) and not daemon.syncing(), within=20
        )
        old, new = store.dkim_keys(DOMAIN)
        assert old.stage == "retired"
        assert not key_served(bind, old.selector)
        assert key_served(bind, new.selector)
    finally:
        await daemon.stop()
        store.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count(f"DKIM rotation step due for {DOMAIN}") == 2
