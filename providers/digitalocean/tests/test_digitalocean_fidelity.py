"""The fake answers every recorded DigitalOcean request like the real API did."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnsauto_digitalocean.testing import TOKEN, FakeDigitalOcean

from dnsauto.testing.fidelity import Interaction, cassette_dir, load_cassette, replay

FOLDER = cassette_dir("digitalocean")
CASSETTES = sorted(FOLDER.glob("*.yaml")) if FOLDER else []
_FIELDS = ("type", "name", "data", "ttl", "priority", "port", "weight", "flags", "tag")


def seed(fake: FakeDigitalOcean, interactions: list[Interaction]) -> None:
    """The account as recorded: its domains, and the records it lists that the cassette did not
    create (with their recorded ids, in the recorded order)."""
    created = {i.answer["domain_record"]["id"] for i in interactions
               if i.method == "POST" and i.status == 201}  # fmt: skip
    for item in interactions:
        answer = item.answer if isinstance(item.answer, dict) else {}
        if "domain" in answer and answer["domain"]["name"] not in fake.domains:
            fake.add_domain(answer["domain"]["name"], with_soa_and_ns=False)
        domain = item.path.split("/")[2] if item.path.count("/") >= 3 else ""
        for record in answer.get("domain_records", []):
            if record["id"] not in created and record["id"] not in fake.domains[domain].records:
                fields = {k: record[k] for k in _FIELDS}
                fake.add_record(domain, fields, record["id"])


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: Path(p).stem)
async def test_the_fake_answers_the_recorded_requests_like_digitalocean(cassette: Path):
    interactions = load_cassette(cassette, base_path="/v2")
    async with FakeDigitalOcean() as fake:
        seed(fake, interactions)
        problems = await replay(interactions, fake.base_url, {"Authorization": f"Bearer {TOKEN}"})
    assert problems == []
