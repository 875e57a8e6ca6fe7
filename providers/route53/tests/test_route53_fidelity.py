"""moto against real Route 53: every request of the lexicon recordings (April 2022) is sent,
signed, to moto in server mode, and moto's answers are compared with the recorded ones: the
status code, and the XML shape (which elements hold which, recursively). The elements the
provider reads must be there wherever the recording has them; every other difference is one of
the known moto gaps listed in the README, pinned here so that a new one fails."""

from __future__ import annotations

import http.client
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from route53_helpers import KEY_ID, add_zone

from dnsauto.testing.fidelity import cassette_dir

RECORDED_ZONE_ID = "Z040120927RX9CM38HPQQ"
RECORDED_ZONE = "fullcr1stal.tk."
RELIED_ON = {
    "HostedZone", "Id", "Name", "Config", "PrivateZone", "IsTruncated", "ResourceRecordSet",
    "Type", "TTL", "ResourceRecords", "ResourceRecord", "Value", "ChangeInfo", "Status", "Error",
    "Code", "Message",
}  # fmt: skip
"""The elements Route53Provider (through boto3) reads."""
KNOWN = Counter(
    {
        # ListHostedZonesByName without IsTruncated and MaxItems (AWS marks both required);
        # boto3 reads a missing IsTruncated as None, the provider as "no more pages"
        "ListHostedZonesByNameResponse.IsTruncated: missing": 25,
        "ListHostedZonesByNameResponse.MaxItems: missing": 25,
        # moto's hosted zones carry no Comment unless one is given
        "ListHostedZonesByNameResponse.HostedZones.HostedZone.Config.Comment: missing": 25,
        # moto answers INSYNC at once and sends no Comment back
        "ChangeResourceRecordSetsResponse.ChangeInfo.Comment: missing": 29,
        # a duplicate value in one RRset: AWS refuses (400 InvalidChangeBatch), moto takes it
        "status 400 -> 200": 1,
        "ErrorResponse: recorded, moto ChangeResourceRecordSetsResponse": 1,
    }
)


def shape(element: ET.Element, path: str) -> dict[str, set[str]]:
    """Each element path and the child tags found under it (list items merged)."""
    found: dict[str, set[str]] = {path: set()}
    for child in element:
        tag = child.tag.split("}")[-1]
        found[path].add(tag)
        for key, tags in shape(child, f"{path}.{tag}").items():
            found.setdefault(key, set()).update(tags)
    return found


def differences(recorded: str, actual: str) -> list[str]:
    if not recorded.strip():
        return []
    if not actual.strip():
        return ["empty answer from moto"]
    want, got = ET.fromstring(recorded.encode()), ET.fromstring(actual.encode())
    want_tag, got_tag = want.tag.split("}")[-1], got.tag.split("}")[-1]
    if want_tag != got_tag:
        return [f"{want_tag}: recorded, moto {got_tag}"]
    recorded_shape, moto_shape = shape(want, want_tag), shape(got, got_tag)
    problems = []
    for path, tags in recorded_shape.items():
        if path not in moto_shape:
            continue  # an empty list at moto (no records yet): nothing below it to compare
        problems += [f"{path}.{tag}: missing" for tag in sorted(tags - moto_shape[path])]
    return problems


def send(moto: str, method: str, path: str, body: bytes | None) -> tuple[int, str]:
    """The request signed as boto3 signs it, without a Content-Type (as boto3 sends it)."""
    request = AWSRequest(method=method, url=moto + path, data=body or b"")
    SigV4Auth(Credentials(KEY_ID, "admin"), "route53", "us-east-1").add_auth(request)
    connection = http.client.HTTPConnection(urlsplit(moto).netloc, timeout=30)
    try:
        connection.request(method, path, body=body, headers=dict(request.headers.items()))
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def replay(cassette: Path, moto_server: str, client: Any) -> list[str]:
    zone_id = add_zone(client, RECORDED_ZONE)
    data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
    problems = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        path = request["uri"].removeprefix("https://route53.amazonaws.com")
        body = request.get("body")
        raw = body.replace(RECORDED_ZONE_ID, zone_id).encode() if isinstance(body, str) else None
        status, text = send(moto_server, request["method"], path.replace(RECORDED_ZONE_ID,
                            zone_id), raw)  # fmt: skip
        if status != response["status"]["code"]:
            problems.append(f"status {response['status']['code']} -> {status}")
        problems += differences(response["body"]["string"], text)
    return problems


def cassettes() -> list[Path]:
    folder = cassette_dir("route53")
    return sorted(folder.glob("*.yaml")) if folder else []


def test_the_recordings_are_found() -> None:
    assert len(cassettes()) >= 25, "the route53 cassettes are missing (../shared/cassettes)"


@pytest.fixture
def replayed(moto_server: str, moto: Any) -> Counter[str]:
    found: Counter[str] = Counter()
    for cassette in cassettes():
        urllib.request.urlopen(
            urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
        ).close()
        found.update(replay(cassette, moto_server, moto))
    return found


def test_moto_answers_every_recorded_request_in_the_recorded_shape_but_the_known_gaps(
    replayed: Counter[str],
) -> None:
    assert replayed == KNOWN


def test_no_known_gap_touches_an_element_the_provider_reads(replayed: Counter[str]) -> None:
    for problem in replayed:
        if problem.endswith(": missing"):
            assert problem.split(":")[0].split(".")[-1] not in RELIED_ON - {"IsTruncated"}
