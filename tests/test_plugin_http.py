"""The toolkit's HTTP client: retries, rate limit, error mapping and redaction, at a fake API."""

from __future__ import annotations

import email.utils
import logging
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from dnsauto import __version__
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.errors import AuthenticationError, ConflictError, ProviderError, TransientError
from dnsauto.plugin.http import (
    STATUS_ERRORS,
    HttpClient,
    HttpStatusError,
    RateLimit,
    RetryPolicy,
    error_class,
    next_link,
    parse_retry_after,
)
from dnsauto.plugin.settings import DnsServerBase
from dnsauto.testing.fake_http import FakeApi, FakeClock, Fault

TOKEN = "tok-very-secret-123"


class EchoApi(FakeApi):
    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/thing", self._thing)
        router.add_post("/thing", self._thing)

    async def _thing(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


@pytest.fixture
async def api() -> AsyncIterator[EchoApi]:
    async with EchoApi() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client(api: FakeApi, clock: FakeClock, **kwargs: object) -> HttpClient:
    options: dict[str, object] = {
        "base_url": api.base_url,
        "provider": "Example",
        "server_id": "dns1",
        "timeout": 5.0,
        "auth": lambda: {"Authorization": f"Bearer {TOKEN}"},
        "clock": clock,
        "rng": random.Random(7),
        **kwargs,
    }
    return HttpClient(**options)  # type: ignore[arg-type]


async def test_every_request_names_dnsauto_and_its_version(api: EchoApi, clock: FakeClock):
    http = client(api, clock)
    await http.get("/thing")
    await http.aclose()
    assert api.requests[0].headers["User-Agent"] == f"dnsauto/{__version__}"


async def test_a_429_with_retry_after_seconds_is_retried_after_that_wait(api, clock):
    api.fail_next(Fault(status=429, headers={"Retry-After": "7"}, body={"errors": ["slow"]}))
    http = client(api, clock)
    assert await http.get("/thing") == {"ok": True}
    await http.aclose()
    assert clock.sleeps == [7.0]
    assert (http.counters.requests, http.counters.retries, http.counters.throttled) == (2, 1, 1)


async def test_a_retry_after_http_date_is_waited_until(api, clock):
    when = email.utils.formatdate(clock.time() + 30, usegmt=True)
    api.fail_next(Fault(status=503, headers={"Retry-After": when}))
    http = client(api, clock)
    await http.get("/thing")
    await http.aclose()
    assert 29 <= clock.sleeps[0] <= 30


async def test_a_429_without_retry_after_waits_until_the_quota_reset_header_says(api, clock):
    reset = str(int(clock.time()) + 40)
    api.fail_next(Fault(status=429, headers={"X-RateLimit-Reset": reset}))
    http = client(api, clock, rate_limit_reset_header="x-ratelimit-reset")
    await http.get("/thing")
    await http.aclose()
    assert clock.sleeps == [pytest.approx(40, abs=1)]


async def test_5xx_without_retry_after_backs_off_exponentially_with_jitter(api, clock):
    api.fail_next(Fault(status=502, times=3))
    http = client(api, clock, retry=RetryPolicy(attempts=5, base_delay=1.0, jitter=0.5))
    await http.get("/thing")
    await http.aclose()
    assert len(clock.sleeps) == 3
    for retry, wait in enumerate(clock.sleeps, 1):
        assert 2 ** (retry - 1) * 0.5 <= wait <= 2 ** (retry - 1)


async def test_retries_are_bounded_in_count_and_end_in_a_transient_error(api, clock):
    api.fail_next(Fault(status=500, times=10))
    http = client(api, clock, retry=RetryPolicy(attempts=3))
    with pytest.raises(TransientError) as caught:
        await http.get("/thing")
    await http.aclose()
    assert api.count("GET") == 3
    assert isinstance(caught.value.__cause__, HttpStatusError)


async def test_a_retry_after_past_the_time_budget_fails_at_once_saying_when(api, clock):
    api.fail_next(Fault(status=429, headers={"Retry-After": "300"}))
    http = client(api, clock, retry=RetryPolicy(budget=60))
    with pytest.raises(TransientError) as caught:
        await http.get("/thing")
    await http.aclose()
    assert caught.value.retry_after == 300
    assert clock.sleeps == []


async def test_refused_credentials_are_permanent_naming_server_and_field(api, clock):
    api.fail_next(Fault(status=403, body={"message": "Authentication error"}, times=5))
    http = client(api, clock, credential_fields=("secret",))
    with pytest.raises(AuthenticationError) as caught:
        await http.get("/thing")
    await http.aclose()
    assert api.count("GET") == 1
    assert not caught.value.transient
    assert "'secret'" in caught.value.message
    assert "'dns1'" in caught.value.message


async def test_a_connection_reset_is_retried(api, clock):
    api.fail_next(Fault(reset=True))
    http = client(api, clock)
    assert (await http.request("POST", "/thing", json={})).body == {"ok": True}
    await http.aclose()
    assert http.counters.retries == 1


async def test_a_timeout_is_a_transient_error(api, clock):
    api.fail_next(Fault(stall=True, times=2))
    http = client(api, clock, timeout=0.2, retry=RetryPolicy(attempts=2))
    with pytest.raises(TransientError, match="timeout"):
        await http.get("/thing")
    await http.aclose()


async def test_an_unsafe_call_is_not_retried_after_a_5xx_but_is_after_a_429(api, clock):
    api.fail_next(Fault(status=429, match="POST"))
    api.fail_next(Fault(status=500, match="POST"))
    http = client(api, clock)
    with pytest.raises(TransientError):
        await http.request("POST", "/thing", json={}, retry_unsafe=False)
    await http.aclose()
    assert api.count("POST") == 2


async def test_the_rate_limit_holds_back_requests_past_the_bucket(api, clock):
    http = client(api, clock, rate_limit=RateLimit(3, 1.0))
    for _ in range(4):
        await http.get("/thing")
    await http.aclose()
    assert http.counters.rate_limited == 1
    assert clock.sleeps == [pytest.approx(1 / 3)]


async def test_keyed_limits_hold_back_only_requests_of_the_same_key(api, clock):
    http = client(api, clock)
    writes = [RateLimit(2, 1.0), RateLimit(15, 60.0)]
    for key in ("a.test", "a.test", "b.test", "a.test"):
        await http.request("POST", "/thing", json={}, limits=writes, limit_key=key)
    await http.aclose()
    assert http.counters.rate_limited == 1
    assert clock.sleeps == [pytest.approx(0.5)]


def test_the_next_link_is_read_from_a_link_header():
    header = '<https://x.test/r/?cursor=>; rel="prev", <https://x.test/r/?cursor=abc>; rel="next"'
    assert next_link({"Link": header}) == "https://x.test/r/?cursor=abc"
    assert next_link({"Link": '<https://x.test/r/?cursor=>; rel="first"'}) is None
    assert next_link({}) is None


async def test_a_next_page_url_on_another_host_is_refused(api, clock):
    http = client(api, clock)
    assert http.relative(api.base_url + "/thing?page=2") == "/thing?page=2"
    with pytest.raises(ProviderError, match="outside"):
        http.relative("https://elsewhere.test/thing?page=2")


async def test_credentials_are_never_in_repr_errors_or_logs(api, clock, caplog):
    caplog.set_level(logging.DEBUG)
    api.fail_next(Fault(status=500, times=2))
    api.fail_next(Fault(status=401, body={"message": "bad token"}))
    http = client(api, clock)
    with pytest.raises(AuthenticationError) as caught:
        await http.get("/thing")
    await http.aclose()
    seen = [repr(http), str(caught.value), repr(caught.value), caplog.text]
    assert all(TOKEN not in text for text in seen)


def test_status_codes_map_to_errors_in_one_table():
    assert STATUS_ERRORS[401] is AuthenticationError
    assert error_class(409) is ConflictError
    assert error_class(503) is TransientError
    assert error_class(418) is ProviderError
    assert error_class(429) is TransientError


def test_retry_after_is_read_as_seconds_or_a_date_and_garbage_is_ignored():
    assert parse_retry_after("12", now=0) == 12
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40) == 60
    assert parse_retry_after("soon", now=0) is None


