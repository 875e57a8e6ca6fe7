"""systemd notifications as datagrams, without libsystemd."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from dnsauto.service.sdnotify import Notifier, watchdog_interval


def receive(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def test_ready_and_status_arrive_as_one_datagram(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        notifier = Notifier(str(path))
        assert notifier.ready("syncing 3 domains\nnow")
        assert receive(sock) == {"READY": "1", "STATUS": "syncing 3 domains now"}
        assert notifier.watchdog()
        assert receive(sock) == {"WATCHDOG": "1"}
        notifier.close()


def test_abstract_socket_names_start_with_an_at_sign() -> None:
    name = f"dnsauto-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        notifier = Notifier("@" + name)
        assert notifier.stopping()
        assert receive(sock) == {"STOPPING": "1"}
        notifier.close()


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready() is False


def test_a_vanished_socket_does_not_stop_the_service(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.status("x") is False
    notifier.close()


def test_watchdog_pings_at_half_the_interval_for_this_process_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert watchdog_interval() is None
