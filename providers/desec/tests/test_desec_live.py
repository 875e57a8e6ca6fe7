"""The provider contract suite against the real deSEC API (live mode).

Runs only with ``DNSAUTO_LIVE_DESEC_*`` set (see the plugin README), never under CI; it
writes only under ``_dnsauto-live.<zone>`` and deletes what it wrote."""

from __future__ import annotations

import pytest
from dnsauto_desec.provider import DesecProvider

from dnsauto.testing.live import LiveProviderContract

pytestmark = pytest.mark.credentials


class TestDesecLive(LiveProviderContract):
    undetected_conflicts = "the API writes without a precondition"
    provider_class = DesecProvider
    env_prefix = "DNSAUTO_LIVE_DESEC"
    secret_fields = (("secret", "TOKEN"),)
