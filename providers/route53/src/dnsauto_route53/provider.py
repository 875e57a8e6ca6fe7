"""The ``Route53`` DnsServer: AWS Route 53 through boto3, its blocking calls off the event loop.

Zones come from ``ListHostedZonesByName`` (every page; public zones, or only private ones with
``privateZoneOnly``), or ``GetHostedZone`` when ``hostedZoneId`` is set. Records are read a zone
at a time (``ListResourceRecordSets``, every page). Changes go out as ``ChangeResourceRecordSets``
batches, each all or nothing: a DELETE names the RRset exactly as it was listed, an update is
DELETE old + CREATE new in one batch, so a record changed since it was read fails the batch
(``ConflictError``). ``wait_live`` polls ``GetChange`` until every change is ``INSYNC``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import weakref
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Annotated, Any, Literal

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
from pydantic import Field

from dnsauto.plugin import (
    AuthenticationError,
    Capabilities,
    Change,
    ConflictError,
    Create,
    Delete,
    DnsServerBase,
    Provider,
    ProviderContext,
    ProviderError,
    SecretKey,
    SecretKeyOptional,
    SecretNone,
    TransientError,
    UnsupportedError,
    Zone,
    ZoneNotFoundError,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.batches import ApplyProgress, refuse_unsupported_types
from dnsauto.plugin.http import (
    USER_AGENT,
    Clock,
    HttpCounters,
    RateLimit,
    RetryPolicy,
    SystemClock,
    TokenBucket,
    api_url,
)
from dnsauto.plugin.zones import zone_for

__all__ = ["API_URL", "MAX_BATCH_CHARS", "MAX_BATCH_RECORDS", "Route53DnsServer", "Route53Provider"]

API_URL = "https://route53.amazonaws.com"
SIGNING_REGION = "us-east-1"  # Route 53 is global: it signs in us-east-1 whatever `region` says
MAX_BATCH_RECORDS = 1_000  # ResourceRecord elements per request (an UPSERT's count twice)
MAX_BATCH_CHARS = 32_000  # characters of all Value elements per request
MAX_PAGES = 10_000
THROTTLED = frozenset({"Throttling", "ThrottlingException", "PriorRequestNotComplete"})
TRANSIENT = THROTTLED | {"ServiceUnavailable", "InternalFailure", "InternalError", "RequestTimeout"}
REFUSED = frozenset({"AccessDenied", "AccessDeniedException", "InvalidClientTokenId",
                     "SignatureDoesNotMatch", "UnrecognizedClientException", "ExpiredToken",
                     "IncompleteSignature", "MissingAuthenticationToken"})  # fmt: skip
STALE = ("was not found", "do not match", "already exists", "none in Change with [Action=DELETE")
"""InvalidChangeBatch texts (and moto's InvalidInput for a stale DELETE) that mean the RRset is
no longer as dnsauto read it."""
Rrset = dict[str, Any]
"""A ResourceRecordSet as boto3 takes and gives it."""

log = logging.getLogger(__name__)
_BUCKETS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, TokenBucket]] = (
    weakref.WeakKeyDictionary()
)


class Route53DnsServer(DnsServerBase):
    """AWS Route53 DNS server."""

    type: Literal["Route53"] = Field(alias="@type")
    access_key_id: Annotated[str, Field(description="AWS Access Key ID")]
    secret_access_key: Annotated[SecretKey, Field(description="AWS Secret Access Key")]
    session_token: Annotated[
        SecretKeyOptional, Field(description="AWS Session Token (for temporary credentials)")
    ] = SecretNone.model_validate({"@type": "None"})
    region: Annotated[str, Field(description="AWS Region")] = "us-east-1"
    hosted_zone_id: Annotated[
        str | None, Field(description="Hosted Zone ID (resolved automatically by name if not set)")
    ] = None
    private_zone_only: Annotated[bool, Field(description="Restrict to private hosted zones")] = (
        False
    )


class _ChangeGone(ProviderError):
    """GetChange does not know the change (AWS forgets them; the waiter counts that as done)."""


class Route53Provider(Provider[Route53DnsServer]):
    type_name = "Route53"
    settings_model = Route53DnsServer
    capabilities = Capabilities(can_list_names=False)

    def __init__(
        self,
        settings: Route53DnsServer,
        context: ProviderContext,
        *,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, context)
        self.endpoint_url = endpoint_url or api_url("Route53", API_URL)
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.rng = rng or random.Random()
        self.counters: HttpCounters = context.counters
        self.calls: Counter[str] = Counter()
        """Requests sent, by boto3 operation name (retries included)."""
        self._client: Any = None
        self._zones: list[Zone] | None = None
        self._listed: dict[tuple[dns.name.Name, int], tuple[dns.rrset.RRset, Rrset]] = {}
        self._pending: list[str] = []

    def _bucket(self) -> TokenBucket:
        """Route 53 allows 5 requests a second per account: one bucket per access key (and event
        loop), shared by every provider instance that uses the key."""
        buckets = _BUCKETS.setdefault(asyncio.get_running_loop(), {})
        key = self.settings.access_key_id
        if key not in buckets:
            buckets[key] = TokenBucket(RateLimit(5, 1), self.clock)
        return buckets[key]

    def _make_client(self) -> Any:
        import boto3  # here: every installed plugin is imported at start, boto3 takes 0.2 s
        import botocore.config

        for name in ("botocore", "boto3", "urllib3"):
            quiet = logging.getLogger(name)
            if quiet.level < logging.INFO:  # their DEBUG lines hold signed requests and tokens
                quiet.setLevel(logging.INFO)
        token = self.settings.session_token
        timeout = self.settings.timeout.total_seconds()
        config = botocore.config.Config(
            retries={"total_max_attempts": 1},  # the retry policy below is the one in force
            connect_timeout=timeout, read_timeout=timeout, user_agent_extra=USER_AGENT,
        )  # fmt: skip
        return boto3.session.Session().client(
            "route53", endpoint_url=self.endpoint_url, region_name=SIGNING_REGION, config=config,
            aws_access_key_id=self.settings.access_key_id,
            aws_secret_access_key=reveal(self.settings.secret_access_key),
            aws_session_token=None if isinstance(token, SecretNone) else reveal(token),
        )  # fmt: skip

    async def _call(self, operation: str, **params: Any) -> Any:
        """One boto3 call in a worker thread, under the rate limit, retried while transient.

        A change batch whose answer did not come (a read timeout, a dropped connection) may
        have been carried out: it is not sent again, since a second copy would fail on what the
        first created; the error is transient and the next sync reads the zone afresh."""
        import botocore.exceptions

        started = self.clock.monotonic()
        for attempt in range(1, self.retry.attempts + 1):
            waited = await self._bucket().take()
            if waited:
                self.counters.add("rate_limited")
                self.counters.add("waited_seconds", waited)
            if self._client is None:
                self._client = await asyncio.to_thread(self._make_client)
            self.counters.add("requests")
            self.calls[operation] += 1
            try:
                return await asyncio.to_thread(getattr(self._client, operation), **params)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                error = self._error(operation, exc)
                if operation == "change_resource_record_sets" and _maybe_sent(exc):
                    raise TransientError(
                        f"{error.message}; the change batch may have been applied",
                        provider="Route53",
                    ) from exc
                delay = self.retry.backoff(attempt, self.rng)
                late = self.clock.monotonic() - started + delay > self.retry.budget
                if not error.transient or attempt == self.retry.attempts or late:
                    raise error from exc
            log.info("Route53: %s failed (%s); retry %d in %.1fs", operation, error.message,
                     attempt, delay)  # fmt: skip
            self.counters.add("retries")
            self.counters.add("waited_seconds", delay)
            await self.clock.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, operation: str, exc: Exception) -> ProviderError:
        """The dnsauto error for a boto3 failure: every AWS error code is mapped here."""
        import botocore.exceptions

        if not isinstance(exc, botocore.exceptions.ClientError):
            if isinstance(exc, botocore.exceptions.NoCredentialsError):
                return AuthenticationError("no AWS credentials", provider="Route53")
            return TransientError(
                f"{type(exc).__name__} talking to {self.endpoint_url} for "
                f"DnsServer {self.context.server_id!r}",
                provider="Route53",
            )
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        what = f"{operation}: {code}: {message}".rstrip(": ")
        if code in THROTTLED:
            self.counters.add("throttled")
        if code in TRANSIENT or status >= 500:
            return TransientError(what, provider="Route53")
        if code in REFUSED or status in (401, 403):
            fields = "'accessKeyId', 'secretAccessKey' and 'sessionToken'"
            return AuthenticationError(
                f"{what}; check {fields} of DnsServer {self.context.server_id!r}",
                provider="Route53",
            )
        if code == "NoSuchHostedZone":
            return ZoneNotFoundError(what, provider="Route53")
        if code == "NoSuchChange":
            return _ChangeGone(what, provider="Route53")
        if code in ("InvalidChangeBatch", "InvalidInput") and any(s in message for s in STALE):
            return ConflictError(what, provider="Route53")
        return ProviderError(what, provider="Route53")

    async def _pages(self, operation: str, key: str, cursor: dict[str, str], **params: Any) -> Any:
        items: list[Any] = []
        for _ in range(MAX_PAGES):
            page = await self._call(operation, **params)
            items += page[key]
            if not page.get("IsTruncated"):
                return items
            params |= {param: page[field] for field, param in cursor.items() if field in page}
        raise ProviderError(f"{operation} did not end after {MAX_PAGES} pages", provider="Route53")

    async def find_zone(self, name: dns.name.Name) -> Zone:
        if self._zones is not None:
            try:
                return zone_for(name, self._zones, "Route53")
            except ZoneNotFoundError:
                if self.settings.hosted_zone_id:
                    raise
        if self.settings.hosted_zone_id:
            answer = await self._call("get_hosted_zone", Id=self.settings.hosted_zone_id)
            zones = [answer["HostedZone"]]
        else:
            cursor = {"NextDNSName": "DNSName", "NextHostedZoneId": "HostedZoneId"}
            listed = await self._pages("list_hosted_zones_by_name", "HostedZones", cursor)
            private = self.settings.private_zone_only
            zones = [z for z in listed if bool(z.get("Config", {}).get("PrivateZone")) == private]
        self._zones = [Zone(dns.name.from_text(z["Name"]), z["Id"].split("/")[-1]) for z in zones]
        return zone_for(name, self._zones, "Route53")

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        cursor = {"NextRecordName": "StartRecordName", "NextRecordType": "StartRecordType",
                  "NextRecordIdentifier": "StartRecordIdentifier"}  # fmt: skip
        listed = await self._pages("list_resource_record_sets", "ResourceRecordSets", cursor,
                                   HostedZoneId=zone.id, MaxItems="300")  # fmt: skip
        wanted = set(names) if names is not None else None
        found = []
        for raw in listed:
            rrset = _parse(raw)
            if rrset is not None:
                self._listed[(rrset.name, rrset.rdtype)] = (rrset, raw)
                if wanted is None or rrset.name in wanted:
                    found.append(rrset)
        return found

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        refuse_unsupported_types(changes, self.capabilities.record_types, provider="Route53",
                                 zone=str(zone))  # fmt: skip
        progress = ApplyProgress(changes, enumerate(map(self._elements, changes)))
        for batch in _batches(progress.calls, str(zone)):
            body = {"Comment": "dnsauto", "Changes": [c for _, cs in batch for c in cs]}
            try:
                answer = await self._call("change_resource_record_sets", HostedZoneId=zone.id,
                                          ChangeBatch=body)  # fmt: skip
            except ProviderError as exc:
                raise progress.error(exc) from exc
            self._pending.append(answer["ChangeInfo"]["Id"])
            for index, _ in batch:
                progress.done(index)
        for change in changes:
            rrset = change.old if isinstance(change, Delete) else change.new
            self._listed.pop((rrset.name, rrset.rdtype), None)

    def _elements(self, change: Change) -> list[dict[str, Any]]:
        """The Change elements of one RRset change, to go in one batch."""
        if isinstance(change, Create):
            return [{"Action": "CREATE", "ResourceRecordSet": _render(change.new)}]
        old = self._listed.get((change.old.name, change.old.rdtype))
        exact = old[1] if old is not None and _same(old[0], change.old) else _render(change.old)
        delete = {"Action": "DELETE", "ResourceRecordSet": exact}
        if isinstance(change, Delete):
            return [delete]
        return [delete, {"Action": "CREATE", "ResourceRecordSet": _render(change.new)}]

    async def wait_live(self, zone: Zone) -> None:
        """Poll ``GetChange`` every ``pollingInterval`` until each change is ``INSYNC``."""
        pending, self._pending = list(dict.fromkeys(self._pending)), []
        interval = self.settings.polling_interval.total_seconds()
        deadline = self.clock.monotonic() + self.settings.propagation_timeout.total_seconds()
        for change_id in pending:
            while True:
                try:
                    info = (await self._call("get_change", Id=change_id))["ChangeInfo"]
                except _ChangeGone:
                    break
                if info["Status"] == "INSYNC":
                    break
                if self.clock.monotonic() + interval > deadline:
                    self._pending = pending[pending.index(change_id) :]
                    raise TransientError(
                        f"change {change_id} is still {info['Status']} after propagationTimeout",
                        provider="Route53",
                        zone=str(zone),
                    )
                await self.clock.sleep(interval)

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None


def _render(rrset: dns.rrset.RRset) -> Rrset:
    """An RRset as Route 53 takes it: values in zone-file form, TXT as quoted 255-byte strings."""
    text = _txt_text if rrset.rdtype == dns.rdatatype.TXT else dns.rdata.Rdata.to_text
    return {"Name": rrset.name.to_text(), "Type": dns.rdatatype.to_text(rrset.rdtype),
            "TTL": rrset.ttl, "ResourceRecords": [{"Value": text(r)} for r in rrset]}  # fmt: skip


def _txt_text(rdata: dns.rdata.Rdata) -> str:
    """TXT as Route 53 wants it: each (<= 255-byte) string quoted, other bytes in octal."""
    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    return " ".join('"' + "".join(map(_char, s)) + '"' for s in rdata.strings)


def _char(byte: int) -> str:
    if byte in (0x22, 0x5C):
        return "\\" + chr(byte)
    return chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}"


def _txt_rdata(value: str) -> dns.rdata.Rdata:
    """TXT from Route 53's text: quoted strings with octal escapes (zone files' are decimal)."""
    if not value.startswith('"'):
        return forms.txt_from_joined(value)
    decimal = _OCTAL.sub(lambda m: m[1] or f"\\{int(m[2], 8):03d}", value)
    return forms.txt_from_quoted(decimal)


_OCTAL = re.compile(r"(\\\\|\\[^0-7])|\\([0-7]{3})")


def _parse(raw: Rrset) -> dns.rrset.RRset | None:
    """A listed RRset; ``None`` for what dnsauto leaves alone (alias, routing policies, types or
    values it cannot read)."""
    if "AliasTarget" in raw or "SetIdentifier" in raw or not raw.get("ResourceRecords"):
        return None
    try:
        rdtype = dns.rdatatype.from_text(raw["Type"])
        rrset = dns.rrset.RRset(dns.name.from_text(raw["Name"]), dns.rdataclass.IN, rdtype)
        for record in raw["ResourceRecords"]:
            value = record["Value"]
            txt = rdtype == dns.rdatatype.TXT
            rdata = _txt_rdata(value) if txt else forms.rdata_from_text(rdtype, value)
            rrset.add(rdata, int(raw.get("TTL", 300)))
    except (ValueError, KeyError, dns.exception.DNSException):
        return None
    return rrset


def _same(listed: dns.rrset.RRset, old: dns.rrset.RRset) -> bool:
    return listed == old and listed.ttl == old.ttl


Elements = tuple[int, list[dict[str, Any]]]


def _batches(calls: Sequence[Elements], zone: str) -> list[list[Elements]]:
    """The changes packed into requests within Route 53's limits, each change in one request."""
    batches: list[list[Elements]] = []
    records = chars = 0
    for call in calls:
        values = [r["Value"] for c in call[1] for r in c["ResourceRecordSet"]["ResourceRecords"]]
        size = sum(map(len, values))
        if len(values) > MAX_BATCH_RECORDS or size > MAX_BATCH_CHARS:
            name = call[1][-1]["ResourceRecordSet"]["Name"]
            raise UnsupportedError(f"the change of {name} has {len(values)} records and {size} "
                                   f"characters: more than one Route 53 request may carry",
                                   provider="Route53", zone=zone, name=name)  # fmt: skip
        full = records + len(values) > MAX_BATCH_RECORDS or chars + size > MAX_BATCH_CHARS
        if not batches or full:
            batches.append([])
            records = chars = 0
        batches[-1].append(call)
        records, chars = records + len(values), chars + size
    return batches


def _maybe_sent(exc: Exception) -> bool:
    """The request reached AWS, or may have, and no answer says what became of it."""
    import botocore.exceptions

    return isinstance(
        exc, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectionClosedError
    )
