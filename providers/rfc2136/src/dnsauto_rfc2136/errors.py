"""Every way an exchange with the server can fail, mapped to dnsauto's errors in one place.

:func:`map_failure` takes either an exception raised while talking to the server or a
:class:`~dnsauto_rfc2136.transport.Reply` whose rcode or TSIG error says no, and returns the
:class:`~dnsauto.plugin.errors.ProviderError` to raise ``from`` it. Its messages name what failed
and where: the server (host:port, protocol, timeout), the zone, the key and its algorithm, and
for BADTIME the clock difference.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, replace

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.tsig

from dnsauto.plugin import (
    AuthenticationError,
    ConflictError,
    ProviderError,
    TransientError,
    ZoneNotFoundError,
)
from dnsauto_rfc2136.transport import AnswerMismatch, Reply, TransferError
from dnsauto_rfc2136.tsig import TsigFailure

__all__ = ["RCODE_ERRORS", "TSIG_ERRORS", "Where", "map_failure"]


@dataclass(frozen=True)
class Where:
    """What was being done, with whom, when a failure happened."""

    provider: str
    server: str
    protocol: str
    timeout: float
    credential: str
    """``TSIG key k. (hmac-sha256)`` or ``SIG(0) key of signer s. (ed25519)``."""
    operation: str
    """``UPDATE``, ``SOA query``, ``query``, ``AXFR``."""
    signed_answers: bool = False
    """The request was signed in a way the server signs its answers to (TSIG)."""
    zone: str = ""
    name: str = ""
    rdtype: str = ""
    batch: str = ""
    """Which of several UPDATEs failed, and what the ones before it did."""

    def at(self) -> str:
        text = f"{self.operation} to {self.server} over {self.protocol}"
        return f"{text}; {self.batch}" if self.batch else text

    def fields(self) -> dict[str, str]:
        return {
            "provider": self.provider,
            "zone": self.zone,
            "name": self.name,
            "rdtype": self.rdtype,
        }


_KEY_ADVICE = "check keyName, key and tsigAlgorithm against the server's key"

RCODE_ERRORS: dict[int, tuple[type[ProviderError], str]] = {
    dns.rcode.FORMERR: (ProviderError, "the server could not parse the message (FORMERR)"),
    dns.rcode.SERVFAIL: (
        TransientError,
        "the server failed (SERVFAIL) on every attempt; it may be overloaded or its storage "
        "broken (Knot answers SERVFAIL when its database directory is missing)",
    ),
    dns.rcode.NXDOMAIN: (
        ConflictError,
        "a prerequisite failed (NXDOMAIN): a name changed at the server since it was read",
    ),
    dns.rcode.NOTIMP: (ProviderError, "the server does not implement this request (NOTIMP)"),
    dns.rcode.REFUSED: (
        AuthenticationError,
        "the server REFUSED the request with {credential} for zone {zone}: the key is not "
        "allowed to make this change, the server does not take updates from this address, "
        "or (BIND) an MX or SRV target inside the zone has no address record; the server's "
        "log says which",
    ),
    dns.rcode.YXDOMAIN: (
        ConflictError,
        "a prerequisite failed (YXDOMAIN): a name changed at the server since it was read",
    ),
    dns.rcode.YXRRSET: (
        ConflictError,
        "a prerequisite failed (YXRRSET): an RRset to be created exists at the server now",
    ),
    dns.rcode.NXRRSET: (
        ConflictError,
        "a prerequisite failed (NXRRSET): an RRset to be replaced or deleted no longer holds "
        "the values read",
    ),
    dns.rcode.NOTAUTH: (
        ZoneNotFoundError,
        "the server is not authoritative for zone {zone} (NOTAUTH); is the zone loaded there, "
        "as a primary?",
    ),
    dns.rcode.NOTZONE: (
        ProviderError,
        "the server answered NOTZONE: a name in the update is not inside zone {zone} "
        "(is it in a delegated child zone?)",
    ),
    dns.rcode.DSOTYPENI: (ProviderError, "the server answered DSOTYPENI"),
    dns.rcode.BADVERS: (ProviderError, "the server does not support our EDNS version (BADVERS)"),
    dns.rcode.BADKEY: (AuthenticationError, "BADKEY"),
    dns.rcode.BADTIME: (AuthenticationError, "BADTIME"),
    dns.rcode.BADMODE: (ProviderError, "the server answered BADMODE"),
    dns.rcode.BADNAME: (ProviderError, "the server answered BADNAME"),
    dns.rcode.BADALG: (AuthenticationError, "the server does not support the algorithm (BADALG)"),
    dns.rcode.BADTRUNC: (AuthenticationError, "BADTRUNC"),
    dns.rcode.BADCOOKIE: (TransientError, "the server wants a DNS cookie (BADCOOKIE)"),
}
"""The error for each non-zero rcode (BADSIG shares 16 with BADVERS; see :data:`TSIG_ERRORS`)."""

TSIG_ERRORS: dict[int, str] = {
    dns.rcode.BADSIG: "the server could not verify the signature of {credential} (BADSIG): "
    "the secret differs from the server's",
    dns.rcode.BADKEY: "the server does not know {credential} or does not allow it this "
    "request (BADKEY): check the key name and algorithm against the server's (Knot also "
    "answers BADKEY when its ACL does not grant the key the action)",
    dns.rcode.BADTIME: "the server rejected the signing time of {credential} (BADTIME): "
    "{skew}; fix the clock (NTP)",
    dns.rcode.BADTRUNC: "the server rejected the MAC length of {credential} (BADTRUNC)",
}
"""The error carried in a TSIG record, for an answer whose rcode is NOTAUTH."""


def _skew(server_time: int | None, sent_at: float | None) -> str:
    if server_time is None or sent_at is None:
        return "our clock and the server's differ by more than the allowed fudge"
    delta = server_time - int(sent_at)
    return f"the server's clock is {delta:+d} s from ours (we signed at {int(sent_at)})"


def map_failure(problem: BaseException | Reply, where: Where) -> ProviderError:
    """The :class:`~dnsauto.plugin.ProviderError` for a failed exchange; raise it ``from``."""
    if isinstance(problem, Reply):
        where = replace(where, protocol=problem.protocol)
    fields = where.fields()
    context = f"{where.at()}, timeout {where.timeout:g} s"
    if isinstance(problem, Reply):
        rcode = int(problem.rcode())
        tsig_error = problem.check.error
        if tsig_error:
            template = TSIG_ERRORS.get(tsig_error, "the server returned TSIG error {code}")
            text = template.format(
                credential=where.credential,
                skew=_skew(problem.check.server_time, problem.sent_at),
                code=str(tsig_error),
            )
            return AuthenticationError(f"{text} [{context}]", **fields)
        if rcode == dns.rcode.REFUSED and where.signed_answers and not problem.check.signed:
            return AuthenticationError(
                f"the server did not accept {where.credential}: it answered with an unsigned "
                "REFUSED, which is how PowerDNS answers a failed TSIG check (unknown key name, "
                f"wrong secret or algorithm, or clocks more than 5 minutes apart) [{context}]",
                **fields,
            )
        error_class, template = RCODE_ERRORS.get(
            rcode, (ProviderError, f"the server answered rcode {rcode}")
        )
        if rcode in (dns.rcode.BADKEY, dns.rcode.BADTIME, dns.rcode.BADTRUNC):
            template = TSIG_ERRORS[rcode]
        text = template.format(
            credential=where.credential,
            zone=where.zone or "?",
            skew=_skew(problem.check.server_time, problem.sent_at),
        )
        if rcode == dns.rcode.SERVFAIL:
            text += f" ({problem.attempts} attempts)"
        return error_class(f"{text} [{context}]", **fields)
    if isinstance(problem, TsigFailure):
        return AuthenticationError(f"{problem.reason}; {_KEY_ADVICE} [{context}]", **fields)
    if isinstance(problem, dns.tsig.PeerError | dns.tsig.BadSignature | dns.tsig.BadKey):
        return AuthenticationError(f"{where.credential}: {problem} [{context}]", **fields)
    if isinstance(problem, dns.message.UnknownTSIGKey):
        return AuthenticationError(
            f"the answer is signed with a key we do not hold: {problem} [{context}]", **fields
        )
    if isinstance(problem, TransferError):
        if problem.rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            return AuthenticationError(
                f"the server refuses zone transfers of {where.zone} to {where.credential} "
                f"({problem.reason}) [{context}]",
                **fields,
            )
        return ProviderError(f"zone transfer failed: {problem.reason} [{context}]", **fields)
    if isinstance(problem, dns.exception.Timeout | TimeoutError):
        return TransientError(
            f"no answer from {where.server} over {where.protocol} within {where.timeout:g} s "
            f"({where.operation}); is the server running and reachable?",
            **fields,
        )
    if isinstance(problem, dns.exception.FormError) and "requires a TSIG" in str(problem):
        # dnspython's words when a signed request gets an unsigned answer: PowerDNS answers a
        # failed TSIG check with an unsigned REFUSED.
        return AuthenticationError(
            f"the server refused {where.credential} with an unsigned answer [{context}]",
            **fields,
        )
    if isinstance(problem, dns.exception.DNSException | AnswerMismatch):
        return ProviderError(
            f"the server's answer is malformed: {type(problem).__name__}: {problem} [{context}]",
            **fields,
        )
    if isinstance(problem, EOFError | ConnectionResetError | BrokenPipeError):
        return TransientError(
            f"{where.server} closed the {where.protocol} connection before answering "
            f"({where.operation})",
            **fields,
        )
    if isinstance(problem, ConnectionRefusedError):
        return TransientError(
            f"{where.server} is unreachable over {where.protocol}: connection refused (nothing "
            f"listens on port {where.server.rsplit(':', 1)[-1]}?) ({where.operation})",
            **fields,
        )
    if isinstance(problem, OSError):
        reason = problem.strerror or errno.errorcode.get(problem.errno or 0, "") or str(problem)
        return TransientError(
            f"{where.server} is unreachable over {where.protocol}: {reason} ({where.operation})",
            **fields,
        )
    return ProviderError(
        f"unexpected failure: {type(problem).__name__}: {problem} [{context}]", **fields
    )
