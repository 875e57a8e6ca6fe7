"""The API's request handling (RFC 8620 §3): every request-level error as problem details,
method-level errors, result references, createdIds, Core/echo and the session resource."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dnsauto.api import methods
from dnsauto.api.protocol import ResponseBudget, evaluate_pointer
from dnsauto.api.server import ApiServer
from dnsauto.config.ids import domain_id
from tests.api_server_helpers import (
    ADMIN_TOKEN,
    CONFIG,
    TSIG_SECRET,
    USING,
    FakeHost,
    api_client,
    auth,
    call,
    post,
    request,
    write_config,
)

URN = "urn:ietf:params:jmap:error:"

Api = tuple[TestClient[Any, Any], ApiServer, FakeHost]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with api_client(write_config(tmp_path)) as running:
        yield running


async def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    document = await response.json()
    assert document["type"] == kind
    assert document["status"] == status
    assert "Traceback" not in json.dumps(document)
    return dict(document)


# --- request-level errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b"",
        b'{"using": [], "using": [], "methodCalls": []}',
        b'{"using": [], "methodCalls": [], "n": NaN}',
        b'{"using": [], "methodCalls": [], "n": Infinity}',
        b"\xff\xfe{}",
        b"[" * 20_000 + b"]" * 20_000,
        b'{"using": [], "methodCalls": [], "n": -Infinity}',
        b'{"using": [], "methodCalls": [], "n": 1e999}',
        b'{"using": [], "methodCalls": [], "n": -1e999}',
        b'{"using": [], "methodCalls": [["Core/echo", {"s": "\\ud800"}, "c1"]]}',
        b'{"using": [], "methodCalls": [["Core/echo", {"s": ["a\\udfffb"]}, "c1"]]}',
        b'{"using": [], "methodCalls": [["Core/echo", {"\\udbff": 1}, "c1"]]}',
    ],
    ids=[
        "truncated",
        "text",
        "empty",
        "duplicate-key",
        "nan",
        "infinity",
        "not-utf8",
        "deep",
        "minus-infinity",
        "overflowing-number",
        "overflowing-negative-number",
        "lone-high-surrogate",
        "lone-low-surrogate-in-an-array",
        "lone-surrogate-in-a-key",
    ],
)
async def test_a_body_that_is_not_i_json_is_not_json(api: Api, raw: bytes) -> None:
    client, _, _ = api
    response = await post(client, None, raw=raw)
    await problem(response, 400, URN + "notJSON")


async def test_a_surrogate_pair_is_one_character_and_accepted(api: Api) -> None:
    client, _, _ = api
    raw = b'{"using": %s, "methodCalls": [["Core/echo", {"s": "\\ud83d\\ude00"}, "c1"]]}'
    response = await post(client, None, raw=raw % json.dumps(USING).encode())
    assert response.status == 200, await response.text()
    assert (await response.json())["methodResponses"][0][1] == {"s": "\U0001f600"}


async def test_a_lone_surrogate_in_a_set_is_not_json_and_never_stored(api: Api) -> None:
    client, server, host = api
    created = {"create": {"n": {"@type": "Manual", "description": "SURROGATE"}}}
    body = json.dumps(request(("x:DnsServer/set", created)))
    raw = body.replace("SURROGATE", "\\ud800").encode()
    await problem(await post(client, None, raw=raw), 400, URN + "notJSON")
    assert host.replaced == []
    assert server.store.objects("DnsServer") == {}
    answer, _ = await call(client, "x:DnsServer/get", {"ids": None})
    assert answer == "x:DnsServer/get"


async def test_a_content_type_other_than_json_is_not_json(api: Api) -> None:
    client, _, _ = api
    body = json.dumps(request(("Core/echo", {}))).encode()
    response = await post(client, None, raw=body, content_type="text/plain")
    await problem(response, 400, URN + "notJSON")
    response = await post(client, None, raw=body, content_type="application/json; charset=utf-8")
    assert response.status == 200


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"methodCalls": []},
        {"using": "urn:ietf:params:jmap:core", "methodCalls": []},
        {"using": [1], "methodCalls": []},
        {"using": USING},
        {"using": USING, "methodCalls": {}},
        {"using": USING, "methodCalls": [["Core/echo", {}]]},
        {"using": USING, "methodCalls": [["Core/echo", [], "c1"]]},
        {"using": USING, "methodCalls": [[1, {}, "c1"]]},
        {"using": USING, "methodCalls": [["Core/echo", {}, 7]]},
        {"using": USING, "methodCalls": [], "createdIds": []},
        {"using": USING, "methodCalls": [], "createdIds": {"a": 1}},
    ],
)
async def test_json_that_is_not_a_request_object_is_not_request(api: Api, body: Any) -> None:
    client, _, _ = api
    await problem(await post(client, body), 400, URN + "notRequest")


async def test_an_unknown_capability_in_using_is_refused(api: Api) -> None:
    client, _, _ = api
    body = request(("Core/echo", {}), using=[*USING, "urn:example:nope"])
    document = await problem(await post(client, body), 400, URN + "unknownCapability")
    assert "urn:example:nope" in document["detail"]


async def test_more_calls_than_max_calls_in_request_is_a_limit_error(api: Api) -> None:
    client, server, _ = api
    calls = [("Core/echo", {})] * (server.settings().max_calls_in_request + 1)
    document = await problem(await post(client, request(*calls)), 400, URN + "limit")
    assert document["limit"] == "maxCallsInRequest"


async def test_a_body_over_max_request_bytes_is_a_413_limit_error(api: Api) -> None:
    client, server, _ = api
    size = server.settings().max_request_bytes
    big = request(("Core/echo", {"pad": "x" * size}))
    document = await problem(await post(client, big), 413, URN + "limit")
    assert document["limit"] == "maxSizeRequest"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(size // 1000 + 2):
            yield b" " * 1000

    headers = {**auth(), "Content-Type": "application/json"}
    response = await client.post("/api", data=chunks(), headers=headers)
    assert (await problem(response, 413, URN + "limit"))["limit"] == "maxSizeRequest"


def doubling_echoes(calls: int) -> dict[str, Any]:
    """Core/echo calls each referring twice to the previous one: 2**calls times the first."""
    first = ("Core/echo", {"pad": "x" * 500}, "c0")
    rest = [
        (
            "Core/echo",
            {
                f"#{half}": {"resultOf": f"c{n - 1}", "name": "Core/echo", "path": ""}
                for half in ("a", "b")
            },
            f"c{n}",
        )
        for n in range(1, calls)
    ]
    return request(first, *rest)


async def test_result_references_that_amplify_past_max_response_bytes_are_a_limit_error(
    tmp_path: Path,
) -> None:
    text = CONFIG.replace("maxCallsInRequest = 8", "maxCallsInRequest = 16")
    async with api_client(write_config(tmp_path, text)) as (client, server, _):
        limit = server.settings().max_response_bytes
        body = doubling_echoes(16)
        assert len(json.dumps(body)) < 4096
        document = await problem(await post(client, body), 400, URN + "limit")
        assert document["limit"] == "maxSizeResponse"
        assert str(limit) in document["detail"]
        assert (await post(client, request(("Core/echo", {})))).status == 200


async def test_a_call_whose_references_expand_past_max_response_bytes_never_runs(
    tmp_path: Path,
) -> None:
    text = CONFIG.replace("maxAuthFailures = 3", "maxAuthFailures = 3\nmaxResponseBytes = 100000")
    async with api_client(write_config(tmp_path, text)) as (client, server, host):
        created = {"@type": "Manual", "description": "x" * 60_000}
        echo = ("Core/echo", {"create": {"n": created}}, "c0")
        reference = {"resultOf": "c0", "name": "Core/echo", "path": "/create"}
        body = request(echo, ("x:DnsServer/set", {"#create": reference}, "c1"))
        document = await problem(await post(client, body), 400, URN + "limit")
        assert document["limit"] == "maxSizeResponse"
        assert "methodCalls[1]" in document["detail"]
        assert host.replaced == []
        assert server.store.objects("DnsServer") == {}


async def test_a_response_within_max_response_bytes_is_answered_in_full(tmp_path: Path) -> None:
    text = CONFIG.replace("maxAuthFailures = 3", "maxAuthFailures = 3\nmaxResponseBytes = 100000")
    async with api_client(write_config(tmp_path, text)) as (client, _, _):
        response = await post(client, doubling_echoes(6))
        assert response.status == 200, await response.text()
        answers = (await response.json())["methodResponses"]
        assert [name for name, _, _ in answers] == ["Core/echo"] * 6


async def test_requests_over_max_concurrent_requests_are_a_limit_error(api: Api) -> None:
    client, server, _ = api
    server._in_flight = server.settings().max_concurrent_requests
    document = await problem(await post(client, request(("Core/echo", {}))), 400, URN + "limit")
    assert document["limit"] == "maxConcurrentRequests"
    server._in_flight = 0
    assert (await post(client, request(("Core/echo", {})))).status == 200


async def test_other_paths_and_verbs_are_plain_http_errors(api: Api) -> None:
    client, _, _ = api
    assert (await client.get("/api", headers=auth())).status == 405
    assert (await client.get("/nothing", headers=auth())).status == 404


# --- method-level errors ------------------------------------------------------------------------


async def test_an_unknown_method_is_unknown_method(api: Api) -> None:
    client, _, _ = api
    name, arguments = await call(client, "x:Nothing/get", {})
    assert (name, arguments["type"]) == ("error", "unknownMethod")


async def test_a_core_method_whose_capability_is_not_in_using_is_unknown_method(
    api: Api,
) -> None:
    client, _, _ = api
    body = request(("Core/echo", {}), using=["urn:stalwart:jmap"])
    document = await (await post(client, body)).json()
    assert document["methodResponses"][0][1]["type"] == "unknownMethod"
    # the x: methods are served without urn:stalwart:jmap, as Stalwart serves them
    body = request(("x:Bootstrap/get", {}), using=["urn:ietf:params:jmap:core"])
    document = await (await post(client, body)).json()
    assert document["methodResponses"][0][0] == "x:Bootstrap/get"


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("x:Bootstrap/get", {"ids": "singleton"}),
        ("x:Bootstrap/get", {"ids": [1]}),
        ("x:Bootstrap/get", {"bogus": True}),
        ("x:Bootstrap/get", {"properties": ["nope"]}),
        ("x:Bootstrap/set", {"update": []}),
        ("x:Bootstrap/set", {"ifInState": 5}),
        ("x:DnsServer/set", {"destroy": "primary"}),
        ("x:DnsServer/query", {"limit": -1}),
        ("x:DnsServer/query", {"position": "0"}),
        ("x:DnsServer/query", {"filter": []}),
        ("x:DnsServer/query", {"sort": {}}),
        ("x:Domain/query", {"calculateTotal": "yes"}),
        ("x:Task/get", {"ids": 3}),
        ("x:Bootstrap/get", {"accountId": 3}),
    ],
)
async def test_wrong_arguments_are_invalid_arguments(
    api: Api, name: str, arguments: dict[str, Any]
) -> None:
    client, _, _ = api
    answer, error = await call(client, name, arguments)
    assert (answer, error["type"]) == ("error", "invalidArguments"), error


async def test_a_foreign_account_id_is_account_not_found(api: Api) -> None:
    client, _, _ = api
    _, error = await call(client, "x:Bootstrap/get", {"accountId": "someone"})
    assert error["type"] == "accountNotFound"
    name, _ = await call(client, "x:Bootstrap/get", {"accountId": "dnsauto"})
    assert name == "x:Bootstrap/get"


async def test_a_failing_method_is_server_fail_without_traceback_and_logged_without_secrets(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, _ = api

    def explode(arguments: dict[str, Any], ctx: Any) -> dict[str, Any]:
        raise RuntimeError(f"boom {TSIG_SECRET}")

    monkeypatch.setitem(methods.METHODS, "x:Bootstrap/get", ("urn:stalwart:jmap", explode))
    caplog.set_level(logging.DEBUG)
    body = request(("x:Bootstrap/get", {}), ("Core/echo", {"still": "runs"}))
    response = await post(client, body)
    assert response.status == 200
    document = await response.json()
    error, echo = document["methodResponses"]
    assert error[0] == "error"
    assert error[1]["type"] == "serverFail"
    assert echo == ["Core/echo", {"still": "runs"}, "c2"]
    text = json.dumps(document)
    assert "Traceback" not in text
    assert "boom" not in text
    assert TSIG_SECRET not in text
    assert "RuntimeError" in caplog.text
    assert TSIG_SECRET not in caplog.text


async def test_one_failing_call_does_not_stop_the_next(api: Api) -> None:
    client, _, _ = api
    body = request(("x:Nope/get", {}), ("x:Bootstrap/get", {"ids": ["singleton"]}))
    responses = (await (await post(client, body)).json())["methodResponses"]
    assert [r[0] for r in responses] == ["error", "x:Bootstrap/get"]
    assert [r[2] for r in responses] == ["c1", "c2"]


# --- references, createdIds, echo ---------------------------------------------------------------


async def test_core_echo_returns_its_arguments(api: Api) -> None:
    client, _, _ = api
    assert await call(client, "Core/echo", {"a": [1, {"b": None}]}) == (
        "Core/echo",
        {"a": [1, {"b": None}]},
    )


async def test_a_result_reference_feeds_a_query_into_a_get(api: Api) -> None:
    client, _, _ = api
    body = request(
        ("x:DnsServer/query", {}),
        (
            "x:DnsServer/get",
            {"#ids": {"resultOf": "c1", "name": "x:DnsServer/query", "path": "/ids"}},
        ),
    )
    responses = (await (await post(client, body)).json())["methodResponses"]
    assert [s["id"] for s in responses[1][1]["list"]] == ["primary"]


@pytest.mark.parametrize(
    "reference",
    [
        {"resultOf": "c9", "name": "x:DnsServer/query", "path": "/ids"},
        {"resultOf": "c1", "name": "x:Domain/query", "path": "/ids"},
        {"resultOf": "c1", "name": "x:DnsServer/query", "path": "/nothing"},
        {"resultOf": "c1", "name": "x:DnsServer/query"},
        "c1",
    ],
)
async def test_a_broken_result_reference_is_invalid_result_reference(
    api: Api, reference: Any
) -> None:
    client, _, _ = api
    body = request(("x:DnsServer/query", {}), ("x:DnsServer/get", {"#ids": reference}))
    responses = (await (await post(client, body)).json())["methodResponses"]
    assert responses[1][0] == "error"
    assert responses[1][1]["type"] == "invalidResultReference"


async def test_an_argument_given_both_plain_and_as_reference_is_invalid(api: Api) -> None:
    client, _, _ = api
    reference = {"resultOf": "c1", "name": "x:DnsServer/query", "path": "/ids"}
    body = request(("x:DnsServer/query", {}), ("x:DnsServer/get", {"ids": [], "#ids": reference}))
    responses = (await (await post(client, body)).json())["methodResponses"]
    assert responses[1][1]["type"] == "invalidArguments"


def test_json_pointers_walk_arrays_with_a_star_and_flatten() -> None:
    value = {"list": [{"ids": ["a", "b"]}, {"ids": ["c"]}], "x~/y": 1}
    assert evaluate_pointer(value, "/list/*/ids") == ["a", "b", "c"]
    assert evaluate_pointer(value, "/list/1/ids/0") == "c"
    assert evaluate_pointer(value, "/x~0~1y") == 1
    assert evaluate_pointer(value, "") == value
    with pytest.raises(IndexError):
        evaluate_pointer(value, "/list/5")


async def test_created_ids_come_back_updated_with_the_new_creations(api: Api) -> None:
    client, _, _ = api
    body = request(
        ("x:Domain/set", {"create": {"d1": {"name": "new.test"}}}), createdIds={"old": "x"}
    )
    document = await (await post(client, body)).json()
    assert document["createdIds"] == {"old": "x", "d1": domain_id("new.test")}
    plain = await (await post(client, request(("Core/echo", {})))).json()
    assert "createdIds" not in plain


# --- the session resource -----------------------------------------------------------------------


async def test_the_session_resource_lists_capabilities_limits_and_the_api_url(api: Api) -> None:
    client, server, _ = api
    response = await client.get("/.well-known/jmap", headers=auth())
    assert response.status == 200
    session = await response.json()
    core = session["capabilities"]["urn:ietf:params:jmap:core"]
    settings = server.settings()
    assert core["maxSizeRequest"] == settings.max_request_bytes
    assert core["maxCallsInRequest"] == settings.max_calls_in_request
    assert core["maxConcurrentRequests"] == settings.max_concurrent_requests
    assert core["maxObjectsInGet"] == core["maxObjectsInSet"] == settings.max_objects
    assert session["capabilities"]["urn:stalwart:jmap"] == {}
    assert session["primaryAccounts"] == {
        "urn:ietf:params:jmap:core": "dnsauto",
        "urn:stalwart:jmap": "dnsauto",
    }
    assert session["accounts"]["dnsauto"]["accountCapabilities"] == {"urn:stalwart:jmap": {}}
    assert session["username"] == "admin"
    assert session["apiUrl"] == f"http://{client.server.host}:{client.server.port}/api"
    answer = await (await post(client, request(("Core/echo", {})))).json()
    assert answer["sessionState"] == session["state"]
    assert ADMIN_TOKEN not in json.dumps(session)


async def test_the_session_resource_needs_a_key(api: Api) -> None:
    client, _, _ = api
    response = await client.get("/.well-known/jmap")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, True, False, None, 'q"\\\n\u0001é€😀' * 30], "": {}},
        ["x" * 100, {"k\u00e9": ["é" * 70]}],
    ],
)
def test_the_response_budget_counts_json_bytes_exactly(value: Any) -> None:
    expected = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    assert ResponseBudget(10**9).size(value) == expected


def test_the_response_budget_measures_shared_values_once() -> None:
    value: Any = {"pad": "x" * 100}
    for _ in range(200):  # 2**200 times the pad as JSON; measured in 200 steps
        value = {"a": value, "b": value}
    assert ResponseBudget(10**9).size(value) > 2**200
