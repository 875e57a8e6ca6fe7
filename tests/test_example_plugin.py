"""The plugin path a third party takes, proven: examples/zonebox, installed into a fresh
virtual environment beside dnsauto, is found through its entry point and passes its tests
(dnsauto's contract suite and a ``dnsauto sync`` end to end) there.

The environment is made with uv from its cache, offline: dnsauto's dependencies at the
versions of ``uv.lock`` (exported as a pylock file, so nothing is resolved against an index),
then dnsauto built from this checkout and the example from a copy of its folder, as a third
party's ``pip install dnsauto ./my-plugin`` would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "zonebox"


def run(*command: str | Path, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_example_plugin_installs_beside_dnsauto_is_found_and_passes_its_suite(
    tmp_path: Path,
) -> None:
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to make the virtual environment"
    plugin = tmp_path / "plugin"
    shutil.copytree(EXAMPLE, plugin, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "UV_", "PYTHON"))}  # fmt: skip
    env |= {"UV_OFFLINE": "1", "UV_NO_PROGRESS": "1"}
    lock = tmp_path / "pylock.toml"
    run(uv, "export", "--frozen", "--format", "pylock.toml", "--no-emit-workspace",
        "--package", "dnsauto", "-o", lock, cwd=ROOT, env=env)  # fmt: skip
    run(uv, "venv", "--quiet", venv, cwd=tmp_path, env=env)
    env["VIRTUAL_ENV"] = str(venv)
    run(uv, "pip", "install", "--quiet", "-r", lock, cwd=tmp_path, env=env)
    run(uv, "pip", "install", "--quiet", ROOT, plugin, cwd=tmp_path, env=env)

    listed = json.loads(run(venv / "bin" / "dnsauto", "providers", "--json", cwd=tmp_path, env=env))
    found = {p["type"]: p for p in listed}
    assert found["Zonebox"]["distribution"] == "dnsauto-zonebox"
    assert "Cloudflare" not in found  # a fresh environment: only what was installed into it

    out = run(venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
              cwd=plugin, env=env)  # fmt: skip
    summary = out.strip().splitlines()[-1]
    assert " passed" in summary, out
    assert "skipped" not in summary, out
    assert "failed" not in summary, out
    assert "TestZoneboxContract" in run(
        venv / "bin" / "python", "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
        cwd=plugin, env=env,
    )  # fmt: skip
