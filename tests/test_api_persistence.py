"""Objects set over the API are kept in the state store, survive restarts and win over the
configuration file object by object; ``dnsauto config check`` shows the merged view."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnsauto.config.ids import domain_id
from dnsauto.config.loader import load_config_file
from dnsauto.config.overlay import describe_overrides, effective_config
from dnsauto.plugin.errors import ConfigError
from dnsauto.plugin.registry import load_registry
from dnsauto.state.store import StateStore
from tests.api_server_helpers import (
    ADMIN_TOKEN,
    CONFIG,
    READER_TOKEN,
    TSIG_SECRET,
    api_client,
    call,
    write_config,
)

ROOT = Path(__file__).resolve().parent.parent
OTHER = domain_id("other.test")
API_SECRET = "YXBpLXNlY3JldC1rZXB0LWluLXRoZS1zdG9yZQ=="
SERVER = {
    "@type": "Tsig",
    "description": "made over the API",
    "host": "192.0.2.44",
    "keyName": "k",
    "key": {"@type": "Value", "secret": API_SECRET},
}


async def change_everything(path: Path) -> str:
    """Over the API: a new DnsServer, a Bootstrap update, the file's domain destroyed."""
    async with api_client(path) as (client, _, _):
        _, created = await call(client, "x:DnsServer/set", {"create": {"s": SERVER}})
        server_id: str = created["created"]["s"]["id"]
        patch = {"serverHostname": "api.example.test"}
        _, updated = await call(client, "x:Bootstrap/set", {"update": {"singleton": patch}})
        assert updated["updated"] == {"singleton": None}
        _, found = await call(client, "x:Domain/query", {"filter": {"name": "other.test"}})
        assert found["ids"] == [OTHER]  # the file's domain: the id every process gives it
        _, destroyed = await call(client, "x:Domain/set", {"destroy": [OTHER]})
        assert destroyed["destroyed"] == [OTHER]
    return server_id


async def test_objects_set_over_the_api_survive_a_restart(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    server_id = await change_everything(path)
    async with api_client(path) as (client, _, host):
        _, bootstrap = await call(client, "x:Bootstrap/get", {})
        assert bootstrap["list"][0]["serverHostname"] == "api.example.test"
        _, servers = await call(client, "x:DnsServer/get", {"ids": [server_id]})
        assert servers["list"][0]["description"] == "made over the API"
        _, domains = await call(client, "x:Domain/query", {})
        assert domains["ids"] == [domain_id("example.test")]
        assert host.config.dns_server[server_id].key.resolve() == API_SECRET  # type: ignore[attr-defined]


async def test_the_api_wins_over_a_later_file_change_object_by_object(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    await change_everything(path)
    path.write_text(
        CONFIG.replace(
            'serverHostname = "mail.example.test"', 'serverHostname = "file.test"'
        ).replace('description = "file server"', 'description = "edited in the file"')
    )
    async with api_client(path) as (client, _, _):
        _, bootstrap = await call(client, "x:Bootstrap/get", {})
        assert bootstrap["list"][0]["serverHostname"] == "api.example.test"  # the API's
        _, servers = await call(client, "x:DnsServer/get", {"ids": ["primary"]})
        assert servers["list"][0]["description"] == "edited in the file"  # never set over the API
        _, domains = await call(client, "x:Domain/get", {"ids": [OTHER]})
        assert domains["notFound"] == [OTHER]  # the tombstone hides the file's domain


async def test_the_store_keeps_the_objects_secrets_in_a_private_file(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    server_id = await change_everything(path)
    database = tmp_path / "state" / "dnsauto.sqlite3"
    assert database.stat().st_mode & 0o077 == 0
    with StateStore(tmp_path / "state") as store:
        assert store.objects("DnsServer")[server_id]["key"]["secret"] == API_SECRET
        assert describe_overrides(store) == [
            "bootstrap: set over the API",
            f"dnsServer.{server_id}: set over the API",
            "domain.other.test: destroyed over the API",
        ]


def test_a_merge_that_breaks_a_reference_is_a_config_error_naming_the_path(
    tmp_path: Path,
) -> None:
    registry = load_registry()
    path = write_config(tmp_path)
    config = load_config_file(path, registry)
    with StateStore(config.daemon.state_dir) as store:
        store.put_object(
            "Domain",
            "api.test",
            {"dnsManagement": {"@type": "Automatic", "dnsServerId": "gone"}},
        )
        with pytest.raises(ConfigError) as caught:
            effective_config(config, store, registry=registry)
    (problem,) = caught.value.problems
    assert problem.path == 'domain."api.test".dnsManagement.dnsServerId'
    assert "objects set over the API" in problem.source


def test_without_api_objects_the_file_config_is_used_as_is(tmp_path: Path) -> None:
    registry = load_registry()
    config = load_config_file(write_config(tmp_path), registry)
    with StateStore(config.daemon.state_dir) as store:
        assert effective_config(config, store, registry=registry) is config
    assert effective_config(config, None) is config


def test_config_check_shows_the_merged_view_and_names_the_overrides(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    server_id = asyncio.run(change_everything(path))
    result = subprocess.run(
        [sys.executable, "-m", "dnsauto", "config", "check", "--json", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["bootstrap"]["serverHostname"] == "api.example.test"
    assert server_id in document["dnsServer"]
    assert "other.test" not in document["domain"]
    assert "# bootstrap: set over the API" in result.stderr
    assert f"# dnsServer.{server_id}: set over the API" in result.stderr
    assert "# domain.other.test: destroyed over the API" in result.stderr
    text = result.stdout + result.stderr
    for secret in (API_SECRET, TSIG_SECRET, ADMIN_TOKEN, READER_TOKEN):
        assert secret not in text

    toml = subprocess.run(
        [sys.executable, "-m", "dnsauto", "config", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert toml.returncode == 0, toml.stderr
    assert 'serverHostname = "api.example.test"' in toml.stdout
    assert API_SECRET not in toml.stdout


def test_config_check_makes_no_state_store(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dnsauto", "config", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "state").exists()


def test_config_forget_drops_an_override_so_the_file_wins_again(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    asyncio.run(change_everything(path))

    def forget(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dnsauto", "config", "forget", *args, "-c", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )

    by_id = forget("Domain", OTHER)  # the id the API shows names it as well as the name
    assert (by_id.returncode, by_id.stdout) == (
        0,
        "Domain other.test: follows the configuration file again\n",
    )
    asyncio.run(change_everything(path))
    assert forget("Domain", "Other.Test.").returncode == 0
    assert forget("Bootstrap").returncode == 0
    again = forget("Bootstrap")
    assert (again.returncode, again.stderr) == (
        1,
        "error: the API set nothing for Bootstrap singleton\n",
    )
    assert forget("DnsServer").returncode == 2
    registry = load_registry()
    config = load_config_file(path, registry)
    with StateStore(config.daemon.state_dir) as store:
        merged = effective_config(config, store, registry=registry)
    assert merged.bootstrap.server_hostname == "mail.example.test"
    assert "other.test" in merged.domain
