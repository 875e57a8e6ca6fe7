"""The provider contract suite against the real DigitalOcean API (live mode).

Runs only with ``DNSAUTO_LIVE_DIGITALOCEAN_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_digitalocean.provider import DigitalOceanProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestDigitalOceanLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = DigitalOceanProvider
    env_prefix = "DNSAUTO_LIVE_DIGITALOCEAN"
    secret_fields = (("secret", "TOKEN"),)
