"""Each record goes to the deepest zone that holds its name, against a real BIND.

BIND serves ``example.test.`` and ``sub.example.test.``, delegated from it. The mail server's
host is ``mail.sub.example.test``, so the parent domain's records include names inside the
child zone (the host's SPF record): they belong to the child zone, never below the cut in the
parent, where no nameserver would serve them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.tsigkeyring
import dns.zone
import pytest
import tomli_w
from click.testing import CliRunner

from dnsauto.cli import cli
from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import Registry, load_registry
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import DomainResult, Engine, domain_jobs
from dnsauto.testing.servers import RunningServer, ServerUnavailable, TsigKeySpec
from dnsauto.testing.servers.fixtures import start_or_skip
from tests.daemon_helpers import start_bind_zones

pytestmark = pytest.mark.servers

PARENT = "example.test"
CHILD = "sub.example.test"
HOST = f"mail.{CHILD}"
CUT = dns.name.from_text(CHILD)


@pytest.fixture
def bind() -> Iterator[RunningServer]:
    """A BIND of this test's own: the records of other tests are not in its zones."""
    server = start_or_skip("bind")
    yield server
    server.stop()


@pytest.fixture
def parent_only() -> Iterator[RunningServer]:
    """A BIND with ``example.test.`` alone: ``sub.example.test`` is no zone there."""
    try:
        server = start_bind_zones([f"{PARENT}."])
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    yield server
    server.stop()


@pytest.fixture
def registry() -> Registry:
    return load_registry()


def document(
    tmp_path: Path, server: RunningServer, domains: tuple[str, ...], key: TsigKeySpec | None = None
) -> dict[str, Any]:
    key = key or server.key("hmac-sha256")
    return {
        "bootstrap": {"serverHostname": HOST, "defaultDomain": domains[0]},
        "dnsServer": {
            "bind": {
                "@type": "Tsig",
                "description": "BIND",
                "host": server.host,
                "port": server.port,
                "keyName": key.name,
                "key": {"@type": "Value", "secret": key.secret},
                "tsigAlgorithm": key.algorithm,
                "timeout": "5s",
                "pollingInterval": "50ms",
                "propagationTimeout": "10s",
            }
        },
        "domain": {
            d: {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "bind"},
                "dkimManagement": {"@type": "Manual"},  # a fresh store would make new keys
            }
            for d in domains
        },
        "mailServer": {"mtaStsPolicyId": "20260101"},
        "daemon": {
            "stateDir": str(tmp_path / "state"),
            "dns": {"authoritativeServers": [f"{server.host}:{server.port}"]},
        },
    }


def make_config(
    tmp_path: Path,
    server: RunningServer,
    registry: Registry,
    domains: tuple[str, ...],
    key: TsigKeySpec | None = None,
) -> Config:
    return load_config(document(tmp_path, server, domains, key), registry=registry)


