"""SIG(0) transaction signatures (RFC 2931) for DNS UPDATE messages.

dnspython knows the SIG rdata type but cannot create a SIG(0), and its
``dns.message.from_wire()`` rejects a SIG(0)-signed UPDATE with FormError.  This
module therefore works on the raw wire format:

* :func:`sign_message` appends a SIG(0) RR to a finished message (``to_wire()``
  output, before any TCP length prefix) and bumps ARCOUNT;
* :func:`verify_message` / :func:`check_message` verify one, including the
  validity window (RFC 1982 serial arithmetic, as BIND, Net::DNS::SEC and
  miekg/dns do);
* :func:`split_sig0` removes the SIG(0) again, so that the rest can be parsed by
  dnspython.

What is signed (RFC 2931 section 3.1): the SIG RDATA without the signature
(signer name uncompressed and lowercased) followed by the message exactly as it
was before the SIG RR was added, i.e. with the original ARCOUNT.

Algorithms: ECDSA P-256/SHA-256 (13) and P-384/SHA-384 (14) with the raw
``r || s`` signature of RFC 6605, and Ed25519 (15) per RFC 8080.  Keys are
accepted as PEM (PKCS#8, or SEC1 "EC PRIVATE KEY") or as the ``.private`` file
written by BIND's ``dnssec-keygen`` ("Private-key-format: v1.3").  Error
messages never contain key material.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import struct
from dataclasses import dataclass
from typing import Final, Literal, get_args

import dns.name
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = [
    "ALGORITHM_NUMBERS",
    "DEFAULT_FUDGE",
    "KEY_FLAGS",
    "KEY_PROTOCOL",
    "SIG0_ALGORITHMS",
    "PrivateKey",
    "PublicKey",
    "Sig0Algorithm",
    "Sig0Record",
    "check_message",
    "key_tag",
    "key_tag_from_record",
    "load_private_key",
    "parse_key_record",
    "public_key_record",
    "sign_message",
    "split_sig0",
    "validity_window",
    "verify_message",
]

Sig0Algorithm = Literal["ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"]
SIG0_ALGORITHMS: Final[tuple[Sig0Algorithm, ...]] = get_args(Sig0Algorithm)

#: DNSSEC algorithm numbers (IANA "DNS Security Algorithm Numbers").
ALGORITHM_NUMBERS: Final[dict[Sig0Algorithm, int]] = {
    "ecdsa-p256-sha256": 13,
    "ecdsa-p384-sha384": 14,
    "ed25519": 15,
}
_ALGORITHM_BY_NUMBER: Final[dict[int, Sig0Algorithm]] = {
    number: name for name, number in ALGORITHM_NUMBERS.items()
}
_CURVES: Final[dict[Sig0Algorithm, type[ec.EllipticCurve]]] = {
    "ecdsa-p256-sha256": ec.SECP256R1,
    "ecdsa-p384-sha384": ec.SECP384R1,
}
_HASHES: Final[dict[Sig0Algorithm, type[hashes.HashAlgorithm]]] = {
    "ecdsa-p256-sha256": hashes.SHA256,
    "ecdsa-p384-sha384": hashes.SHA384,
}
#: Length of the public key in the KEY RR and of the signature, in bytes.
_PUBLIC_KEY_LENGTHS: Final[dict[Sig0Algorithm, int]] = {
    "ecdsa-p256-sha256": 64,
    "ecdsa-p384-sha384": 96,
    "ed25519": 32,
}
_SIGNATURE_LENGTHS: Final[dict[Sig0Algorithm, int]] = {
    "ecdsa-p256-sha256": 64,
    "ecdsa-p384-sha384": 96,
    "ed25519": 64,
}

#: KEY flags written by ``dnssec-keygen -T KEY -n HOST``: name type "host/entity".
KEY_FLAGS: Final = 512
#: KEY protocol field: 3 = DNSSEC (RFC 2535, the only value still allowed).
KEY_PROTOCOL: Final = 3
#: BIND signs SIG(0) messages valid from now - 300 s to now + 300 s.
DEFAULT_FUDGE: Final = 300

_TYPE_SIG: Final = 24
_CLASS_ANY: Final = 255
_HEADER_LENGTH: Final = 12
_MAX_MESSAGE: Final = 65535
_UINT32: Final = 1 << 32

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


# --------------------------------------------------------------------------- keys


def _check_algorithm(algorithm: str) -> Sig0Algorithm:
    for known in SIG0_ALGORITHMS:
        if algorithm == known:
            return known
    raise ValueError(
        f"unknown SIG(0) algorithm {algorithm!r}; expected one of {', '.join(SIG0_ALGORITHMS)}"
    )


def _describe_key(key: object) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "an Ed25519 key"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC key on curve {key.curve.name}"
    name = type(key).__name__.removesuffix("PrivateKey").removeprefix("_") or "unknown"
    return f"a {name} key"


def _check_key_type(key: object, algorithm: Sig0Algorithm) -> PrivateKey:
    if algorithm == "ed25519":
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key
        raise ValueError(f"SIG(0) algorithm ed25519 needs an Ed25519 key, got {_describe_key(key)}")
    curve = _CURVES[algorithm]
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, curve):
        return key
    raise ValueError(
        f"SIG(0) algorithm {algorithm} needs an EC key on curve {curve.name}, "
        f"got {_describe_key(key)}"
    )


def _load_bind_private(text: str, algorithm: Sig0Algorithm) -> PrivateKey:
    """Parse the ``K<name>+<alg>+<tag>.private`` format written by dnssec-keygen."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    algorithm_field = fields.get("algorithm", "")
    match = re.match(r"\d+", algorithm_field)
    if match is None:
        raise ValueError("SIG(0) private key: BIND key file has no 'Algorithm:' line")
    number = int(match.group())
    if number != ALGORITHM_NUMBERS[algorithm]:
        found = _ALGORITHM_BY_NUMBER.get(number, f"algorithm number {number}")
        raise ValueError(
            f"SIG(0) private key: the BIND key file is for {found}, "
            f"but the configured algorithm is {algorithm} "
            f"(number {ALGORITHM_NUMBERS[algorithm]})"
        )
    encoded = fields.get("privatekey")
    if not encoded:
        raise ValueError("SIG(0) private key: BIND key file has no 'PrivateKey:' line")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "SIG(0) private key: the 'PrivateKey:' value of the BIND key file is not base64"
        ) from None
    expected = _PUBLIC_KEY_LENGTHS[algorithm] // (1 if algorithm == "ed25519" else 2)
    if len(raw) != expected:
        raise ValueError(
            f"SIG(0) private key: BIND key file holds {len(raw)} bytes of private key, "
            f"{algorithm} needs {expected}"
        )
    try:
        if algorithm == "ed25519":
            return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
        return ec.derive_private_key(int.from_bytes(raw, "big"), _CURVES[algorithm]())
    except ValueError:
        raise ValueError(
            f"SIG(0) private key: the BIND key file does not hold a valid {algorithm} key"
        ) from None


