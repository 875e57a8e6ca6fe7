"""The DnsServer object: the fields every variant shares, and the ``Manual`` variant.

Each provider plugin subclasses :class:`DnsServerBase` with its own ``@type`` literal and fields;
the configuration loader assembles the discriminated union from the installed plugins.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from dnsauto.plugin.types import Duration, OptionalDuration, Tagged

__all__ = ["MAX_TTL", "DnsServerBase", "ManualDnsServer"]

MAX_TTL = timedelta(seconds=2**31 - 1)


class DnsServerBase(Tagged):
    """Fields shared by every DnsServer variant, with Stalwart's defaults."""

    type: str = Field(alias="@type")
    description: Annotated[str, Field(description="Short description of this DNS server")]
    member_tenant_id: Annotated[
        str | None, Field(description="Identifier for the tenant this DNS server belongs to")
    ] = None
    timeout: Annotated[Duration, Field(description="Request timeout for the DNS server")] = (
        timedelta(seconds=30)
    )
    ttl: Annotated[Duration, Field(description="The TTL for new DNS record")] = timedelta(minutes=5)
    polling_interval: Annotated[
        Duration, Field(description="How often to check for DNS records to propagate")
    ] = timedelta(seconds=15)
    propagation_timeout: Annotated[
        Duration, Field(description="How long to wait for DNS records to propagate")
    ] = timedelta(minutes=1)
    propagation_delay: Annotated[
        OptionalDuration,
        Field(
            description="Initial delay before first propagation check (useful for slow providers)"
        ),
    ] = None

    @field_validator("ttl")
    @classmethod
    def _ttl_in_whole_seconds(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1 or value.total_seconds() != int(value.total_seconds()):
            raise ValueError("must be a whole number of seconds, at least 1s")
        if value > MAX_TTL:
            raise ValueError("must be at most 2147483647 seconds")
        return value

    @field_validator("timeout", "polling_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be greater than zero")
        return value

    @property
    def ttl_seconds(self) -> int:
        return int(self.ttl.total_seconds())


class ManualDnsServer(DnsServerBase):
    """Records are printed for a person to enter at their DNS host.

    Stalwart's ``Manual`` has no fields, and it is written as ``{"@type": "Manual"}``; the
    shared fields dnsauto reads (``ttl`` for the zone file, say) are written only when given.
    """

    type: Literal["Manual"] = Field(alias="@type")
    description: Annotated[str, Field(description="Short description of this DNS server")] = (
        "Records entered by hand"
    )

    @model_serializer(mode="wrap")
    def _only_what_was_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        given = {type(self).model_fields[name].alias or name for name in self.model_fields_set}
        return {key: value for key, value in data.items() if key == "@type" or key in given}
