"""The fidelity check's JSON shape comparison and cassette location."""

from __future__ import annotations

from aiohttp import web

from dnsauto.testing.fake_http import FakeApi
from dnsauto.testing.fidelity import (
    Interaction,
    cassette_dir,
    json_shape_mismatches,
    load_cassette,
    replay,
)


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


class _Things(FakeApi):
    """Creates records with integer ids counting from 1, like DNSimple's and Bunny's."""

    def __init__(self) -> None:
        self.things: set[int] = set()
        super().__init__()

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/things", self._create)
        router.add_delete("/things/{id}", self._delete)

    async def _create(self, request: web.Request) -> web.Response:
        self.things.add(len(self.things) + 1)
        return web.json_response({"id": len(self.things)}, status=201)

    async def _delete(self, request: web.Request) -> web.Response:
        if int(request.match_info["id"]) not in self.things:
            return web.json_response({"message": "not found"}, status=404)
        return web.Response(status=204)


async def test_recorded_integer_ids_are_replaced_by_the_fakes_in_later_requests():
    recorded = [
        Interaction("POST", "/things", {"n": 1}, 201, {"id": 57}),
        Interaction("POST", "/things", {"n": 2}, 201, {"id": 5}),
        Interaction("DELETE", "/things/57", None, 204, None),
        Interaction("DELETE", "/things/5", None, 204, None),
    ]
    async with _Things() as fake:
        assert await replay(recorded, fake.base_url, {}) == []
        assert [r.path for r in fake.requests[2:]] == ["/things/1", "/things/2"]
