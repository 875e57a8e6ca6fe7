"""Running the ``dnsauto`` command as a user would, for a plugin's end-to-end tests.

A plugin's sync test writes a configuration with :func:`write_sync_config` (the Bootstrap's
DnsServer is the plugin's, given as the lines of its table), runs ``dnsauto`` against its fake
API with :class:`SyncRun`, and checks the mail records landed with :func:`assert_published`::

    config = write_sync_config(tmp_path, '"@type" = "Example"\\nsecret = {...}')
    async with FakeExample() as fake:
        run = SyncRun(config, env={"DNSAUTO_API_URL_EXAMPLE": fake.base_url, ...}, secret=KEY)
        domain = await run.sync()
        assert_published({(r["type"], r["name"]) for r in fake.records(DOMAIN)},
                         lambda rdtype, label: (rdtype, label))
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DOMAIN",
    "MAIL_RECORDS",
    "SyncRun",
    "assert_published",
    "dnsauto_json",
    "sync_config",
    "write_sync_config",
]

DOMAIN = "example.com"
"""The domain :func:`sync_config` publishes (the Bootstrap's default domain)."""

MAIL_RECORDS: tuple[tuple[str, str], ...] = (
    ("MX", ""),
    ("TXT", "_dmarc"),
    ("TXT", "_mta-sts"),
    ("CNAME", "autoconfig"),
    ("SRV", "_imaps._tcp"),
)
"""(type, name relative to the domain) of records every sync of :func:`sync_config` publishes."""


async def dnsauto_json(
    config: Path, *args: str, env: Mapping[str, str], secret: str, ok: bool = True
) -> Any:
    """``dnsauto ARGS --json --config CONFIG`` in a child process, with ``env`` added to this
    process's environment; its exit status is 0 (or not, with ``ok=False``), ``secret``
    appears nowhere in its output, and its JSON report is returned."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dnsauto", *args, "--json", "--config", str(config),
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    text = (out + err).decode()
    assert (process.returncode == 0) is ok, text
    assert secret not in text
    return json.loads(out)


def sync_config(state: Path, dns_server: str, *, domain: str = DOMAIN, extra: str = "") -> str:
    """A configuration publishing ``domain`` (the default domain, ``Automatic`` through the
    Bootstrap's DnsServer) with a fixed MTA-STS id and ACME account; ``dns_server`` is the body
    of the ``[bootstrap.dnsServer]`` table, in TOML; the state goes to ``state``; ``extra``
    (more tables, such as ``[daemon.dns]``) comes last."""
    return f"""
[bootstrap]
serverHostname = "mail.{domain}"
defaultDomain = "{domain}"

[bootstrap.dnsServer]
{dns_server.strip()}

[domain."{domain}".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"

[mailServer]
mtaStsPolicyId = "20260101"

[mailServer.acme]
accountUri = "https://acme.test/acct/1"

[daemon]
stateDir = "{state}"

{extra.strip()}
"""


def write_sync_config(folder: Path, dns_server: str, *, domain: str = DOMAIN) -> Path:
    """:func:`sync_config` written to ``folder/config.toml`` (state in ``folder/state``)."""
    path = folder / "config.toml"
    path.write_text(sync_config(folder / "state", dns_server, domain=domain))
    return path


@dataclass
class SyncRun:
    """``dnsauto`` commands on one configuration, with the fake API's URL and the secrets in
    ``env``; ``secret`` must appear in no output."""

    config: Path
    env: Mapping[str, str] = field(repr=False)
    secret: str = field(repr=False)

    async def run(self, *args: str, ok: bool = True) -> Any:
        """``dnsauto ARGS --json``: its report (see :func:`dnsauto_json`)."""
        return await dnsauto_json(self.config, *args, env=self.env, secret=self.secret, ok=ok)

    async def sync(self, *, ok: bool = True) -> dict[str, Any]:
        """``dnsauto sync --no-wait``: the result of the one domain, whose ``error`` is None
        (with ``ok=False``: the command failed, and the result is returned as it is)."""
        report = await self.run("sync", "--no-wait", ok=ok)
        (domain,) = report["domains"]
        if ok:
            assert domain["error"] is None, domain
        return dict(domain)


def assert_published(
    published: Collection[Any], key: Callable[[str, str], Any] = lambda t, n: (t, n)
) -> None:
    """Every record of :data:`MAIL_RECORDS` is in ``published``; ``key`` turns a (type,
    relative name) into the form ``published`` holds (the provider's own names and types)."""
    missing = [key(t, n) for t, n in MAIL_RECORDS if key(t, n) not in published]
    assert not missing, f"not published: {missing} (published: {sorted(map(str, published))})"
