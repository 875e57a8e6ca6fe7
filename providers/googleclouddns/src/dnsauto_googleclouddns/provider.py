"""The ``GoogleCloudDns`` DnsServer: Cloud DNS API v1 over REST, through the toolkit's client.

The service account's key signs an RS256 JWT that its ``token_uri`` exchanges for an access
token (cached until five minutes before it expires; optionally exchanged again through
``iamcredentials …:generateAccessToken`` for ``impersonateServiceAccount``). The zone is
``managedZone``, or the longest ``dnsName`` suffix over every page of ``managedZones.list``
(public zones only unless ``privateZone``). RRsets are read a zone at a time, every page; each
batch is one atomic ``changes.create`` of whole-RRset ``additions`` and ``deletions`` (a
deletion names the RRset exactly as read: 412/409 mean it moved, ``ConflictError``), and
:meth:`wait_live` polls ``changes.get`` until every change is ``done``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import dns.name
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import Field

from dnsauto.plugin import (
    MAIL_RECORD_TYPES,
    AuthenticationError,
    Capabilities,
    Change,
    ConfigError,
    Create,
    Delete,
    DnsServerBase,
    Provider,
    ProviderContext,
    SecretText,
    TransientError,
    Zone,
    ZoneNotFoundError,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.http import HttpClient, RateLimit, api_url
from dnsauto.plugin.zones import all_linked, zone_for

__all__ = ["API_URL", "IAM_URL", "SCOPE", "GoogleCloudDnsProvider", "GoogleCloudDnsServer"]

API_URL = "https://dns.googleapis.com/dns/v1"
IAM_URL = "https://iamcredentials.googleapis.com/v1"
TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PER_CHANGE = 1000  # RRset additions (and deletions) in one change
_FIELDS = ("serviceAccountJson",)
_HEADER = b'{"alg":"RS256","typ":"JWT"}'


class GoogleCloudDnsServer(DnsServerBase):
    """Google Cloud DNS server."""

    type: Literal["GoogleCloudDns"] = Field(alias="@type")
    service_account_json: Annotated[
        SecretText, Field(description="The service account JSON key used to authenticate")
    ]
    project_id: Annotated[str, Field(description="The Google Cloud project ID")]
    managed_zone: Annotated[
        str | None,
        Field(description="The managed zone name; resolved by longest suffix match if not set"),
    ] = None
    private_zone: Annotated[bool, Field(description="Whether the managed zone is private")] = False
    impersonate_service_account: Annotated[
        str | None, Field(description="A service account email to impersonate")
    ] = None


class _Key:
    """The service account's email, key and token URI; its repr shows the email only."""

    def __init__(self, text: str, server_id: str) -> None:
        where = f"serviceAccountJson of DnsServer {server_id!r}"
        try:
            info = json.loads(text)
            self.email = str(info["client_email"])
            key = serialization.load_pem_private_key(info["private_key"].encode(), None)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"{where} is not a service account JSON key with client_email "
                              "and an unencrypted RSA private_key") from None  # fmt: skip
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"{where}: private_key is not an RSA key")
        self._key = key
        self.token_uri = str(info.get("token_uri") or TOKEN_URI)

    def __repr__(self) -> str:
        return f"<service account {self.email}>"

    def assertion(self, now: float) -> str:
        claims = {"iss": self.email, "scope": SCOPE, "aud": self.token_uri,
                  "iat": int(now), "exp": int(now) + 3600}  # fmt: skip
        signed = f"{_b64(_HEADER)}.{_b64(json.dumps(claims).encode())}"
        signature = self._key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{_b64(signature)}"


