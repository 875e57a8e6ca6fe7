"""The README's main job: publish a mail domain's records to a throwaway BIND on loopback.

Starts ``named`` on 127.0.0.1 (a free high port) with the zone ``example.test``, writes a
dnsauto configuration that publishes ``example.test`` through RFC 2136 with TSIG, runs
``dnsauto sync``, shows the zone with ``dig``, syncs again (nothing to change), and stops BIND.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dnsauto.testing.servers.bind import start_bind  # noqa: E402

CONFIG = """\
[bootstrap]
serverHostname = "mail.example.test"
defaultDomain = "example.test"

[bootstrap.dnsServer]
"@type" = "Tsig"
description = "Throwaway BIND on loopback"
host = "{host}"
port = {port}
keyName = "{key_name}"
key = {{ "@type" = "File", filePath = "{key_file}" }}
tsigAlgorithm = "hmac-sha256"
pollingInterval = "500ms"

[domain."example.test".dnsManagement]
"@type" = "Automatic"
dnsServerId = "bootstrap"

[mailServer]
mtaStsPolicyId = "20260101"

[daemon]
stateDir = "{state}"

[daemon.dns]
authoritativeServers = ["{host}:{port}"]
"""


def show(command: list[str], env: dict[str, str] | None = None) -> None:
    print(f"\n$ {shlex.join(command)}", flush=True)
    subprocess.run(command, check=False, env=env)


def main() -> None:
    server = start_bind()
    work = Path(tempfile.mkdtemp(prefix="dnsauto-demo-"))
    try:
        key = server.key("hmac-sha256")
        key_file = work / "tsig.secret"
        key_file.write_text(key.secret + "\n")
        key_file.chmod(0o600)
        dig_key = work / "tsig.key"
        dig_key.write_text(
            f'key "{key.bare_name}" {{ algorithm hmac-sha256; secret "{key.secret}"; }};\n'
        )
        dig_key.chmod(0o600)
        config = work / "config.toml"
        config.write_text(
            CONFIG.format(
                host=server.host,
                port=server.port,
                key_name=key.bare_name,
                key_file=key_file,
                state=work / "state",
            )
        )
        print(f"BIND is serving example.test on {server.host}:{server.port}; config: {config}")
        dnsauto = [sys.executable, "-m", "dnsauto"]
        show([*dnsauto, "sync", "--config", str(config), *sys.argv[1:]])
        show(["dig", "+noall", "+answer", "-k", str(dig_key), "-p", str(server.port),
              f"@{server.host}", "example.test", "AXFR"])  # fmt: skip
        show([*dnsauto, "sync", "--config", str(config), "--json"])
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        print("\nBIND stopped.")


if __name__ == "__main__":
    os.umask(0o077)
    main()
