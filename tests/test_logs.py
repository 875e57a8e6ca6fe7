"""The service's log lines: text for journald or a terminal, or JSON objects."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator

import pytest

from dnsauto.service.logs import log_context, setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_domain_and_run_of_their_context() -> None:
    stream = io.StringIO()
    setup_logging("json", stream=stream)
    with log_context(domain="example.test", run_id="abc123"):
        logging.getLogger("dnsauto.sync.engine").warning("zone %s is slow", "example.test.")
    logging.getLogger("dnsauto.service.daemon").info("idle")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "warning"
    assert first["logger"] == "dnsauto.sync.engine"
    assert first["message"] == "zone example.test. is slow"
    assert (first["domain"], first["run_id"]) == ("example.test", "abc123")
    assert first["time"].endswith("Z")
    assert (second["domain"], second["run_id"]) == (None, None)


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_show_time_level_logger_and_labels() -> None:
    stream = io.StringIO()
    setup_logging("text", stream=stream)
    logging.getLogger("dnsauto.service.daemon").info(
        "synced", extra={"domain": "example.test", "run_id": "r1"}
    )
    line = stream.getvalue().strip()
    assert line.endswith("INFO dnsauto.service.daemon: synced [domain=example.test run=r1]")
    assert line[:4].isdigit()


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_on_the_journal_carry_a_priority_prefix_instead_of_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read, write = os.pipe()
    stream = os.fdopen(write, "w")
    info = os.fstat(write)
    monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
    try:
        setup_logging("text", stream=stream)
        logging.getLogger("dnsauto.service.daemon").error("no answer\nfrom 192.0.2.1")
        stream.flush()
        text = os.read(read, 4096).decode()
    finally:
        stream.close()
        os.close(read)
    assert text.splitlines() == ["<3>ERROR dnsauto.service.daemon: no answer", "<3>from 192.0.2.1"]


@pytest.mark.usefixtures("restore_logging")
def test_scheduler_chatter_shows_only_with_two_v() -> None:
    setup_logging("text", verbose=1, stream=io.StringIO())
    assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING
    setup_logging("text", verbose=2, stream=io.StringIO())
    assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.DEBUG