def load_private_key(private_key_pem: str, algorithm: Sig0Algorithm) -> PrivateKey:
    """Load a SIG(0) private key and check that it fits ``algorithm``.

    Accepts an unencrypted PEM private key (``BEGIN PRIVATE KEY`` / ``BEGIN EC
    PRIVATE KEY``) or a BIND ``.private`` key file.  Raises ValueError with a
    message that names the problem but never repeats the key.
    """
    checked = _check_algorithm(algorithm)
    text = private_key_pem.strip()
    if not text:
        raise ValueError("SIG(0) private key is empty")
    if text.startswith("-----BEGIN"):
        if "ENCRYPTED" in text.split("\n", 1)[0]:
            raise ValueError(
                "SIG(0) private key is encrypted; give it without a passphrase "
                "(keep the file itself protected instead)"
            )
        if "PRIVATE KEY-----" not in text.split("\n", 1)[0]:
            raise ValueError(
                "SIG(0) private key: the PEM block is not a private key "
                "(expected '-----BEGIN PRIVATE KEY-----'; a public key or certificate was given?)"
            )
        try:
            key: object = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except TypeError:
            raise ValueError(
                "SIG(0) private key is encrypted; give it without a passphrase"
            ) from None
        except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
            raise ValueError("SIG(0) private key: the PEM data cannot be parsed") from None
        return _check_key_type(key, checked)
    if text.lower().startswith("private-key-format:"):
        return _check_key_type(_load_bind_private(text, checked), checked)
    raise ValueError(
        "SIG(0) private key is neither PEM ('-----BEGIN PRIVATE KEY-----') "
        "nor a BIND key file ('Private-key-format: v1.3')"
    )


