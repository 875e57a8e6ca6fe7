"""Live mode of the contract suite: the same tests against a provider's real API.

A plugin's ``tests/test_<plugin>_live.py`` subclasses :class:`LiveProviderContract` and names
its environment variables; the tests run only when every required one is set, and never under
``CI=true``. They are marked ``credentials`` (the root ``conftest.py`` deselects them
under CI). Every record they write lies under ``_dnsauto-live.<zone>``; nothing else in the
zone is touched, and what they wrote is deleted after each test::

    class TestCloudflareLive(LiveProviderContract):
        provider_class = CloudflareProvider
        env_prefix = "DNSAUTO_LIVE_CLOUDFLARE"          # + _ZONE: the zone to write in
        secret_fields = (("secret", "TOKEN"),)          # DNSAUTO_LIVE_CLOUDFLARE_TOKEN

Secrets reach the settings as ``Value`` secrets, so they are redacted like any other.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import dns.name
import pytest

from dnsauto.plugin.changes import Delete
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.provider import Provider, Zone
from dnsauto.testing import Failure, ProviderContract

__all__ = ["LIVE_LABEL", "LiveProviderContract", "live_environment"]

Fields = tuple[tuple[str, str], ...]

LIVE_LABEL = "_dnsauto-live"
"""The one name of the zone (``_dnsauto-live.<zone>`` and below) the live tests write."""


def live_environment(prefix: str, required: tuple[str, ...]) -> dict[str, str]:
    """``{suffix: value}`` of the variables ``<prefix>_<suffix>`` set in the environment; the
    test is skipped under ``CI=true`` or when one of ``required`` is missing."""
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.skip("live API tests never run in CI")
    missing = [f"{prefix}_{s}" for s in required if not os.environ.get(f"{prefix}_{s}")]
    if missing:
        pytest.skip(f"live API test: set {', '.join(missing)} to run it")
    found = {}
    for name, value in os.environ.items():
        if name.startswith(prefix + "_") and value:
            found[name.removeprefix(prefix + "_")] = value
    return found


@pytest.mark.credentials
class LiveProviderContract(ProviderContract):
    """:class:`ProviderContract` against the real API, under ``_dnsauto-live.<zone>`` only."""

    provider_class: ClassVar[type[Provider[Any]]]
    env_prefix: ClassVar[str]
    """``DNSAUTO_LIVE_<PLUGIN>``; ``<prefix>_ZONE`` names the zone (it must exist)."""
    secret_fields: ClassVar[Fields] = ()
    """Settings fields (by their configuration name) given as secrets: (field, suffix)."""
    plain_fields: ClassVar[Fields] = ()
    """Settings fields given as text: (field, suffix)."""
    optional_fields: ClassVar[Fields] = ()
    """Text fields set only when their variable is: (field, suffix)."""
    fixed_fields: ClassVar[tuple[tuple[str, Any], ...]] = ()
    """Settings fields with a value of their own (``("sessionToken", {"@type": "None"})``)."""

    unpaged = (
        "live mode: the real API sends as many pages as it has; 60 RRsets under the live name "
        "show every one arrives without writing hundreds to a real zone"
    )
    no_child_zones = "live mode creates no zones in the account"

    async def fail_next(self, provider: Provider[Any], failure: Failure) -> Provider[Any] | str:
        if failure == "unavailable":
            return "a real API cannot be made to answer 503"
        wrong = {suffix: f"dnsauto-wrong-{suffix.lower()}" for _, suffix in self.secret_fields}
        settings = self.live_settings({**self.live_env(), **wrong})
        return self.provider_class(settings, ProviderContext(server_id="live"))

    def live_env(self) -> dict[str, str]:
        required = ("ZONE", *(s for _, s in (*self.secret_fields, *self.plain_fields)))
        return live_environment(self.env_prefix, required)

    def live_settings(self, env: Mapping[str, str]) -> Any:
        fields: dict[str, Any] = {"@type": self.provider_class.type_name,
                                  "description": "dnsauto live contract tests",
                                  **dict(self.fixed_fields)}  # fmt: skip
        for field, suffix in self.secret_fields:
            fields[field] = {"@type": "Value", "secret": env[suffix]}
        for field, suffix in (*self.plain_fields, *self.optional_fields):
            if suffix in env:
                fields[field] = env[suffix]
        return self.provider_class.settings_model.model_validate(fields)

    @pytest.fixture
    async def provider(self) -> AsyncIterator[Provider[Any]]:
        settings = self.live_settings(self.live_env())
        provider = self.provider_class(settings, ProviderContext(server_id="live"))
        yield provider
        await provider.aclose()

    @pytest.fixture
    def zone_name(self) -> dns.name.Name:
        return dns.name.from_text(self.live_env()["ZONE"].rstrip(".") + ".")

    def name(self, zone: Zone, prefix: str = "contract") -> dns.name.Name:
        return super().name(zone, prefix).relativize(zone.name).concatenate(self.base(zone))

    def base(self, zone: Zone) -> dns.name.Name:
        return dns.name.from_text(LIVE_LABEL, origin=zone.name)

    async def _cleanup(self, provider: Provider[Any], zone: Zone) -> None:
        base = self.base(zone)
        mine = [r for r in await provider.list_rrsets(zone) if r.name.is_subdomain(base)]
        if mine:
            await provider.apply(zone, [Delete(r) for r in mine])
