"""One ACME DNS-01 issuance against Pebble, validating at BIND, with ``pollingInterval`` 1 s.

Each trial is a first issuance for ``mail.example.test`` in a fresh state directory: account
key made and registered, order, challenge TXT planned, applied (RFC 2136) and waited for at
every authoritative nameserver, challenge answered, authorization polled, order finalized,
chain checked, challenge removed, files written. Pebble runs with ``PEBBLE_VA_NOSLEEP=1`` (no
random validation delay) and rejects no nonce, so the figures are dnsauto's own: the time
from the first request to the files in place, and the HTTP requests sent to the CA.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import Figure
from dnsauto.acme.orders import OrderOutcome, Orders, certificate_requests
from dnsauto.config.loader import load_config
from dnsauto.plugin.registry import load_registry
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import Engine
from dnsauto.testing.servers import HOST, RunningServer, start_bind
from dnsauto.testing.servers.pebble import RunningPebble, start_pebble

__all__ = ["TITLE", "run"]

TITLE = "ACME DNS-01 issuance against Pebble at BIND, pollingInterval 1 s: seconds, requests"


def _document(state: Path, bind: RunningServer, pebble: RunningPebble) -> dict[str, Any]:
    key = bind.key("hmac-sha256")
    return {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "generateDkimKeys": False,
            "dnsServer": {
                "@type": "Tsig",
                "description": "bench",
                "host": bind.host,
                "port": bind.port,
                "keyName": key.bare_name,
                "key": {"@type": "Value", "secret": key.secret},
                "tsigAlgorithm": key.algorithm,
                "pollingInterval": "1s",
                "propagationTimeout": "30s",
            },
        },
        "acmeProvider": {"bootstrap": {"directory": pebble.directory_url}},
        "acme": {"obtainCertificates": True, "caBundle": str(pebble.tls_ca_path)},
        "daemon": {
            "stateDir": str(state),
            "dns": {"authoritativeServers": [f"{bind.host}:{bind.port}"]},
        },
    }


async def _issue(state: Path, bind: RunningServer, pebble: RunningPebble) -> OrderOutcome:
    config = load_config(_document(state, bind, pebble), registry=load_registry())
    with StateStore(config.daemon.state_dir) as store:
        async with Engine(config, load_registry(), store=store) as engine:
            orders = Orders(config, store, engine.provider, engine.checker, run_id=engine.run_id)
            (outcome,) = await orders.run(certificate_requests(config))
    if outcome.failed:
        raise RuntimeError(f"issuance failed: {outcome.error}")
    return outcome


def run(quick: bool) -> list[Figure]:
    trials = 1 if quick else 5
    bind = start_bind()
    try:
        pebble = start_pebble(f"{HOST}:{bind.port}")
        try:
            outcomes = []
            for _ in range(trials):
                with tempfile.TemporaryDirectory(prefix="dnsauto-bench-acme-") as state:
                    outcomes.append(asyncio.run(_issue(Path(state), bind, pebble)))
        finally:
            pebble.stop()
    finally:
        bind.stop()
    seconds = [o.status.seconds for o in outcomes]
    requests = [o.status.requests for o in outcomes]
    return [
        Figure(
            "acme.issuance_s.median",
            round(statistics.median(seconds), 3),
            "s",
            f"first issuance, median of {trials}, pollingInterval 1 s",
        ),
        Figure("acme.issuance_s.max", round(max(seconds), 3), "s", f"worst of {trials}"),
        Figure(
            "acme.requests_per_issuance",
            max(requests),
            "requests",
            "HTTP requests to the CA per issuance (directory, nonce, account, order, "
            "authorization, challenge, polls, finalize, certificate)",
        ),
    ]
