"""Secrets over the API: a file or variable only where ``[daemon.api]`` allows, one error that
says nothing about the file or variable, and a stored secret never sent somewhere else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from dnsauto.api.server import ApiServer
from dnsauto.config.overlay import FOREIGN_SECRET, REDIRECTED_SECRET
from tests.api_server_helpers import (
    CONFIG,
    TSIG_SECRET,
    FakeHost,
    api_client,
    call,
    post,
    request,
    write_config,
)

Api = tuple[TestClient[Any, Any], ApiServer, FakeHost]
PREFIX = "DNSAUTO_TEST_API_SECRET_"
ALLOWED_SECRET = "YWxsb3dlZC1zZWNyZXQtb3Zlci10aGUtYXBp"
SIG0_FIELDS = {
    "@type": "Sig0",
    "keyName": None,
    "tsigAlgorithm": None,
    "publicKey": "updater.example.test. IN KEY 512 3 15 AAAA",
    "signerName": "updater.example.test.",
}


def tsig(key: dict[str, Any]) -> dict[str, Any]:
    return {"@type": "Tsig", "description": "d", "host": "192.0.2.9", "keyName": "k", "key": key}


def file_key(path: Path | str) -> dict[str, Any]:
    return {"@type": "File", "filePath": str(path)}


def variable_key(name: str) -> dict[str, Any]:
    return {"@type": "EnvironmentVariable", "variableName": name}


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    folder = tmp_path / "api-secrets"
    folder.mkdir()
    return folder


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """The API of a configuration that allows no file or variable."""
    async with api_client(write_config(tmp_path)) as running:
        yield running


@pytest.fixture
async def allowing(tmp_path: Path, allowed: Path) -> AsyncIterator[Api]:
    """The API of a configuration that allows the files of ``allowed`` and ``PREFIX``."""
    text = CONFIG.replace(
        "maxAuthFailures = 3\n",
        f"maxAuthFailures = 3\nallowedSecretDirectories = [{json.dumps(str(allowed))}, "
        f'"/dev"]\nallowedSecretVariablePrefixes = ["{PREFIX}"]\n',
    )
    async with api_client(write_config(tmp_path, text)) as running:
        yield running


async def create_errors(client: Any, keys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    creates = {name: tsig(key) for name, key in keys.items()}
    answer, result = await call(client, "x:DnsServer/set", {"create": creates})
    assert answer == "x:DnsServer/set", result
    assert result["created"] is None, result
    return dict(result["notCreated"])


def refusal() -> dict[str, Any]:
    return {
        "type": "invalidProperties",
        "description": f"key: {FOREIGN_SECRET}",
        "properties": ["key"],
    }


async def test_file_and_variable_secrets_are_refused_over_the_api_unless_allowed(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, host = api
    readable = tmp_path / "readable.key"
    readable.write_text(ALLOWED_SECRET)
    monkeypatch.setenv(f"{PREFIX}SET", ALLOWED_SECRET)
    errors = await create_errors(
        client,
        {
            "file": file_key(readable),
            "missing": file_key(tmp_path / "missing.key"),
            "set": variable_key(f"{PREFIX}SET"),
            "unset": variable_key(f"{PREFIX}UNSET"),
        },
    )
    assert errors == {name: refusal() for name in ("file", "missing", "set", "unset")}
    assert list(host.config.dns_server) == ["primary"]


async def test_a_refused_file_or_variable_secret_gets_one_error_whatever_it_names(
    allowing: Api, allowed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, _ = allowing
    outside = tmp_path / "outside.key"
    outside.write_text(ALLOWED_SECRET)
    (allowed / "escape.key").symlink_to(outside)
    (allowed / "not-base64-but-text.key").mkdir()
    monkeypatch.setenv("DNSAUTO_OTHER_SECRET", ALLOWED_SECRET)
    errors = await create_errors(
        client,
        {
            "outside": file_key(outside),
            "dotdot": file_key(allowed / ".." / "outside.key"),
            "symlink": file_key(allowed / "escape.key"),
            "relative": file_key("outside.key"),
            "folder itself": file_key(allowed),
            "missing": file_key(allowed / "missing.key"),
            "a directory": file_key(allowed / "not-base64-but-text.key"),
            "unset": variable_key(f"{PREFIX}UNSET"),
            "other prefix": variable_key("DNSAUTO_OTHER_SECRET"),
            "the path": variable_key("PATH"),
        },
    )
    assert errors == {name: refusal() for name in errors}
    assert len(errors) == 10


async def test_an_allowed_file_or_variable_secret_is_accepted_over_the_api(
    allowing: Api, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, host = allowing
    (allowed / "tsig.key").write_text(ALLOWED_SECRET + "\n")
    monkeypatch.setenv(f"{PREFIX}TSIG", ALLOWED_SECRET)
    creates = {
        "file": tsig(file_key(allowed / "tsig.key")),
        "var": tsig(variable_key(f"{PREFIX}TSIG")),
    }
    answer, result = await call(client, "x:DnsServer/set", {"create": creates})
    assert answer == "x:DnsServer/set"
    assert result["notCreated"] is None, result
    for created in result["created"].values():
        assert host.config.dns_server[created["id"]].key.resolve() == ALLOWED_SECRET  # type: ignore[attr-defined]


async def test_a_dev_zero_secret_set_over_the_api_is_refused_without_reading_it(
    allowing: Api,
) -> None:
    client, _, _ = allowing  # /dev is an allowed folder, and /dev/zero never ends
    assert await create_errors(client, {"zero": file_key("/dev/zero")}) == {"zero": refusal()}
    answer, result = await call(client, "Core/echo", {"still": "answering"})
    assert (answer, result) == ("Core/echo", {"still": "answering"})


@pytest.mark.parametrize(
    "patch",
    [
        {"host": "192.0.2.66"},
        {"port": 5353},
        {"keyName": "other-key"},
        SIG0_FIELDS,
        {"host": "192.0.2.66", "key": {"@type": "Value", "secret": "********"}},
    ],
    ids=["host", "port", "keyName", "@type", "host with the redacted key"],
)
async def test_an_update_that_sends_a_stored_secret_elsewhere_without_it_is_refused(
    api: Api, patch: dict[str, Any]
) -> None:
    client, _, host = api
    before = host.config
    answer, result = await call(client, "x:DnsServer/set", {"update": {"primary": patch}})
    assert answer == "x:DnsServer/set"
    assert result["notUpdated"] == {
        "primary": {
            "type": "invalidProperties",
            "description": f"key: {REDIRECTED_SECRET}",
            "properties": ["key"],
        }
    }
    assert host.config is before


@pytest.mark.parametrize(
    "patch",
    [
        {"host": "192.0.2.66", "key": {"@type": "Value", "secret": TSIG_SECRET}},
        {**SIG0_FIELDS, "key": {"@type": "Value", "secret": "a private key"}},
        {"description": "renamed", "ttl": 60_000},
    ],
    ids=["host with the key", "@type with the key", "neither"],
)
async def test_an_update_that_sends_the_secret_again_or_keeps_its_destination_is_accepted(
    api: Api, patch: dict[str, Any]
) -> None:
    client, _, _ = api
    answer, result = await call(client, "x:DnsServer/set", {"update": {"primary": patch}})
    assert answer == "x:DnsServer/set"
    assert result["updated"] == {"primary": None}, result


async def test_a_stored_bootstrap_dns_server_secret_is_not_sent_to_another_host(api: Api) -> None:
    client, _, _ = api
    server = {**tsig({"@type": "Value", "secret": TSIG_SECRET}), "host": "192.0.2.53"}
    response = await post(
        client,
        request(
            ("x:Bootstrap/set", {"update": {"singleton": {"dnsServer": server}}}),
            ("x:Bootstrap/set", {"update": {"singleton": {"dnsServer/host": "192.0.2.66"}}}),
            ("x:Bootstrap/set", {"update": {"singleton": {"dnsServer/description": "kept"}}}),
        ),
    )
    first, moved, described = (answer[1] for answer in (await response.json())["methodResponses"])
    assert first["updated"] == {"singleton": None}, first
    assert moved["notUpdated"]["singleton"]["properties"] == ["dnsServer/key"]
    assert described["updated"] == {"singleton": None}, described


async def test_a_file_secret_of_the_configuration_file_keeps_working_over_the_api(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "primary.key"  # in no allowed folder: the file's author chose it
    key_file.write_text(TSIG_SECRET)
    text = CONFIG.replace(
        f'key = {{ "@type" = "Value", secret = "{TSIG_SECRET}" }}',
        f'key = {{ "@type" = "File", filePath = "{key_file}" }}',
    )
    async with api_client(write_config(tmp_path, text)) as (client, _, host):
        patch = {"description": "renamed", "ttl": 60_000}
        _, result = await call(client, "x:DnsServer/set", {"update": {"primary": patch}})
        assert result["updated"] == {"primary": None}, result
        key_file.unlink()
        patch = {"description": "again"}
        _, result = await call(client, "x:DnsServer/set", {"update": {"primary": patch}})
    assert result["notUpdated"]["primary"]["description"] == (
        f"key: cannot read secret file {key_file}: No such file or directory"
    )
    assert host.config.dns_server["primary"].description == "renamed"
