"""What the ACME hook's tests share: a dnsauto configuration on the propagation topology
(a BIND primary, BIND and Knot secondaries of ``example.test.``), and running the hook."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from dnsauto.testing.servers.topology import Topology

__all__ = ["fresh_host", "hook", "hook_env", "net", "served_everywhere", "write_config"]

ZONE = "example.test."


@pytest.fixture
def net(topology: Topology) -> Iterator[Topology]:
    """The shared topology, in sync before the test and put back in sync after it."""
    topology.reset()
    try:
        yield topology
    finally:
        topology.reset()


def fresh_host(prefix: str = "h") -> str:
    """A host name under the zone no other test uses (so no cleanup between tests is needed)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}.{ZONE.rstrip('.')}"


def write_config(
    path: Path,
    net: Topology,
    *,
    timeout: str = "5s",
    host: str = "mail.example.test",
    domain: dict[str, Any] | None = None,
    mail_server: dict[str, Any] | None = None,
    **server: Any,
) -> Path:
    """A configuration publishing ``example.test`` through the primary; nameservers found
    through it (all three members), polled every 50 ms. ``host`` is the server hostname;
    ``domain`` is laid over the domain's settings, ``server`` over the DnsServer's."""
    pytest.importorskip("dnsauto_rfc2136", reason="the Tsig provider plugin is not installed")
    key = net.update_key
    document = {
        "bootstrap": {"serverHostname": host, "defaultDomain": "example.test"},
        "dnsServer": {
            "primary": {
                "@type": "Tsig",
                "description": "the BIND primary",
                "host": "127.0.0.1",
                "port": net.port,
                "keyName": key.name,
                "key": {"@type": "Value", "secret": key.secret},
                "tsigAlgorithm": key.algorithm,
                "timeout": "1s",
                "pollingInterval": "50ms",
                "propagationTimeout": timeout,
                **server,
            }
        },
        "mailServer": mail_server or {},
        "domain": {
            "example.test": {
                "dnsManagement": {"@type": "Automatic", "dnsServerId": "primary"},
                **(domain or {}),
            }
        },
        "daemon": {
            "stateDir": str(path.parent / "state"),
            "dns": {"resolvers": [net.resolver], "authoritativePort": net.port},
        },
    }
    path.write_text(tomli_w.dumps(document))
    return path


def hook_env(config: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CERTBOT_") and k not in ("DNSAUTO_CONFIG", "EXEC_MODE")
    }
    return {**env, "DNSAUTO_CONFIG": str(config), "NO_COLOR": "1", **extra}


def hook_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dnsauto", "acme-hook", *args]


def hook(
    config: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``dnsauto acme-hook ARGS`` as a client would, the configuration from the
    environment (as certbot and lego pass it on)."""
    return subprocess.run(
        hook_command(*args),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**hook_env(config), **(env or {})},
    )


def served_everywhere(net: Topology, name: str) -> list[set[str]]:
    """The TXT values each member serves at ``name``, primary first."""
    return [net.served(member, name, "TXT")[1] for member in net.members]
