"""Who may use the API: bearer keys, their expiry, the permissions per method and operation,
and the rate limit of failed attempts per client address."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dnsauto.api.auth import Authenticator, AuthFailure, RateLimiter
from dnsauto.api.server import ApiServer
from dnsauto.config.daemon import ApiSettings
from dnsauto.config.ids import domain_id
from dnsauto.config.loader import load_config_file, resolve_secrets
from dnsauto.plugin.registry import load_registry
from tests.api_server_helpers import (
    CONFIG,
    EXPIRED_TOKEN,
    READER_TOKEN,
    FakeHost,
    api_client,
    auth,
    call,
    post,
    request,
    write_config,
)

Api = tuple[TestClient[Any, Any], ApiServer, FakeHost]
OTHER = domain_id("other.test")
BODY = request(("x:Bootstrap/get", {}))


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with api_client(write_config(tmp_path)) as running:
        yield running


async def refused(response: Any) -> dict[str, Any]:
    assert response.status == 401, await response.text()
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="dnsauto"')
    return dict(await response.json())


async def test_a_request_without_a_key_is_401_with_a_bearer_challenge(api: Api) -> None:
    client, _, _ = api
    document = await refused(await post(client, BODY, token=None))
    assert document["status"] == 401
    response = await client.post(
        "/api",
        data=json.dumps(BODY),
        headers={"Content-Type": "application/json", "Authorization": "Basic YTpi"},
    )
    await refused(response)


async def test_a_wrong_key_is_401_invalid_token_and_never_echoed(api: Api) -> None:
    client, _, _ = api
    response = await post(client, BODY, token="wrong-key-123456")
    document = await refused(response)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "wrong-key-123456" not in json.dumps(document)
    assert "wrong-key-123456" not in response.headers["WWW-Authenticate"]


async def test_an_expired_key_is_refused(api: Api) -> None:
    client, _, _ = api
    document = await refused(await post(client, BODY, token=EXPIRED_TOKEN))
    assert "expired" in document["detail"]


async def test_a_key_read_from_the_environment_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DNSAUTO_TEST_ENV_KEY", "from-the-environment-Kq8Zr2Xw5mN")
    text = CONFIG + (
        '\n[[daemon.api.keys]]\nname = "env"\n'
        'secret = { "@type" = "EnvironmentVariable", variableName = "DNSAUTO_TEST_ENV_KEY" }\n'
        'permissions = ["sysBootstrapGet"]\n'
    )
    async with api_client(write_config(tmp_path, text)) as (client, _, _):
        name, _ = await call(
            client, "x:Bootstrap/get", {}, token="from-the-environment-Kq8Zr2Xw5mN"
        )
        assert name == "x:Bootstrap/get"


async def test_a_valid_key_is_never_refused_for_the_failures_of_others_from_its_address(
    api: Api,
) -> None:
    client, server, _ = api
    limit = server.settings().max_auth_failures
    for _ in range(limit * 3):
        await post(client, BODY, token="guess")
    assert (await post(client, BODY)).status == 200
    response = await client.get("/.well-known/jmap", headers=auth())
    assert response.status == 200


async def test_wrong_keys_beyond_max_auth_failures_get_429_with_retry_after(api: Api) -> None:
    client, server, _ = api
    limit = server.settings().max_auth_failures
    for _ in range(limit):
        await refused(await post(client, BODY, token="guess"))
    for token in ("guess", EXPIRED_TOKEN):
        response = await post(client, BODY, token=token)
        assert response.status == 429
        assert response.content_type == "application/problem+json"
        assert int(response.headers["Retry-After"]) >= 1
    response = await client.get("/.well-known/jmap", headers={"Authorization": "Bearer x"})
    assert response.status == 429


async def test_missing_keys_do_not_count_as_failed_attempts(api: Api) -> None:
    client, server, _ = api
    for _ in range(server.settings().max_auth_failures + 2):
        await refused(await post(client, BODY, token=None))
    assert (await post(client, BODY)).status == 200


def test_the_rate_limit_lifts_when_the_failures_leave_the_window() -> None:
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for _ in range(3):
        limiter.failed("192.0.2.1", window=60)
    assert limiter.retry_after("192.0.2.1", limit=3, window=60) == 60
    assert limiter.retry_after("192.0.2.2", limit=3, window=60) is None
    now[0] += 30
    assert limiter.retry_after("192.0.2.1", limit=3, window=60) == 30
    now[0] += 31
    assert limiter.retry_after("192.0.2.1", limit=3, window=60) is None


def test_a_key_whose_secret_cannot_be_read_is_left_out_and_the_others_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = ApiSettings.model_validate(
        {
            "keys": [
                {
                    "name": "gone",
                    "secret": {"@type": "EnvironmentVariable", "variableName": "DNSAUTO_NO_SUCH"},
                },
                {"name": "ok", "secret": {"@type": "Value", "secret": "s3cret-ok-8fJ2kQ9wXz4Lm7"}},
            ]
        }
    )
    auth = Authenticator(lambda: settings)
    assert auth.authenticate("Bearer s3cret-ok-8fJ2kQ9wXz4Lm7", "127.0.0.1").name == "ok"
    with pytest.raises(AuthFailure):
        auth.authenticate("Bearer ", "127.0.0.1")
    assert "'gone' left out" in caplog.text


# --- permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("x:Bootstrap/set", {"update": {"singleton": {"serverHostname": "mx.example.test"}}}),
        ("x:DnsServer/set", {"destroy": ["primary"]}),
        ("x:DnsServer/set", {"create": {"n": {"@type": "Manual", "description": "x"}}}),
        ("x:DnsServer/set", {"update": {"primary": {"description": "x"}}}),
        ("x:Domain/set", {"create": {"n": {"name": "x.test"}}}),
        ("x:Domain/set", {"update": {OTHER: {"reportAddressUri": None}}}),
        ("x:Domain/set", {"destroy": [OTHER]}),
        ("x:Domain/query", {}),
        ("x:Task/get", {}),
    ],
)
async def test_a_method_the_key_lacks_the_permission_for_is_forbidden_and_changes_nothing(
    api: Api, name: str, arguments: dict[str, Any]
) -> None:
    client, _, host = api
    before = host.config
    answer, error = await call(client, name, arguments, token=READER_TOKEN)
    assert (answer, error["type"]) == ("error", "forbidden")
    assert "reader" in error["description"]
    assert host.config is before
    assert host.replaced == []


TASKS_ONLY_TOKEN = "tasks-only-Xr4mQ8vN2kLp7Wc3Zt"


@pytest.mark.parametrize("name", ["x:Bootstrap/get", "x:DnsServer/get", "x:Domain/get"])
async def test_reading_objects_needs_the_get_permission(tmp_path: Path, name: str) -> None:
    text = CONFIG + (
        '\n[[daemon.api.keys]]\nname = "tasks-only"\n'
        f'secret = {{ "@type" = "Value", secret = "{TASKS_ONLY_TOKEN}" }}\n'
        'permissions = ["sysTaskGet", "sysBootstrapUpdate", "sysDnsServerQuery", '
        '"sysDomainQuery", "sysDnsServerUpdate", "sysDomainUpdate"]\n'
    )
    async with api_client(write_config(tmp_path, text)) as (client, _, _):
        for ids in (None, ["singleton", "primary", OTHER]):
            answer, error = await call(client, name, {"ids": ids}, token=TASKS_ONLY_TOKEN)
            assert (answer, error["type"]) == ("error", "forbidden")
            assert "Get" in error["description"]
            assert "list" not in error


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("x:Bootstrap/get", {}),
        ("x:DnsServer/get", {}),
        ("x:DnsServer/query", {}),
        ("x:Domain/get", {}),
        ("Core/echo", {}),
    ],
)
async def test_a_method_the_key_has_the_permission_for_answers(
    api: Api, name: str, arguments: dict[str, Any]
) -> None:
    client, _, _ = api
    answer, _ = await call(client, name, arguments, token=READER_TOKEN)
    assert answer == name


@pytest.mark.parametrize("name", ["x:DnsServer/set", "x:Domain/set", "x:Bootstrap/set"])
async def test_a_set_with_nothing_in_it_is_forbidden_to_a_key_without_any_set_permission(
    api: Api, name: str
) -> None:
    # Stalwart's validate_set: none of create, update, destroy is a forbidden call
    client, _, host = api
    answer, error = await call(client, name, {}, token=READER_TOKEN)
    assert (answer, error["type"]) == ("error", "forbidden")
    assert "may not create, update or destroy" in error["description"]
    assert "reader" in error["description"]
    assert host.replaced == []


UPDATER_TOKEN = "updater-token-Pq7rT2vX9mKc4Lw8Nz"


@pytest.fixture
async def updater(tmp_path: Path) -> AsyncIterator[Api]:
    text = CONFIG + (
        '\n[[daemon.api.keys]]\nname = "updater"\n'
        f'secret = {{ "@type" = "Value", secret = "{UPDATER_TOKEN}" }}\n'
        'permissions = ["sysDomainGet", "sysDomainQuery", "sysDomainUpdate", '
        '"sysDnsServerQuery", "sysDnsServerUpdate"]\n'
    )
    async with api_client(write_config(tmp_path, text)) as running:
        yield running


@pytest.mark.parametrize("name", ["x:DnsServer/set", "x:Domain/set"])
async def test_a_set_with_nothing_in_it_answers_a_key_with_one_set_permission(
    updater: Api, name: str
) -> None:
    client, _, _ = updater
    answer, result = await call(client, name, {}, token=UPDATER_TOKEN)
    assert answer == name
    assert (result["created"], result["updated"], result["destroyed"]) == (None, None, None)


async def test_a_destroy_by_result_reference_needs_the_destroy_permission_even_when_empty(
    updater: Api,
) -> None:
    client, _, host = updater
    # the query matches nothing: the reference resolves to [], and Stalwart still refuses it
    body = request(
        ("x:Domain/query", {"filter": {"name": "nothing-matches"}}, "q"),
        (
            "x:Domain/set",
            {"#destroy": {"resultOf": "q", "name": "x:Domain/query", "path": "/ids"}},
            "s",
        ),
    )
    response = await post(client, body, token=UPDATER_TOKEN)
    (query, answer) = (await response.json())["methodResponses"]
    assert (query[0], query[1]["ids"]) == ("x:Domain/query", [])
    assert (answer[0], answer[1]["type"]) == ("error", "forbidden")
    assert "sysDomainDestroy" in answer[1]["description"]
    # the same call with a literal empty destroy needs no destroy permission
    answer_name, result = await call(client, "x:Domain/set", {"destroy": []}, token=UPDATER_TOKEN)
    assert (answer_name, result["destroyed"]) == ("x:Domain/set", None)
    assert host.replaced == []


async def test_a_create_by_a_key_with_only_update_names_the_create_permission(
    updater: Api,
) -> None:
    client, _, host = updater
    arguments = {
        "create": {"n": {"name": "new.test"}},
        "update": {OTHER: {"reportAddressUri": None}},
    }
    answer, error = await call(client, "x:Domain/set", arguments, token=UPDATER_TOKEN)
    assert (answer, error["type"]) == ("error", "forbidden")
    assert "may not create" in error["description"]
    assert "sysDomainCreate" in error["description"]
    assert host.replaced == []


# --- key strength ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weak",
    ["hunter2", "0123456789abcdef0123456789abcde", "correcthorsebatterystaple", "Zq3v9XkT-mB"],
    ids=["short", "31-hex-digits", "25-lower-case-letters", "11-mixed"],
)
def test_an_api_key_under_128_bits_is_a_config_error_naming_the_key(
    tmp_path: Path, weak: str
) -> None:
    text = CONFIG + (
        '\n[[daemon.api.keys]]\nname = "weak"\n'
        f'secret = {{ "@type" = "Value", secret = "{weak}" }}\n'
    )
    path = write_config(tmp_path, text)
    problems = resolve_secrets(load_config_file(path, load_registry()), str(path))
    assert [p.path for p in problems] == ["daemon.api.keys[3].secret"]
    assert "128 bits" in problems[0].message
    assert "'weak'" in problems[0].message
    assert weak not in problems[0].message


@pytest.mark.parametrize(
    "strong",
    [
        secrets.token_hex(16),
        secrets.token_urlsafe(16),
        "OFvDesFYjmaQHIHvGmfkBg",
        "base64+/" + "A1b2C3d4E5f6G7h8",
    ],
    ids=["32-hex-digits", "22-url-safe-base64", "22-url-safe-base64-all-letters", "mixed"],
)
def test_an_api_key_of_128_bits_or_more_loads(tmp_path: Path, strong: str) -> None:
    text = CONFIG + (
        '\n[[daemon.api.keys]]\nname = "strong"\n'
        f'secret = {{ "@type" = "Value", secret = "{strong}" }}\n'
    )
    path = write_config(tmp_path, text)
    assert resolve_secrets(load_config_file(path, load_registry()), str(path)) == []
