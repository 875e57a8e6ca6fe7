"""Running the ``dnsauto`` command as a user would, for a plugin's end-to-end tests."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["dnsauto_json"]


async def dnsauto_json(
    config: Path, *args: str, env: Mapping[str, str], secret: str, ok: bool = True
) -> Any:
    """``dnsauto ARGS --json --config CONFIG`` in a child process, with ``env`` added to this
    process's environment; its exit status is 0 (or not, with ``ok=False``), ``secret``
    appears nowhere in its output, and its JSON report is returned."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dnsauto", *args, "--json", "--config", str(config),
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    text = (out + err).decode()
    assert (process.returncode == 0) is ok, text
    assert secret not in text
    return json.loads(out)
