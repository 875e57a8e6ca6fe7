"""The service's own costs: how long ``dnsauto --help`` takes, and how much memory ``dnsauto
run`` holds once idle.

``--help``
    Wall time of ``dnsauto --help`` as a fresh process, the median of 10 (3 with ``--quick``),
    after one untimed run: a command line that starts slowly makes every command slow.
    Target < 300 ms.
Idle RSS
    ``dnsauto run`` with every installed provider plugin, a small configuration (5 domains
    through a ``Tsig`` DnsServer at a BIND of its own on loopback, waiting for propagation
    there), run with ``NOTIFY_SOCKET`` pointing at a socket of the benchmark, as systemd would.
    Once it reports its first reconcile done (``STATUS=run …``) and a second has passed, its
    resident memory is read from ``/proc`` (``VmRSS``; the peak ``VmHWM`` too), then it is
    stopped with SIGTERM. Target <= 80 MB.

Python tools run with compiled bytecode (as the bulk benchmark explains).
"""

from __future__ import annotations

import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import Figure
from bench._bind import ZoneServer
from bench.bulk import ROOT, Settings, _dnsauto, cache_dir, tool_environment

__all__ = ["TITLE", "DaemonSettings", "help_seconds", "idle_rss", "run"]

TITLE = "dnsauto --help wall time; idle RSS of dnsauto run after its first reconcile"

HELP_TARGET_MS = 300
RSS_TARGET_MB = 80

CONFIG = """\
[bootstrap]
serverHostname = "mail.bench.test"
defaultDomain = "z0.bench.test"

[dnsServer.bench]
"@type" = "Tsig"
description = "The benchmark's BIND"
host = "127.0.0.1"
port = {port}
keyName = "bench-key"
key = {{ "@type" = "File", filePath = "{secret_file}" }}
tsigAlgorithm = "hmac-sha256"
pollingInterval = "200ms"

[mailServer]
mtaStsPolicyId = "20260101"

[daemon]
stateDir = "{state}"

[daemon.dns]
authoritativeServers = ["127.0.0.1:{port}"]
"""


@dataclass(frozen=True)
class DaemonSettings:
    help_runs: int = 10
    domains: int = 5
    idle_seconds: float = 1.0
    first_run_timeout: float = 120.0

    @classmethod
    def quick(cls) -> DaemonSettings:
        return cls(help_runs=3, domains=2, idle_seconds=0.5)


def run(quick: bool) -> list[Figure]:
    return measure(DaemonSettings.quick() if quick else DaemonSettings())


def measure(settings: DaemonSettings) -> list[Figure]:
    environment = tool_environment(cache_dir(Settings()))
    help_ms = round(help_seconds(settings.help_runs, environment) * 1000, 1)
    figures = [
        Figure(
            "daemon.help_ms",
            help_ms,
            "ms",
            f"dnsauto --help, fresh process, median of {settings.help_runs}",
            f"< {HELP_TARGET_MS}",
            help_ms < HELP_TARGET_MS,
        )
    ]
    rss, peak = idle_rss(settings, environment)
    figures += [
        Figure(
            "daemon.idle_rss_mb",
            round(rss / 1024, 1),
            "MB",
            f"dnsauto run, idle after its first reconcile of {settings.domains} domains (VmRSS)",
            f"<= {RSS_TARGET_MB}",
            rss / 1024 <= RSS_TARGET_MB,
        ),
        Figure("daemon.peak_rss_mb", round(peak / 1024, 1), "MB", "its peak so far (VmHWM)"),
    ]
    return figures


def help_seconds(runs: int, environment: dict[str, str]) -> float:
    """The median wall time of ``dnsauto --help`` (after one untimed run)."""
    command = [*_dnsauto(), "--help"]
    samples = []
    for index in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(command, env=environment, cwd=ROOT, check=True, capture_output=True)
        if index:
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _memory_kb(pid: int) -> tuple[int, int]:
    """``VmRSS`` and ``VmHWM`` of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else "0"
    return int(fields["VmRSS"]), int(fields["VmHWM"])


def idle_rss(settings: DaemonSettings, environment: dict[str, str]) -> tuple[int, int]:
    """RSS and peak RSS (KiB) of ``dnsauto run`` once idle after its first reconcile."""
    server = ZoneServer(settings.domains)
    with tempfile.TemporaryDirectory(prefix="dnsauto-bench-daemon-") as work_dir:
        work = Path(work_dir)
        secret = work / "tsig.secret"
        secret.write_text(server.key.secret + "\n")
        secret.chmod(0o600)
        notify_path = work / "notify.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        try:
            server.start()
            config = work / "config.toml"
            text = CONFIG.format(port=server.port, secret_file=secret, state=work / "state")
            text += "".join(
                f'\n[domain."z{i}.bench.test".dnsManagement]\n'
                f'"@type" = "Automatic"\ndnsServerId = "bench"\n'
                for i in range(settings.domains)
            )
            config.write_text(text)
            command = [*_dnsauto(), "run", "--config", str(config)]
            env = {**environment, "NOTIFY_SOCKET": str(notify_path)}
            log = (work / "run.log").open("wb")
            process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                _wait_first_run(notify, process, settings)
                time.sleep(settings.idle_seconds)
                return _memory_kb(process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                log.close()
        finally:
            notify.close()
            server.close()


def _wait_first_run(
    notify: socket.socket, process: subprocess.Popen[bytes], settings: DaemonSettings
) -> None:
    """Until the daemon says its first run is done (``STATUS=run ID: N domains, …``)."""
    deadline = time.monotonic() + settings.first_run_timeout
    notify.settimeout(0.5)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dnsauto run exited with {process.returncode}")
        try:
            message = notify.recv(65536).decode(errors="replace")
        except TimeoutError:
            continue
        for line in message.splitlines():
            if line.startswith("STATUS=run ") and f": {settings.domains} domains" in line:
                if f"{settings.domains} ok" not in line:
                    raise RuntimeError(f"dnsauto run's first reconcile failed: {line}")
                return
    raise RuntimeError(
        f"dnsauto run did not finish its first reconcile in {settings.first_run_timeout:g}s"
    )
