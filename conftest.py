"""What every test of the repository shares: the skip policy and the skip summary.

* Under ``CI=true`` a skip is a failure: a missing server or tool must not pass silently.
* Under ``CI=true`` tests marked ``credentials`` (live cloud APIs) are deselected, not
  skipped: they reach addresses outside loopback, which CI never does, and they need secrets
  a CI runner does not have. The summary counts them.
* With ``DNSAUTO_SKIP_SUMMARY`` set to a path, the session writes there how many tests
  skipped and why, and how many were deselected (``scripts/test`` prints it last).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CREDENTIALS_MARK = "credentials"
_skip_reasons: list[str] = []
_live_deselected = 0


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    global _live_deselected
    if not _in_ci():
        return
    kept: list[pytest.Item] = []
    live: list[pytest.Item] = []
    for item in items:
        (live if item.get_closest_marker(CREDENTIALS_MARK) else kept).append(item)
    if live:
        items[:] = kept
        config.hook.pytest_deselected(items=live)
        _live_deselected += len(live)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and _in_ci():
        _fail(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped and _in_ci():  # a whole module skipped (importorskip at its top)
        _fail(report)
    return report


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = f"CI=true: this skip is a failure, install what it needs: {reason}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skip_reasons.append(_skip_reason(report))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:
        _skip_reasons.append(_skip_reason(report))


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("DNSAUTO_SKIP_SUMMARY")
    if not target:
        return
    lines = [f"{len(_skip_reasons)} tests skipped"]
    lines += [f"  {count:4d} x {reason}" for reason, count in Counter(_skip_reasons).most_common()]
    if _live_deselected:
        lines.append(
            f"{_live_deselected} live-API tests (marked {CREDENTIALS_MARK}) deselected:"
            " CI talks only to loopback"
        )
    Path(target).write_text("\n".join(lines) + "\n")
