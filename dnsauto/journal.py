"""An append-only journal of every change dnsauto applies, written before it is applied.

Each line is a JSON object: the run, time, domain, zone, name, type, action, the old values
(what a restore puts back) and the new ones, then a line saying whether the batch went through.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from dnsauto.changes import Change, rrset_values
from dnsauto.errors import DnsautoError

__all__ = ["Journal"]


class Journal:
    """``<stateDir>/journal.jsonl``, opened for each batch and synced to disk before the write."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / "journal.jsonl"

    def _append(self, entries: Sequence[dict[str, object]]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(e, sort_keys=True) + "\n" for e in entries)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise DnsautoError(f"cannot write the journal {self.path}: {exc.strerror}") from None

    def before_apply(self, run_id: str, domain: str, zone: str, changes: Sequence[Change]) -> None:
        now = time.time()
        self._append(
            [
                {
                    "run": run_id,
                    "time": now,
                    "domain": domain,
                    "zone": zone,
                    "name": change.name.to_text(),
                    "type": change.rdtype.name,
                    "action": change.action,
                    "ttl": (change.new if change.new is not None else change.old).ttl,
                    "old": rrset_values(change.old),
                    "new": rrset_values(change.new),
                }
                for change in changes
            ]
        )

    def after_apply(self, run_id: str, zone: str, count: int, error: str | None) -> None:
        self._append(
            [{"run": run_id, "time": time.time(), "zone": zone, "batch": count, "error": error}]
        )

    def entries(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
