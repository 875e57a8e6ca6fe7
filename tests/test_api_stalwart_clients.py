"""Clients written for Stalwart talk to dnsauto: stalwart-cli's requests, a JMAP library from
PyPI (jmapc, unmodified) over HTTPS, the EventSource, CORS, and the URLs the session gives."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jmapc
import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jmapc.methods import CustomMethod, CustomResponse, Invocation

from dnsauto.api.server import ApiServer
from dnsauto.config.loader import load_config_file
from dnsauto.config.overlay import effective_config
from dnsauto.plugin import load_registry
from dnsauto.plugin.errors import ConfigError
from dnsauto.state.store import StateStore
from tests.api_helpers import free_port
from tests.api_server_helpers import (
    ADMIN_TOKEN,
    CONFIG,
    READER_TOKEN,
    TSIG_SECRET,
    FakeHost,
    api_client,
    auth,
    write_config,
)

Api = tuple[TestClient[Any, Any], ApiServer, FakeHost]
STALWART_CLI_USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
ORIGIN = "https://admin.example.test"


def with_api_settings(extra: str) -> str:
    """CONFIG with more ``[daemon.api]`` settings."""
    return CONFIG.replace("maxAuthFailures = 3\n", "maxAuthFailures = 3\n" + extra + "\n", 1)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    text = with_api_settings(f'allowedOrigins = ["{ORIGIN}"]\ntrustedProxies = ["127.0.0.0/8"]')
    async with api_client(write_config(tmp_path, text)) as running:
        yield running


# --- stalwart-cli (stalwartlabs/cli: src/jmap/session.rs, http.rs, protocol.rs, commands/) ---


async def test_stalwart_cli_request_sequence_session_schema_get_update(api: Api) -> None:
    client, _, host = api
    # Session::fetch: GET /jmap/session, no redirects followed; it keeps apiUrl's path
    session = await client.get("/jmap/session", headers=auth(), allow_redirects=False)
    assert session.status == 200
    document = await session.json()
    core = document["capabilities"]["urn:ietf:params:jmap:core"]
    assert core["maxObjectsInGet"] > 0
    assert core["maxObjectsInSet"] > 0
    api_path = "/" + document["apiUrl"].split("://", 1)[1].split("/", 1)[1].rstrip("/")
    # fetch_schema: GET /api/schema answers a redirect whose Location ends in the hash
    redirect = await client.get("/api/schema", headers=auth(), allow_redirects=False)
    assert redirect.status == 307
    digest = redirect.headers["Location"].rsplit("/", 1)[1]
    body = await client.get(f"/api/schema/{digest}", headers=auth(), allow_redirects=False)
    assert body.status == 200
    schema = json.loads(await body.read())
    # every key of the CLI's Schema struct is there (serde requires them all)
    assert set(schema) == {
        "objects",
        "schemas",
        "fields",
        "forms",
        "lists",
        "enums",
        "dashboards",
        "layouts",
    }
    assert schema["objects"]["x:Bootstrap"]["type"] == "singleton"
    assert schema["objects"]["x:DnsServer"]["permissionPrefix"] == "sysDnsServer"
    variants = {v["name"]: v for v in schema["schemas"]["x:DnsServer"]["variants"]}
    tsig = schema["fields"][variants["Tsig"]["schemaName"]]["properties"]
    assert tsig["keyName"]["type"] == {"type": "string", "format": "string"}
    assert tsig["keyName"]["update"] == "mutable"
    assert tsig["ttl"]["type"] == {"type": "number", "format": "duration"}
    assert "@type" not in tsig
    bootstrap_fields = schema["fields"][schema["schemas"]["x:Bootstrap"]["schemaName"]]
    assert bootstrap_fields["properties"]["generateDkimKeys"]["type"] == {"type": "boolean"}

    async def jmap(method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        # Jmap::call: one call "c0", USING core + stalwart, POST to the session's api path
        response = await client.post(
            api_path,
            json={"using": STALWART_CLI_USING, "methodCalls": [[method, arguments, "c0"]]},
            headers={**auth(), "Content-Type": "application/json"},
        )
        assert response.status == 200
        (answer,) = (await response.json())["methodResponses"]
        assert answer[0] == method, answer
        return dict(answer[1])

    # `stalwart-cli get DnsServer primary`
    got = await jmap("x:DnsServer/get", {"ids": ["primary"], "properties": None})
    assert got["list"][0]["keyName"] == "dnsauto"
    # `stalwart-cli get Bootstrap --fields serverHostname`
    got = await jmap("x:Bootstrap/get", {"ids": ["singleton"], "properties": ["serverHostname"]})
    assert got["list"] == [{"id": "singleton", "serverHostname": "mail.example.test"}]
    # `stalwart-cli update DnsServer primary --field description='updated value'`
    patch = {"description": "updated value"}
    updated = await jmap("x:DnsServer/set", {"update": {"primary": patch}})
    assert updated["notUpdated"] is None
    assert "primary" in updated["updated"]
    assert host.config.dns_server["primary"].description == "updated value"
    # `stalwart-cli update Bootstrap --field serverHostname=mx.example.test`
    updated = await jmap(
        "x:Bootstrap/set", {"update": {"singleton": {"serverHostname": "mx.example.test"}}}
    )
    assert "singleton" in updated["updated"]
    assert host.config.bootstrap.server_hostname == "mx.example.test"


async def test_stalwart_paths_well_known_redirects_and_jmap_is_an_api_url(api: Api) -> None:
    client, _, _ = api
    redirect = await client.get("/.well-known/jmap", allow_redirects=False)
    assert redirect.status == 307
    assert redirect.headers["Location"] == "/jmap/session"
    for path in ("/jmap/", "/jmap", "/api"):
        response = await client.post(
            path,
            json={"using": STALWART_CLI_USING, "methodCalls": [["Core/echo", {"a": 1}, "e"]]},
            headers=auth(),
        )
        assert (await response.json())["methodResponses"] == [["Core/echo", {"a": 1}, "e"]]
    assert (await client.get("/api/schema")).status == 401
    assert (await client.get("/jmap/session")).status == 401


async def test_x_methods_need_no_stalwart_capability_in_using_core_ones_do(api: Api) -> None:
    client, _, _ = api
    response = await client.post(
        "/api",
        json={
            "using": ["urn:ietf:params:jmap:core"],
            "methodCalls": [["x:Bootstrap/get", {}, "b"]],
        },
        headers=auth(),
    )
    (answer,) = (await response.json())["methodResponses"]
    assert answer[0] == "x:Bootstrap/get"
    response = await client.post(
        "/api",
        json={"using": ["urn:stalwart:jmap"], "methodCalls": [["Core/echo", {}, "e"]]},
        headers=auth(),
    )
    (answer,) = (await response.json())["methodResponses"]
    assert answer[0] == "error"
    assert answer[1]["type"] == "unknownMethod"


async def test_upload_and_download_answer_jmap_problems(api: Api) -> None:
    client, _, _ = api
    upload = await client.post("/jmap/upload/dnsauto/", data=b"blob", headers=auth())
    assert upload.status == 413
    assert upload.content_type == "application/problem+json"
    problem = await upload.json()
    assert problem["type"] == "urn:ietf:params:jmap:error:limit"
    assert problem["limit"] == "maxSizeUpload"
    download = await client.get("/jmap/download/dnsauto/b1/name?accept=text/plain", headers=auth())
    assert download.status == 404
    assert download.content_type == "application/problem+json"
    assert (await client.get("/jmap/download/dnsauto/b1/name")).status == 401


async def test_options_answers_204_with_cors_only_for_allowed_origins(api: Api) -> None:
    client, _, _ = api
    preflight = await client.options(
        "/api",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    other = await client.options("/jmap/session", headers={"Origin": "https://evil.example"})
    assert other.status == 204
    assert "Access-Control-Allow-Origin" not in other.headers
    # the answers themselves carry the header for the allowed origin, errors included
    response = await client.get("/jmap/session", headers={**auth(), "Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    refused = await client.get("/jmap/session", headers={"Origin": ORIGIN})
    assert refused.status == 401
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    # other paths keep their plain errors
    assert (await client.get("/nothing", headers=auth())).status == 404


# --- the session's URLs ------------------------------------------------------------------------


async def test_session_urls_ignore_the_host_header(tmp_path: Path) -> None:
    async with api_client(write_config(tmp_path)) as (client, _, _):
        response = await client.get("/jmap/session", headers={**auth(), "Host": "evil.example:1"})
        document = await response.json()
        base = f"http://127.0.0.1:{client.server.port}"
        assert document["apiUrl"] == f"{base}/api"
        assert document["eventSourceUrl"].startswith(f"{base}/jmap/eventsource/?types=")
        assert document["uploadUrl"] == f"{base}/jmap/upload/{{accountId}}/"
        # no proxy is trusted: X-Forwarded-* are ignored
        response = await client.get(
            "/jmap/session",
            headers={**auth(), "X-Forwarded-Proto": "https", "X-Forwarded-Host": "x.example"},
        )
        assert (await response.json())["apiUrl"] == f"{base}/api"


async def test_session_urls_from_public_url(tmp_path: Path) -> None:
    text = with_api_settings('publicUrl = "https://mail.example.test:8443/"')
    async with api_client(write_config(tmp_path, text)) as (client, _, _):
        document = await (await client.get("/jmap/session", headers=auth())).json()
        assert document["apiUrl"] == "https://mail.example.test:8443/api"
        assert document["downloadUrl"].startswith("https://mail.example.test:8443/jmap/download/")


async def test_session_urls_from_a_trusted_proxy_and_its_client_address(api: Api) -> None:
    client, server, _ = api
    headers = {
        **auth(),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "mail.example.test",
        "X-Forwarded-For": "198.51.100.7, 127.0.0.1",
    }
    document = await (await client.get("/jmap/session", headers=headers)).json()
    assert document["apiUrl"] == "https://mail.example.test/api"
    bad = {**headers, "X-Forwarded-Host": "evil.example/path?x"}
    document = await (await client.get("/jmap/session", headers=bad)).json()
    assert document["apiUrl"] == f"https://127.0.0.1:{client.server.port}/api"
    # wrong keys count against the forwarded client, not the proxy
    limit = server.settings().max_auth_failures
    for _ in range(limit):
        await client.get("/jmap/session", headers={**headers, "Authorization": "Bearer guess"})
    blocked = await client.get(
        "/jmap/session", headers={**headers, "Authorization": "Bearer guess"}
    )
    assert blocked.status == 429
    other = {**headers, "X-Forwarded-For": "198.51.100.8", "Authorization": "Bearer guess"}
    assert (await client.get("/jmap/session", headers=other)).status == 401


# --- EventSource --------------------------------------------------------------------------------


async def read_event(stream: Any) -> tuple[str, dict[str, Any], str | None]:
    """The next event of an EventSource response: its name, data and id."""
    fields: dict[str, str] = {}
    while True:
        line = (await stream.content.readline()).decode().rstrip("\n")
        if line == "":
            if fields:
                return fields["event"], json.loads(fields["data"]), fields.get("id")
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


async def test_event_source_sends_state_changes_for_the_changed_types(api: Api) -> None:
    client, server, _ = api
    async with asyncio.timeout(30):
        stream = await client.get("/jmap/eventsource/?types=*&closeafter=no&ping=0", headers=auth())
        assert stream.status == 200
        assert stream.content_type == "text/event-stream"
        assert server.events.opened is not None
        await server.events.opened.wait()
        answer = await client.post(
            "/api",
            json={
                "using": STALWART_CLI_USING,
                "methodCalls": [
                    ["x:DnsServer/set", {"update": {"primary": {"description": "new"}}}, "s"]
                ],
            },
            headers=auth(),
        )
        (set_response,) = (await answer.json())["methodResponses"]
        kind, data, ident = await read_event(stream)
        assert kind == "state"
        assert ident
        assert data["@type"] == "StateChange"
        changed = data["changed"]["dnsauto"]
        assert "x:DnsServer" in changed
        assert "x:Bootstrap" not in changed
        assert set_response[1]["runId"]  # other.test publishes through primary: a run
        if "x:Task" not in changed:
            kind, data, _ = await read_event(stream)  # the run's request, a moment later
            changed = data["changed"]["dnsauto"]
        assert "x:Task" in changed
        stream.close()
        # the reader key may not read tasks: asking for them is answered without them
        stream = await client.get(
            "/jmap/eventsource/?types=x:Task,x:Domain&closeafter=state&ping=1",
            headers=auth(READER_TOKEN),
        )
        kind, data, _ = await read_event(stream)
        assert kind == "ping"
        assert data["interval"] == 1
        stream.close()
        bad = await client.get("/jmap/eventsource/?types=Email", headers=auth())
        assert bad.status == 400
        assert "types" in (await bad.json())["detail"]


async def test_event_source_last_event_id_catches_up_and_closeafter_state_closes(
    api: Api,
) -> None:
    client, _, _ = api
    async with asyncio.timeout(30):
        url = "/jmap/eventsource/?types=x:DnsServer&closeafter=state&ping=0"
        stream = await client.get(url, headers={**auth(), "Last-Event-ID": "stale"})
        kind, data, ident = await read_event(stream)
        assert kind == "state"
        assert list(data["changed"]["dnsauto"]) == ["x:DnsServer"]
        assert await stream.content.read() == b""  # closeafter=state: the stream ends
        # with the id it was given, nothing has changed: nothing is sent until a change
        stream = await client.get(url, headers={**auth(), "Last-Event-ID": ident or ""})
        await client.post(
            "/api",
            json={
                "using": STALWART_CLI_USING,
                "methodCalls": [
                    ["x:DnsServer/set", {"update": {"primary": {"description": "x"}}}, "s"]
                ],
            },
            headers=auth(),
        )
        kind, data, second = await read_event(stream)
        assert second != ident
        assert await stream.content.read() == b""


# --- a third-party JMAP library over HTTPS -----------------------------------------------------


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dnsauto test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "api.crt", folder / "api.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def https_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, ApiServer, Path]]:
    cert, key = make_certificate(tmp_path)
    text = CONFIG + f'\n[daemon.api.tls]\ncertificate = "{cert}"\nprivateKey = "{key}"\n'
    registry = load_registry()
    base = load_config_file(write_config(tmp_path, text), registry)
    store = StateStore(base.daemon.state_dir)
    server = ApiServer(FakeHost(effective_config(base, store, registry=registry), registry), store)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # how requests (jmapc) trusts it
    try:
        address = await server.start(f"127.0.0.1:{free_port()}")
        yield address, server, cert
    finally:
        await server.close()
        store.close()


def custom(name: str, data: dict[str, Any], call_id: str) -> Invocation:
    method = CustomMethod(data=data)
    method.jmap_method = name
    return Invocation(id=call_id, method=method)


def jmapc_session(address: str) -> dict[str, Any]:
    """What jmapc does, unmodified: discover the session, then call the x: methods."""
    client = jmapc.Client.create_with_api_token(host=address, api_token=ADMIN_TOKEN)
    session = client.jmap_session
    bootstrap = client.request([custom("x:Bootstrap/get", {"ids": ["singleton"]}, "b")])
    domains = client.request(
        [
            custom("x:Domain/query", {"filter": {"text": "test"}}, "q"),
            custom("x:Domain/query", {"filter": {"name": "other.test"}}, "n"),
            custom(
                "x:Domain/get",
                {"#ids": {"resultOf": "q", "name": "x:Domain/query", "path": "/ids"}},
                "g",
            ),
        ]
    )
    created = client.request(
        [
            custom(
                "x:DnsServer/set",
                {
                    "create": {
                        "new1": {
                            "@type": "Tsig",
                            "description": "made by jmapc",
                            "host": "192.0.2.9",
                            "keyName": "jmapc",
                            "key": {"@type": "Value", "secret": TSIG_SECRET},
                        }
                    }
                },
                "s",
            )
        ]
    )
    (other,) = domains[1].response.data["ids"]  # type: ignore[union-attr]
    updated = client.request(
        [custom("x:Domain/set", {"update": {other: {"description": "by jmapc"}}}, "u")]
    )
    got = client.request([custom("x:Domain/get", {"ids": [other], "properties": ["name"]}, "o")])
    client.requests_session.close()
    return {
        "apiUrl": session.api_url,
        "account": client.account_id,
        "bootstrap": bootstrap,
        "domains": domains,
        "created": created,
        "updated": updated,
        "got": got,
    }


async def test_jmapc_discovers_the_session_over_https_and_calls_the_x_methods(
    https_server: tuple[str, ApiServer, Path],
) -> None:
    address, server, _ = https_server
    async with asyncio.timeout(60):
        result = await asyncio.to_thread(jmapc_session, address)
    assert result["apiUrl"] == f"https://{address}/api"
    assert result["account"] == "dnsauto"
    (bootstrap,) = result["bootstrap"]
    assert isinstance(bootstrap.response, CustomResponse)
    assert bootstrap.response.data["list"][0]["serverHostname"] == "mail.example.test"
    query, by_name, get = result["domains"]
    assert query.id == "q"
    assert get.id == "g"
    listed = get.response.data["list"]
    assert sorted(d["id"] for d in listed) == sorted(query.response.data["ids"])
    assert {"example.test", "other.test"} <= {d["name"] for d in listed}
    # the ids are RFC 8620 Ids, opaque (no name in them), and the name filter is exact
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,255}", d["id"]) for d in listed)
    assert not any(d["name"] in d["id"] or "." in d["id"] for d in listed)
    (other,) = [d["id"] for d in listed if d["name"] == "other.test"]
    assert by_name.response.data["ids"] == [other]
    (updated,) = result["updated"]
    assert updated.response.data["updated"] == {other: None}
    (got,) = result["got"]
    assert got.response.data["list"] == [{"id": other, "name": "other.test"}]
    assert server.host.config.domain["other.test"].description == "by jmapc"
    (created,) = result["created"]
    made = created.response.data["created"]["new1"]
    assert made["id"] in server.host.config.dns_server
    assert TSIG_SECRET not in json.dumps(created.response.data)


async def test_jmapc_follows_a_run_on_the_event_source(
    https_server: tuple[str, ApiServer, Path],
) -> None:
    address, server, _ = https_server
    client = jmapc.Client.create_with_api_token(
        host=address,
        api_token=ADMIN_TOKEN,
        event_source_config=jmapc.EventSourceConfig(types="x:DnsServer", closeafter="state"),
    )

    def next_event() -> Any:
        try:
            return next(client.events)
        finally:
            client._events.resp.close()  # type: ignore[union-attr]  # sseclient's response
            client.requests_session.close()

    async with asyncio.timeout(60):
        waiting = asyncio.create_task(asyncio.to_thread(next_event))
        assert server.events.opened is not None
        await server.events.opened.wait()
        async with ClientSession() as session:
            ssl_context = ssl.create_default_context(cafile=str(https_server[2]))
            response = await session.post(
                f"https://{address}/jmap/",
                json={
                    "using": STALWART_CLI_USING,
                    "methodCalls": [
                        ["x:DnsServer/set", {"update": {"primary": {"description": "k2"}}}, "u"],
                    ],
                },
                headers=auth(),
                ssl=ssl_context,
            )
            assert response.status == 200
        event = await waiting
    assert event.id
    assert "dnsauto" in event.data.changed


async def test_tls_with_unreadable_files_is_a_clear_error(tmp_path: Path) -> None:
    text = CONFIG + f'\n[daemon.api.tls]\ncertificate = "{tmp_path}/none.crt"\n'
    text += f'privateKey = "{tmp_path}/none.key"\n'
    registry = load_registry()
    base = load_config_file(write_config(tmp_path, text), registry)
    store = StateStore(base.daemon.state_dir)
    server = ApiServer(FakeHost(base, registry), store)
    try:
        with pytest.raises(Exception, match=r"daemon\.api\.tls: cannot use the certificate"):
            await server.start(f"127.0.0.1:{free_port()}")
    finally:
        await server.close()
        store.close()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ('publicUrl = "mail.example.test/api"', "publicUrl"),
        ('publicUrl = "https://mail.example.test/?x=1"', "publicUrl"),
        ('trustedProxies = ["proxy.example"]', "trustedProxies"),
        ('allowedOrigins = ["admin.example.test"]', "allowedOrigins"),
    ],
)
def test_bad_api_reach_settings_are_config_errors_naming_the_field(
    tmp_path: Path, setting: str, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_file(write_config(tmp_path, with_api_settings(setting)), load_registry())
    assert named in str(caught.value)


def test_a_relative_tls_path_is_a_config_error(tmp_path: Path) -> None:
    text = CONFIG + '\n[daemon.api.tls]\ncertificate = "api.crt"\nprivateKey = "/k.pem"\n'
    with pytest.raises(ConfigError) as caught:
        load_config_file(write_config(tmp_path, text), load_registry())
    assert "certificate" in str(caught.value)
    assert "absolute" in str(caught.value)
