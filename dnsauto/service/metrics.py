"""Prometheus metrics of the service, served on ``daemon.metrics.listen`` (off by default).

Per domain: sync runs, failures, retries scheduled, changes applied, the time of the last
success and the current run of consecutive failures. Per DnsServer: how long changes took to
propagate (a histogram) and every provider call by operation and outcome (``ok`` or the error
class), plus the calls the engine repeats after a conflict. The process collector adds
``process_resident_memory_bytes`` and friends.

Provider calls are counted at the edge between the engine and the plugin
(:class:`CountingRegistry` wraps each provider it makes), so no plugin has to know about
metrics. The HTTP counts come from the toolkit: the registry gives each provider's
:class:`ProviderContext` a counter sink feeding the metrics before the provider is made.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)

from dnsauto.config.daemon import parse_host_port
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.counters import COUNTED, Counted, CounterSink
from dnsauto.plugin.errors import ConflictError, DnsautoError
from dnsauto.plugin.provider import Provider
from dnsauto.plugin.registry import Registry
from dnsauto.plugin.settings import DnsServerBase

__all__ = ["PROVIDER_OPERATIONS", "CountingRegistry", "Metrics", "MetricsServer"]

log = logging.getLogger(__name__)

PROVIDER_OPERATIONS = ("find_zone", "list_rrsets", "read_zone", "change_marker", "apply")

PROPAGATION_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"))


class Metrics:
    """The service's metrics, in a registry of their own (several daemons may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.runs = Counter("dnsauto_sync_runs", "Syncs run, per domain", ["domain"], registry=r)
        self.failures = Counter(
            "dnsauto_sync_failures", "Syncs that failed, per domain", ["domain"], registry=r
        )
        self.retries = Counter(
            "dnsauto_sync_retries", "Retries scheduled after a failure", ["domain"], registry=r
        )
        self.skipped = Counter(
            "dnsauto_sync_skipped",
            "Syncs that skipped reading and planning the zone, per domain and reason (unchanged:"
            " its change marker and desired records were those of the last successful sync)",
            ["domain", "reason"],
            registry=r,
        )
        self.changes = Counter(
            "dnsauto_changes_applied", "RRset changes applied", ["domain"], registry=r
        )
        self.last_success = Gauge(
            "dnsauto_last_success_timestamp_seconds",
            "When the domain last synced without error (Unix time)",
            ["domain"],
            registry=r,
        )
        self.consecutive_failures = Gauge(
            "dnsauto_consecutive_failures",
            "Failed syncs in a row (0 after a success)",
            ["domain"],
            registry=r,
        )
        self.propagation = Histogram(
            "dnsauto_propagation_seconds",
            "Time from a change applied to it being served by every nameserver",
            ["server"],
            buckets=PROPAGATION_BUCKETS,
            registry=r,
        )
        self.provider_requests = Counter(
            "dnsauto_provider_requests",
            "Provider calls by operation and outcome (ok, or the error class)",
            ["server", "operation", "status"],
            registry=r,
        )
        self.provider_retries = Counter(
            "dnsauto_provider_retries",
            "Provider writes the engine re-planned and repeated, by the error that caused it",
            ["server", "status"],
            registry=r,
        )
        http_help = {
            "requests": "HTTP requests sent to the provider's API, retries included",
            "retries": "HTTP requests sent again after a transient failure",
            "throttled": "Answers saying too many requests (429, or the API's throttle status)",
            "rate_limited": "Requests held back by the client-side rate limit",
            "waited_seconds": "Seconds spent in retry backoff and rate-limit waits",
        }
        self.http: dict[Counted, Counter] = {
            what: Counter(
                "dnsauto_provider_http_" + ("wait_seconds" if what == "waited_seconds" else what),
                http_help[what] + ", by DnsServer @type and id",
                ["type", "server"],
                registry=r,
            )
            for what in COUNTED
        }
        self.needs_attention = Gauge(
            "dnsauto_needs_attention",
            "1 while the domain's last sync failed in a way retrying cannot fix, by error class",
            ["domain", "error"],
            registry=r,
        )
        self.in_flight = Gauge("dnsauto_syncs_in_flight", "Domains syncing now", registry=r)
        self.domains = Gauge("dnsauto_domains", "Domains configured", registry=r)
        self.cluster_node = Gauge(
            "dnsauto_cluster_node", "This cluster node (its id in the label)", ["node"], registry=r
        )
        self.cluster_domains_held = Gauge(
            "dnsauto_cluster_domains_held", "Domains whose lease this node holds", registry=r
        )
        self.cluster_nodes_live = Gauge(
            "dnsauto_cluster_nodes_live", "Cluster nodes with a recent heartbeat", registry=r
        )
        self.cluster_leases_lost = Counter(
            "dnsauto_cluster_leases_lost", "Leases this node lost to another", registry=r
        )
        self.cluster_store_failures = Counter(
            "dnsauto_cluster_heartbeat_failures",
            "Heartbeats that could not reach the state store",
            registry=r,
        )
        self.reloads = Counter(
            "dnsauto_config_reloads", "Configuration reloads by result", ["result"], registry=r
        )
        self.certificate_orders = Counter(
            "dnsauto_certificate_orders",
            "ACME orders by certificate and what came of them (issued, renewed, staged, failed)",
            ["certificate", "result"],
            registry=r,
        )
        self.certificate_expiry = Gauge(
            "dnsauto_certificate_expiry_timestamp_seconds",
            "When the certificate in place expires (Unix time)",
            ["certificate"],
            registry=r,
        )
        self.certificate_renewal = Gauge(
            "dnsauto_certificate_renewal_timestamp_seconds",
            "When the certificate is due for renewal (Unix time)",
            ["certificate"],
            registry=r,
        )
        self.certificate_failures = Gauge(
            "dnsauto_certificate_consecutive_failures",
            "Failed ACME orders in a row (0 after a success)",
            ["certificate"],
            registry=r,
        )
        self.certificate_requests = Counter(
            "dnsauto_acme_requests",
            "HTTP requests sent to the ACME server, by certificate",
            ["certificate"],
            registry=r,
        )

    def record(
        self,
        *,
        domain: str,
        server: str,
        ok: bool,
        applied: int,
        propagation_seconds: float | None,
        consecutive_failures: int,
        finished_at: float,
        skipped: str | None = None,
    ) -> None:
        """Count one finished sync of ``domain``."""
        self.runs.labels(domain).inc()
        if skipped:
            self.skipped.labels(domain, skipped).inc()
        self.changes.labels(domain).inc(applied)
        if ok:
            self.last_success.labels(domain).set(finished_at)
        else:
            self.failures.labels(domain).inc()
        self.consecutive_failures.labels(domain).set(consecutive_failures)
        if propagation_seconds is not None and applied:
            self.propagation.labels(server).observe(propagation_seconds)

    def certificate(
        self,
        name: str,
        action: str,
        *,
        not_after: float | None,
        renew_at: float | None,
        failures: int,
        requests: int,
    ) -> None:
        """Count one certificate check (``action`` ``current`` is not an order)."""
        if action != "current":
            self.certificate_orders.labels(name, action).inc()
            self.certificate_requests.labels(name).inc(requests)
        if not_after is not None:
            self.certificate_expiry.labels(name).set(not_after)
        if renew_at is not None:
            self.certificate_renewal.labels(name).set(renew_at)
        self.certificate_failures.labels(name).set(failures)

    def attention(self, domain: str, error: BaseException | None) -> None:
        """Show ``domain`` as needing attention because of ``error``, or as not (None)."""
        self._clear_attention(domain)
        if error is not None:
            self.needs_attention.labels(domain, type(error).__name__).set(1)

    def _clear_attention(self, domain: str) -> None:
        for labels in [s.labels for m in self.needs_attention.collect() for s in m.samples]:
            if labels.get("domain") == domain:
                self.needs_attention.remove(domain, labels["error"])

    def forget(self, domain: str) -> None:
        """Drop the series of a domain no longer configured."""
        self._clear_attention(domain)
        for labels in [s.labels for m in self.skipped.collect() for s in m.samples]:
            if labels.get("domain") == domain:
                with contextlib.suppress(KeyError):
                    self.skipped.remove(domain, labels["reason"])
        for metric in (
            self.runs,
            self.failures,
            self.retries,
            self.changes,
            self.last_success,
            self.consecutive_failures,
        ):
            try:
                metric.remove(domain)
            except KeyError:
                continue

    def render(self) -> bytes:
        """The exposition text, as ``GET /metrics`` serves it."""
        return generate_latest(self.registry)

    def http_sink(self, type_name: str, server: str) -> CounterSink:
        """Where the HTTP clients of DnsServer ``server`` (of @type ``type_name``) count."""
        counters = {what: metric.labels(type_name, server) for what, metric in self.http.items()}

        def sink(what: Counted, amount: float) -> None:
            counters[what].inc(amount)

        return sink

    def count_calls(self, provider: Provider[Any]) -> Provider[Any]:
        """Wrap the provider's calls so each is counted by operation and outcome."""
        server = provider.context.server_id
        for operation in PROVIDER_OPERATIONS:
            method = getattr(provider, operation)
            setattr(provider, operation, self._counted(server, operation, method))
        return provider

    def _counted(
        self, server: str, operation: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await method(*args, **kwargs)
            except Exception as exc:
                status = type(exc).__name__
                self.provider_requests.labels(server, operation, status).inc()
                if isinstance(exc, ConflictError) and operation == "apply":
                    self.provider_retries.labels(server, status).inc()
                raise
            self.provider_requests.labels(server, operation, "ok").inc()
            return result

        return counted


class CountingRegistry(Registry):
    """The installed providers, each made with its calls (and its HTTP requests) counted in
    ``metrics``."""

    def __init__(self, inner: Registry, metrics: Metrics) -> None:
        super().__init__(list(inner))
        self.broken = dict(inner.broken)
        self.metrics = metrics

    def create(self, settings: DnsServerBase, context: ProviderContext) -> Provider[Any]:
        context.counters.sink = self.metrics.http_sink(settings.type, context.server_id)
        return self.metrics.count_calls(super().create(settings, context))


class MetricsServer:
    """``GET /metrics`` on ``host:port``, in a thread of its own (prometheus-client's server)."""

    def __init__(self, metrics: Metrics, listen: str) -> None:
        host, port = parse_host_port(listen, default_port=0)
        try:
            self.server, self.thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise DnsautoError(
                f"daemon.metrics.listen {listen}: cannot listen there: {exc.strerror or exc}"
            ) from None
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        log.info("metrics on http://%s/metrics", self.address)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
