"""How long a domain that failed waits before its retry."""

from __future__ import annotations

__all__ = ["backoff_delay"]


def backoff_delay(failures: int, first: float, cap: float) -> float:
    """Seconds before the retry after ``failures`` failures in a row: ``first``, doubling each
    time, never more than ``cap`` (nor less than ``first``)."""
    cap = max(first, cap)
    return float(min(cap, first * 2 ** min(max(failures, 1) - 1, 62)))
