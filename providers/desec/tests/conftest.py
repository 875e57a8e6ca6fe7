from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from desec_helpers import ZONE, make_provider
from dnsauto_desec.provider import DesecProvider
from dnsauto_desec.testing import FakeDesec


@pytest.fixture
async def fake() -> AsyncIterator[FakeDesec]:
    async with FakeDesec() as api:
        api.add_domain(ZONE, minimum_ttl=300)
        yield api


@pytest.fixture
async def desec(fake: FakeDesec) -> AsyncIterator[DesecProvider]:
    provider = make_provider(fake)
    yield provider
    await provider.aclose()
