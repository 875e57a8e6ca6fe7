"""The live mode of the contract suite (dnsauto.testing.live) writes only under
``_dnsauto-live.<zone>`` and cleans up: Cloudflare's live module run, in a child pytest, against
the fake Cloudflare API standing in for the real one (the variables set as a person would)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from dnsauto_cloudflare.testing import TOKEN, FakeCloudflare

ROOT = Path(__file__).resolve().parent.parent
LIVE = ROOT / "providers" / "cloudflare" / "tests" / "test_cloudflare_live.py"
FOREIGN = [
    {"type": "TXT", "name": "contract-1.example.com", "content": '"not the suite\'s"'},
    {"type": "TXT", "name": "_contract.example.com", "content": '"nor this"'},
    {"type": "TXT", "name": "example.com", "content": '"v=spf1 -all"'},
]


async def test_live_mode_writes_only_under_its_own_name_and_removes_what_it_wrote() -> None:
    async with FakeCloudflare() as fake:
        zone_id = fake.add_zone("example.com")
        for record in FOREIGN:
            fake.add_record(zone_id, record)
        env = {**os.environ, "DNSAUTO_API_URL_CLOUDFLARE": fake.base_url,
               "DNSAUTO_LIVE_CLOUDFLARE_TOKEN": TOKEN,
               "DNSAUTO_LIVE_CLOUDFLARE_ZONE": "example.com"}  # fmt: skip
        env.pop("CI", None)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pytest", str(LIVE), "-q", "-p", "no:cacheprovider",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out = (await child.communicate())[0].decode()
        assert child.returncode == 0, out[-3000:]
        assert " passed" in out
        assert "skipped" not in out
        remaining = {(r["type"], r["name"]) for r in fake.records(zone_id)}
        written = [
            item["name"]
            for r in fake.requests
            if r.method == "POST" and isinstance(r.body, dict)
            for item in r.body.get("posts", [])
        ]
    assert {(r["type"], r["name"]) for r in FOREIGN} <= remaining
    assert not [name for _, name in remaining if "_dnsauto-live" in name]
    assert written
    assert all(name.endswith("._dnsauto-live.example.com") for name in written), written
