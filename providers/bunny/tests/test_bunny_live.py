"""The provider contract suite against the real Bunny API (live mode).

Runs only with ``DNSAUTO_LIVE_BUNNY_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_bunny.provider import BunnyProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestBunnyLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = BunnyProvider
    env_prefix = "DNSAUTO_LIVE_BUNNY"
    secret_fields = (("secret", "KEY"),)
