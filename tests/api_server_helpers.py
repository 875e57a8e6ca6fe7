"""What the API server's tests share: a configuration with keys, a fake daemon, requests."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from dnsauto.api.server import ApiServer
from dnsauto.config.loader import load_config_file
from dnsauto.config.model import Config
from dnsauto.config.overlay import effective_config
from dnsauto.plugin.registry import Registry, load_registry
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import domain_jobs
from dnsauto.sync.jobs import JobUpdate

USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]

ADMIN_TOKEN = "admin-token-Zq3v9XkT7pLm2Nc8Rw"
READER_TOKEN = "reader-token-Jh4wP2mB5sDf9Gk3Ty"
EXPIRED_TOKEN = "expired-token-Vb7nC1xQ4hJk8Lp2Wz"
TSIG_SECRET = "c2VjcmV0LXRzaWcta2V5LWZvci10ZXN0cw=="
"""The DnsServer secret the tests send; it must never come back or be logged."""

ALL_PERMISSIONS = [
    "sysBootstrapGet",
    "sysBootstrapUpdate",
    "sysDnsServerGet",
    "sysDnsServerCreate",
    "sysDnsServerUpdate",
    "sysDnsServerDestroy",
    "sysDnsServerQuery",
    "sysDomainGet",
    "sysDomainCreate",
    "sysDomainUpdate",
    "sysDomainDestroy",
    "sysDomainQuery",
    "sysTaskGet",
]

CONFIG = f"""
[bootstrap]
serverHostname = "mail.example.test"
defaultDomain = "example.test"

[dnsServer.primary]
"@type" = "Tsig"
description = "file server"
host = "192.0.2.1"
keyName = "dnsauto"
key = {{ "@type" = "Value", secret = "{TSIG_SECRET}" }}

[domain."other.test"]
dnsManagement = {{ "@type" = "Automatic", dnsServerId = "primary" }}

[daemon]
stateDir = "state"

[daemon.api]
listen = "127.0.0.1:8053"  # not bound: the tests serve the app themselves
maxCallsInRequest = 8
maxRequestBytes = 65536
maxAuthFailures = 3

[[daemon.api.keys]]
name = "admin"
secret = {{ "@type" = "Value", secret = "{ADMIN_TOKEN}" }}
permissions = {json.dumps(ALL_PERMISSIONS)}

[[daemon.api.keys]]
name = "reader"
secret = {{ "@type" = "Value", secret = "{READER_TOKEN}" }}
permissions = ["sysBootstrapGet", "sysDnsServerGet", "sysDnsServerQuery", "sysDomainGet"]

