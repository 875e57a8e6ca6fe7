"""``[daemon.cluster]``: several ``dnsauto run`` nodes sharing one state store."""

from __future__ import annotations

import os
import socket
from typing import Annotated

from pydantic import Field

from dnsauto.plugin.types import Model

__all__ = ["ClusterSettings", "default_node_id"]


def default_node_id() -> str:
    """This machine's host name and the process id: unique among the nodes of one store."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ClusterSettings(Model):
    """Leases decide which node syncs which domain (see the README's "Running several nodes")."""

    enabled: Annotated[
        bool,
        Field(description="Share the domains with the other nodes on this state store"),
    ] = False
    node_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="This node's id, unique in the cluster; unset: host name and process id",
        ),
    ] = None
    lease_seconds: Annotated[
        float,
        Field(
            ge=1,
            le=3600,
            description="How long a lease lasts unrenewed: a dead node's domains move after it",
        ),
    ] = 30.0

    @property
    def heartbeat_seconds(self) -> float:
        """How often the node renews its leases and says it is alive: a third of the lease."""
        return self.lease_seconds / 3
