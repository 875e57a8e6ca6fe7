"""``dnsauto run`` serving its JMAP API, for the client's tests and the API benchmark.

RECONSTRUCTED: the first version of this file (by the client's engineer) was overwritten by
mistake; this one is rebuilt from how ``tests/test_api_client.py``,
``tests/test_api_end_to_end.py``, ``tests/test_bench_smoke.py`` and ``bench/api.py`` use it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dnsauto.testing.servers._common import HOST, free_port
from tests.daemon_helpers import DaemonProcess

__all__ = ["ALL_PERMISSIONS", "API_TOKEN_ENV", "ApiDaemon", "manual_config", "start_api_daemon"]

API_TOKEN_ENV = "DNSAUTO_TEST_API_TOKEN"
"""The environment variable the admin key's secret is read from (a SecretKey of the file)."""

ALL_PERMISSIONS: tuple[str, ...] = (
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
)

KeySpec = tuple[str, str, Sequence[str]]
"""(name, environment variable holding the secret, permissions)."""


def manual_config(
    state_dir: Path,
    port: int,
    *,
    keys: Sequence[KeySpec] = (("admin", API_TOKEN_ENV, ALL_PERMISSIONS),),
    domain: str = "example.test",
    generate_dkim_keys: bool = False,
    dns_port: int | None = None,
) -> str:
    """A configuration with a Manual Bootstrap of ``domain`` (server ``mail.<domain>``) and
    the API on 127.0.0.1:``port``. The domain has a table of its own that publishes every
    default record family through the Bootstrap's DnsServer (id ``bootstrap``), so a
    Bootstrap update of ``dnsServer`` moves it to that server. With ``dns_port``, the
    propagation checks ask 127.0.0.1:``dns_port``."""
    dkim = (
        '{ "@type" = "Automatic", algorithms = ["Dkim1Ed25519Sha256"] }'
        if generate_dkim_keys
        else '{ "@type" = "Manual" }'
    )
    text = (
        "[bootstrap]\n"
        f'serverHostname = "mail.{domain}"\n'
        f'defaultDomain = "{domain}"\n'
        f"generateDkimKeys = {str(generate_dkim_keys).lower()}\n"
        'dnsServer = { "@type" = "Manual" }\n\n'
        f'[domain."{domain}"]\n'
        'dnsManagement = { "@type" = "Automatic", dnsServerId = "bootstrap" }\n'
        f"dkimManagement = {dkim}\n\n"
        "[daemon]\n"
        f'stateDir = "{state_dir}"\n'
        'triggerDelay = "10ms"\n'
        'retryInitialDelay = "200ms"\n\n'
        "[daemon.api]\n"
        f'listen = "{HOST}:{port}"\n'
    )
    for name, variable, permissions in keys:
        text += (
            "\n[[daemon.api.keys]]\n"
            f'name = "{name}"\n'
            f'secret = {{ "@type" = "EnvironmentVariable", variableName = "{variable}" }}\n'
            f"permissions = {json.dumps(list(permissions))}\n"
        )
    if dns_port is not None:
        text += f'\n[daemon.dns]\nauthoritativeServers = ["{HOST}:{dns_port}"]\n'
    return text


@dataclass
class ApiDaemon:
    """A running ``dnsauto run`` and how to reach its API."""

    url: str
    token: str
    """The admin key (``API_TOKEN_ENV``)."""
    config: Path
    daemon: DaemonProcess


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(
        f"{url}/.well-known/jmap", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def start_api_daemon(
    directory: Path,
    *,
    config: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> Iterator[ApiDaemon]:
    """``dnsauto run`` on ``config`` (default: :func:`manual_config` in ``directory``), until
    its API answers; stopped with SIGTERM afterwards."""
    if config is None:
        port = port if port is not None else free_port()
        config = manual_config(directory / "state", port)
    elif port is None:
        raise ValueError("give the port the configuration's daemon.api.listen uses")
    token = "api-" + secrets.token_hex(12)
    path = directory / "config.toml"
    path.write_text(config)
    process = DaemonProcess(path, secret="", env={API_TOKEN_ENV: token, **(env or {})})
    process.start()
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url, token):
            assert process.process is not None
            if process.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the API did not answer; log:\n{process.log()[-3000:]}")
            time.sleep(0.05)
        yield ApiDaemon(url, token, path, process)
    finally:
        if process.process is not None and process.process.poll() is None:
            process.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        process.stop()
