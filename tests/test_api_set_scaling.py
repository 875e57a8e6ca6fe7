"""A large /set costs one validation of the configuration and one transaction, and runs off the
event loop: other requests are answered while it works."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dnsauto.api import server as server_module
from dnsauto.api.methods import common, domain
from dnsauto.config import overlay as objects
from dnsauto.config.overlay import Kind, Workspace
from dnsauto.state.store import StateStore
from dnsauto.sync.jobs import domain_jobs
from tests.api_server_helpers import api_client, call, post, request, write_config

GUARD = 20.0
"""Seconds before a wait gives up: a hang (the event loop blocked), not a slow answer."""


def domains(count: int) -> dict[str, Any]:
    return {
        f"n{n}": {"name": f"d{n}.test", "dnsManagement": {"@type": "Manual"}} for n in range(count)
    }


@contextlib.contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    counts = {"check_references": 0, "transactions": 0}
    check_references = objects.check_references
    write = StateStore._write

    def counted_check(config: Any) -> Any:
        counts["check_references"] += 1
        return check_references(config)

    def counted_write(self: StateStore, **kwargs: Any) -> Any:
        counts["transactions"] += 1
        return write(self, **kwargs)

    monkeypatch.setattr(objects, "check_references", counted_check)
    monkeypatch.setattr(StateStore, "_write", counted_write)
    yield counts


async def test_a_set_of_many_creates_checks_the_configuration_once_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_client(write_config(tmp_path)) as (client, server, host):
        with counting(monkeypatch) as counts:
            answer, result = await call(client, "x:Domain/set", {"create": domains(50)})
        assert answer == "x:Domain/set"
        assert sorted(result["created"]) == sorted(domains(50))
        assert counts == {"check_references": 1, "transactions": 1}
        assert len(server.store.objects("Domain")) == 50
        assert {f"d{n}.test" for n in range(50)} <= set(host.config.domains)
        assert len(host.replaced) == 1


async def test_one_bad_create_fails_alone_and_the_others_are_kept(tmp_path: Path) -> None:
    async with api_client(write_config(tmp_path)) as (client, server, host):
        create = domains(3)
        create["n1"]["dnsManagement"] = {"@type": "Automatic", "dnsServerId": "nope"}
        _, result = await call(client, "x:Domain/set", {"create": create})
        assert sorted(result["created"]) == ["n0", "n2"]
        assert result["notCreated"]["n1"]["properties"] == ["dnsManagement/dnsServerId"]
        assert set(server.store.objects("Domain")) == {"d0.test", "d2.test"}
        assert "d1.test" not in host.config.domains


async def test_a_core_echo_is_answered_while_a_set_is_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_running = threading.Event()
    echo_answered = threading.Event()
    create_domain = Workspace.create_domain

    def slow_create(self: Workspace, properties: Any) -> str:
        set_running.set()
        echo_answered.wait(GUARD)  # holds the /set until the echo has its answer
        return create_domain(self, properties)

    monkeypatch.setattr(domain.OPERATIONS, "create", slow_create)
    async with api_client(write_config(tmp_path)) as (client, _, _):
        big_set = asyncio.create_task(
            post(client, request(("x:Domain/set", {"create": domains(3)})))
        )
        assert await asyncio.to_thread(set_running.wait, GUARD)
        echo = await asyncio.wait_for(post(client, request(("Core/echo", {"a": 1}))), GUARD)
        set_was_running = not big_set.done() and not echo_answered.is_set()
        echo_answered.set()
        assert echo.status == 200
        assert set_was_running
        response = await asyncio.wait_for(big_set, GUARD)
        assert response.status == 200
        (answer,) = (await response.json())["methodResponses"]
        assert sorted(answer[1]["created"]) == ["n0", "n1", "n2"]


async def test_a_domain_set_hands_the_daemon_the_jobs_of_its_domains_made_in_its_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    makers: list[int] = []
    job_update = common.job_update

    def noted(*args: Any) -> Any:
        makers.append(threading.get_ident())
        return job_update(*args)

    monkeypatch.setattr(common, "job_update", noted)
    async with api_client(write_config(tmp_path)) as (client, _, host):
        before = host.config
        _, result = await call(client, "x:Domain/set", {"create": domains(3)})
        assert sorted(result["created"]) == ["n0", "n1", "n2"]
    (jobs,) = host.job_updates
    assert jobs is not None
    assert (jobs.before, jobs.config) == (before, host.config)
    new = {job.domain: job for job in domain_jobs(host.config)}
    assert jobs.jobs == {name: new[name] for name in ("d0.test", "d1.test", "d2.test")}
    assert makers
    assert threading.get_ident() not in makers


async def test_the_state_of_a_larger_configuration_dumps_only_the_domains_it_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumped: list[Any] = []
    dump = common._dumped

    def counted(model: Any) -> str:
        dumped.append(model)
        return dump(model)

    async with api_client(write_config(tmp_path)) as (client, server, host):
        await call(client, "x:Domain/set", {"create": domains(20)})
        first = server.states.state(host.config, Kind.DOMAIN)
        monkeypatch.setattr(common, "_dumped", counted)
        _, result = await call(client, "x:Domain/set", {"create": {"m": {"name": "m.test"}}})
        assert result["oldState"] == first
        assert result["newState"] != first
    declared = host.config.domain  # the default domain's implied Domain is made anew each time
    assert [model for model in dumped if any(model is d for d in declared.values())] == [
        declared["m.test"]
    ]


async def test_a_set_request_holds_the_daemon_s_runs_until_it_is_answered(tmp_path: Path) -> None:
    async with api_client(write_config(tmp_path)) as (client, _, host):
        more = {"n9": {"name": "e.test", "dnsManagement": {"@type": "Manual"}}}
        body = request(("x:Domain/set", {"create": domains(2)}), ("x:Domain/set", {"create": more}))
        response = await post(client, body)
        document = await response.json()
        assert [answer[0] for answer in document["methodResponses"]] == ["x:Domain/set"] * 2
        assert host.holds_at_replace == [1, 1], "each call's hand-over came while runs were held"
        assert (host.holds, host.held) == (0, 1), "one hold for the whole request, ended"


async def test_a_request_without_a_set_does_not_hold_the_runs(tmp_path: Path) -> None:
    async with api_client(write_config(tmp_path)) as (client, _, host):
        await call(client, "x:Domain/get", {"ids": None})
        assert host.held == 0


def threads_of(monkeypatch: pytest.MonkeyPatch, method: str) -> list[threading.Thread]:
    """The threads ``method`` runs in, from now on."""
    from dnsauto.api import methods

    threads: list[threading.Thread] = []
    capability, handler = methods.METHODS[method]

    def recorded(arguments: dict[str, Any], ctx: Any) -> dict[str, Any]:
        threads.append(threading.current_thread())
        return handler(arguments, ctx)

    monkeypatch.setitem(methods.METHODS, method, (capability, recorded))
    return threads


async def test_a_read_of_the_domains_of_a_large_configuration_is_answered_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = threads_of(monkeypatch, "x:Domain/get")
    monkeypatch.setattr(server_module, "_OFF_LOOP_DOMAINS", 0)  # as with thousands of domains
    async with api_client(write_config(tmp_path)) as (client, _, _):
        answer, result = await call(client, "x:Domain/get", {"ids": None})
    assert answer == "x:Domain/get"
    assert result["list"], "the configured domains are listed"
    assert threads
    assert threads[0] is not threading.main_thread()


async def test_a_request_that_reads_the_daemon_s_runs_is_answered_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = threads_of(monkeypatch, "x:Task/get")
    monkeypatch.setattr(server_module, "_OFF_LOOP_DOMAINS", 0)
    async with api_client(write_config(tmp_path)) as (client, _, _):
        await call(client, "x:Task/get", {"ids": None})
    assert threads == [threading.main_thread()]


class CountingMapping(dict[str, str]):
    """A mapping that counts the walks over it."""

    walks = 0

    def items(self) -> Any:
        type(self).walks += 1
        return super().items()


async def walks_of_a_task_get(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: int) -> int:
    """How often an x:Task/get walks the daemon's waiting domains, 10 in each of ``runs``."""
    CountingMapping.walks = 0
    waiting = CountingMapping({f"d{n}.test": f"run{n % runs}" for n in range(10 * runs)})
    folder = tmp_path / str(runs)
    folder.mkdir()
    async with api_client(write_config(folder)) as (client, _, host):
        monkeypatch.setattr(host, "waiting", lambda domains=None: waiting)
        answer, result = await call(client, "x:Task/get", {"ids": None})
    assert answer == "x:Task/get"
    assert sorted(task["id"] for task in result["list"]) == sorted(f"run{n}" for n in range(runs))
    assert all(len(task["domains"]) == 10 for task in result["list"])
    return CountingMapping.walks


async def test_a_task_get_walks_the_waiting_domains_as_often_for_many_runs_as_for_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = await walks_of_a_task_get(tmp_path, monkeypatch, runs=1)
    many = await walks_of_a_task_get(tmp_path, monkeypatch, runs=8)
    assert many == one, "not once more per run"
