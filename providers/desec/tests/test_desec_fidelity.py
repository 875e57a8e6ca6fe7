"""The fake answers every recorded deSEC request like the real API did."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from dnsauto_desec.testing import TOKEN, FakeDesec

from dnsauto.testing.fidelity import Interaction, cassette_dir, load_cassette, replay

FOLDER = cassette_dir("desec")
CASSETTES = sorted(FOLDER.glob("*.yaml")) if FOLDER else []
DOMAIN_DOCUMENTED = {
    "created": "2018-09-18T16:36:16.510368Z",
    "keys": [{"dnskey": "257 3 13 …", "ds": ["…"], "flags": 257, "keytype": "csk",
              "managed": True}],
    "minimum_ttl": 3600,
    "name": "example.com",
    "published": "2018-09-18T17:21:38.348112Z",
    "touched": "2018-09-18T17:21:38.348112Z",
}  # fmt: skip
"""docs/dns/domains.rst's domain object: lexicon's filter records the domain body as ``{}``
(it holds the DNSSEC keys), so the fake's domain is compared with the documented one."""


def unfiltered(interactions: list[Interaction]) -> list[Interaction]:
    return [
        replace(i, answer=DOMAIN_DOCUMENTED) if i.answer == {} and i.status == 200 else i
        for i in interactions
    ]


def seed(fake: FakeDesec, interactions: list[Interaction]) -> None:
    """The account as recorded: its domain, and the RRsets it lists that the cassette did not
    create."""
    fake.add_domain("desec.lexicon")
    created = {(i.body["subname"], i.body["type"]) for i in interactions
               if i.method == "POST" and isinstance(i.body, dict)}  # fmt: skip
    for item in interactions:
        if item.method != "GET" or not isinstance(item.answer, list):
            continue
        for rrset in item.answer:
            key = (rrset["subname"], rrset["type"])
            if key not in created and key not in fake.domains["desec.lexicon"].rrsets:
                fake.add_rrset("desec.lexicon", *key, rrset["ttl"], *rrset["records"])


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: Path(p).stem)
async def test_the_fake_answers_the_recorded_requests_like_desec(cassette: Path):
    interactions = unfiltered(load_cassette(cassette, base_path="/api/v1"))
    async with FakeDesec() as fake:
        seed(fake, interactions)
        problems = await replay(interactions, fake.base_url, {"Authorization": f"Token {TOKEN}"})
    assert problems == []
