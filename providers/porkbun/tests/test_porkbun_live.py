"""The provider contract suite against the real Porkbun API (live mode).

Runs only with ``DNSAUTO_LIVE_PORKBUN_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_porkbun.provider import PorkbunProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestPorkbunLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = PorkbunProvider
    env_prefix = "DNSAUTO_LIVE_PORKBUN"
    secret_fields = (("secretApiKey", "SECRET_API_KEY"),)
    plain_fields = (("apiKey", "API_KEY"),)
