"""`dnsauto restore`: undo a run from the journal, without clobbering what changed since."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.changes import Create, Delete, Update
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.registry import Registry
from dnsauto.state.store import JournalEntry, StateStore
from dnsauto.sync.engine import Engine, domain_jobs
from dnsauto.sync.restore import plan_restore, restore_targets
from dnsauto.testing import make_rrset
from dnsauto.testing.memory import MemoryHost, MemoryProvider
from dnsauto.testing.servers import RunningServer
from dnsauto.testing.servers.fixtures import bind_server  # noqa: F401

ZONE = dns.name.from_text("example.test.")
DMARC = "_dmarc.example.test."
NOW = datetime(2026, 4, 20, tzinfo=UTC)


def entry(
    name: str,
    action: str,
    old: list[str],
    new: list[str],
    *,
    id: int = 1,
    status: str = "applied",
    ttl: int = 300,
    old_ttl: int | None = 300,
    rdtype: str = "TXT",
) -> JournalEntry:
    return JournalEntry(
        id=id,
        run_id="r1",
        time=NOW,
        domain="example.test",
        zone="example.test.",
        name=name,
        type=rdtype,
        action=action,
        ttl=ttl,
        old=old,
        new=new,
        status=status,  # type: ignore[arg-type]
        error=None,
        old_ttl=old_ttl,
    )


def plan(entries: list[JournalEntry], *current: Any) -> tuple[list[Any], list[str]]:
    zone_plan, conflicts = plan_restore(ZONE, "r1", restore_targets(entries), current)
    return zone_plan.changes, conflicts


# --- planning --------------------------------------------------------------------------------


def test_a_replaced_value_is_put_back_with_its_ttl() -> None:
    journaled = entry(DMARC, "update", ['"v=DMARC1; p=none"'], ['"v=DMARC1; p=reject"'], old_ttl=60)
    served = make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=reject"')

    (change,), conflicts = plan([journaled], served)

    assert conflicts == []
    assert isinstance(change, Update)
    assert change.old == served
    assert change.new == make_rrset(DMARC, "TXT", 60, '"v=DMARC1; p=none"')
    assert change.new.ttl == 60


def test_a_created_rrset_is_removed_and_a_deleted_one_comes_back() -> None:
    created = entry("mta-sts.example.test.", "create", [], ["mail.example.test."], rdtype="CNAME")
    deleted = entry("old._domainkey.example.test.", "delete", ['"v=DKIM1; p=x"'], [], id=2)
    served = make_rrset("mta-sts.example.test.", "CNAME", 300, "MAIL.example.test.")

    (remove, recreate), conflicts = plan([created, deleted], served)

    assert conflicts == []
    assert isinstance(remove, Delete)
    assert remove.old == served
    assert isinstance(recreate, Create)
    assert recreate.new == make_rrset("old._domainkey.example.test.", "TXT", 300, '"v=DKIM1; p=x"')


def test_a_record_changed_since_the_run_is_a_conflict_and_left_alone() -> None:
    journaled = entry(DMARC, "update", ['"v=DMARC1; p=none"'], ['"v=DMARC1; p=reject"'])
    served = make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=quarantine"')

    changes, (conflict,) = plan([journaled], served)

    assert changes == []
    assert conflict.startswith(f"{DMARC} TXT: changed since run r1")
    assert '"v=DMARC1; p=quarantine"' in conflict


def test_a_record_deleted_by_someone_else_since_is_a_conflict() -> None:
    journaled = entry(DMARC, "update", ['"v=DMARC1; p=none"'], ['"v=DMARC1; p=reject"'])

    changes, (conflict,) = plan([journaled])

    assert changes == []
    assert "now serves nothing" in conflict


def test_a_record_already_as_before_needs_nothing() -> None:
    journaled = entry(DMARC, "update", ['"v=DMARC1; p=none"'], ['"v=DMARC1; p=reject"'])

    assert plan([journaled], make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=none"')) == ([], [])


def test_a_pending_entry_is_judged_by_what_is_served() -> None:
    journaled = entry(DMARC, "create", [], ['"v=DMARC1; p=reject"'], status="pending")

    assert plan([journaled]) == ([], []), "never applied: nothing to undo"
    (change,), _ = plan([journaled], make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=reject"'))
    assert isinstance(change, Delete), "applied after all: undone"


def test_txt_split_differently_by_the_provider_still_matches() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 300
    ours = f'"{value[:255]}" "{value[255:]}"'
    theirs = " ".join(f'"{value[i : i + 100]}"' for i in range(0, len(value), 100))
    journaled = entry("s._domainkey.example.test.", "create", [], [ours])
    served = make_rrset("s._domainkey.example.test.", "TXT", 300, theirs)

    (change,), conflicts = plan([journaled], served)

    assert conflicts == []
    assert isinstance(change, Delete)


def test_an_rrset_touched_twice_in_a_run_goes_back_to_what_the_run_found_first() -> None:
    first = entry(DMARC, "update", ['"v=DMARC1; p=none"'], ['"v=DMARC1; p=reject"'], id=1)
    second = entry(DMARC, "update", ['"v=DMARC1; p=quarantine"'], ['"v=DMARC1; p=reject"'], id=2)

    (change,), _ = plan([second, first], make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=reject"'))

    assert isinstance(change, Update)
    assert change.new == make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=none"')


# --- through the engine, on the memory host --------------------------------------------------


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone("example.test.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    return fresh


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state") as opened:
        yield opened


def memory_config(tmp_path: Path, registry: Registry) -> Config:
    document = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "dnsServer": {"mem": {"@type": "Memory", "description": "memory"}},
        "domain": {
            "example.test": {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "mem"},
                "dkimManagement": {"@type": "Manual"},
            }
        },
        "daemon": {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=registry)


def snapshot(host: MemoryHost) -> dict[tuple[str, str], set[str]]:
    return {
        (n.to_text(), t.name): {r.to_text() for r in rrset}
        for (n, t), rrset in host.zones[ZONE].items()
    }


async def test_restore_puts_the_zone_back_as_the_run_found_it(
    host: MemoryHost, tmp_path: Path, registry: Registry, store: StateStore
) -> None:
    host.put(make_rrset(DMARC, "TXT", 60, '"v=DMARC1; p=none"'))
    host.put(make_rrset("example.test.", "TXT", 300, '"google-site-verification=x"'))
    before = snapshot(host)
    config = memory_config(tmp_path, registry)
    async with Engine(config, registry, store=store, run_id="sync1") as engine:
        (synced,) = await engine.run(domain_jobs(config), apply=True)
    assert synced.applied > 2

    async with Engine(config, registry, store=store, run_id="undo1") as engine:
        (restored,) = await engine.restore("sync1")

    assert restored.error is None
    assert restored.applied == synced.applied
    assert snapshot(host) == before
    assert host.zones[ZONE][(dns.name.from_text(DMARC), dns.rdatatype.TXT)].ttl == 60
    undo = store.journal(run_id="undo1")
    assert len(undo) == synced.applied
    assert {e.status for e in undo} == {"applied"}


async def test_restore_refuses_to_clobber_a_record_changed_since_and_restores_the_rest(
    host: MemoryHost, tmp_path: Path, registry: Registry, store: StateStore
) -> None:
    host.put(make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=none"'))
    config = memory_config(tmp_path, registry)
    async with Engine(config, registry, store=store, run_id="sync1") as engine:
        await engine.run(domain_jobs(config), apply=True)
    changed = make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=quarantine"')
    host.put(changed)

    async with Engine(config, registry, store=store) as engine:
        (restored,) = await engine.restore("sync1")

    assert restored.error == "1 record set(s) changed since run sync1 and were left as they are"
    (conflict,) = restored.conflicts
    assert conflict.startswith(f"{DMARC} TXT: changed since run sync1")
    assert snapshot(host) == {(DMARC, "TXT"): {'"v=DMARC1; p=quarantine"'}}


async def test_a_dry_run_restore_writes_nothing(
    host: MemoryHost, tmp_path: Path, registry: Registry, store: StateStore
) -> None:
    config = memory_config(tmp_path, registry)
    async with Engine(config, registry, store=store, run_id="sync1") as engine:
        (synced,) = await engine.run(domain_jobs(config), apply=True)
    after = snapshot(host)
    entries = len(store.journal())

    async with Engine(config, registry, store=store) as engine:
        (planned,) = await engine.restore("sync1", apply=False)

    assert len(planned.changes) == synced.applied
    assert all(isinstance(c, Delete) for c in planned.changes)
    assert snapshot(host) == after
    assert len(store.journal()) == entries


async def test_a_change_between_reading_and_writing_is_refused_by_the_provider(
    host: MemoryHost,
    tmp_path: Path,
    registry: Registry,
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host.put(make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=none"'))
    config = memory_config(tmp_path, registry)
    async with Engine(config, registry, store=store, run_id="sync1") as engine:
        await engine.run(domain_jobs(config), apply=True)
    original = MemoryProvider.list_rrsets

    async def read_then_someone_writes(self: MemoryProvider, zone: Any, names: Any = None) -> Any:
        listed = await original(self, zone, names)
        host.put(make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=quarantine"'))
        return listed

    monkeypatch.setattr(MemoryProvider, "list_rrsets", read_then_someone_writes)
    async with Engine(config, registry, store=store, run_id="undo") as engine:
        (restored,) = await engine.restore("sync1")

    assert "RRset changed" in (restored.error or "")
    assert (
        host.zones[ZONE][(dns.name.from_text(DMARC), dns.rdatatype.TXT)]
        .to_text()
        .endswith('"v=DMARC1; p=quarantine"')
    )
    assert {e.status for e in store.journal(run_id="undo")} == {"failed"}


async def test_restoring_an_unknown_run_is_an_error(
    tmp_path: Path, registry: Registry, store: StateStore
) -> None:
    async with Engine(memory_config(tmp_path, registry), registry, store=store) as engine:
        with pytest.raises(DnsautoError, match="the journal has no change of run 'nope'"):
            await engine.restore("nope")


# --- end to end on a real BIND ---------------------------------------------------------------

DOMAIN = "restore.sub.example.test"


def bind_config(server: RunningServer, state: Path) -> str:
    key = server.key("hmac-sha256")
    return f"""
