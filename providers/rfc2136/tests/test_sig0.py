"""SIG(0) signing and verification (RFC 2931) without any external tool.

The interoperability proofs (BIND's nsupdate, Net::DNS::SEC, miekg/dns,
trust-dns-server) are in test_sig0_interop.py.
"""

from __future__ import annotations

import base64
import struct

import dns.exception
import dns.message
import dns.name
import dns.update
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from dnsauto_rfc2136 import sig0

SIGNER = dns.name.from_text("updater.example.test.")
NOW = 1_795_675_726
ALGORITHMS = sig0.SIG0_ALGORITHMS

# A message signed by BIND 9.18.49's nsupdate (captured on loopback) with a key
# made by `dnssec-keygen -a ED25519 -T KEY -n HOST updater.example.test`.
# The key is a throwaway made for this test.
BIND_PRIVATE = """Private-key-format: v1.3
Algorithm: 15 (ED25519)
PrivateKey: tfFikjbiUjDM9t9pK1YzLJGpGNvIWi1hpthlRDXv7Hs=
Created: 20261126065332
Publish: 20261126065332
Activate: 20261126065332
"""
BIND_KEY = "updater.example.test. IN KEY 512 3 15 K44gsWL7XtT7KudM89gYoGFyPlOdh2iNM4mrnvuU6f0="
BIND_KEY_TAG = 27812
NSUPDATE_WIRE = bytes.fromhex(
    "70aa28000001000000010001076578616d706c650474657374000006000103777777c00c0001"
    "00010000012c0004c000020100001800ff00000000006800000f00000000006b07d8a66b07d6"
    "4e6ca40775706461746572076578616d706c650474657374002f4ce994a69d314a9eebbe193f"
    "b38a1b7a9b4fa17514975f7fd152d45f4b11fc22ab8f98085e336692439a85ef1a816595e17c"
    "e78793ac6eaf553797e17e650b"
)
NSUPDATE_INCEPTION = 1_795_675_726
NSUPDATE_EXPIRATION = 1_795_676_326