[[daemon.api.keys]]
name = "expired"
secret = {{ "@type" = "Value", secret = "{EXPIRED_TOKEN}" }}
permissions = {json.dumps(ALL_PERMISSIONS)}
expiresAt = 2001-01-01T00:00:00Z
"""


def write_config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "config.toml"
    path.write_text(text)
    return path


class FakeHost:
    """The daemon as the API sees it: holds the configuration, hands out run ids."""

    def __init__(self, config: Config, registry: Registry) -> None:
        self.config = config
        self._registry = registry
        self.replaced: list[tuple[Config, str]] = []
        self.job_updates: list[JobUpdate | None] = []
        """The jobs handed over with each replaced configuration."""
        self.triggered: list[tuple[list[str], str]] = []
        self._waiting: dict[str, str] = {}
        self._syncing: dict[str, str] = {}
        self._ids = (f"run{n}" for n in itertools.count(1))
        self.awaiting: dict[str, str] = {}
        self.approved: list[tuple[str, str | None, str]] = []
        self.holds = 0
        """:meth:`holding_runs` blocks open now."""
        self.held = 0
        """:meth:`holding_runs` blocks ended."""
        self.holds_at_replace: list[int] = []
        """:attr:`holds` at each :meth:`replace_config`."""

    @property
    def registry(self) -> Registry:
        return self._registry

    def replace_config(
        self,
        config: Config,
        reason: str,
        domains: Collection[str] | None = None,
        jobs: JobUpdate | None = None,
    ) -> str | None:
        self.job_updates.append(jobs)
        self.holds_at_replace.append(self.holds)
        old_config = self.config
        old = {job.domain: job for job in domain_jobs(old_config)}
        self.config = config
        self.replaced.append((config, reason))
        everything = (
            config.bootstrap != old_config.bootstrap or config.mail_server != old_config.mail_server
        )
        changed = [
            job.domain for job in domain_jobs(config) if everything or old.get(job.domain) != job
        ]
        return self._request(changed) if changed else None

    def _request(self, domains: Sequence[str]) -> str:
        waiting = {self._waiting[d] for d in domains if d in self._waiting}
        run_id = waiting.pop() if len(waiting) == 1 and len(domains) == 1 else next(self._ids)
        for domain in domains:
            self._waiting.setdefault(domain, run_id)
        return run_id

    def awaiting_approval(self) -> dict[str, str]:
        return dict(self.awaiting)

    def approve(self, domain: str, plan_id: str | None = None, reason: str = "approved") -> str:
        self.approved.append((domain, plan_id, reason))
        self.awaiting.pop(domain)
        return self._request([domain])

    def trigger(self, domains: Iterable[str] | None = None, reason: str = "trigger") -> str:
        names = list(self.config.domains) if domains is None else list(domains)
        self.triggered.append((names, reason))
        return self._request(names)

    @contextlib.contextmanager
    def holding_runs(self) -> Iterator[None]:
        self.holds += 1
        try:
            yield
        finally:
            self.holds -= 1
            self.held += 1

    def waiting(self, domains: Iterable[str] | None = None) -> dict[str, str]:
        if domains is None:
            return dict(self._waiting)
        return {d: self._waiting[d] for d in domains if d in self._waiting}

    def syncing(self) -> dict[str, str]:
        return dict(self._syncing)

    def start_runs(self) -> None:
        """The waiting runs start."""
        self._syncing.update(self._waiting)
        self._waiting.clear()


@contextlib.asynccontextmanager
async def api_client(
    config_path: Path, *, registry: Registry | None = None
) -> AsyncIterator[tuple[TestClient[Any, Any], ApiServer, FakeHost]]:
    """An API server on 127.0.0.1 for the configuration (merged with the state store's
    objects, as ``dnsauto run`` does), with a :class:`FakeHost` for the daemon."""
    registry = registry if registry is not None else load_registry()
    base = load_config_file(config_path, registry)
    store = StateStore(base.daemon.state_dir)
    try:
        host = FakeHost(effective_config(base, store, registry=registry), registry)
        server = ApiServer(host, store)
        async with TestClient(TestServer(server.app(), host="127.0.0.1")) as client:
            yield client, server, host
    finally:
        store.close()


def request(*calls: Sequence[Any], using: Sequence[str] = USING, **extra: Any) -> dict[str, Any]:
    """A request object; each call is (name, arguments) or (name, arguments, call id)."""
    method_calls = [
        [call[0], call[1], call[2] if len(call) > 2 else f"c{n}"]
        for n, call in enumerate(calls, start=1)
    ]
    return {"using": list(using), "methodCalls": method_calls, **extra}


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(
    client: TestClient[Any, Any],
    body: Any,
    *,
    token: str | None = ADMIN_TOKEN,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> ClientResponse:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers.update(auth(token))
    data = raw if raw is not None else json.dumps(body).encode()
    return await client.post("/api", data=data, headers=headers)


async def call(
    client: TestClient[Any, Any], name: str, arguments: dict[str, Any], *, token: str = ADMIN_TOKEN
) -> tuple[str, dict[str, Any]]:
    """One method call; its response name (``error`` for a method error) and arguments."""
    response = await post(client, request((name, arguments)), token=token)
    assert response.status == 200, await response.text()
    document = await response.json()
    (answer,) = document["methodResponses"]
    assert answer[2] == "c1"
    return answer[0], answer[1]
