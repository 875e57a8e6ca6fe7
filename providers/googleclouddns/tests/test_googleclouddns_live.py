"""The provider contract suite against the real Google Cloud DNS API (live mode).

Runs only with ``DNSAUTO_LIVE_GOOGLECLOUDDNS_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_googleclouddns.provider import GoogleCloudDnsProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestGoogleCloudDnsLive(LiveProviderContract):
    provider_class = GoogleCloudDnsProvider
    env_prefix = "DNSAUTO_LIVE_GOOGLECLOUDDNS"
    secret_fields = (("serviceAccountJson", "SERVICE_ACCOUNT_JSON"),)
    plain_fields = (("projectId", "PROJECT"),)
    optional_fields = (("managedZone", "MANAGED_ZONE"),)
