"""The fake answers every recorded Cloudflare request like the real API did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dnsauto_cloudflare.testing import TOKEN, FakeCloudflare

from dnsauto.testing.fidelity import Interaction, cassette_dir, load_cassette, replay

FOLDER = cassette_dir("cloudflare")
CASSETTES = sorted(FOLDER.glob("*.yaml")) if FOLDER else []
_RECORD_KEYS = ("type", "name", "content", "ttl", "priority", "data", "proxied")


def seed(fake: FakeCloudflare, interactions: list[Interaction]) -> None:
    """The state the account was in when the cassette was recorded: its zones, and the records
    it lists that the cassette did not create."""
    created = {
        i.answer["result"]["id"]
        for i in interactions
        if i.method == "POST" and i.status == 200 and isinstance(i.answer["result"], dict)
    }
    for item in interactions:
        result: Any = (item.answer or {}).get("result")
        if not isinstance(result, list):
            continue
        for entry in result:
            if "status" in entry and entry["id"] not in fake.zones:
                fake.add_zone(entry["name"], entry["id"])
            elif "type" in entry and entry["id"] not in created:
                zone_id = item.path.split("/")[2]
                fields = {k: entry[k] for k in _RECORD_KEYS if k in entry}
                if entry["id"] not in fake.zones[zone_id].records:
                    fake.add_record(zone_id, fields, entry["id"])


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: Path(p).stem)
async def test_the_fake_answers_the_recorded_requests_like_cloudflare(cassette: Path):
    interactions = load_cassette(cassette, base_path="/client/v4")
    async with FakeCloudflare() as fake:
        seed(fake, interactions)
        problems = await replay(interactions, fake.base_url, {"Authorization": f"Bearer {TOKEN}"})
    assert problems == []
