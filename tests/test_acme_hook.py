"""`dnsauto acme-hook`: certbot's and lego's DNS-01 hook, on a real BIND primary with a BIND
and a Knot secondary. Every check of what is served is made the moment the hook returns: it
claims the value is live on every nameserver by then, so no test waits for it afterwards."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
from pathlib import Path

import click
import dns.name
import pytest

from dnsauto.acme.hook import _locked, challenge_name, challenge_value, cleanup, present
from dnsauto.cli.acme import hook_request
from dnsauto.config.loader import load_config, load_config_file
from dnsauto.plugin.errors import ConfigError
from dnsauto.plugin.registry import load_registry
from dnsauto.state.store import StateStore
from dnsauto.testing.servers.proxy import WireProxy
from dnsauto.testing.servers.topology import Topology
from tests.acme_hook_helpers import (
    fresh_host,
    hook,
    hook_command,
    hook_env,
    net,
    served_everywhere,
    write_config,
)

__all__ = ["net"]  # the fixture, imported for the tests below


# --- what the clients hand over -----------------------------------------------------------------


def test_certbot_variables_make_an_auth_call() -> None:
    env = {"CERTBOT_DOMAIN": "mail.example.test", "CERTBOT_VALIDATION": "abc"}
    assert hook_request(None, (), env) == ("present", "mail.example.test", "abc")
    assert hook_request("auth", (), env) == ("present", "mail.example.test", "abc")
    assert hook_request("cleanup", (), env) == ("cleanup", "mail.example.test", "abc")


def test_certbot_cleanup_is_told_by_the_auth_output_naming_its_value() -> None:
    env = {"CERTBOT_DOMAIN": "mail.example.test", "CERTBOT_VALIDATION": "abc"}
    output = "dnsauto: presenting abc at _acme-challenge.mail.example.test."
    assert hook_request(None, (), {**env, "CERTBOT_AUTH_OUTPUT": output})[0] == "cleanup"
    # certbot leaves an earlier cleanup's variable set for the next certificate's auth hook
    stale = "dnsauto: presenting xyz at _acme-challenge.other.example.test."
    assert hook_request(None, (), {**env, "CERTBOT_AUTH_OUTPUT": stale})[0] == "present"


def test_lego_arguments_and_its_raw_mode() -> None:
    assert hook_request("present", ("_acme-challenge.a.test.", "v"), {}) == (
        "present",
        "_acme-challenge.a.test.",
        "v",
    )
    key_auth = "token123.thumbprint456"
    expected = base64.urlsafe_b64encode(hashlib.sha256(key_auth.encode()).digest())
    action, name, value = hook_request("cleanup", ("a.test", "token123", key_auth), {})
    assert (action, name) == ("cleanup", "a.test")
    assert value == expected.decode().rstrip("=") == challenge_value(key_auth)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "CERTBOT_DOMAIN and CERTBOT_VALIDATION not set"),
        ((), {"CERTBOT_DOMAIN": "a.test"}, "CERTBOT_VALIDATION not set"),
        (("only-one",), {}, "expected FQDN VALUE"),
    ],
)
def test_a_call_that_is_neither_says_what_is_expected(
    args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    with pytest.raises(click.UsageError, match=message):
        hook_request("present", args, env)


def test_the_challenge_name_drops_a_wildcard_and_keeps_a_given_label() -> None:
    expected = dns.name.from_text("_acme-challenge.example.test.")
    assert challenge_name("*.example.test") == expected
    assert challenge_name("example.test.") == expected
    assert challenge_name("_acme-challenge.example.test.") == expected


async def test_a_second_holder_of_the_name_lock_waits_for_the_first(tmp_path: Path) -> None:
    name = dns.name.from_text("_acme-challenge.example.test.")
    second_in = asyncio.Event()

    async def second() -> None:
        async with _locked(tmp_path, name):
            second_in.set()

    async with _locked(tmp_path, name):
        waiting = asyncio.create_task(second())
        done, _ = await asyncio.wait([waiting], timeout=0.2)
        assert not done, "got the lock while the first held it"
        assert not second_in.is_set()
    await asyncio.wait_for(waiting, timeout=10)
    assert second_in.is_set()


# --- on the topology ----------------------------------------------------------------------------


@pytest.mark.servers
def test_certbot_auth_publishes_live_everywhere_and_cleanup_keeps_foreign_values(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net)
    host = fresh_host()
    name = f"_acme-challenge.{host}."
    net.update(("add", name, "300", "TXT", '"foreign-verification"'))
    certbot = {"CERTBOT_DOMAIN": host, "CERTBOT_VALIDATION": "v4lue-one"}

    auth = hook(config, env=certbot)

    assert auth.returncode == 0, auth.stderr
    assert served_everywhere(net, name) == [{"foreign-verification", "v4lue-one"}] * 3
    assert "served by 3 nameserver(s)" in auth.stdout

    cleanup = hook(config, env={**certbot, "CERTBOT_AUTH_OUTPUT": auth.stdout.strip()})

    assert cleanup.returncode == 0, cleanup.stderr
    assert served_everywhere(net, name) == [{"foreign-verification"}] * 3
    listed = subprocess.run(
        [*hook_command()[:-1], "journal", "--json", "--domain", "example.test"],
        capture_output=True,
        text=True,
        env=hook_env(config),
        check=True,
    )
    entries = [e for e in json.loads(listed.stdout) if e["name"] == name]
    assert [(e["action"], e["status"]) for e in entries] == [("update", "applied")] * 2


@pytest.mark.servers
def test_concurrent_calls_for_one_name_keep_each_others_values(
    net: Topology, tmp_path: Path
) -> None:
    """An order for the apex and the wildcard: two values at one name, presented at once (and
    two more beside them), then cleaned up at once."""
    config = write_config(tmp_path / "dnsauto.toml", net)
    host = fresh_host()
    name = f"_acme-challenge.{host}."
    values = [f"value-{n}" for n in range(4)]

    def all_at_once(action: str) -> list[subprocess.CompletedProcess[str]]:
        started = [
            subprocess.Popen(
                hook_command(action, name, value),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=hook_env(config),
            )
            for value in values
        ]
        done = []
        for process in started:
            out, err = process.communicate(timeout=60)
            done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
        return done

    presented = all_at_once("present")

    assert [p.returncode for p in presented] == [0] * 4, [p.stderr for p in presented]
    assert served_everywhere(net, name) == [set(values)] * 3

    cleaned = all_at_once("cleanup")

    assert [p.returncode for p in cleaned] == [0] * 4, [p.stderr for p in cleaned]
    assert served_everywhere(net, name) == [set()] * 3


@pytest.mark.servers
def test_the_hook_returns_only_once_the_lagging_secondary_serves_the_value(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net, timeout="30s")
    host = fresh_host()
    name = f"_acme-challenge.{host}."

    with net.frozen():
        running = subprocess.Popen(
            hook_command("present", name, "lagging-value"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=hook_env(config),
        )
        try:
            primary, bind_secondary = net.members[:2]
            net.wait_until(
                lambda: all(
                    "lagging-value" in net.served(m, name, "TXT")[1]
                    for m in (primary, bind_secondary)
                ),
                "the primary and the BIND secondary to serve the value",
            )
            assert net.served(net.knot_secondary, name, "TXT")[1] == set()
            assert running.poll() is None, "the hook returned while Knot lagged"
        except BaseException:
            running.kill()
            raise
    out, err = running.communicate(timeout=60)

    assert running.returncode == 0, err
    assert served_everywhere(net, name) == [{"lagging-value"}] * 3
    assert "served by 3 nameserver(s)" in out


@pytest.mark.servers
def test_a_secondary_still_serving_a_cleaned_up_value_fails_the_cleanup_and_is_named(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net, timeout="500ms")
    patient = write_config(tmp_path / "patient.toml", net, timeout="30s")  # the same state
    name = f"_acme-challenge.{fresh_host()}."
    # Published with time to spare: under load a secondary may take longer than 0.5 s.
    assert hook(patient, "present", name, "stale-value").returncode == 0

    with net.frozen():
        failed = hook(config, "cleanup", name, "stale-value")

    assert failed.returncode == 1, failed.stdout
    assert f"{name} TXT not live on every nameserver after 0.5s" in failed.stderr
    assert "127.0.0.3" in failed.stderr
    assert "serves stale-value" in failed.stderr


@pytest.mark.servers
def test_a_cleanup_called_again_once_the_secondary_caught_up_succeeds(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net, timeout="500ms")
    patient = write_config(tmp_path / "patient.toml", net, timeout="30s")  # the same state
    name = f"_acme-challenge.{fresh_host()}."
    assert hook(patient, "present", name, "stale-value").returncode == 0
    with net.frozen():
        assert hook(config, "cleanup", name, "stale-value").returncode == 1

    again = hook(patient, "cleanup", name, "stale-value")

    assert again.returncode == 0, again.stderr
    assert served_everywhere(net, name) == [set()] * 3


@pytest.mark.servers
def test_a_secondary_that_never_catches_up_fails_the_hook_and_is_named(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net, timeout="500ms")
    name = f"_acme-challenge.{fresh_host()}."

    with net.frozen():
        failed = hook(config, "present", name, "never-there")

    assert failed.returncode == 1
    assert f"{name} TXT not live on every nameserver after 0.5s" in failed.stderr
    assert "127.0.0.3" in failed.stderr
    assert "127.0.0.2" not in failed.stderr


@pytest.mark.servers
def test_lego_raw_mode_publishes_the_digest_of_the_key_authorization(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net)
    host = fresh_host()
    key_auth = "tok3n.thumbpr1nt"
    expected = base64.urlsafe_b64encode(hashlib.sha256(key_auth.encode()).digest())

    done = hook(config, "present", "--", host, "tok3n", key_auth)

    assert done.returncode == 0, done.stderr
    assert (
        served_everywhere(net, f"_acme-challenge.{host}.") == [{expected.decode().rstrip("=")}] * 3
    )


@pytest.mark.servers
def test_a_name_outside_every_configured_domain_is_a_configuration_error(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net)

    done = hook(config, "present", "_acme-challenge.mail.other.test.", "v")

    assert done.returncode == 2
    assert "_acme-challenge.mail.other.test.: no configured domain holds this name" in (done.stderr)
    assert "Traceback" not in done.stderr


async def test_a_domain_published_by_hand_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    registry = load_registry()
    config = load_config(
        {
            "bootstrap": {
                "serverHostname": "mail.example.test",
                "defaultDomain": "example.test",
                "dnsServer": {"@type": "Manual"},
            },
            "daemon": {"stateDir": str(tmp_path / "state")},
        },
        registry=registry,
    )
    with StateStore(tmp_path / "state") as store:
        with pytest.raises(ConfigError, match=r"domain example\.test is published by hand"):
            await present(config, registry, store, "mail.example.test", "v")
        assert store.journal() == []


@pytest.mark.servers
async def test_one_update_per_call_and_none_when_the_value_is_already_there(
    net: Topology, tmp_path: Path
) -> None:
    """What the provider is sent, counted on the wire in front of the primary (nameserver
    discovery and the propagation check go to the nameservers directly)."""
    proxy = await WireProxy(("127.0.0.1", net.port)).start()
    try:
        path = write_config(tmp_path / "dnsauto.toml", net, port=proxy.port)
        registry = load_registry()
        config = load_config_file(path, registry)
        host = fresh_host()
        with StateStore(tmp_path / "state") as store:
            calls = []
            for run in (present, present, cleanup):
                before = dict(proxy.seen)
                result = await run(config, registry, store, host, "counted-value")
                sent = {k: n - before.get(k, 0) for k, n in proxy.seen.items()}
                calls.append(({k: n for k, n in sent.items() if n}, result))
    finally:
        await proxy.stop()

    updates = [sum(n for (_, op), n in sent.items() if op == "UPDATE") for sent, _ in calls]
    assert updates == [1, 0, 1]
    assert [bool(r.changes) for _, r in calls] == [True, False, True]
    assert all(r.propagated and r.error is None for _, r in calls)
    queries = [sum(n for (_, op), n in sent.items() if op == "QUERY") for sent, _ in calls]
    # The provider's read of the zone and the name (per record type when AXFR is refused,
    # as here: the update key may not transfer) is the same each time; nothing is retried.
    assert queries[0] > 0
    assert queries == [queries[0]] * 3, queries


@pytest.mark.servers
def test_a_cname_at_the_challenge_name_fails_at_once_saying_why(
    net: Topology, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "dnsauto.toml", net, timeout="30s")
    name = f"_acme-challenge.{fresh_host()}."
    net.update(("add", name, "300", "CNAME", "validation.elsewhere.test."))

    done = hook(config, "present", name, "v")

    assert done.returncode == 1
    assert f"{name}: not publishing TXT because a foreign CNAME exists at the name" in (done.stderr)
    assert served_everywhere(net, name) == [set()] * 3
