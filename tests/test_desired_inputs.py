"""What a domain's desired RRsets are built from: equal fingerprints mean equal records, so an
unchanged re-sync may skip building them (dnsauto.sync.resync)."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dnsauto.config.domain import DkimAlgorithm, Domain
from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import load_registry
from dnsauto.records.dkim import DkimKey, DkimKeyStore, generate_private_key
from dnsauto.records.mail import build_records
from dnsauto.records.rotation import DkimStage
from dnsauto.state.store import StateStore
from dnsauto.sync.desired import DesiredInputs, desired_inputs
from dnsauto.sync.jobs import domain_jobs

DOMAIN = "example.test"


def config(tmp_path: Path, **bootstrap: str) -> Config:
    document = {
        "bootstrap": {"serverHostname": f"mail.{DOMAIN}", "defaultDomain": DOMAIN, **bootstrap},
        "domain": {DOMAIN: {"dnsManagement": {"@type": "Manual"}}},
        "mailServer": {"mtaStsPolicyId": "20260101"},
        "daemon": {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=load_registry())


def inputs(tmp_path: Path) -> DesiredInputs:
    loaded = config(tmp_path)
    (job,) = domain_jobs(loaded)
    return desired_inputs(loaded, job, DkimKeyStore(StateStore(tmp_path / "state")), dkim_keys=[])


def key(public_value: str, stage: DkimStage = DkimStage.ACTIVE) -> DkimKey:
    return DkimKey(
        "s1",
        DkimAlgorithm.DKIM1_ED25519_SHA256,
        datetime(2026, 1, 1, tzinfo=UTC),
        public_value,
        "",
        stage,
    )


def test_the_inputs_are_every_argument_of_build_records() -> None:
    fields = {f.name for f in dataclasses.fields(DesiredInputs)}
    assert fields == set(inspect.signature(build_records).parameters)


def test_the_inputs_build_what_build_records_builds(tmp_path: Path) -> None:
    given = inputs(tmp_path)
    arguments = {f.name: getattr(given, f.name) for f in dataclasses.fields(given)}
    assert given.build() == build_records(**arguments)


def test_equal_inputs_have_equal_fingerprints(tmp_path: Path) -> None:
    assert inputs(tmp_path).fingerprint() == inputs(tmp_path).fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"domain": "example.org"},
        {"server_hostname": "mx.example.test"},
        {"ttl": 600},
        {"publish": ()},
        {"dkim_keys": (key("v=DKIM1; k=ed25519; p=AAAA"),)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_changed_input_changes_the_fingerprint(tmp_path: Path, change: dict[str, object]) -> None:
    given = inputs(tmp_path)
    assert dataclasses.replace(given, **change).fingerprint() != given.fingerprint()  # type: ignore[arg-type]


def test_a_dkim_key_changing_stage_or_value_changes_the_fingerprint(tmp_path: Path) -> None:
    given = inputs(tmp_path)
    active = dataclasses.replace(given, dkim_keys=(key("v=DKIM1; k=ed25519; p=AAAA"),))
    retiring = dataclasses.replace(
        given, dkim_keys=(key("v=DKIM1; k=ed25519; p=AAAA", DkimStage.RETIRING),)
    )
    other = dataclasses.replace(given, dkim_keys=(key("v=DKIM1; k=ed25519; p=BBBB"),))
    assert len({active.fingerprint(), retiring.fingerprint(), other.fingerprint()}) == 3


def test_a_changed_domain_setting_or_mail_server_changes_the_fingerprint(tmp_path: Path) -> None:
    given = inputs(tmp_path)
    settings = given.settings.model_copy(update={"report_address_uri": "mailto:dmarc@example.org"})
    mail_server = given.mail_server.model_copy(update={"mta_sts_policy_id": "20261203"})
    assert dataclasses.replace(given, settings=settings).fingerprint() != given.fingerprint()
    assert dataclasses.replace(given, mail_server=mail_server).fingerprint() != given.fingerprint()


def test_the_fingerprint_holds_no_private_key(tmp_path: Path) -> None:
    secret = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n"
    with_key = dataclasses.replace(
        inputs(tmp_path), dkim_keys=(dataclasses.replace(key("p=AAAA"), private_pem=secret),)
    )
    assert b"SECRETSECRET" not in with_key.fingerprint()


def pem_key(private_pem: str) -> DkimKey:
    return DkimKey(
        "s1",
        DkimAlgorithm.DKIM1_ED25519_SHA256,
        datetime(2026, 1, 1, tzinfo=UTC),
        None,
        private_pem,
    )


def test_a_key_read_from_the_store_is_fingerprinted_without_deriving_its_public_value(
    tmp_path: Path,
) -> None:
    read = pem_key(generate_private_key(DkimAlgorithm.DKIM1_ED25519_SHA256))
    dataclasses.replace(inputs(tmp_path), dkim_keys=(read,)).fingerprint()
    assert "public_value" not in vars(read)


def test_another_private_key_changes_the_fingerprint(tmp_path: Path) -> None:
    given = inputs(tmp_path)
    one, other = (
        pem_key(generate_private_key(DkimAlgorithm.DKIM1_ED25519_SHA256)) for _ in range(2)
    )
    same = pem_key(one.private_pem)
    fingerprints = [dataclasses.replace(given, dkim_keys=(k,)).fingerprint() for k in (one, other)]
    assert fingerprints[0] != fingerprints[1]
    assert dataclasses.replace(given, dkim_keys=(same,)).fingerprint() == fingerprints[0]


def test_domains_sharing_their_settings_have_them_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = inputs(tmp_path)
    made: list[str] = []
    settings_class = type(given.settings)
    written = settings_class.model_dump_json

    def counted(self: Domain, **options: Any) -> str:
        made.append("settings")
        return written(self, **options)

    monkeypatch.setattr(settings_class, "model_dump_json", counted)
    fingerprints = {dataclasses.replace(given, domain=f"d{n}.test").fingerprint() for n in range(3)}
    other = given.settings.model_copy(update={"report_address_uri": "mailto:dmarc@example.org"})
    dataclasses.replace(given, settings=other).fingerprint()

    assert (len(fingerprints), made) == (3, ["settings", "settings"])
