"""The command line: outputs, exit statuses, and clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest
from click.testing import CliRunner

from dnsauto.cli import cli
from dnsauto.cli import options as cli_module
from dnsauto.testing.memory import MemoryHost, MemoryProvider, memory_registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"

MEMORY_CONFIG = """
[bootstrap]
serverHostname = "mail.example.test"
defaultDomain = "example.test"
dnsServer = { "@type" = "Memory", description = "memory" }

[daemon]
stateDir = "state"
"""


@pytest.fixture(autouse=True)
def memory_plugins(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    monkeypatch.setattr(cli_module, "load_registry", memory_registry)
    host = MemoryHost()
    host.add_zone("example.test.")
    monkeypatch.setattr(MemoryProvider, "host", host)
    return host


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def dnsauto_process(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnsauto", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_config_option_is_accepted_before_and_after_the_command(
    write_config: Callable[[str], Path],
) -> None:
    path = str(write_config(MEMORY_CONFIG))
    assert run("--config", path, "records")[0] == 0
    assert run("records", "--config", path)[0] == 0


def test_config_comes_from_the_environment(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DNSAUTO_CONFIG", str(write_config(MEMORY_CONFIG)))
    assert run("records")[0] == 0


def test_records_json_lists_zone_name_type_ttl_and_zone_file_values(
    write_config: Callable[[str], Path],
) -> None:
    status, out, _ = run("records", "-c", str(write_config(MEMORY_CONFIG)), "--format", "json")
    assert status == 0
    records = json.loads(out)
    dmarc = next(r for r in records if r["name"] == "_dmarc.example.test.")
    assert dmarc == {
        "zone": "example.test.",
        "name": "_dmarc.example.test.",
        "type": "TXT",
        "ttl": 300,
        "values": ['"v=DMARC1; p=reject; rua=mailto:postmaster@example.test"'],
    }


def test_records_are_identical_on_a_second_run(write_config: Callable[[str], Path]) -> None:
    path = str(write_config(MEMORY_CONFIG))
    first = run("records", "-c", path)[1]
    assert "._domainkey.example.test." in first
    assert run("records", "-c", path)[1] == first


def test_plan_json_has_the_documented_shape(write_config: Callable[[str], Path]) -> None:
    status, out, _ = run("plan", "-c", str(write_config(MEMORY_CONFIG)), "--json")
    assert status == 0
    (domain,) = json.loads(out)["domains"]
    assert domain["domain"] == "example.test"
    assert domain["zone"] == "example.test."
    change = domain["changes"][0]
    assert set(change) == {"action", "name", "type", "old", "new"}
    assert change["action"] == "create"


def test_sync_json_reports_changes_then_zero_on_the_second_run(
    write_config: Callable[[str], Path],
) -> None:
    path = str(write_config(MEMORY_CONFIG))
    status, out, _ = run("sync", "-c", path, "--json", "--no-wait")
    assert status == 0
    (first,) = json.loads(out)["domains"]
    assert first["changes"] > 10
    assert first["error"] is None
    assert set(first) >= {"domain", "changes", "propagated", "seconds", "error"}
    (second,) = json.loads(run("sync", "-c", path, "--json", "--no-wait")[1])["domains"]
    assert second["changes"] == 0


def create_domain_over_the_api(config_path: Path, name: str) -> None:
    """Keep a Domain in the state store exactly as the API's ``x:Domain/set`` does."""
    from dnsauto.config.loader import load_config_file
    from dnsauto.config.overlay import Workspace
    from dnsauto.state.store import StateStore

    registry = memory_registry()
    config = load_config_file(config_path, registry)
    with StateStore(config.daemon.state_dir) as store:
        managed = {"@type": "Automatic", "dnsServerId": "bootstrap"}
        workspace = Workspace(config, store, registry)
        workspace.create_domain({"name": name, "dnsManagement": managed})
        workspace.save()


API_NOTE = "note: domain.other.test: set over the API (wins over the file)"


def test_plan_and_sync_run_on_the_domains_set_over_the_api_and_say_so(
    write_config: Callable[[str], Path], memory_plugins: MemoryHost
) -> None:
    memory_plugins.add_zone("other.test.")
    path = write_config(MEMORY_CONFIG)
    create_domain_over_the_api(path, "other.test")

    status, out, err = run("plan", "-c", str(path), "--json")
    assert status == 0
    planned = {d["domain"]: d["changes"] for d in json.loads(out)["domains"]}
    assert set(planned) == {"example.test", "other.test"}
    assert planned["other.test"], "the API's domain has records to publish"
    assert API_NOTE in err.splitlines()

    status, out, err = run("sync", "-c", str(path), "--json", "--no-wait")
    assert status == 0
    synced = {d["domain"]: d for d in json.loads(out)["domains"]}
    assert synced["other.test"]["error"] is None
    assert synced["other.test"]["changes"] > 0
    assert API_NOTE in err.splitlines()
    other = memory_plugins.zones[dns.name.from_text("other.test.")]
    assert (dns.name.from_text("_dmarc.other.test."), dns.rdatatype.TXT) in other


