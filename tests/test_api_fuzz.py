"""Random JSON and mutated valid requests get only RFC 8620's errors: never a 500, never a
``serverFail``, never a traceback or a secret."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsauto.config.ids import domain_id
from tests.api_server_helpers import (
    ADMIN_TOKEN,
    TSIG_SECRET,
    USING,
    api_client,
    write_config,
)

REQUEST_ERRORS = {
    "urn:ietf:params:jmap:error:notJSON",
    "urn:ietf:params:jmap:error:notRequest",
    "urn:ietf:params:jmap:error:unknownCapability",
    "urn:ietf:params:jmap:error:limit",
}
METHOD_ERRORS = {
    "unknownMethod",
    "invalidArguments",
    "invalidResultReference",
    "forbidden",
    "accountNotFound",
    "requestTooLarge",
    "stateMismatch",
    "unsupportedFilter",
    "unsupportedSort",
    "anchorNotFound",
}
SET_ERRORS = {
    "invalidProperties",
    "notFound",
    "forbidden",
    "invalidPatch",
    "validationFailed",
    "primaryKeyViolation",
    "objectIsLinked",
    "invalidForeignKey",
    "willDestroy",
    "singleton",
}

VALID: list[dict[str, Any]] = [
    {"using": USING, "methodCalls": [["x:Bootstrap/get", {"ids": ["singleton"]}, "c1"]]},
    {
        "using": USING,
        "methodCalls": [
            ["x:Bootstrap/set", {"update": {"singleton": {"generateDkimKeys": False}}}, "c1"]
        ],
    },
    {
        "using": USING,
        "methodCalls": [
            [
                "x:DnsServer/set",
                {
                    "create": {
                        "n": {
                            "@type": "Tsig",
                            "description": "fuzz",
                            "host": "192.0.2.3",
                            "keyName": "k",
                            "key": {"@type": "Value", "secret": TSIG_SECRET},
                        }
                    },
                    "update": {"primary": {"port": 5353, "dnsServer/ttl": 60000}},
                },
                "c1",
            ],
            ["x:DnsServer/query", {"filter": {"memberTenantId": None}, "limit": 5}, "c2"],
            [
                "x:DnsServer/get",
                {"#ids": {"resultOf": "c2", "name": "x:DnsServer/query", "path": "/ids"}},
                "c3",
            ],
        ],
    },
    {
        "using": USING,
        "methodCalls": [
            [
                "x:Domain/set",
                {
                    "create": {"d": {"name": "fuzz.test"}},
                    "update": {domain_id("other.test"): {"dnsManagement/publishRecords": ["mx"]}},
                    "destroy": ["fuzz.test"],
                },
                "c1",
            ],
            ["x:Domain/query", {"sort": [{"property": "name"}], "position": 1}, "c2"],
            ["x:Task/get", {"ids": None}, "c3"],
            ["Core/echo", {"x": 1}, "c4"],
        ],
        "createdIds": {"a": "b"},
    },
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
keys = st.sampled_from(
    [
        "using",
        "methodCalls",
        "createdIds",
        "ids",
        "#ids",
        "update",
        "create",
        "destroy",
        "filter",
        "sort",
        "position",
        "anchor",
        "limit",
        "properties",
        "accountId",
        "ifInState",
        "singleton",
        "primary",
        "dnsServer",
        "@type",
        "name",
        "x",
    ]
)


class Api:
    """An API server on its own event loop, called from hypothesis's synchronous tests."""

    def __init__(self, path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.context = api_client(path)
        self.client, _, _ = self.loop.run_until_complete(self.context.__aenter__())

    def post(self, body: bytes) -> tuple[int, str, str]:
        async def send() -> tuple[int, str, str]:
            response = await self.client.post(
                "/api",
                data=body,
                headers={
                    "Authorization": f"Bearer {ADMIN_TOKEN}",
                    "Content-Type": "application/json",
                },
            )
            return response.status, response.content_type, await response.text()

        return self.loop.run_until_complete(send())

    def close(self) -> None:
        self.loop.run_until_complete(self.context.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    running = Api(write_config(tmp_path_factory.mktemp("fuzz")))
    yield running
    running.close()


def check(status: int, content_type: str, text: str) -> None:
    """The answer is one of RFC 8620's, whatever was sent."""
    assert status in (200, 400, 413), (status, text)
    assert "Traceback" not in text
    assert TSIG_SECRET not in text
    document = json.loads(text)
    if status != 200:
        assert content_type == "application/problem+json"
        assert document["type"] in REQUEST_ERRORS, document
        return
    for name, arguments, _ in document["methodResponses"]:
        if name == "error":
            assert arguments["type"] in METHOD_ERRORS, arguments
            continue
        for field in ("notCreated", "notUpdated", "notDestroyed"):
            for error in (arguments.get(field) or {}).values():
                assert error["type"] in SET_ERRORS, error


def test_the_valid_requests_the_mutations_start_from_answer_without_errors(api: Api) -> None:
    for body in VALID:
        status, content_type, text = api.post(json.dumps(body).encode())
        check(status, content_type, text)
        responses = json.loads(text)["methodResponses"]
        assert "error" not in [r[0] for r in responses], text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=json_values)
def test_random_json_gets_only_rfc_8620_errors(api: Api, value: Any) -> None:
    check(*api.post(json.dumps(value).encode()))


@settings(max_examples=80, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_get_only_rfc_8620_errors(api: Api, raw: bytes) -> None:
    check(*api.post(raw))


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _nodes(child, (*path, index))
    return found


def _mutate(document: Any, path: tuple[Any, ...], how: str, replacement: Any, key: str) -> Any:
    if not path:
        return replacement
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "replace":
        parent[last] = replacement
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent[last], dict):
        parent[last][key] = replacement
    elif how == "add" and isinstance(parent[last], list):
        parent[last].append(replacement)
    else:
        parent[last] = replacement
    return document


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_valid_requests_get_only_rfc_8620_errors(api: Api, data: st.DataObject) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(VALID)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(_nodes(document)))
        how = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if not path and how == "delete":
            how = "replace"
        replacement = data.draw(json_values | keys)
        document = _mutate(document, path, how, replacement, data.draw(keys))
    check(*api.post(json.dumps(document).encode()))
