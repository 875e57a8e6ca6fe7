"""Bootstrap's storage, directory and tracer objects (placeholder: minimal variants)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dnsauto.config.types import Tagged

__all__ = [
    "BlobStore",
    "DataStore",
    "DirectoryBootstrap",
    "InMemoryStore",
    "SearchStore",
    "Tracer",
    "default_blob_store",
    "default_data_store",
    "default_directory",
    "default_in_memory_store",
    "default_search_store",
    "default_tracer",
]


class RocksDbStore(Tagged):
    type: Literal["RocksDb"] = Field(alias="@type")
    path: str


class DefaultStore(Tagged):
    type: Literal["Default"] = Field(alias="@type")


class InternalDirectory(Tagged):
    type: Literal["Internal"] = Field(alias="@type")


class LogTracer(Tagged):
    type: Literal["Log"] = Field(alias="@type")
    path: str


DataStore = Annotated[RocksDbStore, Field(discriminator="type")]
BlobStore = Annotated[DefaultStore, Field(discriminator="type")]
SearchStore = Annotated[DefaultStore, Field(discriminator="type")]
InMemoryStore = Annotated[DefaultStore, Field(discriminator="type")]
DirectoryBootstrap = Annotated[InternalDirectory, Field(discriminator="type")]
Tracer = Annotated[LogTracer, Field(discriminator="type")]


def default_data_store() -> RocksDbStore:
    return RocksDbStore.model_validate({"@type": "RocksDb", "path": "/var/lib/stalwart/"})


def default_blob_store() -> DefaultStore:
    return DefaultStore.model_validate({"@type": "Default"})


default_search_store = default_blob_store
default_in_memory_store = default_blob_store


def default_directory() -> InternalDirectory:
    return InternalDirectory.model_validate({"@type": "Internal"})


def default_tracer() -> LogTracer:
    return LogTracer.model_validate({"@type": "Log", "path": "/var/log/stalwart/"})
