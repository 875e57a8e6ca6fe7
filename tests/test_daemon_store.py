"""The daemon's state store survives the README's own routine: ``systemctl reload`` (SIGHUP),
``dnsauto status``, a change over the API that goes live in BIND, a CLI ``sync``, then
``kill -9``. Every journal row and API object written before the kill is there afterwards.

The defect this guards against: a reload opened a second store in the daemon's process, whose
``os.open``/``os.close`` of the database file dropped the daemon's POSIX locks; the next CLI
command to close the store deleted the ``-wal`` the daemon went on writing into.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from dnsauto.config.ids import domain_id
from dnsauto.state.store import DB_FILE, StateStore
from dnsauto.testing.servers import RunningServer, ServerUnavailable
from dnsauto.testing.servers._common import HOST, free_port
from tests.api_helpers import ALL_PERMISSIONS, API_TOKEN_ENV, start_api_daemon
from tests.daemon_helpers import ROOT, TSIG_ENV, config_text, served, start_bind_zones

pytestmark = pytest.mark.servers

FILE_DOMAIN = "example.test"
API_DOMAIN = "example.org"
ZONES = [f"{FILE_DOMAIN}.", f"{API_DOMAIN}."]


@pytest.fixture(scope="module")
def bind() -> Iterator[RunningServer]:
    try:
        server = start_bind_zones(ZONES)
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


def daemon_config(bind: RunningServer, state_dir: Path, api_port: int) -> str:
    return config_text(bind, state_dir, [FILE_DOMAIN]) + (
        "\n[daemon.api]\n"
        f'listen = "{HOST}:{api_port}"\n\n'
        "[[daemon.api.keys]]\n"
        'name = "admin"\n'
        f'secret = {{ "@type" = "EnvironmentVariable", variableName = "{API_TOKEN_ENV}" }}\n'
        f"permissions = {json.dumps(list(ALL_PERMISSIONS))}\n"
    )


class Cli:
    """``python -m dnsauto`` as an administrator runs it next to the service."""

    def __init__(self, url: str, token: str, config: Path, tsig_secret: str) -> None:
        self.config = config
        self.env = {
            **os.environ,
            "DNSAUTO_URL": url,
            "DNSAUTO_TOKEN": token,
            API_TOKEN_ENV: token,
            TSIG_ENV: tsig_secret,
        }

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
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args: str, check: bool = True) -> Any:
        return json.loads(self(*args, "--json", check=check).stdout)

    def status(self) -> dict[str, Any]:
        document: dict[str, Any] = self.json("status", "-c", str(self.config), check=False)
        return document


def wait_until(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout}s"
        time.sleep(0.1)


def database_descriptors(pid: int, state_dir: Path) -> int:
    """How many descriptors of the database file process ``pid`` holds: SQLite keeps those of
    a connection closed while others of the process hold locks until the last one closes, so
    a second store opened and closed beside the daemon's leaves one more."""
    database = str(state_dir / DB_FILE)
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == database
        except OSError:  # closed meanwhile
            continue
    return count


def synced(cli: Cli, domain: str) -> bool:
    return any(d["domain"] == domain and d["ok"] for d in cli.status()["domains"])


def task_finished(cli: Cli, run_id: str) -> bool:
    """Whether the daemon says (over the API, from memory) that run ``run_id`` is over."""
    tasks = cli.json("get", "Task", run_id)["list"]
    return bool(tasks) and tasks[0]["runStatus"] == "succeeded"


def replace_dmarc_behind_dnsauto(bind: RunningServer, value: str) -> None:
    """Someone edits the zone directly, so that a CLI ``sync`` has a change to journal."""
    key = bind.key("hmac-sha256")
    keyring = dns.tsigkeyring.from_text({key.bare_name: ("hmac-sha256", key.secret)})
    update = dns.update.UpdateMessage(
        f"{FILE_DOMAIN}.", keyring=keyring, keyname=key.bare_name, keyalgorithm="hmac-sha256"
    )
    update.replace(f"_dmarc.{FILE_DOMAIN}.", 300, "TXT", f'"{value}"')
    response = dns.query.tcp(update, bind.host, port=bind.port, timeout=5)
    assert response.rcode() == dns.rcode.NOERROR


def test_reload_status_api_and_cli_writes_all_survive_a_kill_9(
    bind: RunningServer, tmp_path: Path
) -> None:
    secret = bind.key("hmac-sha256").secret
    state_dir = tmp_path / "state"
    api_port = free_port()
    config = daemon_config(bind, state_dir, api_port)
    with start_api_daemon(tmp_path, config=config, port=api_port, env={TSIG_ENV: secret}) as api:
        cli = Cli(api.url, api.token, api.config, secret)
        wait_until(lambda: synced(cli, FILE_DOMAIN), "the first sync")

        opened_before = database_descriptors(api.daemon.pid, state_dir)
        for reloads in range(1, 4):
            api.daemon.signal(signal.SIGHUP)  # systemctl reload dnsauto
            wait_until(lambda n=reloads: api.daemon.log().count("reloaded:") == n, "a reload")
            cli.status()  # another process opens and closes the store
        assert database_descriptors(api.daemon.pid, state_dir) == opened_before, (
            "a reload opened a store of its own beside the daemon's"
        )

        created = cli.json(
            "create",
            "Domain",
            "--field",
            f"name={API_DOMAIN}",
            "--field",
            'dnsManagement={"@type": "Automatic", "dnsServerId": "bind"}',
        )
        assert created["created"]["new1"]["id"] == domain_id(API_DOMAIN), created
        wait_until(lambda: task_finished(cli, created["runId"]), "the API domain's sync")
        assert served(bind, f"{API_DOMAIN}.", "MX") == {f"10 mail.{FILE_DOMAIN}."}

        replace_dmarc_behind_dnsauto(bind, "v=DMARC1; p=none")
        cli("sync", "-c", str(api.config), "-d", FILE_DOMAIN, "--no-wait")
        cli.status()

        api.daemon.signal(signal.SIGKILL)
        api.daemon.wait()

    with sqlite3.connect(state_dir / DB_FILE) as plain:
        assert plain.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with StateStore(state_dir) as store:
        assert API_DOMAIN in store.objects("Domain"), "the object set over the API is gone"
        api_rows = store.journal(domain=API_DOMAIN)
        assert {(e.name, e.type) for e in api_rows} >= {(f"{API_DOMAIN}.", "MX")}, api_rows
        assert {e.status for e in api_rows} == {"applied"}
        cli_rows = [e for e in store.journal(domain=FILE_DOMAIN) if e.old == ['"v=DMARC1; p=none"']]
        assert [e.status for e in cli_rows] == ["applied"], "the CLI sync's journal row is gone"
        assert store.last_results()[API_DOMAIN].ok