async def test_a_signing_hook_signs_the_exact_url_and_body_sent_and_again_on_each_retry(api, clock):
    signed: list[tuple[str, str, str]] = []

    def sign(method: str, url: str, body: str) -> dict[str, str]:
        signed.append((method, url, body))
        return {"X-Signature": f"sig{len(signed)}"}

    api.fail_next(Fault(match="POST", status=503))
    http = client(api, clock, sign=sign)
    await http.request("POST", "/thing", json={"b": 1, "a": [True, None]})
    await http.request("GET", "/thing", params={"fieldType": "TXT", "subDomain": "_x.y"})
    await http.aclose()
    body = '{"b":1,"a":[true,null]}'
    assert signed == [
        ("POST", f"{api.base_url}/thing", body),
        ("POST", f"{api.base_url}/thing", body),
        ("GET", f"{api.base_url}/thing?fieldType=TXT&subDomain=_x.y", ""),
    ]
    assert [r.headers["X-Signature"] for r in api.requests] == ["sig1", "sig2", "sig3"]
    assert api.requests[1].headers["Content-Type"] == "application/json"
    assert api.requests[2].query == {"fieldType": "TXT", "subDomain": "_x.y"}


async def test_a_fault_with_a_text_body_is_sent_as_it_is_with_its_content_type(api):
    xml = "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"
    api.fail_next(Fault(status=400, body=xml, content_type="text/xml"))
    async with aiohttp.ClientSession() as session, session.get(api.base_url + "/thing") as answer:
        assert (answer.status, answer.content_type, await answer.text()) == (400, "text/xml", xml)


