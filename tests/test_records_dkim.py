import base64
import dataclasses
import json
import re
import sqlite3
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from dnsauto.config.domain import AutomaticDkim, DkimAlgorithm
from dnsauto.plugin.errors import DnsautoError
from dnsauto.records.dkim import (
    DkimKey,
    DkimKeyStore,
    DkimStage,
    generate_private_key,
    public_key_base64,
)
from dnsauto.state.store import (
    DB_FILE,
    SCHEMA_VERSION,
    DkimKeyRaceError,
    StateStore,
    dkim_table,
)

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def automatic(**fields):
    return AutomaticDkim.model_validate({"@type": "Automatic", **fields})


def tags(value):
    return dict(part.strip().split("=", 1) for part in value.split(";"))


@pytest.fixture
def open_keys() -> Iterator[Callable[[Path], DkimKeyStore]]:
    """Open key stores over state directories; every state store is closed afterwards."""
    opened: list[StateStore] = []

    def open_at(state_dir: Path) -> DkimKeyStore:
        opened.append(StateStore(state_dir))
        return DkimKeyStore(opened[-1])

    yield open_at
    for state in opened:
        state.close()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One store with the default keys (Ed25519 and RSA), made once: RSA keys take a while."""
    state = tmp_path_factory.mktemp("state")
    with StateStore(state) as db:
        store = DkimKeyStore(db)
        yield state, store, store.keys_for("example.test", automatic(), now=NOW)


def test_default_keys_are_ed25519_and_rsa_with_stalwart_selectors(made):
    _, _, keys = made

    assert [(k.selector, k.algorithm, k.stage) for k in keys] == [
        ("v1-ed25519-20260420", DkimAlgorithm.DKIM1_ED25519_SHA256, DkimStage.ACTIVE),
        ("v1-rsa-20260420", DkimAlgorithm.DKIM1_RSA_SHA256, DkimStage.ACTIVE),
    ]
    assert all(k.created == NOW for k in keys)


def test_dkim_txt_values_have_stalwart_tags(made):
    _, _, (ed, rs) = made

    assert ed.public_value.startswith("v=DKIM1; k=ed25519; h=sha256; p=")
    assert rs.public_value.startswith("v=DKIM1; k=rsa; h=sha256; p=")
    assert list(tags(rs.public_value)) == ["v", "k", "h", "p"]


def test_keys_are_generated_once_and_kept(made, open_keys):
    state, _, keys = made

    later = datetime(2026, 5, 1, tzinfo=UTC)
    again = open_keys(state).keys_for("example.test", automatic(), now=later)

    assert again == keys


def test_private_key_files_have_mode_0600(made):
    state, _, keys = made
    directory = state / "dkim" / "example.test"

    for key in keys:
        assert stat.S_IMODE((directory / f"{key.selector}.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "dkim").stat().st_mode) == 0o700


def test_no_temporary_files_are_left_behind(made):
    state, _, _ = made

    names = sorted(p.name for p in (state / "dkim" / "example.test").iterdir())

    assert names == [".lock", "v1-ed25519-20260420.pem", "v1-rsa-20260420.pem"]


def test_state_store_records_selector_algorithm_created_stage_and_value(made):
    _, store, keys = made

    rows = store.state.dkim_keys("example.test")

    assert [(r.selector, r.algorithm, r.created, r.stage, r.active_at) for r in rows] == [
        ("v1-ed25519-20260420", "Dkim1Ed25519Sha256", NOW, "active", NOW),
        ("v1-rsa-20260420", "Dkim1RsaSha256", NOW, "active", NOW),
    ]
    assert [r.public_value for r in rows] == [k.public_value for k in keys]
    assert all("PRIVATE" not in repr(r) for r in rows)


def test_rsa_key_is_stored_as_pkcs1_and_ed25519_as_pkcs8(made):
    _, _, (ed, rs) = made

    assert rs.private_pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert ed.private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(rs.private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


def test_rsa_published_key_is_subject_public_key_info_der(made):
    _, _, (_, rs) = made
    der = base64.b64decode(tags(rs.public_value)["p"])

    public = serialization.load_der_public_key(der)

    assert isinstance(public, rsa.RSAPublicKey)
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert der == spki
    assert der != pkcs1
    assert der.endswith(pkcs1)  # the PKCS#1 key wrapped in rsaEncryption, as Stalwart does


def test_ed25519_published_key_is_the_raw_32_bytes(made):
    _, _, (ed, _) = made

    assert len(base64.b64decode(tags(ed.public_value)["p"])) == 32


def test_ed25519_signature_made_with_stored_key_verifies_against_published_key(made):
    state, store, _ = made
    stored = (state / "dkim" / "example.test" / "v1-ed25519-20260420.pem").read_bytes()
    signer = serialization.load_pem_private_key(stored, password=None)
    assert isinstance(signer, ed25519.Ed25519PrivateKey)
    data = b"dkim-signature:v=1; a=ed25519-sha256; d=example.test; s=v1-ed25519-20260420; b="

    signature = signer.sign(data)

    published = store.load("example.test")[0]
    verifier = ed25519.Ed25519PublicKey.from_public_bytes(
        base64.b64decode(tags(published.public_value)["p"])
    )
    verifier.verify(signature, data)
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, data + b"x")


def test_rsa_signature_made_with_stored_key_verifies_against_published_key(made):
    state, store, _ = made
    stored = (state / "dkim" / "example.test" / "v1-rsa-20260420.pem").read_bytes()
    signer = serialization.load_pem_private_key(stored, password=None)
    assert isinstance(signer, rsa.RSAPrivateKey)
    data = b"dkim-signature:v=1; a=rsa-sha256; d=example.test; s=v1-rsa-20260420; b="

    signature = signer.sign(data, padding.PKCS1v15(), hashes.SHA256())

    published = store.load("example.test")[1]
    verifier = serialization.load_der_public_key(
        base64.b64decode(tags(published.public_value)["p"])
    )
    assert isinstance(verifier, rsa.RSAPublicKey)
    verifier.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, data + b"x", padding.PKCS1v15(), hashes.SHA256())


def test_private_key_is_never_in_repr_or_str(made):
    _, _, keys = made

    for key in keys:
        body = key.private_pem.splitlines()[1]
        assert body not in repr(key)
        assert body not in str(key)
        assert "PRIVATE" not in repr(key)


def test_dkim_key_record_name_is_under_domainkey(made):
    _, _, (ed, _) = made

    assert (
        ed.record_name("example.test").to_text() == "v1-ed25519-20260420._domainkey.example.test."
    )


def test_dkim2_algorithms_write_dkim1_records_and_version_2_selectors(tmp_path, open_keys):
    store = open_keys(tmp_path)

    (key,) = store.keys_for("example.test", automatic(algorithms=["Dkim2Ed25519Sha256"]), now=NOW)

    assert key.selector == "v2-ed25519-20260420"
    assert key.public_value.startswith("v=DKIM1; k=ed25519; h=sha256; p=")


def test_a_new_algorithm_adds_a_key_and_keeps_the_others(tmp_path, open_keys):
    store = open_keys(tmp_path)
    (first,) = store.keys_for("example.test", automatic(algorithms=["Dkim1Ed25519Sha256"]), NOW)

    keys = store.keys_for(
        "example.test",
        automatic(algorithms=["Dkim1Ed25519Sha256", "Dkim2Ed25519Sha256"]),
        datetime(2026, 6, 1, tzinfo=UTC),
    )

    assert keys[0] == first
    assert keys[1].selector == "v2-ed25519-20260601"
    assert [k.selector for k in store.load("example.test")] == [
        "v1-ed25519-20260420",
        "v2-ed25519-20260601",
    ]


def test_keys_are_kept_per_domain(tmp_path, open_keys):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])

    (a,) = store.keys_for("example.test", management, NOW)
    (b,) = store.keys_for("example.org", management, NOW)

    assert a.public_value != b.public_value
    assert (tmp_path / "dkim" / "example.org" / "v1-ed25519-20260420.pem").exists()


def test_selector_template_that_repeats_a_selector_is_refused(tmp_path, open_keys):
    management = automatic(
        algorithms=["Dkim1Ed25519Sha256", "Dkim2Ed25519Sha256"], selectorTemplate="mail"
    )

    with pytest.raises(DnsautoError, match=r"'mail' .* already used"):
        open_keys(tmp_path).keys_for("example.test", management, NOW)


def test_domain_that_is_not_a_host_name_is_refused(tmp_path, open_keys):
    with pytest.raises(DnsautoError, match="invalid domain"):
        open_keys(tmp_path).keys_for("../../etc", automatic(), NOW)


def test_corrupt_index_raises_dnsauto_error_naming_the_file(tmp_path, open_keys):
    directory = tmp_path / "dkim" / "example.test"
    directory.mkdir(parents=True)
    (directory / "index.json").write_text("{not json")

    with pytest.raises(DnsautoError, match=r"index\.json is corrupt"):
        open_keys(tmp_path).keys_for("example.test", automatic(), NOW)


def test_index_with_a_bad_entry_raises_dnsauto_error_naming_the_file(tmp_path, open_keys):
    directory = tmp_path / "dkim" / "example.test"
    directory.mkdir(parents=True)
    entry = {"selector": "../x", "algorithm": "Dkim1RsaSha256", "created": "x", "stage": "active"}
    (directory / "index.json").write_text(json.dumps({"version": 1, "keys": [entry]}))

    with pytest.raises(DnsautoError, match=re.escape(str(directory / "index.json"))):
        open_keys(tmp_path).keys_for("example.test", automatic(), NOW)


def test_a_changed_key_file_is_moved_aside_and_written_again_from_the_store(tmp_path, open_keys):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (key,) = store.keys_for("example.test", management, NOW)
    pem = tmp_path / "dkim" / "example.test" / f"{key.selector}.pem"
    garbage = "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n"
    pem.write_text(garbage)

    assert store.keys_for("example.test", management, NOW) == [key]
    assert pem.read_text() == key.private_pem
    (aside,) = pem.parent.glob(f"{pem.name}.unknown-*")
    assert aside.read_text() == garbage


def test_a_deleted_key_file_is_written_again_from_the_store(tmp_path, open_keys):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (key,) = store.keys_for("example.test", management, NOW)
    pem = tmp_path / "dkim" / "example.test" / f"{key.selector}.pem"
    pem.unlink()

    assert store.keys_for("example.test", management, NOW) == [key]
    assert pem.read_text() == key.private_pem
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600


def forget_private_keys(store: DkimKeyStore) -> None:
    """The store as a dnsauto before schema version 6 left it: no private key in it."""
    with store.state.write_transaction() as conn:
        conn.execute(dkim_table.update().values(private_pem=None))


def test_a_key_kept_before_the_store_held_private_keys_is_read_into_it_from_its_file(
    tmp_path, open_keys
):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (key,) = store.keys_for("example.test", management, NOW)
    forget_private_keys(store)

    assert store.keys_for("example.test", management, NOW) == [key]
    (row,) = store.state.dkim_keys("example.test")
    assert row.private_pem == key.private_pem


def test_a_missing_file_of_a_key_kept_before_the_store_held_private_keys_names_the_file(
    tmp_path, open_keys
):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (key,) = store.keys_for("example.test", management, NOW)
    forget_private_keys(store)
    pem = tmp_path / "dkim" / "example.test" / f"{key.selector}.pem"
    pem.unlink()

    with pytest.raises(DnsautoError, match=re.escape(f"cannot read DKIM private key {pem}")):
        store.keys_for("example.test", management, NOW)


def corrupt_stored_key(tmp_path, open_keys):
    """A domain's one key, whose private key in the store is then made garbage (c2VjcmV0)."""
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (key,) = store.keys_for("example.test", management, NOW)
    garbage = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
    with store.state.write_transaction() as conn:
        conn.execute(dkim_table.update().values(private_pem=garbage))
    return store, management, key


