"""Inputs for the bulk benchmark's peers, all made from the same records (``dnsauto records``).

* the nsupdate loop: one ``nsupdate`` script per zone (every record of the zone in one update)
  and a shell loop running them one after another, as an administrator would write it;
* octoDNS: a YAML zone file per zone for its ``YamlProvider`` and a configuration syncing
  each zone into ``octodns_bind.Rfc2136Provider``; octoDNS and octodns-bind are installed into a
  virtual environment of their own in the benchmark's cache, never into the project's;
* the raw client (:mod:`bench._raw`): one JSON input.

The records come as ``dnsauto records --format json`` prints them: ``{"name", "type", "ttl",
"values"}`` with values in presentation format.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

__all__ = [
    "OCTODNS_PACKAGES",
    "Record",
    "Target",
    "by_zone",
    "ensure_octodns",
    "write_nsupdate",
    "write_octodns",
    "write_raw",
]

Record = dict[str, Any]

OCTODNS_PACKAGES = ("octodns==1.22.0", "octodns-bind==1.1.0")
"""Pinned, so that the figures of two runs compare."""


@dataclass(frozen=True)
class Target:
    """The server every tool publishes to, and its TSIG key."""

    host: str
    port: int
    key_name: str
    secret: str
    algorithm: str


def by_zone(records: Sequence[Record], zones: Sequence[str]) -> dict[str, list[Record]]:
    """The records of each zone (a record belongs to the nearest enclosing zone)."""
    known = {dns.name.from_text(z): z for z in zones}
    grouped: dict[str, list[Record]] = {z: [] for z in zones}
    for record in records:
        name = dns.name.from_text(record["name"])
        while name not in known:
            if name == dns.name.root:
                raise ValueError(f"{record['name']} is in none of the zones")
            name = name.parent()
        grouped[known[name]].append(record)
    return grouped


# --- nsupdate -------------------------------------------------------------------------------


def write_nsupdate(
    directory: Path, grouped: Mapping[str, Sequence[Record]], host: str, port: int, key_file: Path
) -> Path:
    """One script per zone and ``loop.sh`` running ``nsupdate -k KEY`` on each; the loop."""
    scripts = directory / "nsupdate"
    scripts.mkdir(parents=True, exist_ok=True)
    for index, (zone, records) in enumerate(grouped.items()):
        lines = [f"server {host} {port}", f"zone {zone}"]
        for record in records:
            owner = f"{record['name']} {record['ttl']} {record['type']}"
            lines += [f"update add {owner} {value}" for value in record["values"]]
        lines.append("send")
        (scripts / f"{index:06d}.txt").write_text("\n".join(lines) + "\n")
    nsupdate = shutil.which("nsupdate") or "/usr/bin/nsupdate"
    loop = directory / "nsupdate-loop.sh"
    loop.write_text(
        "set -e\n"
        f"for f in {shlex.quote(str(scripts))}/*.txt; do\n"
        f'    {shlex.quote(nsupdate)} -k {shlex.quote(str(key_file))} "$f"\n'
        "done\n"
    )
    return loop


# --- raw client ----------------------------------------------------------------------------


def write_raw(path: Path, grouped: Mapping[str, Sequence[Record]], target: Target) -> Path:
    document = {**asdict(target), "zones": grouped}
    path.write_text(json.dumps(document))
    return path


# --- octoDNS -------------------------------------------------------------------------------


def _octodns_value(rdtype: str, text: str) -> Any:
    rdata: Any = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
    if rdtype == "TXT":
        joined = b"".join(rdata.strings).decode()
        return joined.replace("\\", "\\\\").replace(";", "\\;")
    if rdtype == "MX":
        return {"preference": rdata.preference, "exchange": rdata.exchange.to_text()}
    if rdtype == "SRV":
        return {
            "priority": rdata.priority,
            "weight": rdata.weight,
            "port": rdata.port,
            "target": rdata.target.to_text(),
        }
    if rdtype == "CAA":
        return {"flags": rdata.flags, "tag": rdata.tag.decode(), "value": rdata.value.decode()}
    if rdtype == "CNAME":
        return rdata.target.to_text()
    if rdtype == "TLSA":
        return {
            "certificate_usage": rdata.usage,
            "selector": rdata.selector,
            "matching_type": rdata.mtype,
            "certificate_association_data": rdata.cert.hex(),
        }
    raise ValueError(f"no octoDNS form for {rdtype}")


def octodns_zone(zone: str, records: Sequence[Record]) -> dict[str, list[dict[str, Any]]]:
    """The YamlProvider document of one zone (names relative to it)."""
    origin = dns.name.from_text(zone)
    document: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        relative = dns.name.from_text(record["name"]).relativize(origin).to_text()
        name = "" if relative == "@" else relative
        values = [_octodns_value(record["type"], v) for v in record["values"]]
        entry: dict[str, Any] = {"type": record["type"], "ttl": record["ttl"]}
        if record["type"] == "CNAME":
            entry["value"] = values[0]
        else:
            entry["values"] = values
        document.setdefault(name, []).append(entry)
    return document


def write_octodns(
    directory: Path, grouped: Mapping[str, Sequence[Record]], target: Target, max_workers: int
) -> Path:
    """The YAML zone files and the octoDNS configuration (JSON is YAML); its path."""
    zones_dir = directory / "octodns-zones"
    zones_dir.mkdir(parents=True, exist_ok=True)
    for zone, records in grouped.items():
        (zones_dir / f"{zone}yaml").write_text(json.dumps(octodns_zone(zone, records)))
    config = {
        "manager": {"max_workers": max_workers},
        "providers": {
            "config": {
                "class": "octodns.provider.yaml.YamlProvider",
                "directory": str(zones_dir),
                "enforce_order": False,
            },
            "bind": {
                "class": "octodns_bind.Rfc2136Provider",
                "host": target.host,
                "port": target.port,
                "key_name": target.key_name,
                "key_secret": target.secret,
                "key_algorithm": target.algorithm,
            },
        },
        "zones": {zone: {"sources": ["config"], "targets": ["bind"]} for zone in grouped},
    }
    path = directory / "octodns.yaml"
    path.write_text(json.dumps(config, indent=1))
    return path


def ensure_octodns(cache: Path) -> Path:
    """``octodns-sync`` in a virtual environment of its own under ``cache`` (made once).

    Raises ``RuntimeError`` with the reason when it cannot be installed (no ``uv``, no PyPI).
    """
    venv = cache / "octodns-venv"
    sync = venv / "bin" / "octodns-sync"
    marker = venv / ".installed"
    if sync.exists() and marker.exists() and marker.read_text() == " ".join(OCTODNS_PACKAGES):
        return sync
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not installed, so octoDNS cannot be installed")
    environment = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    steps = [
        [uv, "venv", "-q", "--clear", "--python", "3.11", str(venv)],
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *OCTODNS_PACKAGES],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, env=environment, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(step)} failed: {done.stderr.strip()[-500:]}")
    marker.write_text(" ".join(OCTODNS_PACKAGES))
    return sync
