"""The fake answers every recorded Porkbun request like the real API did."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnsauto_porkbun.testing import API_KEY, BASE_PATH, SECRET_API_KEY, FakePorkbun

from dnsauto.testing.fidelity import Interaction, cassette_dir, load_cassette, replay

FOLDER = cassette_dir("porkbun")
CASSETTES = sorted(FOLDER.glob("*.yaml")) if FOLDER else []
# The recordings' bodies had the keys filtered out: the replay sends them as headers, which the
# API honours when the body carries no key.
HEADERS = {"X-API-Key": API_KEY, "X-Secret-API-Key": SECRET_API_KEY}


def seed(fake: FakePorkbun, interactions: list[Interaction]) -> None:
    """The account as recorded: its domain, and the records it lists that the cassette did not
    create (with their recorded ids, values, ``prio`` and ``notes``, in the recorded order)."""
    created = {str(i.answer["id"]) for i in interactions if "/dns/create/" in i.path}
    for item in interactions:
        parts = item.path.split("/")
        if item.path.startswith("/dns/") and item.status == 200 and parts[3] not in fake.domains:
            fake.add_domain(parts[3], with_ns=False)
        answer = item.answer if isinstance(item.answer, dict) else {}
        for record in answer.get("records") or []:
            if record["id"] not in created | fake.domains[parts[3]].records.keys():
                fake.add_record(parts[3], record, record["id"])


def test_every_recording_is_replayed():
    assert len(CASSETTES) == 23


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: Path(p).stem)
async def test_the_fake_answers_the_recorded_requests_like_porkbun(cassette: Path):
    interactions = load_cassette(cassette, base_path=BASE_PATH)
    async with FakePorkbun() as fake:
        seed(fake, interactions)
        problems = await replay(interactions, fake.base_url, HEADERS)
    assert problems == []
