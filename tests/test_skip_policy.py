"""Under CI=true a skipped test fails and a live-API test is deselected; every run can write
how many tests skipped and why."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT_CONFTEST = Path(__file__).parent.parent / "conftest.py"

TESTS = """
import pytest

def test_needs_a_server():
    pytest.skip("named is not installed: install the Debian package bind9")

@pytest.mark.credentials
def test_needs_a_cloud_account():
    pytest.skip("no API token in DNSAUTO_TEST_TOKEN")

@pytest.mark.xfail(reason="a known defect")
def test_known_defect():
    raise AssertionError

def test_passes():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(ROOT_CONFTEST.read_text().replace('pytest_plugins = ["pytester"]', ""))
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    credentials: live API\n"
    )
    pytester.makepyfile(test_suite=TESTS)
    pytester.makepyfile(test_plugin='import pytest\npytest.importorskip("no_such_plugin")\n')
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DNSAUTO_SKIP_SUMMARY", raising=False)
    return pytester


def test_under_ci_a_missing_server_fails_the_run(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, failed=1, skipped=0, xfailed=1, errors=1, deselected=1)
    result.stdout.fnmatch_lines(
        ["*CI=true: this skip is a failure*install the Debian package bind9"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_under_ci_live_api_tests_are_deselected_and_counted(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "skips.txt"
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("DNSAUTO_SKIP_SUMMARY", str(summary))
    result = suite.runpytest("-p", "no:cacheprovider", "test_suite.py", "-k", "cloud or passes")
    result.assert_outcomes(passed=1, deselected=3)
    assert result.ret == pytest.ExitCode.OK
    assert summary.read_text().splitlines() == [
        "0 tests skipped",
        "1 live-API tests (marked credentials) deselected: CI talks only to loopback",
    ]


def test_outside_ci_a_missing_server_is_a_skip(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_the_skip_summary_counts_the_skips_with_their_reasons(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "skips.txt"
    monkeypatch.setenv("DNSAUTO_SKIP_SUMMARY", str(summary))
    suite.runpytest("-p", "no:cacheprovider")
    assert summary.read_text().splitlines() == [
        "3 tests skipped",
        "     1 x could not import 'no_such_plugin': No module named 'no_such_plugin'",
        "     1 x named is not installed: install the Debian package bind9",
        "     1 x no API token in DNSAUTO_TEST_TOKEN",
    ]