def dnsauto(tmp_path: Path, server: RunningServer, *args: str) -> str:
    """What ``dnsauto ARGS`` prints for both domains."""
    path = tmp_path / "dnsauto.toml"
    path.write_text(tomli_w.dumps(document(tmp_path, server, (PARENT, CHILD))))
    result = CliRunner().invoke(cli, [*args, "--config", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


async def run(
    config: Config, registry: Registry, store: StateStore, *, apply: bool = True, wait: bool = False
) -> dict[str, DomainResult]:
    async with Engine(config, registry, store=store) as engine:
        results = await engine.run(domain_jobs(config), apply=apply, wait=wait)
    return {r.domain: r for r in results}


def transferred(server: RunningServer, zone: str) -> dict[tuple[str, str], set[str]]:
    """The zone as BIND holds it (a transfer shows occluded records below a cut too)."""
    key = server.key("hmac-sha256")
    keyring = dns.tsigkeyring.from_text({key.bare_name: ("hmac-sha256", key.secret)})
    xfr = dns.query.xfr(
        server.host, zone, port=server.port, timeout=5, keyring=keyring,
        keyname=key.bare_name, keyalgorithm="hmac-sha256", relativize=False,
    )  # fmt: skip
    held = dns.zone.from_xfr(xfr, relativize=False)
    return {
        (name.to_text(), dns.rdatatype.to_text(rdataset.rdtype)): {r.to_text() for r in rdataset}
        for name, rdataset in held.iterate_rdatasets()
    }


def below_the_cut(records: dict[tuple[str, str], set[str]]) -> set[tuple[str, str]]:
    """The parent's records below the child's cut other than the delegation and its glue."""
    return {
        (name, rdtype)
        for name, rdtype in records
        if dns.name.from_text(name).is_subdomain(CUT) and rdtype not in ("NS", "A")
    }


def served(server: RunningServer, name: str, rdtype: str) -> tuple[bool, set[str]]:
    """Whether BIND answers authoritatively, and the values it serves."""
    query = dns.message.make_query(name, rdtype)
    answer = dns.query.tcp(query, server.host, port=server.port, timeout=5)
    values = {r.to_text() for rrset in answer.answer for r in rrset}
    return bool(answer.flags & dns.flags.AA), values


async def test_two_configured_zones_each_get_their_own_records(
    tmp_path: Path, bind: RunningServer, registry: Registry
) -> None:
    config = make_config(tmp_path, bind, registry, (PARENT, CHILD))
    results = await run(config, registry, StateStore(tmp_path / "state"))

    assert [r.error for r in results.values()] == [None, None]
    assert below_the_cut(transferred(bind, f"{PARENT}.")) == set()
    assert transferred(bind, f"{CHILD}.")[(f"{HOST}.", "TXT")] == {'"v=spf1 a -all"'}
    assert served(bind, HOST, "TXT") == (True, {'"v=spf1 a -all"'})


async def test_a_resync_with_a_fresh_state_store_finds_nothing_to_create(
    tmp_path: Path, bind: RunningServer, registry: Registry
) -> None:
    config = make_config(tmp_path, bind, registry, (PARENT, CHILD))
    await run(config, registry, StateStore(tmp_path / "first"))

    again = await run(config, registry, StateStore(tmp_path / "second"))

    assert {d: (r.error, r.changes) for d, r in again.items()} == {
        PARENT: (None, []),
        CHILD: (None, []),
    }


async def test_the_parent_plan_holds_no_name_below_the_child_zone_cut(
    tmp_path: Path, bind: RunningServer, registry: Registry
) -> None:
    config = make_config(tmp_path, bind, registry, (PARENT, CHILD))
    results = await run(config, registry, StateStore(tmp_path / "state"), apply=False)

    parent = results[PARENT].plan
    assert parent is not None
    assert parent.changes
    assert [c.name for c in parent.changes if c.name.is_subdomain(CUT)] == []
    assert [(e.zone, e.domain, e.keys) for e in parent.elsewhere] == [
        (CUT, CHILD, [(dns.name.from_text(HOST), dns.rdatatype.TXT)])
    ]
    assert results[PARENT].warnings == []


async def test_a_configured_domain_that_is_no_zone_publishes_its_names_in_the_parent_zone(
    tmp_path: Path, parent_only: RunningServer, registry: Registry
) -> None:
    config = make_config(tmp_path, parent_only, registry, (PARENT, CHILD))
    results = await run(config, registry, StateStore(tmp_path / "state"))

    assert {d: (r.error, r.zone) for d, r in results.items()} == {
        PARENT: (None, f"{PARENT}."),
        CHILD: (None, f"{PARENT}."),
    }
    assert transferred(parent_only, f"{PARENT}.")[(f"{HOST}.", "TXT")] == {'"v=spf1 a -all"'}


async def test_a_domain_configured_below_an_unchanged_zone_makes_its_next_sync_read_it(
    tmp_path: Path, parent_only: RunningServer, registry: Registry
) -> None:
    store = StateStore(tmp_path / "state")
    alone = make_config(tmp_path, parent_only, registry, (PARENT,))
    await run(alone, registry, store)
    assert (await run(alone, registry, store))[PARENT].skipped == "unchanged"

    both = make_config(tmp_path, parent_only, registry, (PARENT, CHILD))
    results = await run(both, registry, store)

    assert results[PARENT].skipped is None  # the names below are now the child's to publish
    plan = results[PARENT].plan
    assert plan is not None
    assert [e.domain for e in plan.elsewhere] == [CHILD]


@pytest.mark.parametrize("transfer", [True, False], ids=["zone transferred", "names queried"])
async def test_a_record_in_a_zone_dnsauto_does_not_manage_is_not_published(
    tmp_path: Path, bind: RunningServer, registry: Registry, transfer: bool
) -> None:
    key = None if transfer else bind.update_only_key  # the cut found by SOA queries then
    config = make_config(tmp_path, bind, registry, (PARENT,), key)
    results = await run(config, registry, StateStore(tmp_path / "state"))

    assert results[PARENT].error is None
    assert below_the_cut(transferred(bind, f"{PARENT}.")) == set()
    assert (f"{HOST}.", "TXT") not in transferred(bind, f"{CHILD}.")
    assert results[PARENT].warnings == [
        f"{HOST}. TXT: in zone {CHILD}., which no configured domain publishes; not published"
    ]


async def test_a_sync_leaving_out_a_record_of_an_unmanaged_zone_reads_the_zone_again_next_time(
    tmp_path: Path, bind: RunningServer, registry: Registry
) -> None:
    config = make_config(tmp_path, bind, registry, (PARENT,))
    store = StateStore(tmp_path / "state")
    await run(config, registry, store, wait=True)

    again = (await run(config, registry, store, wait=True))[PARENT]

    assert (again.error, again.skipped, again.propagated) == (None, None, True)


def test_records_lists_each_record_under_the_zone_it_belongs_to(
    tmp_path: Path, bind: RunningServer
) -> None:
    listed = json.loads(dnsauto(tmp_path, bind, "records", "--format", "json"))
    text = dnsauto(tmp_path, bind, "records")

    assert {r["zone"] for r in listed if r["name"] == f"{HOST}."} == {f"{CHILD}."}
    assert {r["zone"] for r in listed if r["name"] == f"_dmarc.{PARENT}."} == {f"{PARENT}."}
    lines = text.splitlines()
    heading = next(
        n
        for n, line in enumerate(lines)
        if line.startswith(f"; {PARENT} (")
        and line.endswith(f"): zone {CHILD}., published by {CHILD}'s sync")
    )
    assert lines[heading + 1].split() == [f"{HOST}.", "300", "IN", "TXT", '"v=spf1', "a", '-all"']


def test_plan_shows_the_records_in_the_child_zone_under_that_zone(
    tmp_path: Path, bind: RunningServer
) -> None:
    planned = json.loads(dnsauto(tmp_path, bind, "plan", "--json"))
    text = dnsauto(tmp_path, bind, "plan")

    parent = next(d for d in planned["domains"] if d["domain"] == PARENT)
    assert parent["elsewhere"] == [
        {"zone": f"{CHILD}.", "domain": CHILD, "records": [{"name": f"{HOST}.", "type": "TXT"}]}
    ]
    assert f"  in zone {CHILD}. ({CHILD}'s sync publishes it):\n    {HOST}. TXT\n" in text
