"""DKIM keys on a cluster: made once for every node sharing PostgreSQL, whichever node makes
them first, and written as ``.pem`` files by every node for the MTA on its machine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from dnsauto.config.cluster import ClusterSettings
from dnsauto.config.domain import AutomaticDkim
from dnsauto.records.dkim import DkimKeyStore, DkimStage
from dnsauto.service.cluster import Cluster
from dnsauto.testing.servers.postgres import PostgresServer
from tests.store_backends import OPEN_FROM_ARGV, StoreBackend

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60.0
DOMAIN = "example.test"

MAKE_KEYS = OPEN_FROM_ARGV + (
    "from dnsauto.config.domain import AutomaticDkim\n"
    "from dnsauto.records.dkim import DkimKeyStore\n"
    "management = AutomaticDkim.model_validate(\n"
    "    {'@type': 'Automatic', 'algorithms': ['Dkim1Ed25519Sha256'],"
    " 'selectorTemplate': sys.argv[2]}\n"
    ")\n"
    "keys = DkimKeyStore(store).published(sys.argv[3], management)\n"
    "print(json.dumps([[k.selector, k.public_value] for k in keys]), flush=True)\n"
    "store.close()\n"
)
"""A node's process: the published keys of a domain (made when missing), as JSON."""


def ed25519(template: str = "v{version}-{algorithm}") -> AutomaticDkim:
    return AutomaticDkim.model_validate(
        {"@type": "Automatic", "algorithms": ["Dkim1Ed25519Sha256"], "selectorTemplate": template}
    )


def nodes(server: PostgresServer, tmp_path: Path, count: int = 2) -> list[StoreBackend]:
    """``count`` nodes, each with a state directory of its own, on one new database."""
    database = server.create_database()
    return [
        StoreBackend("postgresql", tmp_path / f"node{i}", server, database) for i in range(count)
    ]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def pem_files(node: StoreBackend, domain: str = DOMAIN) -> dict[str, str]:
    directory = node.state_dir / "dkim" / domain
    return {p.name: p.read_text() for p in sorted(directory.glob("*.pem"))}


def test_two_nodes_that_find_no_key_at_once_end_with_one_key_the_first_committed(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Both read an empty store and make a key (with selectors of their own, so only the
    domain's unique position can tell the keys collide); the key table is locked meanwhile so
    that both are past their read when the first commits. The second adopts the first's."""
    a, b = nodes(postgres_server, tmp_path)
    with a.open() as store:
        dsn = postgres_server.dsn(a.database)
        with psycopg.connect(dsn) as holder, psycopg.connect(dsn, autocommit=True) as watcher:
            holder.execute("LOCK TABLE dkim_keys IN EXCLUSIVE MODE")
            racers = [
                subprocess.Popen(
                    [sys.executable, "-c", MAKE_KEYS, node.argv(), template, DOMAIN],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for node, template in ((a, "a{version}"), (b, "b{version}"))
            ]

            def blocked() -> int:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND NOT granted"
                    " AND relation = 'dkim_keys'::regclass"
                ).fetchone()
                return int(row[0]) if row else 0

            wait_for(lambda: blocked() == 2 or any(r.poll() is not None for r in racers), "2")
            assert [r.poll() for r in racers] == [None, None], "a node did not reach its insert"
            holder.commit()
            outputs = [r.communicate(timeout=WAIT) for r in racers]
        assert [r.returncode for r in racers] == [0, 0], [err for _, err in outputs]
        (row,) = store.dkim_keys(DOMAIN)
        published = [json.loads(out) for out, _ in outputs]
        assert published == [[[row.selector, row.public_value]]] * 2
        assert pem_files(a) == pem_files(b) == {f"{row.selector}.pem": row.private_pem}
        loser = b if row.selector.startswith("a") else a
        assert not list((loser.state_dir / "dkim" / DOMAIN).glob("*.unknown-*"))


def test_a_node_writes_the_key_files_of_keys_another_node_made(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    a, b = nodes(postgres_server, tmp_path)
    with a.open() as store_a, b.open() as store_b:
        (key,) = DkimKeyStore(store_a).published(DOMAIN, ed25519())

        assert DkimKeyStore(store_b).write_files() == [DOMAIN]
        assert pem_files(b) == {f"{key.selector}.pem": key.private_pem}


def test_a_node_writes_a_pending_key_another_node_made_and_deletes_a_deleted_one(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    a, b = nodes(postgres_server, tmp_path)
    management = ed25519("s{date-%Y%m%d}")
    with a.open() as store_a, b.open() as store_b:
        keys_a, keys_b = DkimKeyStore(store_a), DkimKeyStore(store_b)
        (first,) = keys_a.published(DOMAIN, management, start)
        keys_b.write_files()
        rotated = start + management.rotate_after
        keys_a.rotate(DOMAIN, management, rotated)
        (pending,) = keys_a.pending(DOMAIN)

        assert keys_b.write_files(since=rotated - timedelta(seconds=1)) == [DOMAIN]
        assert pem_files(b) == {
            f"{first.selector}.pem": first.private_pem,
            f"{pending.selector}.pem": pending.private_pem,
        }
        keys_a.activate(DOMAIN, [pending.selector], rotated)
        gone = rotated + management.retire_after + management.delete_after + timedelta(days=1)
        for step in (rotated + management.retire_after + timedelta(seconds=1), gone):
            keys_a.rotate(DOMAIN, management, step)
        stages = {r.selector: (r.stage, r.private_pem is None) for r in store_a.dkim_keys(DOMAIN)}
        assert stages[first.selector] == (DkimStage.RETIRED.value, True)

        keys_b.write_files()
        assert pem_files(b) == {f"{pending.selector}.pem": pending.private_pem}


def test_a_node_s_file_the_store_does_not_know_is_moved_aside_not_overwritten(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    a, b = nodes(postgres_server, tmp_path)
    with a.open() as store_a, b.open() as store_b:
        (key,) = DkimKeyStore(store_a).published(DOMAIN, ed25519())
        own = b.state_dir / "dkim" / DOMAIN / f"{key.selector}.pem"
        own.parent.mkdir(parents=True)
        own.write_text("the MTA's own key\n")

        DkimKeyStore(store_b).write_files()

        assert own.read_text() == key.private_pem
        (aside,) = own.parent.glob(f"{own.name}.unknown-*")
        assert aside.read_text() == "the MTA's own key\n"


def test_a_cluster_pass_writes_the_key_files_every_node_made(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    a, b = nodes(postgres_server, tmp_path)
    with a.open() as store_a, b.open() as store_b:
        settings = ClusterSettings(enabled=True, nodeId="b", leaseSeconds=3)
        cluster = Cluster(settings, store_b, domains=lambda: [DOMAIN], busy=set)
        (key,) = DkimKeyStore(store_a).published(DOMAIN, ed25519())

        cluster._tick()

        assert pem_files(b) == {f"{key.selector}.pem": key.private_pem}
        second = DkimKeyStore(store_a).published("other.test", ed25519())
        cluster._tick()
        assert pem_files(b, "other.test") == {f"{second[0].selector}.pem": second[0].private_pem}