def _public_key_bytes(key: PrivateKey | PublicKey) -> bytes:
    public = (
        key.public_key()
        if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
        else key
    )
    if isinstance(public, ed25519.Ed25519PublicKey):
        return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # RFC 6605 section 4: the uncompressed point without its 0x04 prefix.
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]


def _key_rdata(algorithm: Sig0Algorithm, public: bytes, flags: int = KEY_FLAGS) -> bytes:
    return struct.pack("!HBB", flags, KEY_PROTOCOL, ALGORITHM_NUMBERS[algorithm]) + public


def _key_tag_of_rdata(rdata: bytes) -> int:
    """RFC 4034 appendix B (valid for every algorithm but RSA/MD5)."""
    accumulator = 0
    for index, byte in enumerate(rdata):
        accumulator += byte if index & 1 else byte << 8
    accumulator += (accumulator >> 16) & 0xFFFF
    return accumulator & 0xFFFF


def public_key_record(private_key_pem: str, algorithm: Sig0Algorithm) -> str:
    """The KEY rdata text for the key, as ``dnssec-keygen -T KEY -n HOST`` writes it.

    For example ``512 3 15 <base64>`` (base64 in 56-character words, as BIND
    writes it); publish it as ``<signer name> IN KEY ...``.
    """
    key = load_private_key(private_key_pem, algorithm)
    encoded = base64.b64encode(_public_key_bytes(key)).decode("ascii")
    # BIND breaks long base64 into 56-character words separated by spaces.
    words = " ".join(encoded[index : index + 56] for index in range(0, len(encoded), 56))
    return f"{KEY_FLAGS} {KEY_PROTOCOL} {ALGORITHM_NUMBERS[algorithm]} {words}"


def key_tag(private_key_pem: str, algorithm: Sig0Algorithm) -> int:
    """The key tag (key id) of the KEY record :func:`public_key_record` gives."""
    key = load_private_key(private_key_pem, algorithm)
    return _key_tag_of_rdata(_key_rdata(algorithm, _public_key_bytes(key)))


@dataclass(frozen=True)
class _KeyRecord:
    flags: int
    protocol: int
    algorithm: Sig0Algorithm
    public_key: bytes

    @property
    def rdata(self) -> bytes:
        return _key_rdata(self.algorithm, self.public_key, self.flags)

    @property
    def key_tag(self) -> int:
        return _key_tag_of_rdata(self.rdata)


def parse_key_record(text: str) -> tuple[int, int, Sig0Algorithm, bytes]:
    """Parse KEY rdata text into ``(flags, protocol, algorithm, public key bytes)``.

    Accepts the bare rdata (``512 3 15 <base64>``) or a whole RR line such as the
    ``.key`` file of dnssec-keygen (``name. IN KEY 512 3 15 <base64>``), with
    ``;`` comments and parentheses.
    """
    record = _parse_key_record(text)
    return record.flags, record.protocol, record.algorithm, record.public_key


