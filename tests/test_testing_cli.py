"""dnsauto.testing.cli: the configuration and checks a plugin's end-to-end sync test shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsauto.config.loader import load_config_file
from dnsauto.plugin.registry import load_registry
from dnsauto.testing.cli import DOMAIN, MAIL_RECORDS, assert_published, write_sync_config


def test_the_sync_config_publishes_the_domain_through_the_bootstraps_server(
    tmp_path: Path,
) -> None:
    path = write_sync_config(tmp_path, '"@type" = "Manual"\ndescription = "by hand"\n')
    config = load_config_file(path, load_registry())
    assert config.bootstrap.default_domain == DOMAIN
    assert config.bootstrap.dns_server.description == "by hand"
    assert config.domain[DOMAIN].dns_management.dns_server_id == "bootstrap"  # type: ignore[union-attr]
    assert config.daemon.state_dir == str(tmp_path / "state")


def test_assert_published_names_what_is_missing_in_the_providers_form() -> None:
    assert_published(set(MAIL_RECORDS))
    apex_at = {(t, n or "@") for t, n in MAIL_RECORDS}
    assert_published(apex_at, lambda rdtype, label: (rdtype, label or "@"))
    with pytest.raises(AssertionError, match=r"not published: \[\('MX', '@'\)\]"):
        assert_published(apex_at - {("MX", "@")}, lambda rdtype, label: (rdtype, label or "@"))
