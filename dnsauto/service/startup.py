"""``dnsauto run``'s start while its state store cannot be reached yet.

A node started before its PostgreSQL (a machine booting, the database restarting) does not
exit: a :class:`~dnsauto.state.store.StoreUnavailableError` at open is retried, 1 s after the
first failure, doubling up to ``retryInitialDelay``, until the store opens or the process is
asked to stop. Each failure is logged, and told systemd as ``STATUS=`` (the service is not
``READY`` before the store opens; the daemon sends that once it runs). Any other error of the
store (a refused password, a schema from a newer dnsauto, SQLite's) is not retried.
"""

from __future__ import annotations

import logging
import threading

from dnsauto.config.daemon import Daemon as DaemonSettings
from dnsauto.service.backoff import backoff_delay
from dnsauto.service.sdnotify import Notifier
from dnsauto.state.store import StateStore, StoreUnavailableError

__all__ = ["FIRST_RETRY", "wait_for_store"]

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0
"""Seconds before the first retry of a store that could not be reached."""


def wait_for_store(
    settings: DaemonSettings, notifier: Notifier, stop: threading.Event
) -> StateStore | None:
    """The store ``settings`` names, opened once it can be reached; None when ``stop`` was set
    first.

    :raises DnsautoError: the store refused for another reason than being out of reach.
    """
    cap = settings.retry_initial_delay.total_seconds()
    failures = 0
    while True:
        try:
            store = settings.open_store()
        except StoreUnavailableError as exc:
            failures += 1
            delay = backoff_delay(failures, min(FIRST_RETRY, cap), cap)
            log.warning(
                "cannot reach the state store yet: %s; trying again in %gs", exc.message, delay
            )
            notifier.status(f"waiting for the state store: {exc.message}")
            if stop.wait(delay):
                return None
            continue
        if failures:
            log.info("state store %s reached after %d failed attempts", store.location, failures)
        return store