[bootstrap]
serverHostname = "mail.{DOMAIN}"
defaultDomain = "{DOMAIN}"

[bootstrap.dnsServer]
"@type" = "Tsig"
description = "restore test"
host = "{server.host}"
port = {server.port}
keyName = "{key.bare_name}"
key = {{ "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_TSIG" }}
tsigAlgorithm = "hmac-sha256"
pollingInterval = "100ms"
propagationTimeout = "10s"

[domain."{DOMAIN}".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"
origin = "sub.example.test"

[domain."{DOMAIN}".dkimManagement]
"@type" = "Automatic"
algorithms = ["Dkim1Ed25519Sha256"]

[daemon]
stateDir = "{state}"

[daemon.dns]
authoritativeServers = ["{server.host}:{server.port}"]
"""


def dnsauto(server: RunningServer, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DNSAUTO_TEST_TSIG": server.key("hmac-sha256").secret}
    return subprocess.run(
        [sys.executable, "-m", "dnsauto", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def update(server: RunningServer) -> dns.update.UpdateMessage:
    key = server.key("hmac-sha256")
    keyring = dns.tsigkeyring.from_text({key.bare_name: ("hmac-sha256", key.secret)})
    return dns.update.UpdateMessage("sub.example.test.", keyring=keyring)


def send(server: RunningServer, message: dns.update.UpdateMessage) -> None:
    response = dns.query.tcp(message, server.host, port=server.port, timeout=5)
    assert response.rcode() == 0


def served(server: RunningServer, name: str, rdtype: str) -> set[str]:
    query = dns.message.make_query(name, rdtype)
    response = dns.query.tcp(query, server.host, port=server.port, timeout=5)
    rrset = response.get_rrset(
        response.answer,
        dns.name.from_text(name),
        dns.rdataclass.IN,
        dns.rdatatype.from_text(rdtype),
    )
    return {r.to_text() for r in rrset} if rrset is not None else set()


@pytest.fixture
def bind_domain(
    bind_server: RunningServer,  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[RunningServer, Path]]:
    """A config for DOMAIN on the session's BIND; every name the test touched is removed after."""
    pytest.importorskip("dnsauto_rfc2136", reason="the Tsig provider plugin is not installed")
    config = tmp_path / "config.toml"
    config.write_text(bind_config(bind_server, tmp_path / "state"))
    yield bind_server, config
    with StateStore(tmp_path / "state") as store:
        names = {e.name for e in store.journal()}
    cleanup = update(bind_server)
    for name in sorted(names | {f"_dmarc.{DOMAIN}.", f"{DOMAIN}."}):
        cleanup.delete(name)
    send(bind_server, cleanup)


def journal(server: RunningServer, config: Path, *args: str) -> list[dict[str, Any]]:
    listed = dnsauto(server, config, "journal", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    entries: list[dict[str, Any]] = json.loads(listed.stdout)
    return entries


@pytest.mark.servers
def test_restore_on_bind_puts_back_replaced_values_and_removes_created_ones(
    bind_domain: tuple[RunningServer, Path],
) -> None:
    server, config = bind_domain
    seed = update(server)
    seed.replace(f"_dmarc.{DOMAIN}.", 300, "TXT", '"v=DMARC1; p=none"')
    seed.replace(f"{DOMAIN}.", 300, "TXT", '"google-site-verification=abc"')
    send(server, seed)

    synced = dnsauto(server, config, "sync", "--json")
    assert synced.returncode == 0, synced.stderr + synced.stdout
    assert served(server, f"_dmarc.{DOMAIN}.", "TXT") == {
        f'"v=DMARC1; p=reject; rua=mailto:postmaster@{DOMAIN}"'
    }
    entries = journal(server, config, "--domain", DOMAIN)
    (run,) = {e["run"] for e in entries}
    created = [e["name"] for e in entries if e["action"] == "create"]
    assert any("._domainkey." in name for name in created)

    restored = dnsauto(server, config, "restore", "--run", run, "--json")

    assert restored.returncode == 0, restored.stderr + restored.stdout
    report = json.loads(restored.stdout)
    assert report["run"] == run
    (domain,) = report["domains"]
    assert (domain["conflicts"], domain["error"]) == ([], None)
    assert domain["applied"] == len(entries)
    assert served(server, f"_dmarc.{DOMAIN}.", "TXT") == {'"v=DMARC1; p=none"'}
    assert served(server, f"{DOMAIN}.", "TXT") == {'"google-site-verification=abc"'}
    for name in created:
        assert served(server, name, next(e["type"] for e in entries if e["name"] == name)) == set()
    undo = journal(server, config, "--run", report["restoreRun"])
    assert len(undo) == len(entries)
    assert {e["status"] for e in undo} == {"applied"}


@pytest.mark.servers
def test_restore_on_bind_refuses_to_clobber_a_record_changed_since(
    bind_domain: tuple[RunningServer, Path],
) -> None:
    server, config = bind_domain
    seed = update(server)
    seed.replace(f"_dmarc.{DOMAIN}.", 300, "TXT", '"v=DMARC1; p=none"')
    send(server, seed)
    synced = dnsauto(server, config, "sync", "--json")
    assert synced.returncode == 0, synced.stderr + synced.stdout
    (run,) = {e["run"] for e in journal(server, config, "--domain", DOMAIN)}
    by_hand = update(server)
    by_hand.replace(f"_dmarc.{DOMAIN}.", 300, "TXT", '"v=DMARC1; p=quarantine"')
    send(server, by_hand)

    dry = dnsauto(server, config, "restore", "--run", run, "--dry-run")
    restored = dnsauto(server, config, "restore", "--run", run, "--json")

    assert dry.returncode == 1
    assert f"conflict: _dmarc.{DOMAIN}. TXT: changed since run {run}" in dry.stdout
    assert restored.returncode == 1, restored.stderr + restored.stdout
    (domain,) = json.loads(restored.stdout)["domains"]
    (conflict,) = domain["conflicts"]
    assert conflict.startswith(f"_dmarc.{DOMAIN}. TXT: changed since run {run}")
    assert served(server, f"_dmarc.{DOMAIN}.", "TXT") == {'"v=DMARC1; p=quarantine"'}
    assert served(server, f"_smtp._tls.{DOMAIN}.", "TXT") == set(), "the rest was restored"


# --- the commands, in process ----------------------------------------------------------------


def test_journal_and_restore_commands_print_tables_and_json(
    host: MemoryHost,
    write_config: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    import dnsauto.cli as cli_module
    import dnsauto.cli.options as options_module
    from dnsauto.testing.memory import memory_registry

    monkeypatch.setattr(options_module, "load_registry", memory_registry)
    host.put(make_rrset(DMARC, "TXT", 300, '"v=DMARC1; p=none"'))
    path = str(
        write_config(
            """
            [bootstrap]
            serverHostname = "mail.example.test"
            defaultDomain = "example.test"
            dnsServer = { "@type" = "Memory", description = "memory" }

            [domain."example.test".dkimManagement]
            "@type" = "Manual"

            [domain."example.test".dnsManagement]
            "@type" = "Automatic"
            dnsServerId = "mem"

            [dnsServer.mem]
            "@type" = "Memory"
            description = "memory"

            [daemon]
            stateDir = "state"
            """
        )
    )

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli_module.cli, [*args, "-c", path], catch_exceptions=False)

    assert run("sync", "--no-wait").exit_code == 0
    listed = json.loads(run("journal", "--json").stdout)
    (run_id,) = {e["run"] for e in listed}
    dmarc = next(e for e in listed if e["name"] == DMARC)
    assert dmarc["old"] == ['"v=DMARC1; p=none"']
    assert set(dmarc) == {
        "id", "run", "time", "domain", "zone", "name", "type", "action",
        "ttl", "oldTtl", "old", "new", "status", "error",
    }  # fmt: skip
    table = run("journal", "--domain", "example.test").stdout
    assert DMARC in table
    assert "applied" in table
    assert run("journal", "--run", "other").stderr.strip() == "no journaled changes"

    dry = run("restore", "--run", run_id, "--dry-run")
    assert dry.exit_code == 0
    assert f'update {DMARC} TXT: "v=DMARC1; p=reject' in dry.stdout
    done = run("restore", "--run", run_id, "--json")
    assert done.exit_code == 0
    assert json.loads(done.stdout)["domains"][0]["applied"] == len(listed)
    assert snapshot(host) == {(DMARC, "TXT"): {'"v=DMARC1; p=none"'}}
    assert run("restore", "--run", "nope").exit_code == 1
