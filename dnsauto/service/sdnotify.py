"""systemd's service notifications without libsystemd: a datagram to ``$NOTIFY_SOCKET``.

``Type=notify`` units learn from these messages that the service is ready (``READY=1``), what
it is doing (``STATUS=...``), that it is alive (``WATCHDOG=1``, when ``WatchdogSec=`` is set)
and that it is reloading or stopping. Outside systemd (no ``$NOTIFY_SOCKET``) every call does
nothing. A socket name starting with ``@`` is in the abstract namespace (a leading NUL byte).
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["Notifier", "watchdog_interval"]


class Notifier:
    """Sends notifications to the socket named by ``$NOTIFY_SOCKET`` (read once, when built)."""

    def __init__(self, address: str | None = None) -> None:
        chosen = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = None
        if chosen.startswith("@"):
            self.address = b"\0" + chosen[1:].encode()
        elif chosen.startswith("/"):
            self.address = chosen
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields as one datagram; False when there is no socket or it failed.

        A notification is advice to the service manager: failing to deliver it must not stop
        the service, so errors are swallowed (and reported by the return value).
        """
        if self.address is None:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(message, self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match the reload to READY=1.
        return self.send(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval() -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``; None when unset.

    ``$WATCHDOG_PID``, when set, must be this process (the variables may be inherited).
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2
