"""The Bootstrap singleton: the server's identity, storage, directory, tracer and DNS server.

``dnsServer`` is a ``DnsServerBootstrap``: ``Manual`` or any installed DnsServer variant. Its
field type is narrowed to that union when the configuration model is built from the installed
plugins (:func:`dnsauto.config.model.build_config_model`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from dnsauto.config import stores
from dnsauto.plugin.names import check_hostname
from dnsauto.plugin.settings import DnsServerBase, ManualDnsServer
from dnsauto.plugin.types import Model

__all__ = ["Bootstrap"]


class Bootstrap(Model):
    """Initial setup: what Stalwart shows the first time it starts."""

    server_hostname: Annotated[
        str, Field(description="The public hostname this server answers to, e.g. mail.example.com")
    ]
    default_domain: Annotated[
        str, Field(description="The primary email domain this installation serves")
    ]
    request_tls_certificate: Annotated[
        bool, Field(description="Obtain a TLS certificate for the server hostname with ACME")
    ] = True
    generate_dkim_keys: Annotated[
        bool, Field(description="Generate DKIM signing keys for the default domain")
    ] = True
    data_store: stores.DataStore = Field(default_factory=stores.default_data_store)
    blob_store: stores.BlobStore = Field(default_factory=stores.default_blob_store)
    search_store: stores.SearchStore = Field(default_factory=stores.default_search_store)
    in_memory_store: stores.InMemoryStore = Field(default_factory=stores.default_in_memory_store)
    directory: stores.DirectoryBootstrap = Field(default_factory=stores.default_directory)
    tracer: stores.Tracer = Field(default_factory=stores.default_tracer)
    dns_server: DnsServerBase = Field(
        default_factory=lambda: ManualDnsServer.model_validate({"@type": "Manual"}),
        description="Automate the DNS records through a DNS provider's API, or Manual",
    )

    @field_validator("server_hostname", "default_domain")
    @classmethod
    def _is_hostname(cls, value: str) -> str:
        return check_hostname(value)
