"""The provider contract suite against the real DNSimple API (live mode).

Runs only with ``DNSAUTO_LIVE_DNSIMPLE_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_dnsimple.provider import DnsimpleProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestDnsimpleLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = DnsimpleProvider
    env_prefix = "DNSAUTO_LIVE_DNSIMPLE"
    secret_fields = (("authToken", "TOKEN"),)
    plain_fields = (("accountIdentifier", "ACCOUNT"),)
