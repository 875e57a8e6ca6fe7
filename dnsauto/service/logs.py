"""Log output for the service: lines on stderr that journald keeps, as text or JSON.

Text lines carry a ``<N>`` syslog priority prefix when stderr is the journal
(``$JOURNAL_STREAM`` is set; journald turns the prefix into the entry's priority and adds the
time itself), and a UTC timestamp otherwise. ``--log-format json`` writes one JSON object per
line: ``time``, ``level``, ``logger``, ``message``, ``domain`` and ``run_id`` (when the line is
about one domain or run), and ``exception`` (the traceback) when there is one.

The domain and run a line belongs to come from :func:`log_context`, which sets context
variables that every task started inside it inherits, so the engine's and providers' own log
lines are labelled too.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Literal, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "log_context", "setup_logging", "summary_of_names"]

LogFormat = Literal["text", "json"]

_domain: contextvars.ContextVar[str | None] = contextvars.ContextVar("dnsauto_domain", default=None)
_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("dnsauto_run", default=None)

# syslog priorities, as journald reads them from a "<N>" prefix.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


@contextlib.contextmanager
def log_context(*, domain: str | None = None, run_id: str | None = None) -> Iterator[None]:
    """Label the log lines written inside (and by tasks started inside) with a domain/run."""
    tokens = []
    if domain is not None:
        tokens.append((_domain, _domain.set(domain)))
    if run_id is not None:
        tokens.append((_run_id, _run_id.set(run_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _ContextFilter(logging.Filter):
    """Copies the context's domain and run id onto each record (explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "domain", None) is None:
            record.domain = _domain.get()
        if getattr(record, "run_id", None) is None:
            record.run_id = _run_id.get()
        return True


def _labels(record: logging.LogRecord) -> str:
    parts = [
        f"{key}={value}"
        for key, value in (("domain", record.domain), ("run", record.run_id))  # type: ignore[attr-defined]
        if value
    ]
    return f" [{' '.join(parts)}]" if parts else ""


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message [domain=D run=R]``, prefixed for journald or with the time."""

    def __init__(self, *, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name}: {record.getMessage()}{_labels(record)}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if self.journal:
            prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
            return "\n".join(prefix + line for line in text.splitlines())
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z {text}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        document: dict[str, object] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "domain": getattr(record, "domain", None),
            "run_id": getattr(record, "run_id", None),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def _is_journal(stream: TextIO) -> bool:
    """Whether ``stream`` is the journal stream systemd connected (``$JOURNAL_STREAM``)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


def setup_logging(fmt: LogFormat, verbose: int = 0, stream: TextIO | None = None) -> None:
    """Send every log line to stderr in ``fmt``: INFO and up, DEBUG with ``-v``.

    The scheduler library's own chatter (a line per job run) shows only with ``-vv``.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(journal=_is_journal(handler.stream)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


def summary_of_names(names: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` names, and how many more there are: a log line's list of domains."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
