"""The API issue's "done when", end to end: with ``dnsauto run`` serving its API against a real
BIND, ``dnsauto update Bootstrap --field dnsServer=...`` (a Tsig server) makes the default
domain's records appear and propagate, and ``dnsauto get Bootstrap`` shows the new state with the
secret redacted. The secret is looked for in every output and in the daemon's log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dnsauto.testing.servers import RunningServer, ServerUnavailable
from dnsauto.testing.servers._common import free_port
from tests.api_helpers import API_TOKEN_ENV, manual_config, start_api_daemon
from tests.daemon_helpers import ROOT, served, start_bind_zones, zone_snapshot

pytestmark = pytest.mark.servers

DOMAIN = "sub.example.test"
MOVED = "moved.example.test"
"""The domain whose server moves (a zone of its own: no other test's records are there)."""
ZONES = ["example.test.", f"{DOMAIN}.", f"{MOVED}."]


@pytest.fixture(scope="module")
def bind() -> Iterator[RunningServer]:
    """A BIND of its own (``example.test.``, ``sub.example.test.``, ``moved.example.test.``), so
    the records these tests publish meet no other test's."""
    try:
        server = start_bind_zones(ZONES)
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


class Outputs:
    """Runs ``python -m dnsauto`` as an administrator would, keeping everything it printed."""

    def __init__(self, url: str, token: str, config: Path) -> None:
        self.env = {
            **os.environ,
            "DNSAUTO_URL": url,
            "DNSAUTO_TOKEN": token,
            API_TOKEN_ENV: token,  # for `config check`, which reads every secret of the file
        }
        self.config = config
        self.printed: list[str] = []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "dnsauto", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=ROOT,
            check=False,
            timeout=60,
        )
        self.printed += [result.stdout, result.stderr]
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str, check: bool = True) -> Any:
        return json.loads(self(*args, "--json", check=check).stdout)


def properties(shown: str) -> dict[str, str]:
    """The ``key: value`` lines ``dnsauto get`` prints under an object's name."""
    header, *lines = shown.splitlines()
    assert header == "Bootstrap"
    pairs = (line.split(":", 1) for line in lines)
    return {key.strip(): value.strip() for key, value in pairs}


def tsig_server(bind: RunningServer) -> dict[str, Any]:
    key = bind.key("hmac-sha256")
    return {
        "@type": "Tsig",
        "description": "BIND on loopback",
        "host": bind.host,
        "port": bind.port,
        "keyName": key.bare_name,
        "key": {"@type": "Value", "secret": key.secret},
        "tsigAlgorithm": "hmac-sha256",
        "pollingInterval": "100ms",
        "propagationTimeout": "20s",
    }


def wait_for_first_run(dnsauto: Outputs, timeout: float = 30, domain: str = DOMAIN) -> None:
    """Until the run the daemon makes at start (the Manual one) has a result."""
    deadline = time.monotonic() + timeout
    while True:
        # Exit 1 while the Manual domain's last run is not a success: the JSON tells.
        status = dnsauto.json("status", "--config", str(dnsauto.config), check=False)
        if any(d["domain"] == domain and d["lastRun"] for d in status["domains"]):
            return
        assert time.monotonic() < deadline, f"no first run after {timeout}s: {status}"
        time.sleep(0.2)


def wait_for_task(dnsauto: Outputs, run_id: str, timeout: float = 90) -> dict[str, Any]:
    """``dnsauto get Task RUN`` until the run has finished."""
    deadline = time.monotonic() + timeout
    while True:
        answer = dnsauto.json("get", "Task", run_id)
        tasks = answer["list"]
        if tasks and tasks[0]["runStatus"] in (
            "succeeded",
            "failed",
            "superseded",
            "awaitingApproval",
        ):
            task: dict[str, Any] = tasks[0]
            return task
        assert time.monotonic() < deadline, f"run {run_id} still {answer} after {timeout}s"
        time.sleep(0.2)


