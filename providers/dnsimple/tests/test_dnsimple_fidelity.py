"""The fake answers every recorded DNSimple request like the real API did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dnsauto_dnsimple.testing import TOKEN, FakeDnsimple

from dnsauto.testing.fidelity import Interaction, cassette_dir, load_cassette, replay

FOLDER = cassette_dir("dnsimple")
CASSETTES = sorted(FOLDER.glob("*.yaml")) if FOLDER else []
_RECORD_KEYS = ("type", "name", "content", "ttl", "priority", "regions")


def seed(fake: FakeDnsimple, interactions: list[Interaction]) -> None:
    """The state the account was in when the cassette was recorded: its zones, and the records
    it lists that the cassette did not create (system records come with the zone)."""
    created = {
        i.answer["data"]["id"] for i in interactions if i.method == "POST" and i.status == 201
    }
    for item in interactions:
        data: Any = (item.answer or {}).get("data")
        if not isinstance(data, list):
            continue
        for entry in data:
            if "state" in entry and entry["name"] not in fake.zones:
                fake.add_zone(entry["name"], entry["id"])
            elif "zone_id" in entry and entry["id"] not in created and not entry["system_record"]:
                zone = fake.zones[entry["zone_id"]]
                if entry["id"] not in zone.records:
                    fields = {k: entry[k] for k in _RECORD_KEYS}
                    fake.add_record(zone.name, fields, entry["id"])


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: Path(p).stem)
async def test_the_fake_answers_the_recorded_requests_like_dnsimple(cassette: Path):
    interactions = load_cassette(cassette, base_path="/v2")
    async with FakeDnsimple() as fake:
        seed(fake, interactions)
        problems = await replay(interactions, fake.base_url, {"Authorization": f"Bearer {TOKEN}"})
    assert problems == []
