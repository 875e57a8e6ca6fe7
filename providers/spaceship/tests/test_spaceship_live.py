"""The provider contract suite against the real Spaceship API (live mode).

Runs only with ``DNSAUTO_LIVE_SPACESHIP_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_spaceship.provider import SpaceshipProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestSpaceshipLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = SpaceshipProvider
    env_prefix = "DNSAUTO_LIVE_SPACESHIP"
    secret_fields = (("secret", "API_SECRET"),)
    plain_fields = (("apiKey", "API_KEY"),)
