"""``dnsauto status`` without a running daemon, and ``dnsauto run`` refusing a bad config."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from dnsauto.cli import cli
from dnsauto.service.daemon import STATUS_FILE
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import DomainResult

CONFIG = """
[bootstrap]
serverHostname = "mail.example.test"
defaultDomain = "example.test"

[domain."example.org"]

[daemon]
stateDir = "state"
"""


@pytest.fixture
def config(write_config: Callable[[str], Path]) -> Path:
    return write_config(CONFIG)


def status(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["status", "--config", str(config), *args])
    return result.exit_code, result.output


def test_status_before_any_sync_lists_every_domain_as_never_synced(config: Path) -> None:
    code, output = status(config)
    assert code == 0, output
    assert output.startswith("daemon not running")
    assert "example.org" in output
    assert output.count("never synced") == 2
    assert not (config.parent / "state").exists(), "status creates no state"


def test_status_shows_the_stores_last_results_and_exits_one_on_a_failure(config: Path) -> None:
    with StateStore(config.parent / "state") as store:
        store.save_result("run1", DomainResult("example.test", "manual", applied=3))
        store.save_result("run2", DomainResult("example.org", "manual", error="zone not found"))
        store.save_result("run0", DomainResult("gone.example", "manual", error="old failure"))
    code, output = status(config, "--json")
    assert code == 1
    document = json.loads(output)
    assert document["daemon"]["running"] is False
    entries = {d["domain"]: d for d in document["domains"]}
    assert entries["example.test"]["ok"] is True
    assert entries["example.test"]["changes"] == 3
    assert entries["example.test"]["lastRun"] == "run1"
    assert entries["example.org"]["error"] == "zone not found"
    assert entries["gone.example"]["configured"] is False
    assert entries["example.test"]["nextRun"] is None


def test_status_ignores_the_schedule_of_a_daemon_that_is_gone(config: Path) -> None:
    state = config.parent / "state"
    state.mkdir()
    (state / STATUS_FILE).write_text(
        json.dumps(
            {
                "pid": 2**22 + 12345,  # above Linux's pid_max: no such process
                "running": True,
                "domains": {"example.test": {"nextRun": "2030-01-01T00:00:00Z"}},
            }
        )
    )
    code, output = status(config, "--json")
    assert code == 0
    document = json.loads(output)
    assert document["daemon"]["running"] is False
    assert all(d["nextRun"] is None for d in document["domains"])


def test_run_refuses_a_configuration_with_problems_listing_each(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(CONFIG.replace('stateDir = "state"', 'stateDir = "state"\nbogus = 1'))
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "daemon.bogus: unknown key" in result.output


def test_status_says_which_plan_awaits_approval_and_how_to_approve_it(config: Path) -> None:
    state = config.parent / "state"
    with StateStore(state) as store:
        store.save_result("run1", DomainResult("example.test", "manual", error="removes 90%"))
    (state / STATUS_FILE).write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "running": True,
                "domains": {"example.test": {"awaitingApproval": "0123456789abcdef"}},
            }
        )
    )
    code, output = status(config)
    assert code == 1
    assert "plan 0123456789abcdef awaits approval: dnsauto approve --domain example.test" in output
    code, output = status(config, "--json")
    entries = {d["domain"]: d for d in json.loads(output)["domains"]}
    assert entries["example.test"]["awaitingApproval"] == "0123456789abcdef"
