"""Ids are RFC 8620 Ids (§1.2): a Domain's is opaque and stable, a DnsServer's is checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnsauto.config.ids import domain_id, id_problem, is_id, stalwart_id
from dnsauto.config.loader import load_config_file
from dnsauto.plugin.errors import ConfigError
from dnsauto.plugin.registry import load_registry
from dnsauto.sync.engine import DomainResult
from tests.api_server_helpers import CONFIG, api_client, call, write_config

STALWART_ALPHABET = "abcdefghijklmnopqrstuvwxyz792013"


def parse_stalwart_id(text: str) -> int:
    """Stalwart's ``Id::from_str`` (crates/types/src/id.rs), written out here on its own."""
    number = 0
    for char in text:
        number = (number << 5) | STALWART_ALPHABET.index(char)
    return number


def test_ids_are_written_as_stalwart_writes_them() -> None:
    # Stalwart's own: Id::singleton() is Id::new(20080258862541), and 0 is "a"
    assert stalwart_id(20080258862541) == "singleton"
    assert stalwart_id(0) == "a"
    assert stalwart_id(31) == "3"
    assert stalwart_id(32) == "ba"
    assert stalwart_id((1 << 64) - 1) == "p" + "3" * 12  # 4 bits, then 12 digits of 5
    with pytest.raises(ValueError, match="u64"):
        stalwart_id(1 << 64)


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_every_u64_comes_back_from_stalwarts_parser(number: int) -> None:
    text = stalwart_id(number)
    assert is_id(text)
    assert parse_stalwart_id(text) == number


def test_a_domain_id_is_an_opaque_id_the_same_for_every_spelling_and_process() -> None:
    ids = {domain_id(name) for name in ("example.org", "Example.ORG", "example.org.")}
    assert len(ids) == 1
    (one,) = ids
    assert is_id(one)
    assert "example" not in one
    assert domain_id("example.net") != one
    # another interpreter (another hash seed) gives the same id: nothing is kept per process
    code = "from dnsauto.config.ids import domain_id; print(domain_id('example.org'))"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.strip() == one


def test_id_syntax_is_rfc_8620s() -> None:
    assert is_id("ds-0a1b_C")
    assert is_id("x" * 255)
    for bad in ("", "x" * 256, "a.b", "a b", "é", "a/b"):
        assert not is_id(bad)
        assert id_problem(bad)


def test_a_dns_server_table_name_that_is_no_id_is_a_clear_error(tmp_path: Path) -> None:
    text = CONFIG.replace("[dnsServer.primary]", '[dnsServer."ns1.example"]').replace(
        'dnsServerId = "primary"', 'dnsServerId = "ns1.example"'
    )
    with pytest.raises(ConfigError) as caught:
        load_config_file(write_config(tmp_path, text), load_registry())
    (problem,) = caught.value.problems
    assert problem.path == 'dnsServer."ns1.example"'
    assert "cannot be a DnsServer's id" in problem.message
    assert "A-Z, a-z, 0-9, '-' and '_'" in problem.message


async def test_domain_ids_are_kept_across_updates_restarts_and_reloads(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    async with api_client(path) as (client, _, _):
        _, listed = await call(client, "x:Domain/get", {"properties": ["name"]})
        before = {d["name"]: d["id"] for d in listed["list"]}
        _, created = await call(client, "x:Domain/set", {"create": {"n": {"name": "api.test"}}})
        made = created["created"]["n"]["id"]
        assert is_id(made)
        patch = {"description": "changed", "dnsManagement/dnsServerId": "bootstrap"}
        _, updated = await call(client, "x:Domain/set", {"update": {before["other.test"]: patch}})
        assert updated["updated"] == {before["other.test"]: None}
        _, after = await call(client, "x:Domain/get", {"properties": ["name"]})
        assert {d["name"]: d["id"] for d in after["list"]} == {**before, "api.test": made}
    path.write_text(path.read_text() + '\n[domain."file.test"]\n')  # the file changes too
    async with api_client(path) as (client, _, _):  # a restart: the file and the store again
        _, listed = await call(client, "x:Domain/get", {"properties": ["name", "description"]})
        again = {d["name"]: d["id"] for d in listed["list"]}
        assert again == {**before, "api.test": made, "file.test": domain_id("file.test")}
        _, other = await call(client, "x:Domain/get", {"ids": [before["other.test"]]})
        assert other["list"][0]["description"] == "changed"


async def test_a_task_names_its_domain_by_id_and_an_alias_by_its_domains(tmp_path: Path) -> None:
    text = CONFIG.replace(
        'dnsManagement = { "@type" = "Automatic", dnsServerId = "primary" }',
        'dnsManagement = { "@type" = "Automatic", dnsServerId = "primary" }\n'
        'aliases = ["alias.test"]',
    )
    async with api_client(write_config(tmp_path, text)) as (client, server, host):
        run_id = host.trigger(["alias.test"], "test")
        server.tasks.requested(run_id, ["alias.test"], "test")
        server.tasks.record_result(run_id, DomainResult("alias.test", "primary"))
        _, tasks = await call(client, "x:Task/get", {"ids": [run_id]})
        (task,) = tasks["list"]
        assert task["domainId"] == domain_id("other.test")
        assert task["domains"]["alias.test"]["domainId"] == domain_id("other.test")
        _, got = await call(client, "x:Domain/get", {"ids": [task["domainId"]]})
        assert got["list"][0]["name"] == "other.test"
