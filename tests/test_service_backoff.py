"""The retry delay after failures in a row, and the status file, without a daemon."""

from __future__ import annotations

import json
from pathlib import Path

from dnsauto.service.backoff import backoff_delay
from dnsauto.service.status import STATUS_FILE, iso, read_status_file, write_atomically


def test_the_delay_doubles_from_the_first_up_to_the_cap() -> None:
    delays = [backoff_delay(n, 0.5, 3.0) for n in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_cap_below_the_first_delay_is_the_first_delay() -> None:
    assert backoff_delay(4, 2.0, 1.0) == 2.0


def test_a_long_run_of_failures_stays_at_the_cap() -> None:
    assert backoff_delay(10_000, 1.0, 60.0) == 60.0


def test_the_status_file_is_read_back_and_a_broken_one_is_none(tmp_path: Path) -> None:
    write_atomically(tmp_path / STATUS_FILE, json.dumps({"running": True}))
    assert read_status_file(tmp_path) == {"running": True}
    (tmp_path / STATUS_FILE).write_text("{not json")
    assert read_status_file(tmp_path) is None
    assert read_status_file(tmp_path / "missing") is None
    assert iso(0) == "1970-01-01T00:00:00Z"
