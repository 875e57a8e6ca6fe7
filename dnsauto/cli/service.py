"""``dnsauto run`` (the service) and ``dnsauto status`` (what it did and will do next).

Imported by :mod:`dnsauto.cli` to register the commands; everything heavy (the scheduler,
metrics, the state store) is imported inside the commands, so ``dnsauto --help`` stays quick.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from dnsauto.cli.options import ExitStatus, config_option, config_path, echo_json, handle_errors

if TYPE_CHECKING:
    from dnsauto.config.daemon import Daemon as DaemonSettings
    from dnsauto.config.model import Config
    from dnsauto.service.sdnotify import Notifier
    from dnsauto.state.store import StateStore

__all__ = ["run", "status", "status_document"]


@click.command("run")
@config_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text (journald-friendly) or JSON objects.",
)
@click.pass_context
@handle_errors
def run(ctx: click.Context, log_format: str) -> None:
    """Run as a service: sync every domain now, then every daemon.syncInterval.

    Retries failed domains with backoff and rotates DKIM keys. A state store that cannot be
    reached yet (PostgreSQL still starting) is waited for, retried with backoff. SIGHUP reloads the
    configuration (a bad one is refused and the old one kept); SIGTERM stops cleanly (exit 0);
    SIGUSR1 writes every thread's stack to the log (what a daemon that seems stuck is doing).
    Tells systemd when ready (Type=notify) and serves Prometheus metrics on
    daemon.metrics.listen when set, and the JMAP API on daemon.api.listen when API keys are
    declared (objects set over it override the file's; see `dnsauto config check`).
    """
    from dnsauto.config.overlay import load_effective, load_file
    from dnsauto.plugin.registry import load_registry
    from dnsauto.service.daemon import Daemon
    from dnsauto.service.logs import setup_logging
    from dnsauto.service.sdnotify import Notifier

    path = config_path(ctx)
    registry = load_registry()
    settings = load_file(path, registry).daemon
    verbose = int(ctx.find_root().params.get("verbose") or 0)
    setup_logging("json" if log_format == "json" else "text", verbose)
    notifier = Notifier()
    opened = _wait_for_store(settings, notifier)
    if opened is None:
        notifier.close()
        raise ExitStatus(0)

    # One store for the whole process: the daemon, its API and every reload use this one.
    with opened as store:
        config = load_effective(path, registry, store)

        def reload() -> Config:
            return load_effective(path, registry, store)

        async def serve() -> int:
            daemon = Daemon(config, registry, loader=reload, store=store, notifier=notifier)
            return await daemon.serve()

        import asyncio  # here, not at load: with ssl it is a third of --help

        status = asyncio.run(serve())
    raise ExitStatus(status)


def _wait_for_store(settings: DaemonSettings, notifier: Notifier) -> StateStore | None:
    """The state store, once it can be reached (:mod:`dnsauto.service.startup`); None when
    SIGTERM or SIGINT came first."""
    import signal
    import threading

    from dnsauto.service.startup import wait_for_store

    stop = threading.Event()
    handlers = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return wait_for_store(settings, notifier, stop)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def status(ctx: click.Context, as_json: bool) -> None:
    """Per domain: the last run and its result, changes, propagation time, the next run.

    Reads the state store and the schedule the daemon writes; works whether or not the daemon
    runs. The configured domains include those set over the API (named on stderr). With
    [daemon.cluster], also the nodes: id, host, last heartbeat, live or gone, domains held.
    Exit 0 when the last sync of every configured domain succeeded, 1 otherwise.
    """
    from dnsauto.cli.options import load, with_api_objects

    config, registry = load(ctx)
    config, overrides = with_api_objects(config, registry)
    for line in overrides:
        click.echo(f"note: {line} (wins over the file)", err=True)
    document = status_document(config.daemon.state_dir, list(config.domains), daemon=config.daemon)
    if as_json:
        echo_json(document)
    else:
        _print_status(document)
    if any(d["ok"] is False and d["configured"] for d in document["domains"]):
        raise ExitStatus(1)
    if any(not c["ok"] for c in document.get("certificates", [])):
        raise ExitStatus(1)


def status_document(
    state_dir: str, configured: list[str], *, daemon: DaemonSettings | None = None
) -> dict[str, Any]:
    """What ``dnsauto status --json`` prints: the daemon's state, one entry per domain, and
    the cluster's nodes (none without ``[daemon.cluster]``; a node is live while its last
    heartbeat is younger than ``leaseSeconds``).

    The results come from the store ``daemon`` names (``[daemon.store]``: on PostgreSQL, those
    of every node), the schedule from this node's status file in ``state_dir``.
    """
    from datetime import UTC, timedelta

    from dnsauto.config.daemon import Daemon as DaemonConfig
    from dnsauto.service.daemon import read_status_file
    from dnsauto.state.leases import NodeRow, cluster_nodes

    settings = daemon or DaemonConfig.model_validate({"stateDir": state_dir})
    results: dict[str, Any] = {}
    certificates: list[Any] = []
    nodes: list[NodeRow] = []
    if settings.store_exists():
        with settings.open_store() as store:
            results = store.last_results()
            certificates = store.certificate_statuses()
            nodes = cluster_nodes(store)
    since = datetime.now(UTC) - timedelta(seconds=settings.cluster.lease_seconds)
    schedule = read_status_file(state_dir) or {}
    running = bool(schedule.get("running")) and _alive(schedule.get("pid"))
    planned: dict[str, Any] = schedule.get("domains") or {}
    domains = []
    for name in sorted(set(configured) | set(results)):
        last = results.get(name)
        plan = planned.get(name) or {}
        domains.append(
            {
                "domain": name,
                "configured": name in configured,
                "lastRun": last.run_id if last else None,
                "finishedAt": _iso(last.finished_at) if last else None,
                "ok": last.ok if last else None,
                "error": last.error if last else None,
                "changes": last.changes if last else None,
                "skipped": last.skipped if last else None,
                "propagated": last.propagated if last else None,
                "seconds": last.seconds if last else None,
                "propagationSeconds": plan.get("lastPropagationSeconds"),
                "consecutiveFailures": plan.get("consecutiveFailures", 0),
                "awaitingApproval": plan.get("awaitingApproval") if running else None,
                "needsAttention": plan.get("needsAttention") is not None if running else False,
                "syncing": plan.get("syncing") if running else None,
                "nextRun": plan.get("nextRun") if running else None,
                "nextReason": plan.get("nextReason") if running else None,
            }
        )
    return {
        "daemon": {
            "running": running,
            "pid": schedule.get("pid") if running else None,
            "startedAt": schedule.get("startedAt") if running else None,
            "updatedAt": schedule.get("updatedAt"),
            "nextReconcile": schedule.get("nextReconcile") if running else None,
        },
        "domains": domains,
        "nodes": [
            {
                "id": node.node_id,
                "host": node.host,
                "pid": node.pid,
                "startedAt": _iso(node.started_at),
                "lastHeartbeat": _iso(node.heartbeat_at),
                "live": not node.stopped and node.heartbeat_at > since,
                "stopped": node.stopped,
                "domainsHeld": node.domains_held,
            }
            for node in nodes
        ],
        **({"certificates": [_certificate(c) for c in certificates]} if certificates else {}),
    }


def _certificate(status: Any) -> dict[str, Any]:
    """A certificate dnsauto obtains by ACME, as ``dnsauto status --json`` shows it."""

    def _iso(when: datetime | None) -> str | None:
        return None if when is None else when.isoformat(timespec="seconds").replace("+00:00", "Z")

    return {
        "name": status.name,
        "domain": status.domain,
        "names": status.names,
        "notAfter": _iso(status.not_after),
        "nextRenewal": _iso(status.renew_at),
        "lastAttempt": _iso(status.last_attempt),
        "ok": status.last_error is None,
        "error": status.last_error,
        "consecutiveFailures": status.failures,
        "needsAttention": status.needs_attention,
        "nextAttempt": _iso(status.next_attempt),
        "staged": status.staged,
    }


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process (the service's dynamic user)
    return True


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _print_status(document: dict[str, Any]) -> None:
    from dnsauto.cli.output import table

    daemon = document["daemon"]
    if daemon["running"]:
        click.echo(f"daemon running (pid {daemon['pid']}, since {daemon['startedAt']})")
    else:
        click.echo("daemon not running; showing what the state store knows")
    rows = []
    for entry in document["domains"]:
        if entry["ok"] is None:
            result = "never synced"
        elif entry["ok"]:
            result = "ok"
        else:
            result = f"failed: {entry['error']}"
        if entry["consecutiveFailures"] > 1:
            result += f" ({entry['consecutiveFailures']} in a row)"
        if entry["awaitingApproval"]:
            result += (
                f" (plan {entry['awaitingApproval']} awaits approval: "
                f"dnsauto approve --domain {entry['domain']})"
            )
        if entry["needsAttention"]:
            result += " (needs attention: not retried until the configuration changes)"
        if not entry["configured"]:
            result += " (no longer configured)"
        propagation = "-"
        if entry["propagationSeconds"] is not None:
            propagation = f"{entry['propagationSeconds']:.1f}s"
        elif entry["propagated"]:
            propagation = "live"
        if entry["syncing"]:
            upcoming = "syncing now"
        elif entry["nextRun"]:
            upcoming = f"{entry['nextRun']} ({entry['nextReason']})"
        else:
            upcoming = "-"
        rows.append(
            [
                entry["domain"],
                f"{entry['finishedAt']} {entry['lastRun']}" if entry["lastRun"] else "-",
                result,
                "-" if entry["changes"] is None else str(entry["changes"]),
                propagation,
                upcoming,
            ]
        )
    table(["domain", "last run", "result", "changes", "propagation", "next run"], rows)
    for cert in document.get("certificates", []):
        state = "ok" if cert["ok"] else f"failed: {cert['error']}"
        if cert["consecutiveFailures"] > 1:
            state += f" ({cert['consecutiveFailures']} in a row)"
        if cert["needsAttention"]:
            state += " (needs attention)"
        elif cert["nextAttempt"]:
            state += f" (next attempt {cert['nextAttempt']})"
        click.echo(
            f"certificate {cert['name']}: {state}; expires {cert['notAfter'] or '-'}, "
            f"renews {cert['nextRenewal'] or '-'}"
        )
    if document["nodes"]:
        click.echo("")
        nodes = [
            [
                n["id"],
                n["host"],
                n["lastHeartbeat"],
                "stopped" if n["stopped"] else "live" if n["live"] else "gone (no heartbeat)",
                str(n["domainsHeld"]),
            ]
            for n in document["nodes"]
        ]
        table(["node", "host", "last heartbeat", "state", "domains held"], nodes)
