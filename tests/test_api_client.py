"""``dnsauto get|create|update|delete|query``: the JMAP requests they send and what they print.

The first part runs the commands against a tiny aiohttp server in this file that records each
request and answers in the shapes of RFC 8620 and ``dnsauto/api/README.md``; the second part
(at the end) runs them against the real API of ``dnsauto.api``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsauto.api.client import CAPABILITIES, ApiError, api_url
from dnsauto.cli import cli
from dnsauto.cli.api import (
    flatten,
    object_type,
    parse_field,
    parse_fields,
)
from dnsauto.config.ids import is_id
from dnsauto.testing.servers._common import free_port
from tests.api_helpers import (
    ALL_PERMISSIONS,
    API_TOKEN_ENV,
    ApiDaemon,
    manual_config,
    start_api_daemon,
)
from tests.test_cli_startup import LAZY, imported_modules

TOKEN = "tok-5f0e9c1d2b7a4e3f8a6b"
SECRET = "c2VjcmV0LXRzaWcta2V5LXZhbHVl"
"""A TSIG secret sent in --field values: it must never be printed either."""

Handler = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]


# --- the fake server --------------------------------------------------------------------------


@dataclass
class FakeApi:
    """``POST /api`` on 127.0.0.1: records each request, answers each call with ``handler``."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    handler: Handler | None = None
    http_reply: web.Response | None = None
    """When set, the answer to every request (a problem details document, a 502 page)."""
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        self.requests.append(json.loads(await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.http_reply is not None:
            return self.http_reply
        responses = []
        for name, arguments, call_id in self.requests[-1]["methodCalls"]:
            assert self.handler is not None, name
            reply_name, reply = self.handler(name, arguments)
            responses.append([reply_name, reply, call_id])
        return web.json_response({"methodResponses": responses, "sessionState": "s1"})


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    fake = FakeApi()
    app = web.Application()
    app.router.add_post("/api", fake.handle)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def dnsauto(fake: FakeApi | str, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    """Run ``dnsauto ARGS`` with the URL and token from the environment."""
    env = {"DNSAUTO_URL": fake if isinstance(fake, str) else fake.url, "DNSAUTO_TOKEN": token}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def answer(name: str, arguments: dict[str, Any]) -> Handler:
    """A handler giving every call the same response."""
    return lambda _name, _arguments: (name, arguments)


def only_call(fake: FakeApi) -> list[Any]:
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request["using"] == list(CAPABILITIES)
    assert len(request["methodCalls"]) == 1
    call: list[Any] = request["methodCalls"][0]
    return call


# --- --field values ---------------------------------------------------------------------------


def test_field_values_are_json_when_they_parse_and_text_otherwise() -> None:
    assert parse_field("port=53") == ("port", 53)
    assert parse_field("generateDkimKeys=false") == ("generateDkimKeys", False)
    assert parse_field("memberTenantId=null") == ("memberTenantId", None)
    assert parse_field('key={"@type":"Value","secret":"abc"}') == (
        "key",
        {"@type": "Value", "secret": "abc"},
    )
    assert parse_field('publishRecords=["spf","mx"]') == ("publishRecords", ["spf", "mx"])
    assert parse_field("host=192.0.2.1") == ("host", "192.0.2.1")
    assert parse_field("serverHostname=mail.example.org") == ("serverHostname", "mail.example.org")
    assert parse_field("ttl=5m") == ("ttl", "5m")
    assert parse_field('description="42"') == ("description", "42")
    assert parse_field("description=a=b c") == ("description", "a=b c")
    assert parse_field("description=") == ("description", "")
    assert parse_field("dnsManagement/dnsServerId=bind") == ("dnsManagement/dnsServerId", "bind")


def test_a_field_without_a_name_or_equals_sign_is_refused_without_echoing_it() -> None:
    for text in (SECRET, f"={SECRET}"):
        with pytest.raises(ApiError) as caught:
            parse_field(text)
        assert SECRET not in caught.value.message
        assert "name=value" in caught.value.message


def test_a_property_given_twice_is_refused() -> None:
    with pytest.raises(ApiError, match="host given twice"):
        parse_fields(["host=a", "host=b"])


def test_object_types_are_canonical_and_variants_only_where_allowed() -> None:
    assert object_type("dnsserver") == ("DnsServer", None)
    assert object_type("DnsServer/Tsig", variant_allowed=True) == ("DnsServer", "Tsig")
    with pytest.raises(ApiError, match="only for create"):
        object_type("DnsServer/Tsig")
    with pytest.raises(ApiError, match="unknown object type 'Mailbox'"):
        object_type("Mailbox")


def test_the_api_path_is_added_to_a_server_url_once() -> None:
    assert api_url("http://127.0.0.1:8053") == "http://127.0.0.1:8053/api"
    assert api_url("http://127.0.0.1:8053/") == "http://127.0.0.1:8053/api"
    assert api_url("https://mail.example.org/api") == "https://mail.example.org/api"


def test_nested_objects_print_as_dotted_keys() -> None:
    document = {
        "dnsServer": {"@type": "Tsig", "key": {"@type": "Value", "secret": "********"}},
        "publishRecords": ["spf", "mx"],
        "generateDkimKeys": True,
        "memberTenantId": None,
        "empty": {},
        "objects": [{"a": 1}],
    }
    assert list(flatten(document)) == [
        ("dnsServer.@type", "Tsig"),
        ("dnsServer.key.@type", "Value"),
        ("dnsServer.key.secret", "********"),
        ("publishRecords", "spf, mx"),
        ("generateDkimKeys", "true"),
        ("memberTenantId", "null"),
        ("empty", "{}"),
        ("objects", '[{"a":1}]'),
    ]


def test_the_api_commands_load_aiohttp_only_when_they_run() -> None:
    for command in ("get", "create", "update", "delete", "query"):
        modules = imported_modules(command, "--help")
        assert not [m for m in modules if m.split(".")[0] in LAZY], command


# --- requests and output, against the fake server ---------------------------------------------

BOOTSTRAP = {
    "id": "singleton",
    "serverHostname": "mail.example.org",
    "defaultDomain": "example.org",
    "generateDkimKeys": True,
    "dnsServer": {
        "@type": "Tsig",
        "host": "192.0.2.1",
        "keyName": "dnsauto",
        "key": {"@type": "Value", "secret": "********"},
        "ttl": 300000,
    },
}


def test_get_bootstrap_sends_a_singleton_get_with_the_bearer_token(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:Bootstrap/get", {"list": [BOOTSTRAP], "notFound": []})
    status, out, err = dnsauto(fake_api, "get", "Bootstrap")
    assert (status, err) == (0, "")
    assert fake_api.requests == [
        {
            "using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"],
            "methodCalls": [["x:Bootstrap/get", {"ids": ["singleton"]}, "c1"]],
        }
    ]
    assert fake_api.headers[0]["Authorization"] == f"Bearer {TOKEN}"
    assert fake_api.headers[0]["Content-Type"] == "application/json"
    lines = out.splitlines()
    assert lines[0] == "Bootstrap"
    assert "  serverHostname:       mail.example.org" in lines
    assert "  dnsServer.key.secret: ********" in lines
    assert "  dnsServer.ttl:        300000" in lines


def test_get_json_prints_the_method_response_as_it_came(fake_api: FakeApi) -> None:
    reply = {"accountId": "a", "state": "1", "list": [BOOTSTRAP], "notFound": []}
    fake_api.handler = answer("x:Bootstrap/get", reply)
    status, out, _ = dnsauto(fake_api, "get", "bootstrap", "--json")
    assert status == 0
    assert json.loads(out) == reply


def test_get_of_named_objects_asks_for_those_ids(fake_api: FakeApi) -> None:
    fake_api.handler = answer(
        "x:DnsServer/get",
        {"list": [{"id": "bind", "@type": "Tsig"}, {"id": "other", "@type": "Manual"}]},
    )
    status, out, _ = dnsauto(fake_api, "get", "DnsServer", "bind", "other")
    assert status == 0
    assert only_call(fake_api) == ["x:DnsServer/get", {"ids": ["bind", "other"]}, "c1"]
    assert out.splitlines() == [
        "DnsServer bind",
        "  @type: Tsig",
        "",
        "DnsServer other",
        "  @type: Manual",
    ]


def test_get_without_ids_asks_for_every_object(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:Domain/get", {"list": [], "notFound": []})
    status, _, err = dnsauto(fake_api, "get", "Domain")
    assert status == 0
    assert only_call(fake_api) == ["x:Domain/get", {"ids": None}, "c1"]
    assert err == "no Domain objects\n"


def with_domains(ids: dict[str, str], then: Handler) -> Handler:
    """Answers ``x:Domain/query`` by the exact name filter from ``ids`` (name -> id)."""

    def handle(name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if name == "x:Domain/query":
            wanted = arguments["filter"]["name"]
            return name, {"ids": [ids[wanted]] if wanted in ids else []}
        return then(name, arguments)

    return handle


def last_call(fake: FakeApi, requests: int = 2) -> list[Any]:
    """The call of the last request, after the ones that looked the Domain names up."""
    assert len(fake.requests) == requests
    (call,) = fake.requests[-1]["methodCalls"]
    return list(call)


def test_get_of_a_missing_object_exits_1_naming_it(fake_api: FakeApi) -> None:
    fake_api.handler = with_domains(
        {}, answer("x:Domain/get", {"list": [], "notFound": ["k2f9sdd"]})
    )
    status, _, err = dnsauto(fake_api, "get", "Domain", "k2f9sdd")
    assert status == 1
    assert err == "error: Domain k2f9sdd: not found\n"
    status, _, err = dnsauto(fake_api, "get", "Domain", "nope.example")
    assert status == 1
    assert err == "error: no Domain named 'nope.example'\n"
    assert len(fake_api.requests) == 3  # a name no Domain has is never sent as an id


def test_a_domain_name_is_looked_up_and_its_id_sent(fake_api: FakeApi) -> None:
    by_name = {"example.org": "d1", "other.org": "d2"}
    fake_api.handler = with_domains(
        by_name,
        answer(
            "x:Domain/get",
            {"list": [{"id": "d1", "name": "example.org"}], "notFound": ["d2"]},
        ),
    )
    status, out, err = dnsauto(fake_api, "get", "Domain", "example.org", "other.org", "d3x")
    assert status == 1
    lookups = fake_api.requests[0]["methodCalls"]
    assert [c[:2] for c in lookups] == [
        ["x:Domain/query", {"filter": {"name": name}}]
        for name in ("example.org", "other.org", "d3x")
    ]
    assert last_call(fake_api) == ["x:Domain/get", {"ids": ["d1", "d2", "d3x"]}, "c1"]
    assert out.splitlines()[0] == "Domain example.org (id d1)"
    assert err == "error: Domain other.org (id d2): not found\n"

    fake_api.requests.clear()
    fake_api.handler = with_domains(by_name, answer("x:Domain/set", {"updated": {"d2": None}}))
    status, out, _ = dnsauto(fake_api, "update", "Domain", "other.org", "-f", "isEnabled=false")
    assert (status, out) == (0, "updated Domain other.org (id d2)\n")
    assert last_call(fake_api) == [
        "x:Domain/set",
        {"update": {"d2": {"isEnabled": False}}},
        "c1",
    ]

    fake_api.requests.clear()
    fake_api.handler = with_domains(by_name, answer("x:Domain/set", {"destroyed": ["d1", "d2"]}))
    status, out, _ = dnsauto(fake_api, "delete", "Domain", "--ids", "example.org,d2")
    assert status == 0
    assert out == "deleted Domain example.org (id d1)\ndeleted Domain d2\n"
    assert last_call(fake_api) == ["x:Domain/set", {"destroy": ["d1", "d2"]}, "c1"]


def test_create_with_a_variant_sets_the_type_and_sends_every_field(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:DnsServer/set", {"created": {"new1": {"id": "d3"}}})
    status, out, err = dnsauto(
        fake_api,
        "create",
        "DnsServer/Tsig",
        "--field",
        "host=192.0.2.1",
        "--field",
        "port=5353",
        "--field",
        "keyName=dnsauto",
        "--field",
        f'key={{"@type":"Value","secret":"{SECRET}"}}',
        "--field",
        "description=Example",
        "--field",
        "ttl=5m",
    )
    assert (status, err) == (0, "")
    assert only_call(fake_api) == [
        "x:DnsServer/set",
        {
            "create": {
                "new1": {
                    "@type": "Tsig",
                    "host": "192.0.2.1",
                    "port": 5353,
                    "keyName": "dnsauto",
                    "key": {"@type": "Value", "secret": SECRET},
                    "description": "Example",
                    "ttl": "5m",
                }
            }
        },
        "c1",
    ]
    assert out == "created DnsServer d3\n"
    assert SECRET not in out + err


def test_create_domain_sends_the_fields_as_given(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:Domain/set", {"created": {"new1": {"id": "k7q2"}}, "runId": "r7"})
    dns = '{"@type":"Automatic","dnsServerId":"d3","publishRecords":["spf","mx"]}'
    status, out, _ = dnsauto(
        fake_api,
        "create",
        "Domain",
        "--field",
        "name=example.org",
        "--field",
        f"dnsManagement={dns}",
    )
    assert status == 0
    assert only_call(fake_api) == [
        "x:Domain/set",
        {"create": {"new1": {"name": "example.org", "dnsManagement": json.loads(dns)}}},
        "c1",
    ]
    assert out == "created Domain example.org (id k7q2) (run r7)\n"


def test_update_bootstrap_patches_the_singleton_and_shows_the_run(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:Bootstrap/set", {"updated": {"singleton": None}, "runId": "r1"})
    status, out, _ = dnsauto(
        fake_api, "update", "Bootstrap", "--field", "serverHostname=mail.example.org"
    )
    assert status == 0
    assert only_call(fake_api) == [
        "x:Bootstrap/set",
        {"update": {"singleton": {"serverHostname": "mail.example.org"}}},
        "c1",
    ]
    assert out == "updated Bootstrap (run r1)\n"


def test_approve_sends_a_domain_approve_and_shows_the_plan_and_run(fake_api: FakeApi) -> None:
    fake_api.handler = with_domains(
        {"example.org": "d1"},
        answer("x:Domain/approve", {"id": "d1", "planId": "p1", "runId": "r2"}),
    )
    status, out, _ = dnsauto(fake_api, "approve", "--domain", "example.org", "--plan", "p1")
    assert status == 0
    assert last_call(fake_api) == [
        "x:Domain/approve",
        {"id": "d1", "planId": "p1"},
        "c1",
    ]
    assert out == "approved plan p1 of example.org (run r2)\n"


def test_update_of_a_dnsserver_sends_a_patch_of_that_id(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:DnsServer/set", {"updated": {"bind": None}})
    status, out, _ = dnsauto(
        fake_api, "update", "DnsServer", "bind", "--field", "keyName=updated value", "-f", "port=53"
    )
    assert status == 0
    assert only_call(fake_api) == [
        "x:DnsServer/set",
        {"update": {"bind": {"keyName": "updated value", "port": 53}}},
        "c1",
    ]
    assert out == "updated DnsServer bind\n"


def test_query_sends_the_where_conditions_as_the_filter_and_prints_ids(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:DnsServer/query", {"ids": ["a", "b"], "total": 2})
    status, out, _ = dnsauto(fake_api, "query", "DnsServer", "--where", "memberTenantId=t1")
    assert status == 0
    assert only_call(fake_api) == ["x:DnsServer/query", {"filter": {"memberTenantId": "t1"}}, "c1"]
    assert out == "a\nb\n"


def test_query_without_conditions_sends_no_filter(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:Domain/query", {"ids": []})
    status, out, _ = dnsauto(fake_api, "query", "Domain")
    assert (status, out) == (0, "")
    assert only_call(fake_api) == ["x:Domain/query", {}, "c1"]


def test_delete_destroys_every_id_given(fake_api: FakeApi) -> None:
    fake_api.handler = answer("x:DnsServer/set", {"destroyed": ["a", "b", "c"]})
    status, out, _ = dnsauto(fake_api, "delete", "DnsServer", "--ids", "a,b", "--ids", "c")
    assert status == 0
    assert only_call(fake_api) == ["x:DnsServer/set", {"destroy": ["a", "b", "c"]}, "c1"]
    assert out == "deleted DnsServer a\ndeleted DnsServer b\ndeleted DnsServer c\n"


def test_set_errors_are_one_line_each_naming_the_object_and_properties(fake_api: FakeApi) -> None:
    fake_api.handler = answer(
        "x:DnsServer/set",
        {
            "notCreated": {
                "new1": {
                    "type": "invalidProperties",
                    "description": "host: not an IP address; key: required",
                    "properties": ["host", "key"],
                }
            }
        },
    )
    status, out, err = dnsauto(
        fake_api, "create", "DnsServer/Tsig", "--field", "host=ns1", "-f", f"keyName={SECRET}"
    )
    assert status == 1
    assert out == ""
    assert err == (
        "error: DnsServer/Tsig not created: invalidProperties: host: not an IP address; "
        "key: required (properties: host, key)\n"
    )


def test_a_domain_not_created_is_named_by_its_name(fake_api: FakeApi) -> None:
    fake_api.handler = answer(
        "x:Domain/set",
        {"notCreated": {"new1": {"type": "alreadyExists", "existingId": "example.org"}}},
    )
    status, _, err = dnsauto(fake_api, "create", "Domain", "--field", "name=example.org")
    assert status == 1
    assert err == "error: Domain example.org not created: alreadyExists\n"


def test_refused_updates_and_deletes_name_each_object(fake_api: FakeApi) -> None:
    fake_api.handler = answer(
        "x:DnsServer/set",
        {
            "destroyed": ["a"],
            "notDestroyed": {
                "b": {"type": "notFound"},
                "c": {"type": "forbidden", "description": "in use by Domain example.org"},
            },
        },
    )
    status, out, err = dnsauto(fake_api, "delete", "DnsServer", "--ids", "a,b,c")
    assert status == 1
    assert out == "deleted DnsServer a\n"
    assert err.splitlines() == [
        "error: DnsServer b not deleted: notFound",
        "error: DnsServer c not deleted: forbidden: in use by Domain example.org",
    ]


def test_set_errors_with_json_print_the_response_and_the_error_lines(fake_api: FakeApi) -> None:
    reply = {"notUpdated": {"singleton": {"type": "invalidProperties", "properties": ["x"]}}}
    fake_api.handler = answer("x:Bootstrap/set", reply)
    status, out, err = dnsauto(fake_api, "update", "Bootstrap", "-f", "x=1", "--json")
    assert status == 1
    assert json.loads(out) == reply
    assert err == "error: Bootstrap not updated: invalidProperties (properties: x)\n"


def test_a_method_error_is_one_line_naming_the_method(fake_api: FakeApi) -> None:
    fake_api.handler = answer(
        "error", {"type": "forbidden", "description": "the key lacks sysDnsServerDestroy"}
    )
    status, out, err = dnsauto(fake_api, "delete", "DnsServer", "--ids", "a")
    assert (status, out) == (1, "")
    assert err == "error: x:DnsServer/set: forbidden: the key lacks sysDnsServerDestroy\n"


def test_request_level_problem_details_are_one_line(fake_api: FakeApi) -> None:
    fake_api.http_reply = web.json_response(
        {
            "type": "urn:ietf:params:jmap:error:limit",
            "status": 400,
            "limit": "maxSizeRequest",
            "detail": "The request is larger than the server accepts.",
        },
        status=400,
        content_type="application/problem+json",
    )
    status, _, err = dnsauto(fake_api, "get", "Bootstrap")
    assert status == 1
    assert err == (
        f"error: {fake_api.url}/api: HTTP 400 Bad Request: limit: The request is larger than "
        "the server accepts. (limit maxSizeRequest)\n"
    )


def test_a_missing_token_is_a_401_saying_how_to_give_one(fake_api: FakeApi) -> None:
    fake_api.http_reply = web.json_response(
        {"type": "about:blank", "status": 401, "detail": "no API key"}, status=401
    )
    status, _, err = dnsauto(fake_api, "get", "Bootstrap", token=None)
    assert status == 1
    assert "Authorization" not in fake_api.headers[0]
    assert err == (
        f"error: {fake_api.url}/api: HTTP 401 Unauthorized: no API key; give an API key with "
        "--api-key or DNSAUTO_TOKEN\n"
    )


def test_a_refused_token_is_never_echoed(fake_api: FakeApi) -> None:
    fake_api.http_reply = web.json_response({"status": 401, "detail": "unknown key"}, status=401)
    status, out, err = dnsauto(fake_api, "get", "Bootstrap", "--api-key", TOKEN, token="other")
    assert status == 1
    assert fake_api.headers[0]["Authorization"] == f"Bearer {TOKEN}"
    assert "the API key was refused" in err
    assert TOKEN not in out + err


def test_a_non_json_answer_is_reported_without_a_traceback(fake_api: FakeApi) -> None:
    fake_api.http_reply = web.Response(status=502, text="<html>bad gateway</html>")
    status, out, err = dnsauto(fake_api, "get", "Bootstrap")
    assert (status, out) == (1, "")
    assert err == f"error: {fake_api.url}/api: HTTP 502 Bad Gateway\n"

    fake_api.http_reply = web.Response(status=200, text="hello", content_type="text/plain")
    status, _, err = dnsauto(fake_api, "get", "Bootstrap")
    assert status == 1
    assert err.endswith("HTTP 200 OK: the answer is not a JMAP response (text/plain)\n")


def test_an_answer_without_the_calls_response_is_reported(fake_api: FakeApi) -> None:
    fake_api.http_reply = web.json_response({"methodResponses": []})
    status, _, err = dnsauto(fake_api, "get", "Bootstrap")
    assert status == 1
    assert err == "error: the server's answer has no response to x:Bootstrap/get\n"


def test_a_slow_server_is_a_timeout_naming_the_url(fake_api: FakeApi) -> None:
    fake_api.delay = 1.0
    fake_api.handler = answer("x:Bootstrap/get", {"list": []})
    status, _, err = dnsauto(fake_api, "get", "Bootstrap", "--timeout", "0.2")
    assert status == 1
    assert err == f"error: no answer from {fake_api.url}/api within 0.2s\n"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
SET_KEYS = ("created", "updated", "destroyed", "notCreated", "notUpdated", "notDestroyed")
REPLY_KEYS = ("list", "notFound", "ids", "runId", "type", "description", "properties", *SET_KEYS)
REPLIES = st.fixed_dictionaries({}, optional=dict.fromkeys(REPLY_KEYS, JSON)) | st.dictionaries(
    st.text(max_size=8), JSON, max_size=4
)
COMMANDS = (
    ("get", "Bootstrap"),
    ("get", "DnsServer", "a"),
    ("create", "DnsServer/Tsig", "-f", "host=127.0.0.1"),
    ("update", "Domain", "example.test", "-f", "reportAddressUri=null"),
    ("delete", "Domain", "--ids", "a,b"),
    ("query", "DnsServer"),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    command=st.sampled_from(COMMANDS),
    method_error=st.booleans(),
    reply=REPLIES,
    as_json=st.booleans(),
)
def test_any_answer_of_the_server_is_printed_or_reported_never_a_traceback(
    fake_api: FakeApi,
    command: tuple[str, ...],
    method_error: bool,
    reply: dict[str, Any],
    as_json: bool,
) -> None:
    fake_api.handler = lambda name, _arguments: ("error" if method_error else name, reply)
    args = (*command, "--json") if as_json else command
    status, _, err = dnsauto(fake_api, *args)
    assert status in (0, 1)
    for line in err.splitlines():
        assert line.startswith(("error: ", "no ")), line
    if as_json and status == 0:
        assert not err.strip() or err.startswith("no ")


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    status, out, err = dnsauto(url, "get", "Bootstrap")
    assert (status, out) == (1, "")
    assert err.startswith(f"error: cannot connect to the dnsauto API at {url}/api: ")
    assert "connection refused" in err
    assert "Traceback" not in err


def test_a_url_that_is_not_one_is_reported() -> None:
    status, _, err = dnsauto("not a url", "get", "Bootstrap")
    assert status == 1
    assert err == "error: 'not a url' is not a URL (expected e.g. http://127.0.0.1:8053)\n"


def test_a_password_in_the_url_is_refused_and_left_out_of_the_message(fake_api: FakeApi) -> None:
    url = fake_api.url.replace("http://", f"http://admin:{SECRET}@")
    status, _, err = dnsauto(url, "get", "Bootstrap")
    assert status == 1
    assert err == (
        f"error: {fake_api.url}/api: give the API key with --api-key or DNSAUTO_TOKEN, "
        "not in the URL\n"
    )
    assert fake_api.requests == []


def test_too_many_failed_attempts_say_when_to_retry(fake_api: FakeApi) -> None:
    fake_api.http_reply = web.json_response(
        {"type": "about:blank", "status": 429, "detail": "too many failed authentications"},
        status=429,
        headers={"Retry-After": "42"},
    )
    status, _, err = dnsauto(fake_api, "get", "Bootstrap")
    assert status == 1
    assert err == (
        f"error: {fake_api.url}/api: HTTP 429 Too Many Requests: too many failed "
        "authentications (retry after 42s)\n"
    )


def test_usage_mistakes_are_one_line_and_send_nothing(fake_api: FakeApi) -> None:
    for args, message in (
        (("update", "DnsServer", "-f", "a=1"), "name the DnsServer to update"),
        (("update", "Bootstrap", "other", "-f", "a=1"), "Bootstrap is a singleton"),
        (("update", "Bootstrap"), "nothing to change"),
        (("create", "Bootstrap", "-f", "a=1"), "cannot be created"),
        (("create", "DnsServer/Tsig", "-f", "@type=Manual"), "disagree"),
        (("delete", "DnsServer"), "--ids"),
        (("get", "DnsServer/Tsig"), "only for create"),
        (("query", "Bootstrap"), "singleton"),
    ):
        status, _, err = dnsauto(fake_api, *args)
        assert status == 1, args
        assert err.startswith("error: "), (args, err)
        assert message in err, (args, err)
        assert len(err.splitlines()) == 1
    assert fake_api.requests == []


def test_a_token_that_cannot_be_a_header_is_refused_without_echoing_it(fake_api: FakeApi) -> None:
    status, _, err = dnsauto(fake_api, "get", "Bootstrap", token=f"{TOKEN}\nX-Evil: 1")
    assert status == 1
    assert "characters an HTTP header cannot carry" in err
    assert TOKEN not in err
    assert fake_api.requests == []


def test_neither_the_token_nor_a_sent_secret_is_ever_printed(fake_api: FakeApi) -> None:
    outputs = []
    fake_api.handler = lambda name, _arguments: (
        ("error", {"type": "serverFail"})
        if name.endswith("/query")
        else (name, {"notCreated": {"new1": {"type": "invalidProperties", "properties": ["key"]}}})
    )
    key = f'key={{"@type":"Value","secret":"{SECRET}"}}'
    for args in (
        ("create", "DnsServer/Tsig", "-f", key),
        ("create", "DnsServer/Tsig", "-f", key, "--json"),
        ("query", "DnsServer"),
        ("update", "DnsServer", "x", "-f", key),
        ("update", "DnsServer", "x", "-f", SECRET),
        ("get", "Bootstrap", "--url", "http://127.0.0.1:1"),
    ):
        _, out, err = dnsauto(fake_api, *args)
        outputs.append(out + err)
    everything = "\n".join(outputs)
    assert "error:" in everything
    assert TOKEN not in everything
    assert SECRET not in everything


# --- against the real API: `dnsauto run` serving dnsauto.api ----------------------------------

LIMITED_ENV = "DNSAUTO_TEST_LIMITED_TOKEN"
LIMITED_TOKEN = "limited-2c9d41e7a0b35f68"


@pytest.fixture(scope="module")
def real_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiDaemon]:
    """``dnsauto run`` with a Manual bootstrap of example.test, an admin key and a key that
    may only read the Bootstrap."""
    directory = tmp_path_factory.mktemp("real-api")
    port = free_port()
    keys = (
        ("admin", API_TOKEN_ENV, ALL_PERMISSIONS),
        ("reader", LIMITED_ENV, ("sysBootstrapGet",)),
    )
    config = manual_config(directory / "state", port, keys=keys)
    with start_api_daemon(
        directory, config=config, port=port, env={LIMITED_ENV: LIMITED_TOKEN}
    ) as daemon:
        yield daemon


def admin(api: ApiDaemon, *args: str) -> tuple[int, str, str]:
    return dnsauto(api.url, *args, token=api.token)


def shown(out: str) -> dict[str, str]:
    """The ``key: value`` lines ``dnsauto get`` prints for one object."""
    pairs = (line.split(":", 1) for line in out.splitlines()[1:] if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_real_api_shows_the_configured_bootstrap(real_api: ApiDaemon) -> None:
    status, out, err = admin(real_api, "get", "Bootstrap")
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == "Bootstrap"
    properties = shown(out)
    assert properties["serverHostname"] == "mail.example.test"
    assert properties["defaultDomain"] == "example.test"
    assert properties["dnsServer.@type"] == "Manual"

    status, out, _ = admin(real_api, "get", "Bootstrap", "--json")
    assert status == 0
    document = json.loads(out)
    assert document["list"][0]["id"] == "singleton"
    assert document["notFound"] == []


def test_real_api_creates_shows_changes_lists_and_deletes_a_dns_server(
    real_api: ApiDaemon,
) -> None:
    status, out, err = admin(
        real_api,
        "create",
        "DnsServer/Tsig",
        "--field",
        "description=lifecycle",
        "--field",
        "host=127.0.0.1",
        "--field",
        f"port={free_port()}",
        "--field",
        "keyName=dnsauto",
        "--field",
        f'key={{"@type":"Value","secret":"{SECRET}"}}',
        "--field",
        "tsigAlgorithm=hmac-sha256",
        "--field",
        "ttl=5m",
        "--field",
        "memberTenantId=tenant-7",
    )
    assert (status, err) == (0, "")
    assert out.startswith("created DnsServer ds-")
    server_id = out.split()[2]

    status, out, _ = admin(real_api, "get", "DnsServer", server_id)
    assert status == 0
    assert out.splitlines()[0] == f"DnsServer {server_id}"
    properties = shown(out)
    assert properties["@type"] == "Tsig"
    assert properties["key.secret"] == "********"
    assert properties["ttl"] == "300000"

    status, out, _ = admin(real_api, "query", "DnsServer", "--where", "memberTenantId=tenant-7")
    assert (status, out) == (0, f"{server_id}\n")

    status, out, _ = admin(real_api, "update", "DnsServer", server_id, "--field", "ttl=1h")
    assert status == 0
    assert out.startswith(f"updated DnsServer {server_id}")
    assert shown(admin(real_api, "get", "DnsServer", server_id)[1])["ttl"] == "3600000"

    status, out, _ = admin(real_api, "delete", "DnsServer", "--ids", server_id)
    assert (status, out) == (0, f"deleted DnsServer {server_id}\n")
    status, out, err = admin(real_api, "get", "DnsServer", server_id)
    assert (status, out) == (1, "")
    assert err == f"error: DnsServer {server_id}: not found\n"


def test_real_api_names_the_invalid_properties_in_one_line(real_api: ApiDaemon) -> None:
    status, out, err = admin(
        real_api,
        "create",
        "DnsServer/Tsig",
        "--field",
        "description=broken",
        "--field",
        "host=not-an-address",
        "--field",
        f'key={{"@type":"Value","secret":"{SECRET}"}}',
        "--field",
        "keyName=k",
    )
    assert (status, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert err.startswith("error: DnsServer/Tsig not created: validationFailed")
    assert "host" in err.split("(properties:")[1]
    assert SECRET not in err


def test_real_api_creates_lists_and_deletes_a_domain_by_name(real_api: ApiDaemon) -> None:
    status, out, err = admin(real_api, "create", "Domain", "--field", "name=other.test")
    assert (status, err) == (0, "")
    assert out.startswith("created Domain other.test (id ")
    other = out.split("(id ", 1)[1].split(")", 1)[0]
    assert is_id(other)
    assert "other" not in other

    status, out, _ = admin(real_api, "query", "Domain")
    assert status == 0
    ids = out.split()
    assert other in ids
    assert len(ids) == 2
    status, out, _ = admin(real_api, "query", "Domain", "--where", "name=Other.Test")
    assert (status, out) == (0, f"{other}\n")

    for asked in ("other.test", other):  # by name or by id
        status, out, _ = admin(real_api, "get", "Domain", asked)
        assert status == 0
        assert out.splitlines()[0] == f"Domain other.test (id {other})"
        assert shown(out)["name"] == "other.test"
        assert shown(out)["dnsManagement.@type"] == "Manual"

    status, out, _ = admin(real_api, "update", "Domain", other, "-f", "description=by id")
    assert (status, out.split(" (run")[0]) == (0, f"updated Domain {other}")

    status, _, err = admin(real_api, "delete", "Domain", "--ids", "example.test")
    assert status == 1
    assert err.startswith("error: Domain example.test (id ")
    assert "not deleted: objectIsLinked" in err

    status, out, _ = admin(real_api, "delete", "Domain", "--ids", "other.test")
    assert status == 0
    assert out.startswith(f"deleted Domain other.test (id {other})")
    status, _, err = admin(real_api, "get", "Domain", "other.test")
    assert (status, err) == (1, "error: no Domain named 'other.test'\n")


def test_real_api_bootstrap_update_starts_a_run_the_task_reports(real_api: ApiDaemon) -> None:
    status, out, err = admin(
        real_api, "update", "Bootstrap", "--field", "serverHostname=mx.example.test"
    )
    assert (status, err) == (0, "")
    assert out.startswith("updated Bootstrap (run ")
    run_id = out.rstrip().removesuffix(")").rsplit(" ", 1)[1]
    assert shown(admin(real_api, "get", "Bootstrap")[1])["serverHostname"] == "mx.example.test"

    status, out, _ = admin(real_api, "get", "Task", run_id, "--json")
    assert status == 0
    (task,) = json.loads(out)["list"]
    assert task["id"] == run_id
    assert task["runStatus"] in ("waiting", "running", "succeeded", "failed")
    assert "example.test" in task["domains"]

    status, _, _ = admin(
        real_api, "update", "Bootstrap", "--field", "serverHostname=mail.example.test"
    )
    assert status == 0


def test_real_api_refuses_a_method_the_key_may_not_use(real_api: ApiDaemon) -> None:
    status, out, _ = dnsauto(real_api.url, "get", "Bootstrap", token=LIMITED_TOKEN)
    assert status == 0
    assert out.startswith("Bootstrap\n")
    status, out, err = dnsauto(real_api.url, "query", "DnsServer", token=LIMITED_TOKEN)
    assert (status, out) == (1, "")
    assert err.startswith("error: x:DnsServer/query: forbidden")
    assert len(err.splitlines()) == 1


def test_real_api_refuses_a_wrong_or_missing_key_without_echoing_it(real_api: ApiDaemon) -> None:
    wrong = "wrong-9a8b7c6d5e4f"
    status, out, err = dnsauto(real_api.url, "get", "Bootstrap", token=wrong)
    assert (status, out) == (1, "")
    assert "HTTP 401" in err
    assert "the API key was refused" in err
    assert wrong not in err
    status, _, err = dnsauto(real_api.url, "get", "Bootstrap", token=None)
    assert status == 1
    assert "give an API key with --api-key or DNSAUTO_TOKEN" in err


def test_real_api_never_prints_or_logs_the_secrets(real_api: ApiDaemon) -> None:
    outputs = []
    for args in (
        ("get", "Bootstrap", "--json"),
        ("get", "DnsServer"),
        ("get", "DnsServer", "--json"),
        ("query", "DnsServer", "--json"),
    ):
        _, out, err = admin(real_api, *args)
        outputs.append(out + err)
    everything = "\n".join([*outputs, real_api.daemon.log()])
    for secret in (SECRET, real_api.token, LIMITED_TOKEN):
        assert secret not in everything
