"""The provider contract suite against the real OVH API (live mode).

Runs only with ``DNSAUTO_LIVE_OVH_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_ovh.provider import OvhProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestOvhLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = OvhProvider
    env_prefix = "DNSAUTO_LIVE_OVH"
    secret_fields = (
        ("applicationSecret", "APPLICATION_SECRET"),
        ("consumerKey", "CONSUMER_KEY"),
    )
    plain_fields = (("applicationKey", "APPLICATION_KEY"),)
    optional_fields = (("ovhEndpoint", "ENDPOINT"),)
