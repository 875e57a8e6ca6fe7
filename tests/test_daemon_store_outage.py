"""The daemon against a real BIND and a state store on PostgreSQL that stops in the middle of a
sync, after the records were applied and before the result is saved: the domain is not booked
as synced but failed transiently, and is synced again with the daemon's backoff once the store
is back, applying nothing twice."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dnsauto.config.daemon import Daemon as DaemonSettings
from dnsauto.plugin import TransientError
from dnsauto.plugin.registry import load_registry
from dnsauto.service.daemon import Daemon, load_checked
from dnsauto.state.store import DomainStatus
from dnsauto.sync.jobs import DomainResult
from dnsauto.testing.servers import RunningServer, ServerUnavailable
from dnsauto.testing.servers.postgres import PostgresServer
from dnsauto.testing.servers.proxy import HOST, WireProxy
from tests.cluster_helpers import PUBLISH, store_table
from tests.daemon_helpers import (
    DaemonProcess,
    config_text,
    domain_table,
    poll,
    start_bind_zones,
    until,
)

pytestmark = pytest.mark.servers

DOMAIN = "outage.test"
STORE = "state store postgresql://"


@pytest.fixture(scope="module")
def bind() -> Iterator[RunningServer]:
    try:
        server = start_bind_zones([f"{DOMAIN}."])
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


@pytest.fixture
async def nameserver(bind: RunningServer) -> AsyncIterator[WireProxy]:
    """BIND as the propagation check asks it: the test holds its queries."""
    proxy = await WireProxy((bind.host, bind.port)).start()
    yield proxy
    await proxy.stop()


def synced(status: DomainStatus | None) -> bool:
    return status is not None and status.ok


def write_config(
    bind: RunningServer, nameserver: WireProxy, postgres: PostgresServer, directory: Path
) -> Path:
    """One domain through BIND, its DKIM by hand (no key store read after the apply), its
    propagation checked through ``nameserver``, the state on ``postgres``."""
    secret = directory / "tsig.key"
    secret.write_text(bind.key().secret)
    text = config_text(bind, directory / "state", [DOMAIN], secret_file=secret)
    text = text.replace(
        domain_table(DOMAIN, "bind"),
        domain_table(DOMAIN, "bind", PUBLISH).replace(
            '{ "@type" = "Automatic", algorithms = ["Dkim1Ed25519Sha256"] }',
            '{ "@type" = "Manual" }',
        ),
    )
    text = text.replace('retryInitialDelay = "200ms"\n', 'retryInitialDelay = "20ms"\n')
    # the check outwaits the store's shutdown, however slow: the result, not it, fails
    text = text.replace('propagationTimeout = "10s"', 'propagationTimeout = "120s"')
    text = text.replace(f'"{bind.host}:{bind.port}"', f'"{HOST}:{nameserver.port}"')
    path = directory / "config.toml"
    path.write_text(text + store_table(postgres))
    return path


async def test_a_result_the_store_could_not_save_is_a_transient_failure_synced_again(
    bind: RunningServer,
    nameserver: WireProxy,
    private_postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    postgres = private_postgres_server
    path = write_config(bind, nameserver, postgres, tmp_path)
    registry = load_registry()
    config = load_checked(path, registry)
    daemon = Daemon(config, registry)
    results: list[tuple[str, DomainResult]] = []
    daemon.result_listeners.append(lambda run_id, result: results.append((run_id, result)))
    nameserver.hold_queries()
    await daemon.start()
    try:
        await until(lambda: nameserver.held > 0, "applied, checking propagation")
        await asyncio.to_thread(postgres.shutdown)
        nameserver.release_queries()
        await until(lambda: bool(results), "the first result")
        await asyncio.to_thread(postgres.start)
        with config.daemon.open_store() as store:
            # retries may fail while PostgreSQL starts up; then one syncs and is saved
            await until(lambda: synced(store.last_results().get(DOMAIN)), "synced and saved")
            saved = store.last_results()[DOMAIN]
            journal = store.journal(domain=DOMAIN)
    finally:
        await daemon.stop()
    first_run, first = results[0]
    assert first.applied > 0
    assert isinstance(first.exception, TransientError)
    assert not first.needs_attention
    assert (first.error or "").startswith("cannot save the result: state store")
    assert saved.run_id != first_run
    (again,) = [r for run_id, r in results if run_id == saved.run_id]
    assert again.error is None
    assert again.applied == 0  # the records went out once, in the first run
    assert {e.status for e in journal} == {"applied"}
    assert len(journal) == first.applied


def receive_until(sock: socket.socket, field: str) -> list[str]:
    """The notifications systemd would get, up to the first one with ``field`` (60 s at most
    for each)."""
    messages = []
    while not messages or field not in messages[-1].split("\n"):
        messages.append(sock.recv(65536).decode())
    return messages


def receive_until_prefix(sock: socket.socket, prefix: str) -> list[str]:
    messages = []
    while not messages or not messages[-1].startswith(prefix):
        messages.append(sock.recv(65536).decode())
    return messages


def node_before_its_store(bind: RunningServer, postgres: PostgresServer, tmp_path: Path) -> Path:
    """PostgreSQL stopped, and the configuration of a node that syncs DOMAIN there."""
    postgres.shutdown()
    secret = tmp_path / "tsig.key"
    secret.write_text(bind.key().secret)
    path = tmp_path / "config.toml"
    path.write_text(
        config_text(bind, tmp_path / "state", [DOMAIN], secret_file=secret) + store_table(postgres)
    )
    return path


def test_a_node_started_before_its_postgresql_waits_then_is_ready_and_syncs(
    bind: RunningServer, private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    postgres = private_postgres_server
    path = node_before_its_store(bind, postgres, tmp_path)
    notify = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(60)
        node = DaemonProcess(path, bind.key().secret, env={"NOTIFY_SOCKET": str(notify)})
        node.start()
        try:
            (waiting,) = receive_until_prefix(sock, f"STATUS=waiting for the state store: {STORE}")
            assert node.wait_log("trying again in", 60) is None  # still running, waiting
            postgres.start()
            before_ready = receive_until(sock, "READY=1")
            with DaemonSettings.model_validate(
                {"stateDir": str(tmp_path / "probe"), "store": postgres.store_config()}
            ).open_store() as store:
                poll(lambda: synced(store.last_results().get(DOMAIN)), 60, "synced and saved")
        finally:
            node.signal(signal.SIGTERM)
            status = node.wait(60)
    assert status == 0, node.log()
    assert all("READY=1" not in m for m in before_ready[:-1])
    log = node.log()
    assert f"cannot reach the state store yet: {STORE}" in log
    assert "failed attempts" in log
    assert postgres.password not in log + waiting + "".join(before_ready)


def test_a_node_asked_to_stop_while_it_waits_for_its_store_exits_cleanly(
    bind: RunningServer, private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    postgres = private_postgres_server
    path = node_before_its_store(bind, postgres, tmp_path)
    node = DaemonProcess(path, bind.key().secret).start()
    try:
        node.wait_log("cannot reach the state store yet", 60)
    finally:
        node.signal(signal.SIGTERM)
    assert node.wait(60) == 0, node.log()
