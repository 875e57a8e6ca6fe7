"""The ``DeSEC`` DnsServer: deSEC's API v1, RRset-native, through the toolkit's HTTP client.

The zone of a name is asked of deSEC itself (``GET /domains/?owns_qname=``), with the domain's
``minimum_ttl``; RRsets are read with cursor pagination (``Link`` headers) and written in one
atomic bulk ``PATCH /domains/{name}/rrsets/`` per batch (``"records": []`` deletes an RRset).
The zones below a zone (other domains of the account) come from one listing of the account's
domains per run.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Annotated, Any, Literal

import dns.name
import dns.rdatatype
import dns.rrset
from pydantic import Field

from dnsauto.plugin import (
    Capabilities,
    Change,
    Delete,
    DnsServerBase,
    Provider,
    ProviderContext,
    ProviderError,
    SecretKey,
    Zone,
    ZoneNotFoundError,
    reveal,
)
from dnsauto.plugin import rdata_forms as forms
from dnsauto.plugin.http import HttpClient, HttpStatusError, RateLimit, next_link
from dnsauto.plugin.zones import all_linked, longest_zone

__all__ = ["API_URL", "READS", "WRITES", "DesecDnsServer", "DesecProvider"]

API_URL = "https://desec.io/api/v1"
READS = (RateLimit(10, 1), RateLimit(50, 60))  # dns_api_cheap, per account
WRITES = (RateLimit(2, 1), RateLimit(15, 60), RateLimit(100, 3600), RateLimit(300, 86400))
"""``dns_api_per_domain_expensive``: RRset writes, per domain; a bulk request counts once."""
DEFAULT_MINIMUM_TTL = 3600  # what deSEC sets on new domains (docs/dns/domains.rst)


class DesecDnsServer(DnsServerBase):
    """Cloud DNS server with token authentication."""

    type: Literal["DeSEC"] = Field(alias="@type")
    secret: Annotated[
        SecretKey, Field(description="The secret or token used to authenticate with the DNS server")
    ]


class DesecProvider(Provider[DesecDnsServer]):
    type_name = "DeSEC"
    settings_model = DesecDnsServer
    capabilities = Capabilities(atomic_batches=True, can_list_names=False)

    def __init__(self, settings: DesecDnsServer, context: ProviderContext, **http: Any) -> None:
        super().__init__(settings, context)
        self.http = HttpClient.for_server(
            "DeSEC",
            API_URL,
            settings,
            context,
            http,
            auth=lambda: {"Authorization": f"Token {reveal(settings.secret)}"},
        )
        self._zones: list[Zone] = []
        self._account: list[dns.name.Name] | None = None
        """The apexes of the account's domains, listed at the first :meth:`subzones`."""

    async def find_zone(self, name: dns.name.Name) -> Zone:
        known = longest_zone(name, self._zones)
        if known is not None and known.name == name:
            return known
        qname = forms.owner_fqdn(name)
        found = await self.http.get("/domains/", params={"owns_qname": qname}, limits=READS)
        if not found:
            raise ZoneNotFoundError(f"no domain of the deSEC account holds {qname}",
                                    provider="DeSEC")  # fmt: skip
        domain = found[0]
        zone = Zone(forms.owner_from_fqdn(domain["name"]), domain["name"],
                    min_ttl=int(domain.get("minimum_ttl") or DEFAULT_MINIMUM_TTL))  # fmt: skip
        self._zones = [z for z in self._zones if z.name != zone.name] + [zone]
        return zone

    async def list_rrsets(
        self, zone: Zone, names: Collection[dns.name.Name] | None = None
    ) -> list[dns.rrset.RRset]:
        items = await all_linked(self._page, f"/domains/{zone.id}/rrsets/?cursor=")
        rrsets = [r for r in map(_parse, items) if r is not None]
        return rrsets if names is None else [r for r in rrsets if r.name in set(names)]

    async def subzones(self, zone: Zone, names: Collection[dns.name.Name]) -> set[dns.name.Name]:
        """The account's domains below ``zone`` that hold some of ``names``: the account's
        domains listed once per provider (a run), not an ``owns_qname`` question per name."""
        if self._account is None:
            items = await all_linked(self._page, "/domains/?cursor=")
            self._account = [forms.owner_from_fqdn(item["name"]) for item in items]
        below = [a for a in self._account if a != zone.name and a.is_subdomain(zone.name)]
        return {apex for apex in below if any(name.is_subdomain(apex) for name in names)}

    async def _page(self, path: str) -> tuple[list[dict[str, Any]], str | None]:
        answer = await self.http.request("GET", path, limits=READS, errors=_ZONE_GONE)
        link = next_link(answer.headers)
        return answer.body, self.http.relative(link) if link else None

    async def apply(self, zone: Zone, changes: Sequence[Change]) -> None:
        body = [_rrset_body(change, zone.name) for change in changes]
        try:
            path = f"/domains/{zone.id}/rrsets/"
            await self.http.request("PATCH", path, json=body, limits=WRITES, limit_key=zone.id,
                                    errors=_ZONE_GONE)  # fmt: skip
        except ProviderError as exc:
            cause = exc.__cause__
            if exc.transient or not isinstance(cause, HttpStatusError):
                raise
            refused = _refusals(cause.response.body, body)
            if not refused:
                raise
            raise ProviderError(f"deSEC refused the batch, nothing of it was applied: {refused}",
                                provider="DeSEC", zone=zone.id) from exc  # fmt: skip

    async def aclose(self) -> None:
        await self.http.aclose()


_ZONE_GONE = {404: ZoneNotFoundError}


def _rrset_body(change: Change, zone: dns.name.Name) -> dict[str, Any]:
    rrset = change.old if isinstance(change, Delete) else change.new
    key = {"subname": forms.owner_relative(rrset.name, zone, apex=""),
           "type": dns.rdatatype.to_text(rrset.rdtype)}  # fmt: skip
    if isinstance(change, Delete):
        return {**key, "records": []}
    return {**key, "ttl": rrset.ttl, "records": [r.to_text() for r in rrset]}


def _parse(item: dict[str, Any]) -> dns.rrset.RRset | None:
    """An RRset from deSEC's form; ``None`` for a type or value dnsauto cannot read."""
    try:
        rdtype = dns.rdatatype.from_text(item["type"])
        rdatas = [forms.rdata_from_text(rdtype, text) for text in item["records"]]
    except (ValueError, KeyError, dns.rdatatype.UnknownRdatatype):
        return None
    return dns.rrset.from_rdata_list(forms.owner_from_fqdn(item["name"]), item["ttl"], rdatas)


def _refusals(answer: Any, body: list[dict[str, Any]]) -> str:
    """deSEC's per-item errors of a bulk request (a list aligned with it), by RRset."""
    if not isinstance(answer, list):
        return ""
    found = []
    for item, error in zip(body, answer, strict=False):
        if isinstance(error, dict) and error:
            what = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                             for k, v in error.items())  # fmt: skip
            found.append(f"{item['type']} {item['subname'] or '@'}: {what}")
    return "; ".join(found)
