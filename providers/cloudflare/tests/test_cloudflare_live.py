"""The provider contract suite against the real Cloudflare API (live mode).

Runs only with ``DNSAUTO_LIVE_CLOUDFLARE_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_cloudflare.provider import CloudflareProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestCloudflareLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = CloudflareProvider
    env_prefix = "DNSAUTO_LIVE_CLOUDFLARE"
    secret_fields = (("secret", "TOKEN"),)
    optional_fields = (("email", "EMAIL"),)
