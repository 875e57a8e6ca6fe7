"""The shape of the code stays: import-linter's contracts in pyproject.toml hold, and none of them
ignores an import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["importlinter"]["contracts"])


def test_the_import_contracts_hold() -> None:
    program = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert program is not None, "import-linter is in the dev dependency group"
    result = subprocess.run(
        [program, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(contracts())} kept, 0 broken" in result.stdout


def test_no_contract_ignores_an_import() -> None:
    assert contracts()
    for contract in contracts():
        assert "ignore_imports" not in contract, contract["name"]


def test_the_layers_and_the_plugin_rule_are_contracts() -> None:
    kinds = {str(c["type"]) for c in contracts()}
    assert {"layers", "forbidden", "acyclic_siblings"} <= kinds
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    assert layers["layers"] == [
        "cli : service : api",
        "acme",
        "sync",
        "records : state : config",
        "plugin",
    ]