def test_a_servers_client_takes_its_url_timeout_and_id_and_a_tests_overrides_win(monkeypatch):
    from dnsauto.plugin import DnsServerBase, ProviderContext

    settings = DnsServerBase.model_validate({"@type": "Xyz", "description": "x", "timeout": "7s"})
    context = ProviderContext(server_id="primary")
    client = HttpClient.for_server("Xyz", "https://api.xyz.example/v1/", settings, context,
                                   rate_limit=RateLimit(10, 1))  # fmt: skip
    assert (client.base_url, client.timeout) == ("https://api.xyz.example/v1", 7.0)
    assert (client.provider, client.server_id, client.rate_limit) == ("Xyz", "primary",
                                                                      RateLimit(10, 1))  # fmt: skip
    monkeypatch.setenv("DNSAUTO_API_URL_XYZ", "http://127.0.0.1:9")
    test = {"rate_limit": None}
    overridden = HttpClient.for_server("Xyz", "https://x.example", settings, context, test,
                                       rate_limit=RateLimit(10, 1))  # fmt: skip
    assert (overridden.base_url, overridden.rate_limit) == ("http://127.0.0.1:9", None)


async def test_a_form_body_is_sent_url_encoded_instead_of_json(api, clock):
    http = client(api, clock)
    await http.request("POST", "/thing", form={"grant_type": "a:b", "assertion": "x y"})
    await http.aclose()
    (sent,) = api.requests
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.body == "grant_type=a%3Ab&assertion=x+y"


def _porkbun_kind(response):
    body = response.body if isinstance(response.body, dict) else {}
    if body.get("status") != "ERROR":
        return None
    return AuthenticationError if "API key" in str(body.get("message")) else ProviderError


async def test_an_error_in_a_200_body_is_an_error_and_the_body_can_name_its_kind(api, clock):
    api.fail_next(Fault(status=200, body={"status": "ERROR", "message": "Record not found"}))
    api.fail_next(Fault(status=400, body={"status": "ERROR", "message": "Invalid API key. (002)"}))
    http = client(api, clock, error_kind=_porkbun_kind)
    with pytest.raises(ProviderError, match="HTTP 200: Record not found") as first:
        await http.get("/thing")
    assert not first.value.transient
    with pytest.raises(AuthenticationError, match="check 'secret'"):
        await http.get("/thing")
    assert (await http.get("/thing")) == {"ok": True}
    await http.aclose()


async def test_a_throttle_status_other_than_429_is_retried_even_for_an_unsafe_call(api, clock):
    api.fail_next(Fault(status=503, match="POST", body="<html>503 openresty</html>"))
    api.fail_next(Fault(status=500, match="POST"))
    http = client(api, clock, throttle_statuses=(429, 503))
    with pytest.raises(TransientError, match="HTTP 500"):
        await http.request("POST", "/thing", json={}, retry_unsafe=False)
    await http.aclose()
    assert api.count("POST") == 2
    assert http.counters.throttled == 1