class GoogleCloudDnsProvider(Provider[GoogleCloudDnsServer]):
    type_name = "GoogleCloudDns"
    settings_model = GoogleCloudDnsServer
    capabilities = Capabilities(
        record_types=MAIL_RECORD_TYPES,
        max_changes_per_batch=PER_CHANGE,
        atomic_batches=True,
        can_list_names=False,
    )

    def __init__(self, settings: GoogleCloudDnsServer, context: ProviderContext, **http: Any):
        super().__init__(settings, context)
        self._token = ""
        self._expires = 0.0
        self._key: _Key | None = None
        self.iam_url = http.pop("iam_url", api_url("GoogleCloudDnsIam", IAM_URL))
        common = {"provider": "GoogleCloudDns", "server_id": context.server_id,
                  "counters": context.counters,
                  "timeout": settings.timeout.total_seconds(), "credential_fields": _FIELDS,
                  **{k: v for k, v in http.items() if k != "base_url"}}  # fmt: skip
        self.http = HttpClient(**{"base_url": api_url("GoogleCloudDns", API_URL), **common,
                                  "auth": lambda: {"Authorization": f"Bearer {self._token}"},
                                  "rate_limit": RateLimit(50, 1), **http})  # fmt: skip
        self._common = common
        self._project = f"/projects/{settings.project_id}"
        self._zones: list[Zone] | None = None
        self._pending: dict[str, list[str]] = {}

    async def _authorize(self) -> None:
        """A fresh access token in the session's header; asked for again near its expiry."""
        clock = self.http.clock
        if self._token and clock.time() < self._expires - 300:
            return
        if self._key is None:
            self._key = _Key(reveal(self.settings.service_account_json), self.context.server_id)
        key = self._key
        form = {"grant_type": JWT_GRANT, "assertion": key.assertion(clock.time())}
        uri = urlsplit(key.token_uri)
        token = HttpClient(base_url=f"{uri.scheme}://{uri.netloc}", **self._common,
                           error_detail=_oauth_detail)  # fmt: skip
        try:
            answer = (await token.request("POST", uri.path, form=form, errors=_REFUSED)).body
        finally:
            await token.aclose()
        access: str = answer["access_token"]
        expires = clock.time() + int(answer["expires_in"])
        target = self.settings.impersonate_service_account
        if target:
            iam = HttpClient(base_url=self.iam_url, **self._common,
                             auth=lambda: {"Authorization": f"Bearer {access}"})  # fmt: skip
            path = f"/projects/-/serviceAccounts/{target}:generateAccessToken"
            try:
                body = {"scope": [SCOPE], "lifetime": "3600s"}
                answer = (await iam.request("POST", path, json=body)).body
            finally:
                await iam.aclose()
            access = answer["accessToken"]
            expiry = datetime.fromisoformat(answer["expireTime"].replace("Z", "+00:00"))
            expires = expiry.timestamp()
        self._token, self._expires = access, float(expires)
        await self.http.aclose()  # the next request opens a session with the new token

    async def _get(self, path: str, **params: str) -> Any:
        await self._authorize()
        return await self.http.get(self._project + path, params=params, errors=_ZONE_GONE)

    async def _listing(self, path: str, key: str, **params: str) -> list[dict[str, Any]]:
        async def page(token: str) -> tuple[list[dict[str, Any]], str | None]:
            body = await self._get(path, **params, **({"pageToken": token} if token else {}))
            return body.get(key) or [], body.get("nextPageToken") or None

        return await all_linked(page, "")

    async def find_zone(self, name: dns.name.Name) -> Zone:
        if self.settings.managed_zone:
            zone = _zone(await self._get(f"/managedZones/{self.settings.managed_zone}"))
            return zone_for(name, [zone], "GoogleCloudDns")
        if self._zones is not None:
            try:
                return zone_for(name, self._zones, "GoogleCloudDns")
            except ZoneNotFoundError:
                pass  # a zone added since: list again
        wanted = "private" if self.settings.private_zone else "public"
        zones = await self._listing("/managedZones", "managedZones")
        self._zones = [_zone(z) for z in zones if z.get("visibility", "public") == wanted]
        return zone_for(name, self._zones, "GoogleCloudDns")

    async def subzones(self, zone: Zone, names: Collection[dns.name.Name]) -> set[dns.name.Name]:
        """None with ``managedZone`` set (the one zone this server may touch: asking the API
        for it again per name would be a request each); else the default, on the zone list."""
        if self.settings.managed_zone:
            return set()
        return await super().subzones(zone, names)

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        items = await self._listing(f"/managedZones/{zone.id}/rrsets", "rrsets")
        rrsets = [r for r in map(_parse, items) if r is not None]
        return rrsets if names is None else [r for r in rrsets if r.name in set(names)]

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        additions = [_rrset(c.new) for c in changes if not isinstance(c, Delete)]
        deletions = [_rrset(c.old) for c in changes if not isinstance(c, Create)]
        await self._authorize()
        path = f"{self._project}/managedZones/{zone.id}/changes"
        body = {"additions": additions, "deletions": deletions}
        answer = await self.http.request("POST", path, json=body, errors=_ZONE_GONE)
        if answer.body.get("status") != "done":
            self._pending.setdefault(zone.id, []).append(str(answer.body["id"]))

    async def wait_live(self, zone: Zone) -> None:
        """Poll ``changes.get`` until each change made in ``zone`` is ``done`` (its update has
        been sent to the authoritative servers), within the DnsServer's ``propagationTimeout``."""
        clock, limit = self.http.clock, self.settings.propagation_timeout.total_seconds()
        started, delay = clock.monotonic(), 0.5
        pending = self._pending.pop(zone.id, [])
        while pending:
            change = await self._get(f"/managedZones/{zone.id}/changes/{pending[0]}")
            if change.get("status") == "done":
                pending.pop(0)
                continue
            if clock.monotonic() - started + delay > limit:
                what = f"Cloud DNS change {pending[0]} still pending after {limit:g}s"
                raise TransientError(what, provider="GoogleCloudDns", zone=str(zone))
            await clock.sleep(delay)
            delay = min(delay * 2, self.settings.polling_interval.total_seconds())

    async def aclose(self) -> None:
        await self.http.aclose()


_ZONE_GONE = {404: ZoneNotFoundError}
_REFUSED = {400: AuthenticationError, 401: AuthenticationError}
"""The token endpoint answers a bad key or signature with 400 ``invalid_grant``."""


def _oauth_detail(body: Any) -> str:
    """An OAuth error: ``invalid_grant: Invalid JWT Signature.``"""
    if not isinstance(body, dict):
        return ""
    return ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _zone(item: dict[str, Any]) -> Zone:
    return Zone(forms.owner_from_fqdn(item["dnsName"]), str(item["name"]))


def _rrset(rrset: dns.rrset.RRset) -> dict[str, Any]:
    return {"name": rrset.name.to_text(), "type": dns.rdatatype.to_text(rrset.rdtype),
            "ttl": rrset.ttl, "rrdatas": [r.to_text() for r in rrset]}  # fmt: skip


def _parse(item: dict[str, Any]) -> dns.rrset.RRset | None:
    """An RRset from Cloud DNS's form; ``None`` for one dnsauto cannot read (a routing policy
    without ``rrdatas``, a type dnspython does not know)."""
    try:
        rdtype = dns.rdatatype.from_text(item["type"])
        rdatas = [forms.rdata_from_text(rdtype, text) for text in item["rrdatas"]]
        return dns.rrset.from_rdata_list(
            forms.owner_from_fqdn(item["name"]), int(item["ttl"]), rdatas
        )
    except (ValueError, KeyError, TypeError, dns.rdatatype.UnknownRdatatype):
        return None