def test_a_corrupt_private_key_in_the_store_is_named_without_its_text(tmp_path, open_keys):
    store, management, key = corrupt_stored_key(tmp_path, open_keys)

    with pytest.raises(DnsautoError) as raised:
        store.keys_for("example.test", management, NOW)
    assert f"{key.selector} of example.test in the state store is unusable" in str(raised.value)
    assert "c2VjcmV0" not in str(raised.value)


def test_private_key_of_the_wrong_type_is_refused():
    ed_pem = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )

    with pytest.raises(ValueError, match="expected an RSA private key"):
        public_key_base64(ed_pem, DkimAlgorithm.DKIM1_RSA_SHA256)


def test_naive_now_is_taken_as_utc(tmp_path, open_keys):
    (key,) = open_keys(tmp_path).keys_for(
        "example.test",
        automatic(algorithms=["Dkim1Ed25519Sha256"]),
        datetime(2026, 4, 20, 23, 30),
    )

    assert key.selector == "v1-ed25519-20260420"
    assert key.created == datetime(2026, 4, 20, 23, 30, tzinfo=UTC)


def test_load_of_an_unknown_domain_is_empty(tmp_path, open_keys):
    assert open_keys(tmp_path).load("example.test") == []


def test_dkim_key_is_immutable(made):
    _, _, (ed, _) = made

    with pytest.raises(AttributeError):
        ed.selector = "other"
    assert isinstance(ed, DkimKey)