async def test_body_credentials_are_sent_in_every_body_and_scrubbed_from_errors(api, clock, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk1_body-secret-456"
    api.fail_next(Fault(status=500))
    api.fail_next(Fault(status=400, body={"status": "ERROR", "message": f"bad key {secret}"}))
    http = client(api, clock, auth=dict, body_auth=lambda: {"secretapikey": secret})
    with pytest.raises(ProviderError) as caught:
        await http.request("POST", "/thing", json={"type": "TXT"})
    await http.request("POST", "/thing")
    await http.aclose()
    assert [r.body for r in api.requests] == [{"type": "TXT", "secretapikey": secret}] * 2 + [
        {"secretapikey": secret}
    ]
    seen = [repr(http), str(caught.value), repr(caught.value), caplog.text]
    assert all(secret not in text for text in seen)
    assert "bad key ********" in str(caught.value)


async def test_a_client_made_for_a_server_counts_into_its_context_and_tells_the_sink(api, clock):
    told: list[tuple[str, float]] = []
    context = ProviderContext(server_id="dns1")
    context.counters.sink = lambda what, amount: told.append((what, amount))
    settings = DnsServerBase.model_validate({"@type": "Example", "description": "x"})
    first = HttpClient.for_server("Example", api.base_url, settings, context, {"clock": clock})
    second = HttpClient.for_server("Example", api.base_url, settings, context, {"clock": clock})
    api.fail_next(Fault(status=429, headers={"Retry-After": "2"}))
    await first.get("/thing")
    await second.get("/thing")
    await first.aclose()
    await second.aclose()
    counters = context.counters
    assert (counters.requests, counters.retries, counters.throttled) == (3, 1, 1)
    assert counters.waited_seconds == 2.0
    assert sorted(told) == sorted(
        [("requests", 1), ("throttled", 1), ("retries", 1), ("waited_seconds", 2.0),
         ("requests", 1), ("requests", 1)]
    )  # fmt: skip


async def test_a_client_with_shared_limits_takes_its_tokens_there_by_server_and_key(
    api, clock, tmp_path
):
    from dnsauto.state.ratelimits import StoreRateLimits
    from dnsauto.state.store import StateStore, rate_buckets_table

    settings = DnsServerBase.model_validate({"@type": "Example", "description": "x"})
    with StateStore(tmp_path) as store:
        shared = StoreRateLimits(store, clock=lambda: 1_000.0)
        context = ProviderContext(server_id="dns1", rate_limits=shared)
        http = HttpClient.for_server("Example", api.base_url, settings, context,
                                     {"clock": clock}, rate_limit=RateLimit(2, 1.0))  # fmt: skip
        for key in ("a.test", "a.test", "a.test"):
            await http.request("POST", "/thing", json={}, limits=[RateLimit(5, 1.0)], limit_key=key)
        await http.aclose()
        with store.read_transaction() as conn:
            keys = sorted(conn.execute(rate_buckets_table.select()).scalars())

    assert clock.sleeps == [pytest.approx(0.5)]
    assert http.counters.rate_limited == 1
    assert keys == ["Example/dns1/a.test@5/1s", "Example/dns1@2/1s"]


async def test_two_clients_of_one_server_drawing_from_the_process_s_limits_wait_as_one(api, clock):
    from dnsauto.plugin.ratelimits import ProcessRateLimits

    settings = DnsServerBase.model_validate({"@type": "Example", "description": "x"})
    shared = ProcessRateLimits(clock=lambda: 1_000.0)
    context = ProviderContext(server_id="dns1", rate_limits=shared)
    # the providers of two runs of one daemon
    runs = [
        HttpClient.for_server(
            "Example",
            api.base_url,
            settings,
            context,
            {"clock": clock},
            rate_limit=RateLimit(2, 1.0),
        )
        for _ in range(2)
    ]
    for http in (*runs, runs[0]):
        await http.get("/thing")
    for http in runs:
        await http.aclose()
    assert clock.sleeps == [pytest.approx(0.5)], "the third request of the two waits its turn"


def test_process_rate_limits_reserve_the_next_token_due_and_refill_with_time():
    from dnsauto.plugin.ratelimits import ProcessRateLimits

    now = [0.0]
    limits = ProcessRateLimits(clock=lambda: now[0])
    two_a_second = RateLimit(2, 1.0)
    assert [limits.take("k", two_a_second) for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    assert limits.take("other", two_a_second) == 0.0, "each key its own bucket"
    now[0] = 10.0
    assert limits.take("k", two_a_second) == 0.0, "refilled, up to the burst"