def test_records_run_on_the_domains_set_over_the_api_and_say_so(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(MEMORY_CONFIG)
    create_domain_over_the_api(path, "other.test")
    status, out, err = run("records", "-c", str(path), "--format", "json")
    assert status == 0
    assert "_dmarc.other.test." in {r["name"] for r in json.loads(out)}
    assert API_NOTE in err.splitlines()


def test_restore_runs_on_the_domains_set_over_the_api_and_says_so(
    write_config: Callable[[str], Path], memory_plugins: MemoryHost
) -> None:
    memory_plugins.add_zone("other.test.")
    path = write_config(MEMORY_CONFIG)
    create_domain_over_the_api(path, "other.test")
    assert run("sync", "-c", str(path), "--domain", "other.test", "--no-wait")[0] == 0
    (run_id,) = {e["run"] for e in json.loads(run("journal", "-c", str(path), "--json")[1])}

    status, out, err = run("restore", "-c", str(path), "--run", run_id, "--json")
    assert status == 0, (out, err)
    (restored,) = json.loads(out)["domains"]
    assert restored["domain"] == "other.test"
    assert restored["error"] is None
    assert API_NOTE in err.splitlines()
    assert memory_plugins.zones[dns.name.from_text("other.test.")] == {}


def test_status_counts_the_domains_set_over_the_api_as_configured(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(MEMORY_CONFIG)
    create_domain_over_the_api(path, "other.test")
    _, out, err = run("status", "-c", str(path), "--json")
    domains = {d["domain"]: d for d in json.loads(out)["domains"]}
    assert domains["other.test"]["configured"] is True
    assert API_NOTE in err.splitlines()


def test_a_file_without_objects_set_over_the_api_prints_no_note(
    write_config: Callable[[str], Path],
) -> None:
    status, _, err = run("plan", "-c", str(write_config(MEMORY_CONFIG)))
    assert status == 0
    assert "note:" not in err


def test_sync_dry_run_writes_nothing(
    write_config: Callable[[str], Path], memory_plugins: MemoryHost
) -> None:
    status, out, _ = run("sync", "-c", str(write_config(MEMORY_CONFIG)), "--dry-run")
    assert status == 0
    assert "+ _dmarc.example.test. TXT" in out
    assert memory_plugins.apply_calls == []


def test_sync_with_the_manual_provider_prints_the_zone_fragment() -> None:
    status, out, _ = run("sync", "-c", str(EXAMPLE), "--domain", "example.test")
    assert status == 0
    assert "enter these records at your DNS host" in out
    assert '_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject;' in out


def test_sync_exits_1_when_a_domain_fails(
    write_config: Callable[[str], Path], memory_plugins: MemoryHost
) -> None:
    memory_plugins.zones.clear()
    status, out, _ = run("sync", "-c", str(write_config(MEMORY_CONFIG)), "--json", "--no-wait")
    assert status == 1
    assert json.loads(out)["domains"][0]["error"]


def test_config_error_exits_2_with_the_field_path(write_config: Callable[[str], Path]) -> None:
    path = write_config(MEMORY_CONFIG.replace('description = "memory"', "ttl = -5"))
    status, _, err = run("config", "check", "-c", str(path))
    assert status == 2
    assert sorted(err.splitlines()) == [
        f"{path}: bootstrap.dnsServer.description: missing required field",
        f"{path}: bootstrap.dnsServer.ttl: a duration cannot be negative",
    ]


def test_config_check_prints_the_normalized_config_with_secrets_redacted(
    write_config: Callable[[str], Path],
) -> None:
    secret = '{ "@type" = "Value", secret = "hunter2" }'
    path = write_config(
        MEMORY_CONFIG.replace('description = "memory"', f"secret = {secret}, description = 'm'")
    )
    status, out, _ = run("config", "check", "-c", str(path))
    assert status == 0
    assert "hunter2" not in out
    assert 'secret = "********"' in out
    assert 'ttl = "5m"' in out


def test_config_check_reports_an_unreadable_secret_file(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    secret = f'{{ "@type" = "File", filePath = "{tmp_path}/missing" }}'
    path = write_config(
        MEMORY_CONFIG.replace('description = "memory"', f"secret = {secret}, description = 'm'")
    )
    status, _, err = run("config", "check", "-c", str(path))
    assert status == 2
    assert "bootstrap.dnsServer.secret: cannot read secret file" in err


def test_schema_is_json_schema_with_stalwart_property_names() -> None:
    status, out, _ = run("schema")
    assert status == 0
    schema = json.loads(out)
    assert "bootstrap" in schema["properties"]
    assert "dnsServer" in schema["properties"]
    text = json.dumps(schema)
    assert "serverHostname" in text
    assert "pollingInterval" in text


def test_providers_json_lists_type_distribution_version_and_record_types() -> None:
    status, out, _ = run("providers", "--json")
    assert status == 0
    manual = next(p for p in json.loads(out) if p["type"] == "Manual")
    assert set(manual) == {"type", "distribution", "version", "recordTypes"}
    assert "TXT" in manual["recordTypes"]


def test_bad_config_in_a_real_process_gives_exit_2_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    # a @type no plugin provides: every known one is installed in the workspace
    path.write_text('[bootstrap]\nserverHostname = 5\n[dnsServer.x]\n"@type" = "Carrier"\n')
    result = dnsauto_process("sync", "--config", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}: bootstrap.serverHostname: Input should be a valid string" in result.stderr
    assert f"{path}: bootstrap.defaultDomain: missing required field" in result.stderr
    assert f"{path}: dnsServer.x.@type: unknown @type 'Carrier'" in result.stderr


def test_missing_config_file_gives_exit_2(tmp_path: Path) -> None:
    result = dnsauto_process("plan", "--config", str(tmp_path / "none.toml"))
    assert result.returncode == 2
    assert "cannot read configuration" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_describes_every_command() -> None:
    result = dnsauto_process("--help")
    assert result.returncode == 0
    for command in ("config", "plan", "providers", "records", "schema", "sync"):
        assert command in result.stdout


def test_an_integer_too_long_to_read_exits_2_with_its_field_path(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(MEMORY_CONFIG + "maxConcurrentDomains = " + "9" * 5000 + "\n")
    status, _, err = run("config", "check", "-c", str(path))
    assert status == 2
    assert err.startswith(f"{path}: daemon.maxConcurrentDomains: ")
    assert "5000 digits" in err
    assert len(err) < 300


@pytest.mark.parametrize("command", [("config", "check"), ("run",)])
def test_a_duration_too_long_to_run_exits_2_for_check_and_run_alike(
    write_config: Callable[[str], Path], command: tuple[str, ...]
) -> None:
    manual = MEMORY_CONFIG.replace('"Memory", description = "memory"', '"Manual"')
    path = write_config(manual + 'dkimCheckInterval = "3000000d"\n')
    result = subprocess.run(
        [sys.executable, "-m", "dnsauto", *command, "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"{path}: daemon.dkimCheckInterval: a duration cannot be longer than 36500d (100 years)\n"
    )


def test_the_longest_duration_allowed_is_accepted(write_config: Callable[[str], Path]) -> None:
    path = write_config(MEMORY_CONFIG + 'dkimCheckInterval = "36500d"\n')
    status, _, err = run("config", "check", "-c", str(path))
    assert status == 0
    assert err.endswith("config.toml: valid\n")


@pytest.mark.parametrize(
    ("setting", "path"),
    [
        ('serverHostname = "{}.example.test"', "bootstrap.serverHostname"),
        ('dnsServer = {{ "@type" = "{}" }}', "bootstrap.dnsServer.@type"),
        ('dnsServer = {{ "@type" = "Memory", description = "m", ttl = "{}s" }}',
         "bootstrap.dnsServer.ttl"),
    ],
)  # fmt: skip
def test_an_error_quotes_a_huge_value_to_about_80_characters(
    write_config: Callable[[str], Path], setting: str, path: str
) -> None:
    text = (
        "[bootstrap]\n"
        'serverHostname = "mail.example.test"\n'
        'defaultDomain = "example.test"\n'
        'dnsServer = { "@type" = "Memory", description = "memory" }\n'
    )
    key = setting.split(" = ")[0]
    lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
    file = write_config("\n".join([*lines, setting.format("x" * 1_000_000)]) + "\n")
    status, _, err = run("config", "check", "-c", str(file))
    assert status == 2
    assert f": {path}: " in err
    assert len(err) < 300, err[:400]