def _set_stages(store, stages):
    rows = store.state.dkim_keys("example.test")
    updates = [
        dataclasses.replace(row, stage=stage) for row, stage in zip(rows, stages, strict=True)
    ]
    store.state.save_dkim_keys(update=updates)


def test_a_retired_key_is_replaced_by_a_new_one(tmp_path, open_keys):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (old,) = store.keys_for("example.test", management, NOW)
    _set_stages(store, ["retired"])

    (new,) = store.keys_for("example.test", management, datetime(2026, 7, 1, tzinfo=UTC))

    assert new.selector == "v1-ed25519-20260701"
    assert new.public_value != old.public_value
    assert [(k.selector, k.stage) for k in store.load("example.test")] == [
        ("v1-ed25519-20260420", DkimStage.RETIRED),
        ("v1-ed25519-20260701", DkimStage.ACTIVE),
    ]


def test_the_active_key_is_preferred_to_a_retiring_one(tmp_path, open_keys):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    store.keys_for("example.test", management, NOW)
    _set_stages(store, ["retired"])
    (new,) = store.keys_for("example.test", management, datetime(2026, 7, 1, tzinfo=UTC))
    _set_stages(store, ["retiring", "active"])

    (current,) = store.keys_for("example.test", management, NOW)

    assert current.selector == new.selector
    assert current.stage is DkimStage.ACTIVE


