"""The provider contract suite against the real Route 53 API (live mode).

Runs only with ``DNSAUTO_LIVE_ROUTE53_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_route53.provider import Route53Provider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestRoute53Live(LiveProviderContract):
    provider_class = Route53Provider
    env_prefix = "DNSAUTO_LIVE_ROUTE53"
    secret_fields = (("secretAccessKey", "SECRET_ACCESS_KEY"),)
    plain_fields = (("accessKeyId", "ACCESS_KEY_ID"),)
    optional_fields = (("hostedZoneId", "HOSTED_ZONE_ID"),)
    fixed_fields = (("sessionToken", {"@type": "None"}),)