def test_a_bootstrap_update_over_the_api_publishes_the_default_domain_at_bind(
    bind: RunningServer, tmp_path: Path
) -> None:
    secret = bind.key("hmac-sha256").secret
    api_port = free_port()
    config = manual_config(
        tmp_path / "state",
        api_port,
        domain=DOMAIN,
        generate_dkim_keys=True,
        dns_port=bind.port,
    )
    assert served(bind, f"{DOMAIN}.", "MX") == set()
    with start_api_daemon(tmp_path, config=config, port=api_port) as api:
        dnsauto = Outputs(api.url, api.token, api.config)
        assert properties(dnsauto("get", "Bootstrap").stdout)["dnsServer.@type"] == "Manual"
        wait_for_first_run(dnsauto)

        field = f"dnsServer={json.dumps(tsig_server(bind))}"
        updated = dnsauto.json("update", "Bootstrap", "--field", field)
        assert updated["updated"] == {"singleton": None}
        run_id = updated["runId"]
        assert run_id

        task = wait_for_task(dnsauto, run_id)
        assert task["runStatus"] == "succeeded", task
        assert task["domains"][DOMAIN]["status"] == "succeeded", task
        assert task["domains"][DOMAIN]["propagated"] is True, task

        # The records are at BIND, DKIM included (generateDkimKeys made the key first).
        assert served(bind, f"{DOMAIN}.", "MX") == {f"10 mail.{DOMAIN}."}
        assert any("v=spf1" in v for v in served(bind, f"{DOMAIN}.", "TXT"))
        assert any("v=DMARC1" in v for v in served(bind, f"_dmarc.{DOMAIN}.", "TXT"))
        snapshot = zone_snapshot(bind, f"{DOMAIN}.")
        dkim = [
            values
            for (owner, rdtype), (_, values) in snapshot.items()
            if rdtype == "TXT" and owner.endswith(f"._domainkey.{DOMAIN}.")
        ]
        assert dkim, snapshot
        assert all("v=DKIM1" in v for values in dkim for v in values)

        # `dnsauto status` tells the same.
        status = dnsauto.json("status", "--config", str(api.config))
        (entry,) = [d for d in status["domains"] if d["domain"] == DOMAIN]
        assert entry["ok"] is True, entry
        assert entry["propagated"] is True, entry

        # `dnsauto get Bootstrap` shows the new state, the secret redacted.
        lines = properties(dnsauto("get", "Bootstrap").stdout)
        assert lines["dnsServer.@type"] == "Tsig"
        assert lines["dnsServer.host"] == bind.host
        assert lines["dnsServer.port"] == str(bind.port)
        assert lines["dnsServer.keyName"] == bind.key("hmac-sha256").bare_name
        assert lines["dnsServer.key.@type"] == "Value"
        assert lines["dnsServer.key.secret"] == "********"
        raw = dnsauto.json("get", "Bootstrap")["list"][0]
        assert raw["dnsServer"]["key"] == {"@type": "Value", "secret": "********"}
        assert raw["dnsServer"]["pollingInterval"] == 100

        dnsauto("config", "check", "--config", str(api.config), check=False)
        log = api.daemon.log()

    everything = "\n".join([*dnsauto.printed, log])
    assert secret not in everything
    assert api.token not in everything


def test_the_seeds_server_hostname_update_replaces_dnsauto_own_records_at_bind(
    bind: RunningServer, tmp_path: Path
) -> None:
    """The seed page's own example: most of dnsauto's values change (every SRV target, the
    autoconfig CNAMEs), none of them foreign, so the unsafe-plan stop lets it through."""
    api_port = free_port()
    config = manual_config(tmp_path / "state", api_port, domain=MOVED, dns_port=bind.port)
    with start_api_daemon(tmp_path, config=config, port=api_port) as api:
        dnsauto = Outputs(api.url, api.token, api.config)
        wait_for_first_run(dnsauto, domain=MOVED)
        field = f"dnsServer={json.dumps(tsig_server(bind))}"
        first = dnsauto.json("update", "Bootstrap", "--field", field)["runId"]
        assert wait_for_task(dnsauto, first)["runStatus"] == "succeeded"
        assert served(bind, f"_imaps._tcp.{MOVED}.", "SRV") == {f"0 1 993 mail.{MOVED}."}

        moved = dnsauto.json("update", "Bootstrap", "--field", f"serverHostname=mx.{MOVED}")
        task = wait_for_task(dnsauto, moved["runId"])
        assert task["runStatus"] == "succeeded", task
        assert served(bind, f"_imaps._tcp.{MOVED}.", "SRV") == {f"0 1 993 mx.{MOVED}."}
        assert served(bind, f"autoconfig.{MOVED}.", "CNAME") == {f"mx.{MOVED}."}