def make_key(algorithm: sig0.Sig0Algorithm) -> str:
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ecdsa-p256-sha256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ec.generate_private_key(ec.SECP384R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def keys() -> dict[sig0.Sig0Algorithm, str]:
    return {algorithm: make_key(algorithm) for algorithm in ALGORITHMS}


def update_wire() -> bytes:
    update = dns.update.UpdateMessage("example.test.")
    update.present("www", "A", "192.0.2.1")
    update.replace("www", 300, "A", "192.0.2.2")
    update.add("example.test.", 300, "MX", "10 mail.example.test.")
    update.delete("old", "TXT")
    return update.to_wire()


def sign(
    wire: bytes,
    pem: str,
    algorithm: sig0.Sig0Algorithm,
    *,
    inception: int = NOW - 300,
    expiration: int = NOW + 300,
    signer: dns.name.Name = SIGNER,
) -> bytes:
    return sig0.sign_message(
        wire,
        signer=signer,
        private_key_pem=pem,
        algorithm=algorithm,
        inception=inception,
        expiration=expiration,
    )


# --------------------------------------------------------------- known answers


def test_signature_equals_nsupdate_byte_for_byte() -> None:
    unsigned, record = sig0.split_sig0(NSUPDATE_WIRE)
    assert (record.inception, record.expiration) == (NSUPDATE_INCEPTION, NSUPDATE_EXPIRATION)
    assert (
        sign(
            unsigned,
            BIND_PRIVATE,
            "ed25519",
            inception=NSUPDATE_INCEPTION,
            expiration=NSUPDATE_EXPIRATION,
        )
        == NSUPDATE_WIRE
    )


def test_pem_form_of_the_bind_key_signs_identically() -> None:
    seed = base64.b64decode(BIND_PRIVATE.split("PrivateKey: ")[1].split()[0])
    pem = (
        ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    unsigned, _ = sig0.split_sig0(NSUPDATE_WIRE)
    signed = sign(
        unsigned, pem, "ed25519", inception=NSUPDATE_INCEPTION, expiration=NSUPDATE_EXPIRATION
    )
    assert signed == NSUPDATE_WIRE
    assert "KEY " + sig0.public_key_record(pem, "ed25519") in BIND_KEY


def test_dnspython_cannot_parse_a_signed_update_but_the_split_part_parses() -> None:
    with pytest.raises(dns.exception.FormError):
        dns.message.from_wire(NSUPDATE_WIRE)
    unsigned, _ = sig0.split_sig0(NSUPDATE_WIRE)
    message = dns.message.from_wire(unsigned)
    assert "www.example.test. 300 IN A 192.0.2.1" in message.to_text()


def test_public_key_record_and_key_tag_match_dnssec_keygen() -> None:
    assert sig0.public_key_record(BIND_PRIVATE, "ed25519") == BIND_KEY.split(" KEY ")[1]
    assert sig0.key_tag(BIND_PRIVATE, "ed25519") == BIND_KEY_TAG
    assert sig0.key_tag_from_record(BIND_KEY) == BIND_KEY_TAG


def test_verifies_nsupdate_message_only_inside_its_window() -> None:
    assert sig0.verify_message(NSUPDATE_WIRE, BIND_KEY, NSUPDATE_INCEPTION)
    assert sig0.verify_message(NSUPDATE_WIRE, BIND_KEY, NSUPDATE_EXPIRATION)
    assert not sig0.verify_message(NSUPDATE_WIRE, BIND_KEY, NSUPDATE_INCEPTION - 1)
    assert not sig0.verify_message(NSUPDATE_WIRE, BIND_KEY, NSUPDATE_EXPIRATION + 1)


# ------------------------------------------------------------------ round trip


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_round_trip(keys: dict[sig0.Sig0Algorithm, str], algorithm: sig0.Sig0Algorithm) -> None:
    wire = update_wire()
    signed = sign(wire, keys[algorithm], algorithm)
    record = sig0.public_key_record(keys[algorithm], algorithm)
    assert sig0.check_message(signed, record, NOW) is None
    assert sig0.verify_message(signed, record, NOW)
    assert sig0.check_message(signed, record, NOW, signer=SIGNER) is None

    unsigned, sig = sig0.split_sig0(signed)
    assert unsigned == wire
    assert sig.algorithm_number == sig0.ALGORITHM_NUMBERS[algorithm]
    assert sig.key_tag == sig0.key_tag(keys[algorithm], algorithm)
    assert sig.signer == SIGNER
    assert (sig.type_covered, sig.labels, sig.original_ttl, sig.ttl) == (0, 0, 0, 0)
    assert sig.rdclass == 255
    assert sig.owner_is_root
    assert len(sig.signature) == {"ed25519": 64, "ecdsa-p256-sha256": 64}.get(algorithm, 96)
    # ARCOUNT bumped by one; the rest of the header untouched.
    assert struct.unpack("!H", signed[10:12])[0] == struct.unpack("!H", wire[10:12])[0] + 1
    assert signed[:10] == wire[:10]
    # What remains parses with dnspython as the original update.
    assert dns.message.from_wire(unsigned).to_text() == dns.message.from_wire(wire).to_text()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_any_single_bit_flip_is_rejected(
    keys: dict[sig0.Sig0Algorithm, str], algorithm: sig0.Sig0Algorithm
) -> None:
    signed = sign(update_wire(), keys[algorithm], algorithm)
    record = sig0.public_key_record(keys[algorithm], algorithm)
    for index in range(len(signed)):
        for bit in (0x01, 0x80):
            tampered = bytearray(signed)
            tampered[index] ^= bit
            assert not sig0.verify_message(bytes(tampered), record, NOW), (index, bit)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_other_key_is_rejected(
    keys: dict[sig0.Sig0Algorithm, str], algorithm: sig0.Sig0Algorithm
) -> None:
    signed = sign(update_wire(), keys[algorithm], algorithm)
    other = sig0.public_key_record(make_key(algorithm), algorithm)
    reason = sig0.check_message(signed, other, NOW)
    assert reason is not None
    assert "key tag" in reason or "does not verify" in reason
    # Same tag forced: the signature itself must fail.
    forced = sig0.sign_message(
        update_wire(),
        signer=SIGNER,
        private_key_pem=make_key(algorithm),
        algorithm=algorithm,
        inception=NOW - 300,
        expiration=NOW + 300,
        key_tag=sig0.key_tag(keys[algorithm], algorithm),
    )
    record = sig0.public_key_record(keys[algorithm], algorithm)
    assert sig0.check_message(forced, record, NOW) == (
        "the signature does not verify with this key (message altered or other key)"
    )


def test_other_algorithm_is_rejected(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    signed = sign(update_wire(), keys["ed25519"], "ed25519")
    record = sig0.public_key_record(keys["ecdsa-p256-sha256"], "ecdsa-p256-sha256")
    assert "algorithm 15" in (sig0.check_message(signed, record, NOW) or "")


def test_validity_window(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    pem = keys["ed25519"]
    record = sig0.public_key_record(pem, "ed25519")
    signed = sign(update_wire(), pem, "ed25519", inception=NOW - 10, expiration=NOW + 10)
    assert sig0.verify_message(signed, record, NOW - 10)
    assert sig0.verify_message(signed, record, NOW + 10)
    expired = sig0.check_message(signed, record, NOW + 11)
    assert expired is not None
    assert expired.startswith("signature expired at ")
    early = sig0.check_message(signed, record, NOW - 11)
    assert early is not None
    assert early.startswith("signature valid only from ")


def test_validity_window_uses_serial_arithmetic(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    pem = keys["ed25519"]
    record = sig0.public_key_record(pem, "ed25519")
    inception, expiration = sig0.validity_window(2**32 - 100)
    assert inception == 2**32 - 400
    assert expiration == 200  # wrapped past 2106-02-07
    signed = sign(update_wire(), pem, "ed25519", inception=inception, expiration=expiration)
    assert sig0.verify_message(signed, record, 2**32 - 1)
    assert sig0.verify_message(signed, record, 2**32 + 100)
    assert not sig0.verify_message(signed, record, 2**32 + 201)
    assert sig0.validity_window(NOW) == (NOW - 300, NOW + 300)


def test_signer_name_is_lowercased_and_checked(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    pem = keys["ed25519"]
    record = sig0.public_key_record(pem, "ed25519")
    signed = sign(update_wire(), pem, "ed25519", signer=dns.name.from_text("UpDater.Example.TEST."))
    assert b"\x07updater\x07example\x04test\x00" in signed
    assert sig0.verify_message(signed, record, NOW)
    other = dns.name.from_text("someone.example.test.")
    assert sig0.check_message(signed, record, NOW, signer=other) == (
        "signer updater.example.test. is not the expected someone.example.test."
    )


def test_mixed_case_signer_signed_as_written_is_accepted(
    keys: dict[sig0.Sig0Algorithm, str],
) -> None:
    """miekg/dns signs the signer name as written; accept that form too."""
    pem = keys["ed25519"]
    wire = update_wire()
    head = struct.pack("!HBBIIIH", 0, 15, 0, 0, NOW + 300, NOW - 300, sig0.key_tag(pem, "ed25519"))
    head += b"\x07UpDater\x07example\x04test\x00"
    key = sig0.load_private_key(pem, "ed25519")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    rdata = head + key.sign(head + wire)
    arcount = struct.unpack("!H", wire[10:12])[0]
    signed = (
        wire[:10]
        + struct.pack("!H", arcount + 1)
        + wire[12:]
        + b"\x00"
        + struct.pack("!HHIH", 24, 255, 0, len(rdata))
        + rdata
    )
    assert sig0.verify_message(signed, sig0.public_key_record(pem, "ed25519"), NOW)


def test_sign_keeps_existing_additional_records(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    update = dns.update.UpdateMessage("example.test.")
    update.add("www", 300, "A", "192.0.2.1")
    update.use_edns(0, payload=1232)
    wire = update.to_wire()
    assert struct.unpack("!H", wire[10:12])[0] == 1
    signed = sign(wire, keys["ed25519"], "ed25519")
    assert struct.unpack("!H", signed[10:12])[0] == 2
    assert sig0.verify_message(signed, sig0.public_key_record(keys["ed25519"], "ed25519"), NOW)
    unsigned, _ = sig0.split_sig0(signed)
    assert dns.message.from_wire(unsigned).edns == 0


# ------------------------------------------------------- malformed and misuse


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x00" * 5, "malformed message: shorter than a DNS header"),
        (update_wire(), "malformed message: no additional records, so no SIG(0)"),
    ],
)
def test_malformed_messages(keys: dict[sig0.Sig0Algorithm, str], wire: bytes, reason: str) -> None:
    record = sig0.public_key_record(keys["ed25519"], "ed25519")
    assert sig0.check_message(wire, record, NOW) == reason


def test_trailing_bytes_and_truncation_are_rejected(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    record = sig0.public_key_record(keys["ed25519"], "ed25519")
    signed = sign(update_wire(), keys["ed25519"], "ed25519")
    assert "follow the SIG record" in (sig0.check_message(signed + b"\x00", record, NOW) or "")
    for cut in (1, 64, 70, len(signed) - 13):
        assert not sig0.verify_message(signed[:-cut], record, NOW)


def test_last_record_not_sig(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    update = dns.update.UpdateMessage("example.test.")
    update.use_edns(0)
    reason = sig0.check_message(
        update.to_wire(), sig0.public_key_record(keys["ed25519"], "ed25519"), NOW
    )
    assert reason == "malformed message: the last additional record is type 41, not SIG (24)"
    with pytest.raises(ValueError, match="not SIG"):
        sig0.split_sig0(update.to_wire())


def test_sign_rejects_bad_arguments(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    pem = keys["ed25519"]
    with pytest.raises(ValueError, match="at least 12 bytes"):
        sign(b"\x00" * 11, pem, "ed25519")
    with pytest.raises(ValueError, match="must be absolute"):
        sign(update_wire(), pem, "ed25519", signer=dns.name.from_text("rel", origin=None))
    with pytest.raises(ValueError, match="inception -1"):
        sign(update_wire(), pem, "ed25519", inception=-1)
    with pytest.raises(ValueError, match="expiration 4294967296"):
        sign(update_wire(), pem, "ed25519", expiration=2**32)
    with pytest.raises(ValueError, match="unknown SIG\\(0\\) algorithm 'rsasha256'"):
        sign(update_wire(), pem, "rsasha256")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key tag 65536"):
        sig0.sign_message(
            update_wire(),
            signer=SIGNER,
            private_key_pem=pem,
            algorithm="ed25519",
            inception=0,
            expiration=1,
            key_tag=65536,
        )
    full = bytearray(update_wire())
    full[10:12] = b"\xff\xff"
    with pytest.raises(ValueError, match="65535 additional records"):
        sign(bytes(full), pem, "ed25519")


# ---------------------------------------------------------------- key loading


def test_key_type_must_match_algorithm(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    with pytest.raises(ValueError, match="ed25519 needs an Ed25519 key, got an EC key on curve"):
        sig0.load_private_key(keys["ecdsa-p256-sha256"], "ed25519")
    with pytest.raises(
        ValueError,
        match="p256-sha256 needs an EC key on curve secp256r1, got an EC key on curve secp384r1",
    ):
        sig0.load_private_key(keys["ecdsa-p384-sha384"], "ecdsa-p256-sha256")
    with pytest.raises(ValueError, match="secp384r1, got an Ed25519 key"):
        sig0.load_private_key(keys["ed25519"], "ecdsa-p384-sha384")
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="needs an Ed25519 key, got a RSA key"):
        sig0.load_private_key(rsa_pem, "ed25519")


def test_sec1_ec_private_key_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----")
    loaded = sig0.load_private_key(pem, "ecdsa-p256-sha256")
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == key.private_numbers()


def test_unparseable_keys_never_echo_the_key(keys: dict[sig0.Sig0Algorithm, str]) -> None:
    pem = keys["ed25519"]
    body = pem.splitlines()[1]
    broken = pem.replace(body, body[:-8])  # DER shorter than its length says
    bad_inputs = {
        "": "SIG\\(0\\) private key is empty",
        "   \n": "SIG\\(0\\) private key is empty",
        broken: "the PEM data cannot be parsed",
        pem.replace(body, "!!!!" + body[4:]): "the PEM data cannot be parsed",
        body: "neither PEM .* nor a BIND key file",
        "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PUBLIC KEY-----\n": (
            "not a private key"
        ),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + body + "\n": "is encrypted",
    }
    for text, message in bad_inputs.items():
        with pytest.raises(ValueError, match=message) as caught:
            sig0.load_private_key(text, "ed25519")
        if body:
            assert body not in str(caught.value)
            assert body[:16] not in str(caught.value)
        # No chained exception that could carry the key data along.
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_encrypted_pem_is_refused() -> None:
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="encrypted"):
        sig0.load_private_key(pem, "ed25519")


def test_bind_private_key_file_errors() -> None:
    with pytest.raises(ValueError, match="BIND key file is for ed25519, but the configured"):
        sig0.load_private_key(BIND_PRIVATE, "ecdsa-p256-sha256")
    secret = BIND_PRIVATE.split("PrivateKey: ")[1].split()[0]
    for text, message in {
        BIND_PRIVATE.replace("PrivateKey: ", "Secret: "): "no 'PrivateKey:' line",
        BIND_PRIVATE.replace("Algorithm: 15 (ED25519)\n", ""): "no 'Algorithm:' line",
        BIND_PRIVATE.replace(secret, secret[:-4] + "@@@="): "not base64",
        BIND_PRIVATE.replace(secret, secret[:-8] + "="): "bytes of private key",
        BIND_PRIVATE.replace("15 (ED25519)", "8 (RSASHA256)"): "algorithm number 8",
    }.items():
        with pytest.raises(ValueError, match=message) as caught:
            sig0.load_private_key(text, "ed25519")
        assert secret[:12] not in str(caught.value)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bind_private_key_file_of_every_algorithm(algorithm: sig0.Sig0Algorithm) -> None:
    pem = make_key(algorithm)
    key = sig0.load_private_key(pem, algorithm)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    else:
        raw = key.private_numbers().private_value.to_bytes(key.curve.key_size // 8, "big")
    number = sig0.ALGORITHM_NUMBERS[algorithm]
    text = (
        f"Private-key-format: v1.3\nAlgorithm: {number} (X)\n"
        f"PrivateKey: {base64.b64encode(raw).decode()}\n"
    )
    assert sig0.public_key_record(text, algorithm) == sig0.public_key_record(pem, algorithm)


# ---------------------------------------------------------------- KEY records


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_public_key_record_format(
    keys: dict[sig0.Sig0Algorithm, str], algorithm: sig0.Sig0Algorithm
) -> None:
    text = sig0.public_key_record(keys[algorithm], algorithm)
    flags, protocol, number, *words = text.split()
    assert (flags, protocol, number) == ("512", "3", str(sig0.ALGORITHM_NUMBERS[algorithm]))
    assert all(len(word) <= 56 for word in words)
    assert len(base64.b64decode("".join(words))) == {"ed25519": 32}.get(
        algorithm, 64 if algorithm == "ecdsa-p256-sha256" else 96
    )
    parsed = sig0.parse_key_record(text)
    assert parsed[:3] == (512, 3, algorithm)
    # Whole-line, multi-line and commented forms parse to the same key.
    name_line = f"updater.example.test. 3600 IN KEY {text}"
    multi = f"; a comment\nupdater.example.test. IN KEY {' '.join(text.split()[:3])} (\n"
    multi += "\n".join(words) + " ) ; key id"
    assert sig0.parse_key_record(name_line) == parsed
    assert sig0.parse_key_record(multi) == parsed
    assert sig0.key_tag_from_record(multi) == sig0.key_tag(keys[algorithm], algorithm)


def test_key_tag_rfc4034_appendix_b() -> None:
    # Worked example: the DNSKEY of RFC 4034 section 5.4's DS has key tag 60485
    # (flags 256, protocol 3, algorithm 5); the same arithmetic applies to KEY.
    dnskey = base64.b64decode(
        "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw=="
    )
    rdata = struct.pack("!HBB", 256, 3, 5) + dnskey
    assert sig0._key_tag_of_rdata(rdata) == 60485


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected KEY rdata"),
        ("512 3 15", "expected KEY rdata"),
        ("512 2 15 K44gsWL7XtT7KudM89gYoGFyPlOdh2iNM4mrnvuU6f0=", "protocol must be 3"),
        ("49152 3 15 K44gsWL7XtT7KudM89gYoGFyPlOdh2iNM4mrnvuU6f0=", "no key"),
        ("512 3 8 AwEAAa==", "algorithm number 8 is not supported"),
        ("512 3 15 K44gsWL7XtT7KudM89gY!!", "not base64"),
        ("512 3 15 K44gsWL7XtT7KudM89gYoGFyPlOdh2iN", "24 bytes of key data, ed25519 needs 32"),
        ("512 3 13 " + base64.b64encode(b"\x01" * 64).decode(), "not a point on secp256r1"),
    ],
)
def test_bad_key_records(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sig0.check_message(NSUPDATE_WIRE, text, NOW)
