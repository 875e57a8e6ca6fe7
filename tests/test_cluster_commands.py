"""``dnsauto sync`` and ``restore`` on a cluster: they take the domain's lease as a node does,
so they never write beside a node that holds it, and they give it back when done."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import pytest
from click.testing import CliRunner, Result

import dnsauto.cli as cli_module
import dnsauto.cli.options as options_module
from dnsauto.state.leases import LeaseStore
from dnsauto.testing import make_rrset
from dnsauto.testing.memory import MemoryHost, MemoryProvider, memory_registry
from tests.store_backends import StoreBackend

DOMAIN = "example.test"
DMARC = f"_dmarc.{DOMAIN}."
HELD_BY_MX2 = "example.test: node mx2 holds its lease (until "


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone(f"{DOMAIN}.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    monkeypatch.setattr(options_module, "load_registry", memory_registry)
    return fresh


@pytest.fixture
def run(store_backend: StoreBackend, tmp_path: Path) -> Callable[..., Result]:
    """``dnsauto ARGS`` in process, on a configuration with ``[daemon.cluster]``."""
    table = store_backend.daemon_table()
    store = ""
    if "store" in table:
        store = "[daemon.store]\n" + "".join(
            f'"{k}" = {json.dumps(v) if not isinstance(v, dict) else _inline(v)}\n'
            for k, v in table["store"].items()
        )
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"
dnsServer = {{ "@type" = "Memory", description = "memory" }}

[domain."{DOMAIN}"]
dkimManagement = {{ "@type" = "Manual" }}
dnsManagement = {{ "@type" = "Automatic", dnsServerId = "mem" }}

[dnsServer.mem]
"@type" = "Memory"
description = "the provider under the leases"

[daemon]
stateDir = "{store_backend.state_dir}"

[daemon.cluster]
enabled = true
nodeId = "mx1"
leaseSeconds = 30

{store}"""
    )

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli_module.cli, [*args, "-c", str(path)], catch_exceptions=False)

    return invoke


def _inline(value: dict[str, Any]) -> str:
    return "{ " + ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in value.items()) + " }"


def held_by_a_live_node(store_backend: StoreBackend) -> None:
    with store_backend.open() as store:
        assert LeaseStore(store, "mx2", lease_seconds=30).acquire([DOMAIN]) == {DOMAIN: 1}


def test_dnsauto_sync_on_a_cluster_leaves_a_domain_a_live_node_holds_naming_the_node(
    host: MemoryHost, run: Callable[..., Result], store_backend: StoreBackend
) -> None:
    held_by_a_live_node(store_backend)

    result = run("sync", "--no-wait")

    assert result.exit_code == 1
    assert HELD_BY_MX2 in result.output
    assert "stop that node to sync the domain from here" in result.output
    assert dmarc(host) == set()
    with store_backend.open() as store:
        assert store.journal() == []
        assert LeaseStore(store, "mx2", lease_seconds=30).leases()[DOMAIN][:2] == ("mx2", 1)


def test_dnsauto_sync_on_a_cluster_syncs_a_domain_no_node_holds_under_its_lease_then_frees_it(
    host: MemoryHost, run: Callable[..., Result], store_backend: StoreBackend
) -> None:
    result = run("sync", "--no-wait")

    assert result.exit_code == 0, result.output
    with store_backend.open() as store:
        journal = store.journal()
        (owner, token, _) = LeaseStore(store, "mx2", lease_seconds=30).leases()[DOMAIN]
        assert store.last_results()[DOMAIN].ok
    assert journal
    assert {(e.node_id or "").startswith("cli-") for e in journal} == {True}
    assert {e.fence_token for e in journal} == {1}
    assert (owner, token) == (None, 1)  # given back: the node that should hold it claims it


def test_dnsauto_restore_on_a_cluster_leaves_a_domain_a_live_node_holds_naming_the_node(
    host: MemoryHost, run: Callable[..., Result], store_backend: StoreBackend
) -> None:
    host.put(make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=none"'))
    assert run("sync", "--no-wait").exit_code == 0
    with store_backend.open() as store:
        (run_id,) = {e.run_id for e in store.journal()}
        written = len(store.journal())
        assert LeaseStore(store, "mx2", lease_seconds=30).acquire([DOMAIN]) == {DOMAIN: 2}

    result = run("restore", "--run", run_id)

    assert result.exit_code == 1
    assert HELD_BY_MX2 in result.output
    assert dmarc(host) == {f'"v=DMARC1; p=reject; rua=mailto:postmaster@{DOMAIN}"'}
    with store_backend.open() as store:
        assert len(store.journal()) == written
    assert run("restore", "--run", run_id, "--dry-run").exit_code == 0  # a dry run needs none
    assert HELD_BY_MX2 not in run("restore", "--run", run_id, "--dry-run").output


def dmarc(host: MemoryHost) -> set[str]:
    """The DMARC values the provider serves."""
    rrset = host.zones[dns.name.from_text(DOMAIN)].get(
        (dns.name.from_text(DMARC), dns.rdatatype.TXT)
    )
    return set() if rrset is None else {r.to_text() for r in rrset}
