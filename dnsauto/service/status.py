"""The status file ``<stateDir>/daemon-status.json``: the daemon's schedule, written on every
change for ``dnsauto status`` (which reads it with :func:`read_status_file`)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["STATUS_FILE", "STATUS_VERSION", "iso", "read_status_file", "write_atomically"]

STATUS_FILE = "daemon-status.json"
STATUS_VERSION = 1


def read_status_file(state_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The schedule a daemon last wrote, or None when there is none (or it cannot be read)."""
    path = Path(state_dir) / STATUS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` at once: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def iso(when: float) -> str:
    """Unix time as ISO 8601 in UTC, to the second (``2026-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
