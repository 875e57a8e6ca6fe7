"""The API inside the daemon: served on ``daemon.api.listen``, its changes replace the
configuration, ask for runs through the scheduler, and ``x:Task/get`` follows those runs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.config.overlay import load_effective
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.registry import Registry
from dnsauto.service.daemon import Daemon
from dnsauto.testing.servers._common import free_port
from tests.api_server_helpers import ADMIN_TOKEN, USING
from tests.test_daemon_scheduling import FakeEngines, until

KEY = {"name": "admin", "secret": {"@type": "Value", "secret": ADMIN_TOKEN}}
PERMISSIONS = ["sysBootstrapUpdate", "sysDomainCreate", "sysTaskGet", "sysBootstrapGet"]


def make_config(tmp_path: Path, registry: Registry, port: int, *, keys: bool = True) -> Config:
    document = {
        "bootstrap": {
            "serverHostname": "mail.a.test",
            "defaultDomain": "a.test",
            "generateDkimKeys": False,
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "domain": {"b.test": {"dnsManagement": {"@type": "Automatic", "dnsServerId": "bootstrap"}}},
        "daemon": {
            "stateDir": str(tmp_path / "state"),
            "triggerDelay": "20ms",
            "api": {
                "listen": f"127.0.0.1:{port}",
                "keys": [{**KEY, "permissions": PERMISSIONS}] if keys else [],
            },
        },
    }
    return load_config(document, registry=registry)


Start = Callable[..., Awaitable[tuple[Daemon, FakeEngines, str]]]


@pytest.fixture
async def running(tmp_path: Path, registry: Registry) -> AsyncIterator[Start]:
    daemons: list[Daemon] = []

    async def start(
        engines: FakeEngines | None = None, **options: Any
    ) -> tuple[Daemon, FakeEngines, str]:
        engines = engines or FakeEngines()
        port = free_port()
        config = make_config(tmp_path, registry, port, **options)
        daemon = Daemon(config, registry, engine_factory=engines)
        daemons.append(daemon)
        await daemon.start()
        return daemon, engines, f"http://127.0.0.1:{port}"

    yield start
    for daemon in daemons:
        await daemon.stop()


async def jmap(url: str, *calls: list[Any]) -> list[Any]:
    body = {"using": USING, "methodCalls": list(calls)}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/api", json=body, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        document = await response.json()
    return list(document["methodResponses"])


async def task(url: str, run_id: str) -> dict[str, Any]:
    ((name, result, _),) = await jmap(url, ["x:Task/get", {"ids": [run_id]}, "t"])
    assert name == "x:Task/get", result
    (found,) = result["list"]
    return dict(found)


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0


async def test_a_bootstrap_set_runs_every_domain_under_the_run_id_it_returns(
    running: Start,
) -> None:
    daemon, engines, url = await running()
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    patch = {"singleton": {"serverHostname": "mx.a.test"}}
    ((name, result, _),) = await jmap(url, ["x:Bootstrap/set", {"update": patch}, "c1"])
    assert name == "x:Bootstrap/set", result
    run_id = result["runId"]
    assert daemon.config.bootstrap.server_hostname == "mx.a.test"
    await until(lambda: len(engines.calls) == 4 and not daemon.syncing())
    assert {c.domain for c in engines.calls[2:]} == {"a.test", "b.test"}
    assert {c.run_id for c in engines.calls[2:]} == {run_id}
    await until(lambda: not daemon.waiting())
    shown = await task(url, run_id)
    assert shown["runStatus"] == "succeeded"
    assert set(shown["domains"]) == {"a.test", "b.test"}
    assert shown["domains"]["a.test"]["changes"] == 1
    assert shown["reasons"] == ["api: x:Bootstrap/set by admin"]


async def test_the_task_of_a_new_domain_goes_from_waiting_to_running_to_succeeded(
    running: Start,
) -> None:
    engines = FakeEngines()
    daemon, _, url = await running(engines)
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    engines.gate = asyncio.Event()
    create = {"create": {"n": {"name": "c.test"}}}
    ((_, result, _),) = await jmap(url, ["x:Domain/set", create, "c1"])
    run_id = result["runId"]
    assert (await task(url, run_id))["domains"]["c.test"]["status"] in ("waiting", "running")
    await until(lambda: daemon.syncing().get("c.test") == run_id)
    assert (await task(url, run_id))["runStatus"] == "running"
    engines.gate.set()
    await until(lambda: not daemon.syncing())
    shown = await task(url, run_id)
    assert shown["runStatus"] == "succeeded"
    assert shown["domains"]["c.test"]["status"] == "succeeded"
    ((_, listed, _),) = await jmap(url, ["x:Task/get", {"ids": None}, "c1"])
    assert run_id in [t["id"] for t in listed["list"]]


async def test_a_failed_domain_shows_in_its_task(running: Start) -> None:
    engines = FakeEngines(failing={"c.test"})
    daemon, _, url = await running(engines)
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    ((_, result, _),) = await jmap(
        url, ["x:Domain/set", {"create": {"n": {"name": "c.test"}}}, "1"]
    )
    await until(lambda: len(engines.runs_of("c.test")) == 1 and not daemon.syncing())
    shown = await task(url, result["runId"])
    assert shown["runStatus"] == "failed"
    assert shown["domains"]["c.test"]["error"] == "provider exploded"


async def test_an_unknown_run_is_not_found(running: Start) -> None:
    _, _, url = await running()
    ((_, result, _),) = await jmap(url, ["x:Task/get", {"ids": ["nope"]}, "c1"])
    assert (result["list"], result["notFound"]) == ([], ["nope"])


async def test_the_api_closes_with_the_daemon(running: Start) -> None:
    daemon, _, url = await running()
    assert port_open(url)
    await daemon.stop()
    assert not port_open(url)


async def test_without_keys_the_daemon_serves_no_api(running: Start) -> None:
    _, _, url = await running(keys=False)
    assert not port_open(url)


async def test_an_api_address_in_use_fails_the_start_clearly(
    tmp_path: Path, registry: Registry
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = Daemon(
            make_config(tmp_path, registry, port), registry, engine_factory=FakeEngines()
        )
        with pytest.raises(DnsautoError, match=r"daemon\.api\.listen .*cannot listen there"):
            await daemon.start()
        await daemon.stop()


async def test_dnsauto_run_starts_on_the_objects_set_over_the_api(
    tmp_path: Path, running: Start
) -> None:
    daemon, engines, url = await running()
    await until(lambda: len(engines.calls) == 2 and not daemon.syncing())
    await jmap(url, ["x:Domain/set", {"create": {"n": {"name": "c.test"}}}, "1"])
    await daemon.stop()
    port = url.rsplit(":", 1)[1]
    path = tmp_path / "config.toml"
    path.write_text(
        "[bootstrap]\n"
        'serverHostname = "mail.a.test"\n'
        'defaultDomain = "a.test"\n'
        f'[daemon]\nstateDir = "{tmp_path / "state"}"\n'
        f'[daemon.api]\nlisten = "127.0.0.1:{port}"\n'
    )
    from dnsauto.plugin.registry import load_registry

    config = load_effective(path, load_registry())
    assert "c.test" in config.domains
