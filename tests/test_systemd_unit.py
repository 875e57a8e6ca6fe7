"""The systemd unit: what it declares, and how ``systemd-analyze security`` rates it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dnsauto.cli import cli

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "dnsauto.service"
SYSUSERS = ROOT / "systemd" / "dnsauto.sysusers"


def settings() -> dict[str, list[str]]:
    """The unit's ``Key=value`` lines (keys may repeat), section names left out."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_is_a_notify_service_that_reloads_with_sighup() -> None:
    unit = settings()
    assert unit["Type"] == ["notify"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    start = unit["ExecStart"][0].split()
    assert start[0].endswith("/dnsauto")
    assert start[-1] == "run"
    assert "run" in cli.commands
    assert "status" in cli.commands


def test_unit_runs_as_its_own_user_with_state_and_configuration_directories() -> None:
    unit = settings()
    assert unit["User"] == ["dnsauto"]
    assert unit["StateDirectory"] == ["dnsauto"]
    assert unit["ConfigurationDirectory"] == ["dnsauto"]
    assert "${CONFIGURATION_DIRECTORY}/config.toml" in unit["ExecStart"][0]
    users = [line.split() for line in SYSUSERS.read_text().splitlines() if line[:1] == "u"]
    assert [u[1] for u in users] == ["dnsauto"]


def test_unit_stop_timeout_leaves_room_for_the_daemons_shutdown_timeout() -> None:
    from dnsauto.config.daemon import Daemon

    stop = settings()["TimeoutStopSec"][0]
    assert stop.endswith("s")
    assert int(stop[:-1]) > Daemon().shutdown_timeout.total_seconds()


def test_systemd_analyze_security_rates_the_unit_two_or_lower() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for dnsauto\.service: (\d+\.\d+)", output)
    assert match is not None, output
    assert float(match.group(1)) <= 2.0, output


def test_unit_bounds_memory_and_tasks() -> None:
    # A runaway (a secret read without end, a flood of requests) hits these, not the host.
    unit = settings()
    (memory,) = unit["MemoryMax"]
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    limit = int(memory[:-1]) * units[memory[-1]] if memory[-1] in units else int(memory)
    assert 256 << 20 <= limit <= 4 << 30  # the 5,000-zone bulk benchmark peaks at 180 MB
    (tasks,) = unit["TasksMax"]
    # The event loop's thread plus asyncio's default executor (at most 32 workers).
    assert 33 < int(tasks) <= 256