def _parse_key_record(text: str) -> _KeyRecord:
    without_comments = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    tokens = without_comments.replace("(", " ").replace(")", " ").split()
    for index, token in enumerate(tokens[:-4]):
        if token.upper() == "KEY":
            tokens = tokens[index + 1 :]
            break
    if len(tokens) < 4 or not all(token.isdigit() for token in tokens[:3]):
        raise ValueError(
            "SIG(0) public key: expected KEY rdata '<flags> <protocol> <algorithm> <base64>'"
        )
    flags, protocol, number = (int(token) for token in tokens[:3])
    if flags > 0xFFFF or protocol != KEY_PROTOCOL:
        raise ValueError(
            f"SIG(0) public key: flags {flags} / protocol {protocol} are not a DNSSEC KEY "
            f"(protocol must be {KEY_PROTOCOL})"
        )
    if (flags & 0xC000) == 0xC000:
        raise ValueError("SIG(0) public key: flags say 'no key' (bits 0 and 1 both set)")
    algorithm = _ALGORITHM_BY_NUMBER.get(number)
    if algorithm is None:
        raise ValueError(
            f"SIG(0) public key: algorithm number {number} is not supported "
            f"(supported: {', '.join(f'{n} {a}' for a, n in ALGORITHM_NUMBERS.items())})"
        )
    try:
        public = base64.b64decode("".join(tokens[3:]), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("SIG(0) public key: the key data is not base64") from None
    if len(public) != _PUBLIC_KEY_LENGTHS[algorithm]:
        raise ValueError(
            f"SIG(0) public key: {len(public)} bytes of key data, "
            f"{algorithm} needs {_PUBLIC_KEY_LENGTHS[algorithm]}"
        )
    return _KeyRecord(flags, protocol, algorithm, public)


def key_tag_from_record(public_key_rdata_text: str) -> int:
    """The key tag of a KEY record given as text (see :func:`parse_key_record`)."""
    return _parse_key_record(public_key_rdata_text).key_tag


def _load_public_key(record: _KeyRecord) -> PublicKey:
    if record.algorithm == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(record.public_key)
    curve = _CURVES[record.algorithm]()
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + record.public_key)
    except ValueError:
        raise ValueError(
            f"SIG(0) public key: the key data is not a point on {curve.name}"
        ) from None


# ------------------------------------------------------------------------ signing


def validity_window(now: int, fudge: int = DEFAULT_FUDGE) -> tuple[int, int]:
    """``(inception, expiration)`` as BIND's signer uses them: ``now ± fudge``, mod 2**32."""
    return (now - fudge) % _UINT32, (now + fudge) % _UINT32


def _check_uint32(name: str, value: int) -> None:
    if not 0 <= value < _UINT32:
        raise ValueError(f"SIG(0) {name} {value} is outside 0..2**32-1 (seconds since 1970)")


