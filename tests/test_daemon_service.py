"""``dnsauto run`` as systemd runs it: notifications, signals, reloads, status and its logs,
against a real BIND on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dnsauto.cli.service import status_document
from dnsauto.testing.servers import HOST, RunningServer, ServerUnavailable
from tests.daemon_helpers import (
    ROOT,
    TSIG_ENV,
    DaemonProcess,
    NotifySocket,
    config_text,
    poll,
    served,
    start_bind_zones,
    tsig_server_table,
)

pytestmark = pytest.mark.servers

ZONES = ["a.test.", "b.test.", "c.test.", "stall.test."]


@pytest.fixture(scope="module")
def bind() -> Iterator[RunningServer]:
    try:
        server = start_bind_zones(ZONES)
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path)
    yield listener
    listener.close()


def stalled_server(port: int, timeout: str) -> str:
    return (
        "[dnsServer.stall]\n"
        '"@type" = "Tsig"\n'
        'description = "answers nothing"\n'
        f'host = "{HOST}"\n'
        f"port = {port}\n"
        'keyName = "nobody"\n'
        f'key = {{ "@type" = "EnvironmentVariable", variableName = "{TSIG_ENV}" }}\n'
        'tsigAlgorithm = "hmac-sha256"\n'
        f'timeout = "{timeout}"\n'
    )


def stalled_domain(name: str = "stall.test") -> str:
    return (
        f'[domain."{name}"]\n'
        'dnsManagement = { "@type" = "Automatic", dnsServerId = "stall" }\n'
        'dkimManagement = { "@type" = "Manual" }\n'
    )


def dnsauto(config: Path, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnsauto", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, TSIG_ENV: secret},
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_ready_status_and_watchdog_reach_the_notify_socket_and_sigterm_exits_zero(
    bind: RunningServer, notify: NotifySocket, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(bind, tmp_path / "state", ["a.test", "b.test"]))
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "300000"}
    daemon = DaemonProcess(config, bind.key().secret, env=env).start()
    try:
        ready = notify.wait_for(lambda m: m.get("READY") == "1")
        assert "syncing 2 domains" in ready["STATUS"]
        status = notify.wait_for(lambda m: "STATUS" in m and "2 ok" in m["STATUS"])
        assert "0 failed" in status["STATUS"]
        notify.wait_for(lambda m: m.get("WATCHDOG") == "1", after=notify.mark())
        notify.wait_for(lambda m: m.get("WATCHDOG") == "1", after=notify.mark())
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        notify.wait_for(lambda m: m.get("STOPPING") == "1")
    finally:
        daemon.stop()
    assert bind.key().secret not in daemon.log()


def test_sigterm_during_a_stalled_sync_exits_zero_within_the_shutdown_timeout(
    bind: RunningServer, notify: NotifySocket, black_hole: int, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        config_text(
            bind, tmp_path / "state", ["a.test"], servers=stalled_server(black_hole, "60s")
        ).replace("[daemon]\n", stalled_domain() + '\n[daemon]\nshutdownTimeout = "1s"\n')
    )
    daemon = DaemonProcess(config, bind.key().secret, env={"NOTIFY_SOCKET": str(notify.path)})
    daemon.start()
    try:
        daemon.wait_log("synced: ")  # a.test is done; stall.test waits for an answer
        assert daemon.process is not None
        assert daemon.process.poll() is None
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        took = time.monotonic() - started
    finally:
        daemon.stop()
    # It waited the shutdown timeout, then cut the stalled sync short (its own timeout is 60s).
    assert took >= 1, took
    assert "stopping after 1s: cutting short the syncs of stall.test" in daemon.log()


def test_sigusr1_writes_every_thread_s_stack_to_the_log_and_the_daemon_runs_on(
    bind: RunningServer, notify: NotifySocket, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(bind, tmp_path / "state", ["a.test"]))
    daemon = DaemonProcess(config, bind.key().secret, env={"NOTIFY_SOCKET": str(notify.path)})
    daemon.start()
    try:
        notify.wait_for(lambda m: "1 ok" in m.get("STATUS", ""))
        daemon.signal(signal.SIGUSR1)
        poll(lambda: "most recent call first" in daemon.log(), what="the thread dump")
        assert "Current thread" in daemon.log() or "Thread 0x" in daemon.log()
        mark = notify.mark()
        daemon.signal(signal.SIGHUP)
        notify.wait_for(lambda m: "reloaded" in m.get("STATUS", ""), mark)
    finally:
        daemon.stop()


def test_sighup_keeps_the_old_config_when_the_new_one_is_broken_and_publishes_new_domains(
    bind: RunningServer, notify: NotifySocket, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    good = config_text(bind, state, ["a.test"])
    config.write_text(good)
    secret = bind.key().secret
    daemon = DaemonProcess(config, secret, env={"NOTIFY_SOCKET": str(notify.path)}).start()
    try:
        notify.wait_for(lambda m: "1 ok" in m.get("STATUS", ""))
        broken = good.replace(f"port = {bind.port}", "port = 99999").replace(
            "[daemon]\n", "[daemon]\nnoSuchSetting = 1\n"
        )
        config.write_text(broken)
        mark = notify.mark()
        daemon.signal(signal.SIGHUP)
        refused = notify.wait_for(lambda m: "reload refused" in m.get("STATUS", ""), mark)
        assert refused["READY"] == "1"
        log = daemon.log()
        assert "reload refused: " in log
        assert "dnsServer.bind.port" in log
        assert "daemon.noSuchSetting: unknown key" in log

        config.write_text(config_text(bind, state, ["b.test", "c.test"]))
        mark = notify.mark()
        daemon.signal(signal.SIGHUP)
        notify.wait_for(lambda m: "reloaded; 2 domains" in m.get("STATUS", ""), mark)
        poll(lambda: served(bind, "_dmarc.c.test.", "TXT") != set(), what="c.test published")
        assert served(bind, "_dmarc.b.test.", "TXT")

        shown = dnsauto(config, secret, "status", "--json")
        assert shown.returncode == 0, shown.stderr
        document = json.loads(shown.stdout)
        assert document["daemon"]["running"] is True
        entries = {d["domain"]: d for d in document["domains"]}
        assert entries["a.test"]["configured"] is False
        assert entries["a.test"]["nextRun"] is None

        def scheduled() -> bool:
            document = status_document(str(state), ["b.test", "c.test"])
            return all(
                d["ok"] and d["nextReason"] == "periodic"
                for d in document["domains"]
                if d["configured"]
            )

        poll(scheduled, what="b.test and c.test synced and scheduled")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.stop()
    assert secret not in daemon.log()

    after = dnsauto(config, secret, "status")
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith("daemon not running")
    assert "c.test" in after.stdout


def test_json_logs_carry_domain_and_run_and_no_output_holds_a_secret(
    bind: RunningServer, black_hole: int, tmp_path: Path
) -> None:
    wrong_secret = tmp_path / "wrong.key"
    wrong_secret.write_text("c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ=")
    wrong = tsig_server_table("wrong", bind, wrong_secret)
    text = config_text(bind, tmp_path / "state", ["a.test"], servers=wrong)
    text = text.replace(
        "[daemon]\n",
        '[domain."b.test"]\n'
        'dnsManagement = { "@type" = "Automatic", dnsServerId = "wrong" }\n\n'
        "[daemon]\n",
    )
    config = tmp_path / "config.toml"
    config.write_text(text)
    daemon = DaemonProcess(
        config, bind.key().secret, args=["--log-format", "json"], global_args=["-vv"]
    ).start()
    try:
        daemon.wait_log("needs attention")
        daemon.wait_log('"synced: ')
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.stop()
    output = daemon.log()
    assert bind.key().secret not in output
    assert wrong_secret.read_text() not in output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all(
        set(line) >= {"time", "level", "logger", "message", "domain", "run_id"} for line in lines
    )
    failed = [line for line in lines if "needs attention" in line["message"]]
    assert failed[0]["domain"] == "b.test"
    assert failed[0]["level"] == "error"
    assert failed[0]["run_id"]
    assert any(line["level"] == "debug" for line in lines)