def test_a_legacy_json_index_is_imported_into_the_state_store_once(tmp_path, open_keys):
    directory = tmp_path / "dkim" / "example.test"
    directory.mkdir(parents=True)
    pem = generate_private_key(DkimAlgorithm.DKIM1_ED25519_SHA256)
    (directory / "v1-ed25519-20260101.pem").write_text(pem)
    entry = {
        "selector": "v1-ed25519-20260101",
        "algorithm": "Dkim1Ed25519Sha256",
        "created": "2026-01-01T00:00:00+00:00",
        "stage": "active",
    }
    (directory / "index.json").write_text(json.dumps({"version": 1, "keys": [entry]}))
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])

    (key,) = open_keys(tmp_path).keys_for("example.test", management, NOW)
    (again,) = open_keys(tmp_path).keys_for("example.test", management, NOW)

    assert key.selector == "v1-ed25519-20260101"
    assert key.private_pem == pem
    assert key.created == datetime(2026, 1, 1, tzinfo=UTC)
    assert again == key
    assert not (directory / "index.json").exists()
    assert (directory / "index.json.migrated").exists()


V5_DKIM_TABLE = """CREATE TABLE dkim_keys (
    domain VARCHAR NOT NULL, selector VARCHAR NOT NULL, position INTEGER NOT NULL,
    algorithm VARCHAR NOT NULL, stage VARCHAR NOT NULL, public_value VARCHAR NOT NULL,
    created DATETIME NOT NULL, active_at DATETIME, retiring_at DATETIME, retired_at DATETIME,
    key_deleted_at DATETIME, PRIMARY KEY (domain, selector))"""


def test_a_store_of_schema_5_gains_private_keys_read_from_the_key_files_and_the_race_rule(
    tmp_path, open_keys
):
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    with StateStore(tmp_path) as first:
        (key,) = DkimKeyStore(first).keys_for("example.test", management, NOW)
    with sqlite3.connect(tmp_path / DB_FILE) as plain:  # as dnsauto before schema 6 left it
        plain.execute("ALTER TABLE dkim_keys RENAME TO dkim_keys_6")
        plain.execute(V5_DKIM_TABLE)
        columns = "domain, selector, position, algorithm, stage, public_value, created"
        plain.execute(f"INSERT INTO dkim_keys ({columns}) SELECT {columns} FROM dkim_keys_6")
        plain.execute("DROP TABLE dkim_keys_6")
        plain.execute("DELETE FROM schema_version WHERE version > 5")

    store = open_keys(tmp_path)
    assert store.state.schema_version() == SCHEMA_VERSION
    assert store.keys_for("example.test", management, NOW) == [key]
    (row,) = store.state.dkim_keys("example.test")
    assert row.private_pem == key.private_pem
    with pytest.raises(DkimKeyRaceError, match="another process added DKIM keys of example"):
        store.state.save_dkim_keys(add=[dataclasses.replace(row, selector="other")])
    StateStore(tmp_path / "new").close()  # the upgrade left the schema of a new store as it was