def _sign_bytes(key: PrivateKey, algorithm: Sig0Algorithm, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    der = key.sign(data, ec.ECDSA(_HASHES[algorithm]()))
    r, s = decode_dss_signature(der)
    half = _SIGNATURE_LENGTHS[algorithm] // 2
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def _signer_wire(signer: dns.name.Name) -> bytes:
    if not signer.is_absolute():
        raise ValueError(f"SIG(0) signer name {signer} must be absolute (end with a dot)")
    # RFC 2931 3.1: the canonical form (lowercase, uncompressed) is signed; it is
    # also what goes on the wire, so that every verifier agrees on the bytes.
    return _name_wire(signer.canonicalize())


def _name_wire(name: dns.name.Name) -> bytes:
    """Uncompressed wire form of an absolute name."""
    return b"".join(bytes([len(label)]) + label for label in name.labels)


def sign_message(
    wire: bytes,
    *,
    signer: dns.name.Name,
    private_key_pem: str,
    algorithm: Sig0Algorithm,
    inception: int,
    expiration: int,
    key_tag: int | None = None,
) -> bytes:
    """Return ``wire`` with a SIG(0) RR appended to its additional section.

    ``wire`` is a complete DNS message (e.g. ``UpdateMessage.to_wire()``) without
    TSIG and without the TCP length prefix.  ``inception`` and ``expiration`` are
    seconds since the epoch (see :func:`validity_window`).  ``key_tag`` defaults to
    the tag of the public key; ``signer`` is the owner name of the KEY record.
    """
    checked = _check_algorithm(algorithm)
    if len(wire) < _HEADER_LENGTH:
        raise ValueError(f"SIG(0): a DNS message needs at least 12 bytes, got {len(wire)}")
    _check_uint32("inception", inception)
    _check_uint32("expiration", expiration)
    (arcount,) = struct.unpack_from("!H", wire, 10)
    if arcount == 0xFFFF:
        raise ValueError("SIG(0): the message already has 65535 additional records")
    key = load_private_key(private_key_pem, checked)
    tag = (
        key_tag
        if key_tag is not None
        else _key_tag_of_rdata(_key_rdata(checked, _public_key_bytes(key)))
    )
    if not 0 <= tag <= 0xFFFF:
        raise ValueError(f"SIG(0) key tag {tag} is outside 0..65535")
    rdata_head = struct.pack(
        "!HBBIIIH", 0, ALGORITHM_NUMBERS[checked], 0, 0, expiration, inception, tag
    ) + _signer_wire(signer)
    signature = _sign_bytes(key, checked, rdata_head + wire)
    rdata = rdata_head + signature
    record = b"\x00" + struct.pack("!HHIH", _TYPE_SIG, _CLASS_ANY, 0, len(rdata)) + rdata
    signed = wire[:10] + struct.pack("!H", arcount + 1) + wire[_HEADER_LENGTH:] + record
    if len(signed) > _MAX_MESSAGE:
        raise ValueError(
            f"SIG(0): the signed message would be {len(signed)} bytes, more than 65535"
        )
    return signed


# ------------------------------------------------------------------ verification


class _MalformedError(ValueError):
    pass


def _skip_name(wire: bytes, offset: int) -> int:
    """Offset just after the (possibly compressed) name that starts at ``offset``."""
    while True:
        if offset >= len(wire):
            raise _MalformedError("name runs past the end of the message")
        length = wire[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            if offset + 2 > len(wire):
                raise _MalformedError("compression pointer runs past the end of the message")
            return offset + 2
        if length & 0xC0:
            raise _MalformedError(f"unknown label type 0x{length:02x}")
        offset += 1 + length


def _read_uncompressed_name(data: bytes, offset: int) -> tuple[dns.name.Name, int]:
    labels: list[bytes] = []
    while True:
        if offset >= len(data):
            raise _MalformedError("signer name runs past the end of the SIG record")
        length = data[offset]
        if length == 0:
            return dns.name.Name([*labels, b""]), offset + 1
        if length & 0xC0:
            raise _MalformedError("signer name in the SIG record is compressed")
        labels.append(data[offset + 1 : offset + 1 + length])
        offset += 1 + length
        if offset > len(data):
            raise _MalformedError("signer name runs past the end of the SIG record")


@dataclass(frozen=True)
class Sig0Record:
    """The SIG(0) RR found at the end of a message."""

    type_covered: int
    algorithm_number: int
    labels: int
    original_ttl: int
    expiration: int
    inception: int
    key_tag: int
    signer: dns.name.Name
    signature: bytes
    #: owner name, class and TTL of the RR as found on the wire
    owner_is_root: bool
    rdclass: int
    ttl: int
    #: the RDATA up to (without) the signature, as found on the wire
    rdata_head: bytes


def split_sig0(wire: bytes) -> tuple[bytes, Sig0Record]:
    """Split a SIG(0)-signed message into the unsigned message and its SIG RR.

    The unsigned message has the SIG RR removed and ARCOUNT decremented, i.e. it
    is the data that was signed, and dnspython's ``from_wire()`` can parse it.
    Raises ValueError if the last additional RR is not a SIG.
    """
    if len(wire) < _HEADER_LENGTH:
        raise _MalformedError("shorter than a DNS header")
    qdcount, ancount, nscount, arcount = struct.unpack_from("!4H", wire, 4)
    if arcount == 0:
        raise _MalformedError("no additional records, so no SIG(0)")
    offset = _HEADER_LENGTH
    for _ in range(qdcount):
        offset = _skip_name(wire, offset) + 4
    for _ in range(ancount + nscount + arcount - 1):
        offset = _skip_name(wire, offset) + 8
        if offset + 2 > len(wire):
            raise _MalformedError("record runs past the end of the message")
        (rdlength,) = struct.unpack_from("!H", wire, offset)
        offset += 2 + rdlength
    sig_start = offset
    offset = _skip_name(wire, offset)
    owner_is_root = offset == sig_start + 1
    if offset + 10 > len(wire):
        raise _MalformedError("the last record runs past the end of the message")
    rdtype, rdclass, ttl, rdlength = struct.unpack_from("!HHIH", wire, offset)
    if rdtype != _TYPE_SIG:
        raise _MalformedError(f"the last additional record is type {rdtype}, not SIG (24)")
    rdata = wire[offset + 10 : offset + 10 + rdlength]
    if len(rdata) != rdlength:
        raise _MalformedError("the SIG record runs past the end of the message")
    if offset + 10 + rdlength != len(wire):
        raise _MalformedError(f"{len(wire) - offset - 10 - rdlength} bytes follow the SIG record")
    if len(rdata) < 18:
        raise _MalformedError("the SIG record is too short")
    fields = struct.unpack_from("!HBBIIIH", rdata, 0)
    signer, signature_start = _read_uncompressed_name(rdata, 18)
    record = Sig0Record(
        type_covered=fields[0],
        algorithm_number=fields[1],
        labels=fields[2],
        original_ttl=fields[3],
        expiration=fields[4],
        inception=fields[5],
        key_tag=fields[6],
        signer=signer,
        signature=rdata[signature_start:],
        owner_is_root=owner_is_root,
        rdclass=rdclass,
        ttl=ttl,
        rdata_head=rdata[:signature_start],
    )
    unsigned = wire[:10] + struct.pack("!H", arcount - 1) + wire[_HEADER_LENGTH:sig_start]
    return unsigned, record


def _serial_lt(a: int, b: int) -> bool:
    """RFC 1982 serial number arithmetic on 32 bits: is ``a`` before ``b``?"""
    return a != b and (b - a) % _UINT32 < (1 << 31)


def _timestamp(value: int) -> str:
    moment = datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _verify_signature(public: PublicKey, algorithm: Sig0Algorithm, sig: bytes, data: bytes) -> bool:
    if len(sig) != _SIGNATURE_LENGTHS[algorithm]:
        return False
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(sig, data)
        else:
            half = len(sig) // 2
            der = encode_dss_signature(
                int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big")
            )
            public.verify(der, data, ec.ECDSA(_HASHES[algorithm]()))
    except InvalidSignature:
        return False
    return True


def check_message(
    wire: bytes,
    public_key_rdata_text: str,
    now: int,
    *,
    signer: dns.name.Name | None = None,
) -> str | None:
    """Why the SIG(0) of ``wire`` is not valid for the key, or None if it is.

    Checks that the last additional RR is a SIG(0) (owner root, class ANY, TTL 0,
    type covered 0), that algorithm and key tag match the key, that ``now``
    (seconds since the epoch) lies in the validity window, that the signer name
    is ``signer`` if given, and the signature itself.  Raises ValueError only
    for an unusable key text.
    """
    record = _parse_key_record(public_key_rdata_text)
    public = _load_public_key(record)
    try:
        unsigned, sig = split_sig0(wire)
    except _MalformedError as error:
        return f"malformed message: {error}"
    if not sig.owner_is_root or sig.rdclass != _CLASS_ANY or sig.ttl != 0:
        return "the SIG record is not a SIG(0) (owner must be '.', class ANY, TTL 0)"
    if sig.type_covered != 0:
        return f"the SIG record covers type {sig.type_covered}; a SIG(0) covers type 0"
    if sig.algorithm_number != ALGORITHM_NUMBERS[record.algorithm]:
        return (
            f"algorithm {sig.algorithm_number} in the SIG does not match the key's "
            f"{ALGORITHM_NUMBERS[record.algorithm]} ({record.algorithm})"
        )
    if sig.key_tag != record.key_tag:
        return f"key tag {sig.key_tag} in the SIG does not match the key's {record.key_tag}"
    if signer is not None and sig.signer != signer:
        return f"signer {sig.signer} is not the expected {signer}"
    now32 = now % _UINT32
    if _serial_lt(sig.expiration, now32):
        return f"signature expired at {_timestamp(sig.expiration)} (now {_timestamp(now32)})"
    if _serial_lt(now32, sig.inception):
        return f"signature valid only from {_timestamp(sig.inception)} (now {_timestamp(now32)})"
    # RFC 2931 signs the canonical (lowercase) signer name; some signers (miekg/dns)
    # sign the name as written, so a mixed-case name is tried both ways.
    heads = {sig.rdata_head[:18] + _name_wire(sig.signer.canonicalize()), sig.rdata_head}
    if not any(
        _verify_signature(public, record.algorithm, sig.signature, head + unsigned)
        for head in heads
    ):
        return "the signature does not verify with this key (message altered or other key)"
    return None


def verify_message(wire: bytes, public_key_rdata_text: str, now: int) -> bool:
    """True if ``wire`` carries a valid SIG(0) by the key, valid at ``now``."""
    return check_message(wire, public_key_rdata_text, now) is None
