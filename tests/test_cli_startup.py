"""``dnsauto --help`` stays quick: the service's and the plugins' heavy libraries load lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAZY = (
    "apscheduler",
    "prometheus_client",
    "sqlalchemy",
    "aiohttp",
    "dnsauto_rfc2136",
    "asyncio",
    "ssl",
)
"""Imported only by the commands that use them, never to print the help (asyncio brings
ssl, socket and selectors: a third of the help's time)."""


def imported_modules(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dnsauto", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    modules = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            modules.add(line.rsplit("|", 1)[1].strip())
    return modules


def test_help_imports_no_scheduler_metrics_database_or_provider_library() -> None:
    modules = imported_modules("--help")
    assert "dnsauto.cli" in modules
    loaded = sorted(m for m in modules if m.split(".")[0] in LAZY)
    assert loaded == []


def test_run_and_status_help_stay_lazy_too() -> None:
    for command in ("run", "status"):
        modules = imported_modules(command, "--help")
        assert not [m for m in modules if m.split(".")[0] in LAZY], command


VENDOR_LIBRARIES = ("boto3", "botocore", "aiohttp", "google", "cloudflare", "ovh")
"""The SDKs and HTTP stack behind the cloud providers: every installed plugin is imported
when a command loads the registry, so each imports its SDK only when it talks to its API."""


def test_loading_every_installed_provider_imports_no_vendor_sdk_or_http_library() -> None:
    probe = (
        "import sys; from dnsauto.plugin.registry import load_registry; r = load_registry(); "
        "assert not r.broken, r.broken; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in sys.argv[1:])))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *VENDOR_LIBRARIES],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == []


HEAP_PROBE = """
import gc, sys
from dnsauto.cli import main
young = gc.get_threshold()[0]
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
print(gc.isenabled(), gc.get_freeze_count() > 0, young, gc.get_threshold()[0])
"""


def test_the_console_script_freezes_what_loading_made_and_collects_young_objects_every_10000() -> (
    None
):
    result = subprocess.run(
        [sys.executable, "-c", HEAP_PROBE, "config", "check", "-c", "config.example.toml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert result.stdout.split()[-4:] == ["True", "True", "700", "10000"]


def test_commands_called_by_another_program_leave_its_cycle_collector_alone() -> None:
    import gc

    from click.testing import CliRunner

    from dnsauto.cli import cli

    frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
    result = CliRunner().invoke(cli, ["config", "check", "-c", str(ROOT / "config.example.toml")])
    assert result.exit_code == 0, result.output
    assert (gc.isenabled(), gc.get_freeze_count(), gc.get_threshold()) == (True, frozen, threshold)


SQLITE_STORE_PROBE = """
import sys, tempfile
from pathlib import Path
import dnsauto.config.overlay, dnsauto.service.cluster, dnsauto.state.ratelimits
import dnsauto.sync.engine
from dnsauto.state.store import StateStore
with StateStore(Path(tempfile.mkdtemp())) as store:
    store.put_object("Domain", "a", {"name": "a.test"})
    assert store.objects("Domain") == {"a": {"name": "a.test"}}
print(sorted(m for m in sys.modules if m.startswith("sqlalchemy.dialects.postgresql")))
"""


def test_a_store_on_sqlite_never_imports_sqlalchemys_postgresql_dialect() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_STORE_PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["[]"]
