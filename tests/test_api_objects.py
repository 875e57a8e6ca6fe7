"""The API's objects (Bootstrap, DnsServer, Domain): get, set and query with Stalwart's
semantics, validation by the configuration's models, secrets redacted, durations in ms."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dnsauto.api.server import ApiServer
from dnsauto.api.tasks import TaskTracker
from dnsauto.config.ids import domain_id, is_id
from dnsauto.config.overlay import FOREIGN_SECRET
from dnsauto.plugin.types import REDACTED
from dnsauto.sync.engine import DomainResult
from tests.api_server_helpers import (
    ADMIN_TOKEN,
    READER_TOKEN,
    TSIG_SECRET,
    FakeHost,
    api_client,
    call,
    post,
    request,
    write_config,
)

Api = tuple[TestClient[Any, Any], ApiServer, FakeHost]
EXAMPLE = domain_id("example.test")
OTHER = domain_id("other.test")
NEW_SECRET = "bmV3LXNlY3JldC1zZW50LW92ZXItdGhlLWFwaQ=="

TSIG = {
    "@type": "Tsig",
    "description": "created over the API",
    "host": "192.0.2.9",
    "keyName": "api-key",
    "key": {"@type": "Value", "secret": NEW_SECRET},
    "memberTenantId": "tenant-1",
}


@pytest.fixture
async def api(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Api]:
    caplog.set_level(logging.DEBUG)
    async with api_client(write_config(tmp_path)) as running:
        yield running
    for secret in (TSIG_SECRET, NEW_SECRET, ADMIN_TOKEN, READER_TOKEN):
        assert secret not in caplog.text


async def ok(client: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    answer, result = await call(client, name, arguments)
    assert answer == name, result
    text = json.dumps(result)
    assert TSIG_SECRET not in text
    assert NEW_SECRET not in text
    return result


# --- Bootstrap ----------------------------------------------------------------------------------


async def test_bootstrap_get_returns_the_singleton_for_null_or_its_id(api: Api) -> None:
    client, _, _ = api
    for ids in (None, ["singleton"]):
        result = await ok(client, "x:Bootstrap/get", {"ids": ids})
        (bootstrap,) = result["list"]
        assert bootstrap["id"] == "singleton"
        assert bootstrap["serverHostname"] == "mail.example.test"
        assert bootstrap["dnsServer"] == {"@type": "Manual"}  # as Stalwart writes it
        assert result["notFound"] == []
        assert result["accountId"] == "dnsauto"
        assert result["state"]
    result = await ok(client, "x:Bootstrap/get", {"ids": ["other"]})
    assert (result["list"], result["notFound"]) == ([], ["other"])


async def test_get_returns_only_the_properties_asked_for_and_the_id(api: Api) -> None:
    client, _, _ = api
    result = await ok(client, "x:Bootstrap/get", {"properties": ["defaultDomain"]})
    assert result["list"] == [{"id": "singleton", "defaultDomain": "example.test"}]


async def test_bootstrap_update_changes_it_and_asks_for_a_run_with_its_id(api: Api) -> None:
    client, _, host = api
    before = await ok(client, "x:Bootstrap/get", {})
    result = await ok(
        client,
        "x:Bootstrap/set",
        {"update": {"singleton": {"serverHostname": "mx.example.test"}}},
    )
    assert result["updated"] == {"singleton": None}
    assert result["oldState"] == before["state"]
    assert result["newState"] != result["oldState"]
    assert result["runId"]
    assert host.config.bootstrap.server_hostname == "mx.example.test"
    assert host.waiting()["example.test"] == result["runId"]
    after = await ok(client, "x:Bootstrap/get", {})
    assert after["list"][0]["serverHostname"] == "mx.example.test"
    assert after["state"] == result["newState"]


async def test_bootstrap_update_that_changes_nothing_still_runs_the_default_domain(
    api: Api,
) -> None:
    client, _, host = api
    result = await ok(
        client,
        "x:Bootstrap/set",
        {"update": {"singleton": {"serverHostname": "mail.example.test"}}},
    )
    assert result["runId"]
    assert host.triggered == [(["example.test"], "api: x:Bootstrap/set by admin")]


async def test_bootstrap_create_is_forbidden_and_destroy_is_singleton(api: Api) -> None:
    client, _, host = api
    result = await ok(
        client,
        "x:Bootstrap/set",
        {"create": {"b": {"serverHostname": "x.test"}}, "destroy": ["singleton"]},
    )
    assert result["notCreated"]["b"]["type"] == "forbidden"
    assert result["notDestroyed"]["singleton"]["type"] == "singleton"  # Stalwart's
    assert result["created"] is None
    assert result["destroyed"] is None
    assert host.replaced == []


async def test_bootstrap_update_of_another_id_is_not_found(api: Api) -> None:
    client, _, _ = api
    result = await ok(client, "x:Bootstrap/set", {"update": {"other": {"serverHostname": "x"}}})
    assert result["notUpdated"]["other"]["type"] == "notFound"


async def test_an_invalid_property_is_invalid_properties_naming_it(api: Api) -> None:
    client, _, host = api
    result = await ok(
        client,
        "x:Bootstrap/set",
        {"update": {"singleton": {"serverHostname": "not a host!", "generateDkimKeys": "often"}}},
    )
    error = result["notUpdated"]["singleton"]
    assert error["type"] == "validationFailed"
    assert sorted(error["properties"]) == ["generateDkimKeys", "serverHostname"]
    invalid = sorted(e["property"] for e in error["validationErrors"] if e["type"] == "Invalid")
    assert invalid == ["generateDkimKeys", "serverHostname"]
    assert host.replaced == []


async def test_an_unknown_property_is_invalid_properties(api: Api) -> None:
    client, _, _ = api
    result = await ok(client, "x:Bootstrap/set", {"update": {"singleton": {"colour": "blue"}}})
    error = result["notUpdated"]["singleton"]
    assert (error["type"], error["properties"]) == ("invalidProperties", ["colour"])


async def test_a_patch_path_sets_one_nested_property(api: Api) -> None:
    client, _, host = api
    server = {
        "@type": "Tsig",
        "description": "bootstrap server",
        "host": "192.0.2.1",
        "keyName": "k",
        "key": {"@type": "Value", "secret": NEW_SECRET},
    }
    await ok(client, "x:Bootstrap/set", {"update": {"singleton": {"dnsServer": server}}})
    result = await ok(
        client,
        "x:Bootstrap/set",
        {"update": {"singleton": {"dnsServer/description": "moved", "dnsServer/ttl": "1h"}}},
    )
    assert result["updated"] == {"singleton": None}
    shown = (await ok(client, "x:Bootstrap/get", {}))["list"][0]["dnsServer"]
    assert shown["description"] == "moved"
    assert shown["ttl"] == 3_600_000
    assert shown["key"] == {"@type": "Value", "secret": REDACTED}
    assert host.config.bootstrap.dns_server.key.resolve() == NEW_SECRET  # type: ignore[attr-defined]


async def test_a_patch_through_a_missing_object_or_with_overlapping_paths_is_invalid_patch(
    api: Api,
) -> None:
    client, _, _ = api
    for patch in (
        {"dnsServer/key/secret": "x"},  # the Manual server has no key
        {"dnsServer": {"@type": "Manual"}, "dnsServer/ttl": 5000},
    ):
        result = await ok(client, "x:Bootstrap/set", {"update": {"singleton": patch}})
        assert result["notUpdated"]["singleton"]["type"] == "invalidPatch", patch


async def test_if_in_state_other_than_the_current_is_state_mismatch(api: Api) -> None:
    client, _, host = api
    state = (await ok(client, "x:Bootstrap/get", {}))["state"]
    patch = {"singleton": {"generateDkimKeys": False}}
    _, error = await call(client, "x:Bootstrap/set", {"ifInState": "stale", "update": patch})
    assert error["type"] == "stateMismatch"
    assert host.replaced == []
    result = await ok(client, "x:Bootstrap/set", {"ifInState": state, "update": patch})
    assert result["updated"] == {"singleton": None}


# --- DnsServer ----------------------------------------------------------------------------------


async def test_dns_server_get_redacts_the_secret_and_shows_durations_in_ms(api: Api) -> None:
    client, _, _ = api
    (server,) = (await ok(client, "x:DnsServer/get", {"ids": None}))["list"]
    assert server["id"] == "primary"
    assert server["key"] == {"@type": "Value", "secret": REDACTED}
    assert server["ttl"] == 300_000
    assert server["propagationTimeout"] == 60_000


async def test_dns_server_create_gets_a_server_chosen_id_and_reports_defaults(api: Api) -> None:
    client, _, host = api
    result = await ok(client, "x:DnsServer/set", {"create": {"new1": TSIG}})
    created = result["created"]["new1"]
    assert created["id"].startswith("ds-")
    assert created["port"] == 53  # a default the client did not send
    assert "host" not in created
    assert created["id"] in host.config.dns_server
    assert "runId" not in result  # no domain uses it yet
    shown = (await ok(client, "x:DnsServer/get", {"ids": [created["id"]]}))["list"][0]
    assert shown["key"]["secret"] == REDACTED


async def test_dns_server_create_of_a_bad_object_names_the_properties(api: Api) -> None:
    client, _, _ = api
    broken = {**TSIG, "host": "ns.example.test", "port": 70000, "tsigAlgorithm": "rot13"}
    del broken["keyName"]
    result = await ok(client, "x:DnsServer/set", {"create": {"a": broken, "b": {"@type": "Nope"}}})
    error = result["notCreated"]["a"]
    assert error["type"] == "validationFailed"
    assert sorted(error["properties"]) == ["host", "keyName", "port", "tsigAlgorithm"]
    by_property = {e["property"]: e for e in error["validationErrors"]}
    assert by_property["keyName"] == {"type": "Required", "property": "keyName"}
    assert by_property["port"] == {"type": "MaxValue", "property": "port", "required": 65535}
    assert by_property["host"]["type"] == "Invalid"
    assert by_property["tsigAlgorithm"]["type"] == "Invalid"
    assert result["notCreated"]["b"]["properties"] == ["@type"]
    with_id = await ok(client, "x:DnsServer/set", {"create": {"c": {**TSIG, "id": "mine"}}})
    assert with_id["notCreated"]["c"]["properties"] == ["id"]


async def test_dns_server_update_of_a_used_server_runs_the_domains_using_it(api: Api) -> None:
    client, _, host = api
    key = {"@type": "Value", "secret": TSIG_SECRET}  # a new destination needs the key again
    patch = {"host": "192.0.2.77", "port": 5353, "key": key}
    result = await ok(client, "x:DnsServer/set", {"update": {"primary": patch}})
    assert result["updated"] == {"primary": None}
    assert host.waiting() == {"other.test": result["runId"]}
    assert str(host.config.dns_server["primary"].host) == "192.0.2.77"  # type: ignore[attr-defined]


async def test_a_redacted_secret_sent_back_keeps_the_current_secret(api: Api) -> None:
    client, _, host = api
    (server,) = (await ok(client, "x:DnsServer/get", {}))["list"]
    server.pop("id")
    server["description"] = "round trip"
    result = await ok(client, "x:DnsServer/set", {"update": {"primary": server}})
    assert result["updated"] == {"primary": None}
    assert host.config.dns_server["primary"].key.resolve() == TSIG_SECRET  # type: ignore[attr-defined]
    fresh = {**TSIG, "key": {"@type": "Value", "secret": REDACTED}}
    refused = await ok(client, "x:DnsServer/set", {"create": {"n": fresh}})
    assert refused["notCreated"]["n"]["properties"] == ["key"]


async def test_a_secret_the_daemon_cannot_read_is_invalid_properties(api: Api) -> None:
    client, _, _ = api
    server = {**TSIG, "key": {"@type": "EnvironmentVariable", "variableName": "DNSAUTO_NOPE_X"}}
    result = await ok(client, "x:DnsServer/set", {"create": {"n": server}})
    error = result["notCreated"]["n"]
    assert (error["type"], error["properties"]) == ("invalidProperties", ["key"])
    assert error["description"] == f"key: {FOREIGN_SECRET}"  # tests/test_api_secrets.py


async def test_dns_server_destroy_of_a_server_in_use_is_object_is_linked_then_allowed(
    api: Api,
) -> None:
    client, _, host = api
    result = await ok(client, "x:DnsServer/set", {"destroy": ["primary", "nothing"]})
    linked = result["notDestroyed"]["primary"]
    assert linked["type"] == "objectIsLinked"
    assert linked["objectId"] == {"object": "DnsServer", "id": "primary"}
    assert linked["linkedObjects"] == [{"object": "Domain", "id": OTHER}]
    assert "other.test" in result["notDestroyed"]["primary"]["description"]
    assert result["notDestroyed"]["nothing"]["type"] == "notFound"
    await ok(client, "x:Domain/set", {"destroy": [OTHER]})
    result = await ok(client, "x:DnsServer/set", {"destroy": ["primary"]})
    assert result["destroyed"] == ["primary"]
    assert "primary" not in host.config.dns_server
    assert (await ok(client, "x:DnsServer/get", {"ids": ["primary"]}))["notFound"] == ["primary"]


async def test_dns_server_update_of_an_unknown_id_is_not_found(api: Api) -> None:
    client, _, _ = api
    result = await ok(client, "x:DnsServer/set", {"update": {"ghost": {"description": "x"}}})
    assert result["notUpdated"]["ghost"]["type"] == "notFound"


async def test_dns_server_query_filters_on_member_tenant_id(api: Api) -> None:
    client, _, _ = api
    created = await ok(client, "x:DnsServer/set", {"create": {"n": TSIG}})
    new_id = created["created"]["n"]["id"]
    tenant = await ok(client, "x:DnsServer/query", {"filter": {"memberTenantId": "tenant-1"}})
    assert (tenant["ids"], tenant["total"], tenant["position"]) == ([new_id], 1, 0)
    none = await ok(client, "x:DnsServer/query", {"filter": {"memberTenantId": None}})
    assert none["ids"] == ["primary"]
    either = await ok(
        client,
        "x:DnsServer/query",
        {
            "filter": {
                "operator": "OR",
                "conditions": [{"memberTenantId": "tenant-1"}, {"memberTenantId": None}],
            }
        },
    )
    assert sorted(either["ids"]) == sorted([new_id, "primary"])
    negated = await ok(
        client,
        "x:DnsServer/query",
        {"filter": {"operator": "NOT", "conditions": [{"memberTenantId": None}]}},
    )
    assert negated["ids"] == [new_id]
    assert either["queryState"] == negated["queryState"]
    assert either["canCalculateChanges"] is False


async def test_query_pages_with_position_limit_anchor_and_sort(api: Api) -> None:
    client, _, _ = api
    for n in range(4):
        await ok(
            client,
            "x:DnsServer/set",
            {"create": {"n": {"@type": "Manual", "description": f"server {n}"}}},
        )
    by_description = await ok(
        client,
        "x:DnsServer/query",
        {"sort": [{"property": "description", "isAscending": False}]},
    )
    ids = by_description["ids"]
    assert ids[-1] == "primary"  # "file server" sorts first, so last descending
    page = await ok(client, "x:DnsServer/query", {"position": 1, "limit": 2})
    everything = (await ok(client, "x:DnsServer/query", {}))["ids"]
    assert page["ids"] == everything[1:3]
    assert page["total"] == 5
    tail = await ok(client, "x:DnsServer/query", {"position": -2})
    assert tail["ids"] == everything[-2:]
    assert tail["position"] == 3
    anchored = await ok(
        client, "x:DnsServer/query", {"anchor": everything[2], "anchorOffset": -1, "limit": 2}
    )
    assert anchored["ids"] == everything[1:3]


@pytest.mark.parametrize(
    ("arguments", "kind"),
    [
        ({"filter": {"description": "x"}}, "unsupportedFilter"),
        ({"sort": [{"property": "host"}]}, "unsupportedSort"),
        ({"sort": [{"property": "id", "collation": "i;unicode-casemap"}]}, "unsupportedSort"),
        ({"anchor": "ghost"}, "anchorNotFound"),
        ({"filter": {"operator": "XOR", "conditions": []}}, "invalidArguments"),
    ],
)
async def test_query_errors(api: Api, arguments: dict[str, Any], kind: str) -> None:
    client, _, _ = api
    answer, error = await call(client, "x:DnsServer/query", arguments)
    assert (answer, error["type"]) == ("error", kind)


async def test_get_and_set_over_max_objects_are_request_too_large(api: Api) -> None:
    client, server, _ = api
    many = [f"id{n}" for n in range(server.settings().max_objects + 1)]
    _, error = await call(client, "x:DnsServer/get", {"ids": many})
    assert error["type"] == "requestTooLarge"
    _, error = await call(client, "x:DnsServer/set", {"destroy": many})
    assert error["type"] == "requestTooLarge"


# --- Domain -------------------------------------------------------------------------------------


async def test_domain_get_lists_the_bootstrap_default_domain_and_the_configured_ones(
    api: Api,
) -> None:
    client, _, _ = api
    result = await ok(client, "x:Domain/get", {})
    by_name = {d["name"]: d for d in result["list"]}
    assert set(by_name) == {"example.test", "other.test"}
    assert all(is_id(d["id"]) and "." not in d["id"] for d in result["list"])
    assert by_name["example.test"]["id"] == EXAMPLE
    assert by_name["other.test"]["dnsManagement"]["dnsServerId"] == "primary"
    assert by_name["other.test"]["dkimManagement"]["rotateAfter"] == 90 * 86_400_000


async def test_domain_create_with_a_new_dns_server_by_creation_id_runs_it(api: Api) -> None:
    client, _, host = api
    body = request(
        ("x:DnsServer/set", {"create": {"srv": TSIG}}),
        (
            "x:Domain/set",
            {
                "create": {
                    "dom": {
                        "name": "New.Test.",
                        "dnsManagement": {"@type": "Automatic", "dnsServerId": "#srv"},
                    }
                }
            },
        ),
    )
    document = await (await post(client, body)).json()
    servers, domains = (r[1] for r in document["methodResponses"])
    server_id = servers["created"]["srv"]["id"]
    assert domains["created"]["dom"]["id"] == domain_id("new.test")
    settings = host.config.domain["new.test"].dns_management
    assert settings.dns_server_id == server_id  # type: ignore[union-attr]
    assert host.waiting()["new.test"] == domains["runId"]


async def test_domain_create_errors(api: Api) -> None:
    client, _, _ = api
    result = await ok(
        client,
        "x:Domain/set",
        {
            "create": {
                "dup": {"name": "other.test"},
                "bad": {"name": "not a domain"},
                "none": {},
                "ref": {
                    "name": "ref.test",
                    "dnsManagement": {"@type": "Automatic", "dnsServerId": "ghost"},
                },
                "typo": {"name": "typo.test", "dkimManagement": {"@type": "Sometimes"}},
            }
        },
    )
    errors = result["notCreated"]
    assert errors["dup"] == {
        "type": "primaryKeyViolation",
        "description": "Domain 'other.test' exists",
        "properties": ["name"],
        "objectId": {"object": "Domain", "id": OTHER},
    }
    assert errors["bad"]["properties"] == ["name"]
    assert errors["bad"]["type"] == "validationFailed"
    assert errors["none"]["properties"] == ["name"]
    assert errors["none"]["validationErrors"] == [{"type": "Required", "property": "name"}]
    assert errors["ref"]["type"] == "invalidForeignKey"
    assert errors["ref"]["objectId"] == {"object": "DnsServer", "id": "ghost"}
    assert errors["ref"]["properties"] == ["dnsManagement/dnsServerId"]
    assert errors["typo"]["properties"] == ["dkimManagement/@type"]


@pytest.mark.parametrize(
    "spelling",
    ["OTHER.TEST.", "oth\u200ber.test", "\uff4f\uff54\uff48\uff45\uff52.test", "Other.Test"],
)
async def test_domain_create_with_another_spelling_of_an_existing_domain_is_already_exists(
    api: Api, spelling: str
) -> None:
    client, _, host = api
    before = host.config
    result = await ok(client, "x:Domain/set", {"create": {"dup": {"name": spelling}}})
    assert result["notCreated"]["dup"]["type"] == "primaryKeyViolation"
    assert result["notCreated"]["dup"]["objectId"] == {"object": "Domain", "id": OTHER}
    assert host.config == before


async def test_domain_create_keeps_the_canonical_a_label(api: Api) -> None:
    client, _, host = api
    result = await ok(client, "x:Domain/set", {"create": {"u": {"name": "B\u00fccher.Test."}}})
    assert result["created"]["u"]["id"] == domain_id("xn--bcher-kva.test")
    assert "xn--bcher-kva.test" in host.config.domain


async def test_domain_create_refuses_a_code_point_idna_disallows_naming_name(api: Api) -> None:
    client, _, _ = api
    result = await ok(client, "x:Domain/set", {"create": {"s": {"name": "\u2603.test"}}})
    error = result["notCreated"]["s"]
    assert (error["type"], error["properties"]) == ("validationFailed", ["name"])


async def test_domain_report_address_that_would_leak_into_dmarc_is_refused(api: Api) -> None:
    client, _, host = api
    before = host.config
    result = await ok(
        client,
        "x:Domain/set",
        {"update": {OTHER: {"reportAddressUri": "mailto:d@other.test; p=none"}}},
    )
    error = result["notUpdated"][OTHER]
    assert (error["type"], error["properties"]) == ("validationFailed", ["reportAddressUri"])
    assert host.config == before


async def test_domain_approve_lets_the_refused_plan_run_once(api: Api) -> None:
    client, _, host = api
    host.awaiting["other.test"] = "plan0123456789ab"
    result = await ok(client, "x:Domain/approve", {"id": OTHER})
    assert result["planId"] == "plan0123456789ab"
    assert host.waiting()["other.test"] == result["runId"]
    assert host.approved == [("other.test", "plan0123456789ab", "api: x:Domain/approve by admin")]


async def test_domain_approve_of_another_plan_or_of_none_is_an_error(api: Api) -> None:
    client, _, host = api
    host.awaiting["other.test"] = "plan0123456789ab"
    answer, result = await call(
        client, "x:Domain/approve", {"id": OTHER, "planId": "someotherplan"}
    )
    assert (answer, result["type"]) == ("error", "stateMismatch")
    answer, result = await call(client, "x:Domain/approve", {"id": EXAMPLE})
    assert (answer, result["type"]) == ("error", "invalidArguments")
    assert host.approved == []


async def test_domain_approve_needs_the_domain_update_permission(api: Api) -> None:
    client, _, host = api
    host.awaiting["other.test"] = "plan0123456789ab"
    answer, result = await call(client, "x:Domain/approve", {"id": OTHER}, token=READER_TOKEN)
    assert (answer, result["type"]) == ("error", "forbidden")
    assert host.approved == []


def test_task_shows_a_domain_whose_plan_awaits_approval() -> None:
    tracker = TaskTracker()
    tracker.record_result(
        "run1",
        DomainResult("other.test", "bootstrap", error="too much", unsafe_plan="plan0123456789ab"),
    )
    view = tracker.view("run1", waiting={}, syncing={}, last_results={})
    assert view is not None
    assert view["runStatus"] == "awaitingApproval"
    assert view["domains"]["other.test"]["status"] == "awaitingApproval"
    assert view["domains"]["other.test"]["planId"] == "plan0123456789ab"


async def test_domain_update_of_the_implied_default_domain_makes_it_explicit(api: Api) -> None:
    client, _, host = api
    result = await ok(client, "x:Domain/set", {"update": {EXAMPLE: {"reportAddressUri": None}}})
    assert result["updated"] == {EXAMPLE: None}
    assert host.config.domain["example.test"].report_address_uri == "mailto:postmaster"
    renamed = await ok(client, "x:Domain/set", {"update": {OTHER: {"name": "x.test"}}})
    assert renamed["notUpdated"][OTHER]["properties"] == ["name"]
    same = await ok(client, "x:Domain/set", {"update": {OTHER: {"name": "Other.Test."}}})
    assert same["updated"] == {OTHER: None}


async def test_domain_destroy_of_the_default_domain_is_object_is_linked(api: Api) -> None:
    client, _, _ = api
    result = await ok(client, "x:Domain/set", {"destroy": [EXAMPLE, "ghost.test"]})
    linked = result["notDestroyed"][EXAMPLE]
    assert linked["type"] == "objectIsLinked"
    assert linked["linkedObjects"] == [{"object": "Bootstrap", "id": "singleton"}]
    assert result["notDestroyed"]["ghost.test"]["type"] == "notFound"


async def test_domain_query_filters_on_name_and_dns_server(api: Api) -> None:
    client, _, _ = api
    created = await ok(
        client,
        "x:Domain/set",
        {"create": {"a": {"name": "another.test", "aliases": ["alias.test"]}}},
    )
    another = created["created"]["a"]["id"]
    # name is exact, as Stalwart's (a Keyword index): any spelling of the name, nothing else
    result = await ok(client, "x:Domain/query", {"filter": {"name": "Other.Test."}})
    assert result["ids"] == [OTHER]
    result = await ok(client, "x:Domain/query", {"filter": {"name": "other"}})
    assert result["ids"] == []
    result = await ok(client, "x:Domain/query", {"filter": {"text": "OTHER"}})
    assert sorted(result["ids"]) == sorted([another, OTHER])
    result = await ok(client, "x:Domain/query", {"filter": {"aliases": "alias.test"}})
    assert result["ids"] == [another]
    result = await ok(client, "x:Domain/query", {"filter": {"dnsServerId": "primary"}})
    assert result["ids"] == [OTHER]
    result = await ok(
        client, "x:Domain/query", {"sort": [{"property": "name", "isAscending": False}]}
    )
    assert result["ids"] == [OTHER, EXAMPLE, another]


async def test_secrets_never_appear_in_any_response(api: Api) -> None:
    client, _, _ = api
    body = request(
        ("x:DnsServer/set", {"create": {"n": TSIG}}),
        ("x:DnsServer/set", {"update": {"primary": {"key": TSIG["key"]}}}),
        ("x:Bootstrap/set", {"update": {"singleton": {"dnsServer": TSIG}}}),
        ("x:Bootstrap/get", {}),
        ("x:DnsServer/get", {}),
        ("x:Domain/get", {}),
        ("x:Task/get", {}),
    )
    response = await post(client, body)
    text = await response.text()
    assert response.status == 200
    assert "error" not in [r[0] for r in json.loads(text)["methodResponses"]]
    for secret in (NEW_SECRET, TSIG_SECRET, ADMIN_TOKEN):
        assert secret not in text


# --- Task: Stalwart's TaskDnsManagement shape ---------------------------------------------------

STALWART_TASK_KEYS = {"id", "@type", "domainId", "updateRecords", "onSuccessRenewCertificate"}


async def test_a_task_has_stalwarts_task_dns_management_shape_while_pending(api: Api) -> None:
    client, _, host = api
    patch = {OTHER: {"dnsManagement/publishRecords": ["mx", "spf"]}}
    run_id = (await ok(client, "x:Domain/set", {"update": patch}))["runId"]
    for start in (False, True):  # waiting, then running: both Stalwart's Pending
        if start:
            host.start_runs()
        result = await ok(client, "x:Task/get", {"ids": [run_id]})
        (task,) = result["list"]
        assert STALWART_TASK_KEYS | {"status"} <= set(task)
        assert (task["@type"], task["domainId"]) == ("DnsManagement", OTHER)
        assert task["updateRecords"] == {"mx": True, "spf": True}
        assert task["onSuccessRenewCertificate"] is False
        status = task["status"]
        assert (status["@type"], set(status)) == ("Pending", {"@type", "createdAt", "due"})
        assert status["createdAt"].endswith("Z")
        assert task["runStatus"] == ("running" if start else "waiting")
        assert task["domains"]["other.test"]["status"] == task["runStatus"]
        assert task["domains"]["other.test"]["domainId"] == OTHER


async def test_a_failed_run_is_stalwarts_failed_status_with_the_reason(api: Api) -> None:
    client, server, host = api
    run_id = host.trigger(["other.test"], "test")
    server.tasks.requested(run_id, ["other.test"], "test")
    server.tasks.record_result(run_id, DomainResult("other.test", "primary", error="refused"))
    (task,) = (await ok(client, "x:Task/get", {"ids": [run_id]}))["list"]
    status = task["status"]
    assert status["@type"] == "Failed"
    assert set(status) == {
        "@type",
        "createdAt",
        "failedAt",
        "failedAttemptNumber",
        "failureReason",
    }
    assert status["failureReason"] == "other.test: refused"
    assert status["failedAttemptNumber"] == 1
    assert status["failedAt"] == task["domains"]["other.test"]["finishedAt"]
    assert task["runStatus"] == "failed"


async def test_a_run_of_several_domains_has_no_domain_id_and_a_finished_one_is_completed(
    api: Api,
) -> None:
    client, server, host = api
    run_id = host.trigger(["other.test", "example.test"], "test")
    server.tasks.requested(run_id, ["other.test", "example.test"], "test")
    for name in ("other.test", "example.test"):
        server.tasks.record_result(run_id, DomainResult(name, "primary"))
    result = await ok(
        client, "x:Task/get", {"ids": [run_id], "properties": ["domainId", "status", "runStatus"]}
    )
    (task,) = result["list"]
    assert set(task) == {"id", "domainId", "status", "runStatus"}
    assert task["domainId"] is None
    assert task["runStatus"] == "succeeded"
    assert task["status"]["@type"] == "Completed"
    assert set(task["status"]) == {"@type", "createdAt", "completedAt"}


async def test_an_update_of_an_object_the_same_call_destroys_is_will_destroy(api: Api) -> None:
    client, _, host = api
    arguments = {
        "update": {OTHER: {"reportAddressUri": None}},
        "destroy": [OTHER],
    }
    result = await ok(client, "x:Domain/set", arguments)
    assert result["notUpdated"][OTHER]["type"] == "willDestroy"
    assert result["destroyed"] == [OTHER]
    assert "other.test" not in host.config.domain
