"""The fidelity check's JSON shape comparison and cassette location."""

from __future__ import annotations

from dnsauto.testing.fidelity import cassette_dir, json_shape_mismatches, load_cassette


def test_same_keys_and_value_types_match_whatever_the_values():
    recorded = {"result": [{"id": "a", "ttl": 1, "tags": []}], "success": True}
    fake = {"result": [{"id": "b", "ttl": 300, "tags": []}], "success": False}
    assert json_shape_mismatches(recorded, fake) == []


def test_a_missing_key_an_extra_key_and_a_changed_type_are_each_reported():
    recorded = {"result": {"id": "a", "ttl": 1}, "errors": []}
    fake = {"result": {"id": 5, "proxied": False}, "errors": []}
    found = json_shape_mismatches(recorded, fake)
    assert sorted(found) == [
        "$.result.id: recorded string, fake number",
        "$.result.proxied: not in the recording",
        "$.result.ttl: missing",
    ]


def test_every_list_item_is_compared_with_the_recorded_items():
    found = json_shape_mismatches([{"a": 1}], [{"a": 1}, {"a": "x"}])
    assert found == ["$[1].a: recorded number, fake string"]


def test_the_shared_cassettes_are_found_from_the_repository():
    folder = cassette_dir("cloudflare")
    assert folder is not None
    interactions = load_cassette(folder / "test_provider_authenticate.yaml", base_path="/client/v4")
    assert interactions[0].path == "/zones?page=1&per_page=100"
    assert interactions[0].status == 200


def test_python2_tagged_cassettes_load_as_plain_strings():
    folder = cassette_dir("digitalocean")
    assert folder is not None
    interactions = load_cassette(folder / "test_provider_authenticate.yaml", base_path="/v2")
    assert interactions[0].path == "/domains/foxwoodswebsites.com"
    assert interactions[0].answer["domain"]["name"] == "foxwoodswebsites.com"
