"""Helpers for the rfc2136 tests: settings and providers pointed at a test server."""

from __future__ import annotations

from typing import Any

from dnsauto_rfc2136.provider import TsigProvider
from dnsauto_rfc2136.settings import TsigDnsServer
from dnsauto_rfc2136.transport import RetryPolicy

from dnsauto.plugin import ProviderContext
from dnsauto.testing.servers import RunningServer, TsigKeySpec

FAST_RETRY = RetryPolicy(attempts=3, base=0.01, cap=0.05)


def tsig_document(
    server: RunningServer,
    algorithm: str = "hmac-sha256",
    *,
    key: TsigKeySpec | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A ``Tsig`` DnsServer object (as in the configuration) for ``server``."""
    key = key or server.key(algorithm)
    document: dict[str, Any] = {
        "@type": "Tsig",
        "description": f"{server.kind} test server",
        "host": server.host,
        "port": server.port,
        "keyName": key.name,
        "key": {"@type": "Value", "secret": key.secret},
        "tsigAlgorithm": key.algorithm,
        "timeout": "5s",
    }
    document.update(fields)
    return document


def tsig_provider(
    server: RunningServer,
    algorithm: str = "hmac-sha256",
    *,
    key: TsigKeySpec | None = None,
    server_id: str = "test",
    **fields: Any,
) -> TsigProvider:
    settings = TsigDnsServer.model_validate(tsig_document(server, algorithm, key=key, **fields))
    provider = TsigProvider(settings, ProviderContext(server_id=server_id))
    provider.retry = FAST_RETRY  # type: ignore[misc]
    return provider
