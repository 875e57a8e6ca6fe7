"""The fake answers every recorded OVH request like the real API did, each request signed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dnsauto_ovh.testing import (
    APPLICATION_KEY,
    APPLICATION_SECRET,
    CONSUMER_KEY,
    FakeOvh,
    signature,
)

from dnsauto.testing.fidelity import Interaction, cassette_dir, load_cassette, replay

FOLDER = cassette_dir("ovh")
CASSETTES = sorted(FOLDER.glob("*.yaml")) if FOLDER else []
_RECORD_KEYS = ("fieldType", "subDomain", "target", "ttl")


def seed(fake: FakeOvh, interactions: list[Interaction]) -> None:
    """The account as it was when the cassette was recorded: its zones, and the records it
    reads that the cassette did not create."""
    created = {i.answer["id"] for i in interactions if i.method == "POST" and i.answer}
    for item in interactions:
        if item.path.rstrip("/") == "/domain/zone":
            for name in item.answer:
                fake.add_zone(name)
        answer: Any = item.answer
        if (
            isinstance(answer, dict)
            and "fieldType" in answer
            and answer["id"] not in created
            and answer["id"] not in fake.zones[answer["zone"]].records
        ):
            fields = {k: answer[k] for k in _RECORD_KEYS}
            fake.add_record(answer["zone"], fields, answer["id"])


def sign(method: str, url: str, body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "X-Ovh-Application": APPLICATION_KEY,
        "X-Ovh-Consumer": CONSUMER_KEY,
        "X-Ovh-Timestamp": stamp,
        "X-Ovh-Signature": signature(APPLICATION_SECRET, CONSUMER_KEY, method, url, body, stamp),
    }


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: Path(p).stem)
async def test_the_fake_answers_the_recorded_requests_like_ovh(cassette: Path):
    interactions = load_cassette(cassette, base_path="/1.0")
    async with FakeOvh() as fake:
        seed(fake, interactions)
        problems = await replay(interactions, fake.base_url, {}, sign=sign)
    assert problems == []
    assert len(fake.requests) == len(interactions)


async def test_the_recordings_cover_listing_creating_updating_deleting_and_refreshing():
    seen = {
        (i.method, i.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1].isdigit())
        for cassette in CASSETTES
        for i in load_cassette(cassette, base_path="/1.0")
    }
    assert {("GET", False), ("GET", True), ("POST", False), ("PUT", True),
            ("DELETE", True)} <= seen  # fmt: skip