def unread(store: DkimKeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any read of one domain's keys from the state store fail the test."""

    def refused(domain: str) -> None:
        raise AssertionError(f"the keys of {domain} were read again")

    monkeypatch.setattr(store.state, "dkim_keys", refused)


def test_keys_known_from_a_read_of_every_domain_are_used_without_another_read(
    tmp_path, open_keys, monkeypatch
):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (key,) = store.keys_for("example.test", management, NOW)
    known = store.state.dkim_keys_of(["example.test"])["example.test"]
    unread(store, monkeypatch)

    synced = store.for_sync("example.test", management, rotate=True, now=NOW, known=known)

    assert (synced.published, synced.notes, synced.rotation_error) == ([key], [], None)


def test_known_keys_with_a_rotation_step_due_are_read_again_and_rotated(tmp_path, open_keys):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"], rotateAfter="30d")
    store.keys_for("example.test", management, NOW)
    known = store.state.dkim_keys_of(["example.test"])["example.test"]
    later = datetime(2026, 6, 1, tzinfo=UTC)

    synced = store.for_sync("example.test", management, rotate=True, now=later, known=known)

    assert synced.notes, "the rotation step due was taken"
    assert [k.stage for k in synced.published] == [DkimStage.ACTIVE, DkimStage.PENDING]


@pytest.mark.parametrize(
    "spoil",
    [Path.unlink, lambda pem: pem.write_text(pem.read_text() + "\n")],
    ids=["gone", "holding-more-than-the-key"],
)
def test_known_keys_whose_file_is_gone_or_other_have_it_written_again(tmp_path, open_keys, spoil):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256"])
    (key,) = store.keys_for("example.test", management, NOW)
    known = store.state.dkim_keys_of(["example.test"])["example.test"]
    pem = tmp_path / "dkim" / "example.test" / f"{key.selector}.pem"
    spoil(pem)

    synced = store.for_sync("example.test", management, rotate=True, now=NOW, known=known)

    assert synced.published == [key]
    assert pem.read_text() == key.private_pem


def test_known_keys_missing_an_algorithm_make_its_key(tmp_path, open_keys):
    store = open_keys(tmp_path)
    store.keys_for("example.test", automatic(algorithms=["Dkim1Ed25519Sha256"]), NOW)
    known = store.state.dkim_keys_of(["example.test"])["example.test"]
    both = automatic(algorithms=["Dkim1Ed25519Sha256", "Dkim1RsaSha256"])

    synced = store.for_sync("example.test", both, rotate=False, now=NOW, known=known)

    assert sorted(k.algorithm for k in synced.published) == sorted(
        [DkimAlgorithm.DKIM1_ED25519_SHA256, DkimAlgorithm.DKIM1_RSA_SHA256]
    )


def test_a_syncs_keys_derive_their_public_value_only_when_asked(tmp_path, open_keys):
    store = open_keys(tmp_path)
    management = automatic(algorithms=["Dkim1Ed25519Sha256", "Dkim1RsaSha256"])
    made = store.keys_for("example.test", management, NOW)
    known = store.state.dkim_keys_of(["example.test"])["example.test"]

    synced = store.for_sync("example.test", management, rotate=False, now=NOW, known=known)

    assert [vars(k).get("public_value") for k in synced.published] == [None, None]
    assert [k.public_value for k in synced.published] == [k.public_value for k in made]


def test_a_corrupt_private_key_in_the_store_fails_the_syncs_record_named_without_its_text(
    tmp_path, open_keys
):
    store, management, key = corrupt_stored_key(tmp_path, open_keys)
    known = store.state.dkim_keys_of(["example.test"])["example.test"]
    sync = store.for_sync("example.test", management, rotate=False, now=NOW, known=known)
    (synced,) = sync.published

    with pytest.raises(DnsautoError) as raised:
        synced.public_value  # noqa: B018 - the record's value, as the desired stage asks for it
    assert f"{key.selector} of example.test in the state store is unusable" in str(raised.value)
    assert "c2VjcmV0" not in str(raised.value)
