"""The fake answers every recorded Cloud DNS request like the real API did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dnsauto_googleclouddns.testing import FakeCloudDns, service_account_json
from googleclouddns_helpers import make_provider

from dnsauto.testing.fidelity import (
    Interaction,
    cassette_dir,
    json_shape_mismatches,
    load_cassette,
    replay,
)

FOLDER = cassette_dir("googleclouddns")
CASSETTES = sorted(FOLDER.glob("*.yaml")) if FOLDER else []
PROJECT = "named-archway-209418"


def seed(fake: FakeCloudDns, interactions: list[Interaction]) -> None:
    """The project as it was when the cassette was recorded: its zones, and the RRsets it
    lists (or deletes) that the cassette's own changes had not made before."""
    made: set[tuple[str, str, str]] = set()
    zone_of: dict[str, str] = {}

    def known(zone: str, rrset: dict[str, Any]) -> None:
        key = (zone, rrset["name"], rrset["type"])
        if key not in made and rrset["type"] not in ("SOA", "NS"):
            fake.add_rrset(zone, rrset["name"], rrset["type"], rrset["rrdatas"], rrset["ttl"])
        made.add(key)

    for item in interactions:
        answer: Any = item.answer or {}
        for entry in answer.get("managedZones", []):
            if entry["name"] not in fake.zones:
                fake.add_zone(entry["dnsName"], entry["name"], entry["id"])
                zone_of[entry["id"]] = zone_of[entry["name"]] = entry["name"]
        parts = item.path.split("?")[0].split("/")
        if "managedZones" not in parts or len(parts) < 6:
            continue
        zone = zone_of[parts[4]]
        for rrset in answer.get("rrsets", []):
            known(zone, rrset)
        if item.method == "POST":
            for rrset in (item.body or {}).get("deletions") or []:
                known(zone, rrset)
            for rrset in (item.body or {}).get("additions") or []:
                made.add((zone, rrset["name"], rrset["type"]))


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
@pytest.mark.parametrize("cassette", CASSETTES, ids=lambda p: Path(p).stem)
async def test_the_fake_answers_the_recorded_requests_like_cloud_dns(cassette: Path):
    recorded = load_cassette(cassette, base_path="/dns/v1")
    tokens = [i for i in recorded if i.path.startswith("/oauth2/")]
    interactions = [i for i in recorded if not i.path.startswith("/oauth2/")]
    assert tokens
    assert interactions
    async with FakeCloudDns(project=PROJECT) as fake:
        seed(fake, interactions)
        headers = {"Authorization": f"Bearer {fake.issue_token()}"}
        problems = await replay(interactions, fake.base_url, headers)
    assert problems == []


@pytest.mark.skipif(not CASSETTES, reason="the shared cassettes are not beside the repository")
async def test_the_fake_token_endpoint_answers_a_signed_grant_like_google():
    """The recorded token answer (assertion placeholdered) against the fake's for a real JWT."""
    (recorded, *_) = [i for i in load_cassette(CASSETTES[0]) if "/oauth2/" in i.path]
    async with FakeCloudDns() as fake:
        provider = make_provider(fake)
        await provider._authorize()
        await provider.aclose()
        (sent,) = [r for r in fake.requests if r.path == "/token"]
        answer = {"access_token": provider._token, "token_type": "Bearer", "expires_in": 3600}
    assert recorded.status == 200
    assert json_shape_mismatches(recorded.answer, answer) == []
    assert "assertion=" in sent.body
    assert "grant-type%3Ajwt-bearer" in sent.body
    assert json.loads(service_account_json(fake.token_uri))["token_uri"] == fake.token_uri
