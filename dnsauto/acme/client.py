"""The RFC 8555 client: certbot's ``acme`` (with ``josepy``) called off the event loop.

``acme.client.ClientV2`` is synchronous (``requests``); every call here runs it in a worker
thread (:func:`asyncio.to_thread`), so the daemon's loop never waits on the CA. What this
module adds to it:

* the account: one ECDSA P-256 key per CA directory, made once and kept by the caller (the
  state store); ``newAccount`` is sent at the start of every session, which also finds the
  account again when its URL was lost (RFC 8555 7.3.1, "onlyReturnExisting" not needed: an
  existing key gets 200 and its URL);
* retries of ``badNonce`` up to ``maxRetries`` (``acme`` retries once);
* errors mapped to :class:`AcmeError`, transient (connection, 5xx, ``rateLimited``,
  ``badNonce``, a failed validation) or permanent (the CA refused the account, the names or the
  request: the configuration must change);
* a count of the HTTP requests made (``requests``), for the status and the benchmark;
* ACME Renewal Information (RFC 9773) through ``ClientV2.renewal_time`` where the directory
  has ``renewalInfo``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from dnsauto.plugin.errors import DnsautoError

__all__ = [
    "DNS01",
    "AcmeClient",
    "AcmeError",
    "new_account_key",
]

log = logging.getLogger(__name__)

DNS01 = "dns-01"
T = TypeVar("T")

TRANSIENT_PROBLEMS = frozenset(
    {
        "badNonce",
        "rateLimited",
        "serverInternal",
        "connection",
        "dns",
        "incorrectResponse",
        "orderNotReady",
        "unauthorized",
        "caa",
    }
)
"""Problem types a later order may overcome: the CA's own trouble, or a validation that failed
because a nameserver or resolver did not yet serve the record."""


class AcmeError(DnsautoError):
    """The ACME server refused or failed a request."""

    def __init__(self, message: str, *, transient: bool, problem: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.problem = problem


def new_account_key() -> str:
    """A new ECDSA P-256 account key, PEM (PKCS #8)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _problem_code(exc: messages.Error) -> str | None:
    code = exc.code
    return str(code) if code else None


def _mapped(exc: Exception, what: str) -> AcmeError:
    if isinstance(exc, AcmeError):
        return exc
    if isinstance(exc, messages.Error):
        code = _problem_code(exc)
        detail = exc.detail or exc.description or str(exc)
        return AcmeError(
            f"ACME {what}: {code or 'error'}: {detail}",
            transient=code in TRANSIENT_PROBLEMS or code is None,
            problem=code,
        )
    if isinstance(exc, acme_errors.ValidationError):
        details = []
        for authzr in exc.failed_authzrs:
            for challenge in authzr.body.challenges:
                if challenge.error is not None:
                    details.append(f"{authzr.body.identifier.value}: {challenge.error}")
        return AcmeError(f"ACME {what}: validation failed: {'; '.join(details)}", transient=True)
    if isinstance(exc, acme_errors.TimeoutError):
        return AcmeError(f"ACME {what}: the CA did not finish in time", transient=True)
    if isinstance(exc, requests.RequestException):
        return AcmeError(f"ACME {what}: {type(exc).__name__}: {exc}", transient=True)
    if isinstance(exc, acme_errors.ClientError):
        return AcmeError(f"ACME {what}: {exc}", transient=True)
    return AcmeError(f"ACME {what}: {type(exc).__name__}: {exc}", transient=False)


class AcmeClient:
    """One session with an ACME CA under one account key.

    Build it with :meth:`open` (reads the directory, registers or finds the account).
    """

    def __init__(
        self,
        directory_url: str,
        account_key_pem: str,
        *,
        ca_bundle: str | None = None,
        timeout: int = 30,
        max_retries: int = 10,
    ) -> None:
        key = serialization.load_pem_private_key(account_key_pem.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise DnsautoError("the ACME account key is not an ECDSA key")
        self.directory_url = directory_url
        self.jwk = JWKEC(key=key)
        self.max_retries = max_retries
        self.requests = 0
        self.net = acme_client.ClientNetwork(
            self.jwk,
            alg=ES256,
            verify_ssl=ca_bundle if ca_bundle else True,  # type: ignore[arg-type]
            user_agent="dnsauto",
            timeout=timeout,
        )
        self.net.session.hooks["response"].append(self._count)
        self._client: acme_client.ClientV2 | None = None
        self.account_uri: str | None = None

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests += 1

    @property
    def client(self) -> acme_client.ClientV2:
        if self._client is None:
            raise DnsautoError("the ACME client is not open")
        return self._client

    @property
    def has_ari(self) -> bool:
        """Whether the CA offers ACME Renewal Information (RFC 9773)."""
        try:
            self.client.directory["renewalInfo"]
        except KeyError:
            return False
        return True

    async def _call(self, what: str, function: Callable[[], T]) -> T:
        """``function`` in a worker thread; ``badNonce`` retried up to ``max_retries``."""
        for attempt in range(self.max_retries + 1):
            try:
                return await asyncio.to_thread(function)
            except messages.Error as exc:
                if _problem_code(exc) == "badNonce" and attempt < self.max_retries:
                    log.debug("ACME %s: bad nonce, sending again", what)
                    continue
                raise _mapped(exc, what) from exc
            except Exception as exc:
                raise _mapped(exc, what) from exc
        raise AssertionError("unreachable")

    async def read_directory(self) -> None:
        """GET the directory (RFC 8555 7.1.1)."""

        def directory() -> messages.Directory:
            return acme_client.ClientV2.get_directory(self.directory_url, self.net)

        self._client = acme_client.ClientV2(await self._call("directory", directory), self.net)

    async def open(self, contacts: tuple[str, ...], eab: tuple[str, str] | None = None) -> str:
        """Read the directory and register the account (or find it); return its URL."""
        await self.read_directory()
        binding = None
        if eab is not None:
            binding = messages.ExternalAccountBinding.from_data(
                account_public_key=self.jwk.public_key(),
                kid=eab[0],
                hmac_key=eab[1],
                directory=self.client.directory,
            )
        registration = messages.NewRegistration(
            contact=contacts,
            terms_of_service_agreed=True,
            **({"external_account_binding": binding} if binding else {}),
        )

        def register() -> str:
            try:
                regr = self.client.new_account(registration)
            except acme_errors.ConflictError as exists:
                uri = str(exists.location)
                self.net.account = messages.RegistrationResource(
                    uri=uri, body=messages.Registration()
                )
                return uri
            return str(regr.uri)

        self.account_uri = await self._call("newAccount", register)
        return self.account_uri

    async def new_order(self, csr_pem: bytes) -> messages.OrderResource:
        return await self._call("newOrder", lambda: self.client.new_order(csr_pem))

    async def poll(
        self, authzr: messages.AuthorizationResource
    ) -> tuple[messages.AuthorizationResource, float | None]:
        """The authorization again, and the server's ``Retry-After`` in seconds, if any."""
        updated, response = await self._call("authorization", lambda: self.client.poll(authzr))
        header = response.headers.get("Retry-After")
        retry_after = None
        if header is not None:
            when = self.client.retry_after(response, 0)
            retry_after = max(0.0, (when - datetime.datetime.now()).total_seconds())
        return updated, retry_after

    async def answer(self, challenge: messages.ChallengeBody) -> None:
        response = challenge.chall.response(self.jwk)
        await self._call("challenge", lambda: self.client.answer_challenge(challenge, response))

    def dns01_value(self, challenge: messages.ChallengeBody) -> str:
        """The TXT value of a ``dns-01`` challenge (base64url of the key authorization's hash)."""
        value: str = challenge.chall.validation(self.jwk)
        return value

    async def finalize(
        self,
        order: messages.OrderResource,
        deadline: datetime.datetime,
        preferred_chain: str | None = None,
    ) -> str:
        """Finalize the order (its CSR) and return the full chain PEM (the preferred one)."""
        want_alternates = preferred_chain is not None
        finished = await self._call(
            "finalize",
            lambda: self.client.finalize_order(order, deadline, want_alternates),
        )
        chains = [finished.fullchain_pem, *(finished.alternative_fullchains_pem or [])]
        if preferred_chain:
            for chain in chains:
                if _chain_issued_by(chain, preferred_chain):
                    return str(chain)
        return str(chains[0])

    async def renewal_time(self, cert_pem: bytes) -> datetime.datetime | None:
        """When the CA suggests renewing (a random moment of its RFC 9773 window), or None when
        the CA offers no renewal information."""
        if not self.has_ari:
            return None
        when, _ = await self._call("renewalInfo", lambda: self.client.renewal_time(cert_pem))
        if when is None:
            return None
        return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def _chain_issued_by(chain: str, common_name: str) -> bool:
    """Whether the last certificate of ``chain`` is issued by ``common_name``."""
    certs = x509.load_pem_x509_certificates(chain.encode())
    issuer = certs[-1].issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return any(a.value == common_name for a in issuer)
