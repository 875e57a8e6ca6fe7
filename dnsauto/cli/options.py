"""What every command shares: ``--config``, error handling, loading the
configuration, JSON output.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dnsauto.config import DEFAULT_CONFIG_PATH
from dnsauto.plugin.errors import ConfigError, DnsautoError

if TYPE_CHECKING:
    from dnsauto.config.model import Config
    from dnsauto.plugin.registry import Registry
    from dnsauto.state.store import StateStore
    from dnsauto.sync.engine import Engine


F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = f"Configuration file (env DNSAUTO_CONFIG; default {DEFAULT_CONFIG_PATH})."


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def config_option(func: F) -> F:
    """``--config FILE``, accepted before or after the command name."""
    return click.option(
        "--config",
        "-c",
        metavar="FILE",
        help=CONFIG_HELP,
        expose_value=False,
        is_eager=True,
        callback=_remember_config,
    )(func)


def config_path(ctx: click.Context) -> str:
    root = ctx.find_root()
    chosen = (root.obj or {}).get("config") or (ctx.obj or {}).get("config")
    return str(chosen or os.environ.get("DNSAUTO_CONFIG") or DEFAULT_CONFIG_PATH)


class ExitStatus(Exception):
    """Ends a command with an exit status after its message was printed."""

    def __init__(self, status: int) -> None:
        self.status = status


def handle_errors(func: F) -> F:
    """Print dnsauto's errors as plain lines and exit 2 (config) or 1 (anything else)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            raise SystemExit(2) from None
        except DnsautoError as exc:
            click.echo(f"error: {exc.message}", err=True)
            raise SystemExit(1) from None
        except ExitStatus as exc:
            raise SystemExit(exc.status) from None

    return wrapper  # type: ignore[return-value]


def load_registry() -> Registry:
    """The installed providers (imported here, not at start-up: ``--help`` stays fast)."""
    from dnsauto.plugin.registry import load_registry as load_installed

    return load_installed()


_YOUNG_COLLECTION_EVERY = 10_000
"""Allocations between two passes of the cycle collector over the youngest objects, once the
configuration is loaded (the daemon's figure: ``dnsauto.service.daemon``)."""

_heap = {"own": False}


def own_heap() -> None:
    """Called by the console script: the process is dnsauto's own, so loading may pause the
    cycle collector and freeze what it made (see :func:`_loading`). Never in a process that
    only calls the commands (tests, a program embedding them): its heap is not ours."""
    _heap["own"] = True


@contextlib.contextmanager
def _loading() -> Iterator[None]:
    """Importing the code and reading the configuration make most of what the process will
    hold, and nothing of it is garbage: the cycle collector is paused meanwhile, then what
    was made is taken out of its sight (``gc.freeze``) and its young passes come every
    10,000 allocations rather than 700. Each full pass had traversed all of it (130,000
    objects, 75 ms here, at 1,000 domains), several times a sync. Its garbage is left
    uncollected: about 700 objects."""
    if not _heap["own"] or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.set_threshold(_YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
        gc.enable()


def load(ctx: click.Context) -> tuple[Config, Registry]:
    with _loading():
        return _load(ctx)


def _load(ctx: click.Context) -> tuple[Config, Registry]:
    from dnsauto.config.loader import load_config_file

    registry = load_registry()
    return load_config_file(config_path(ctx), registry), registry


def load_merged(ctx: click.Context) -> tuple[Config, Registry, StateStore]:
    """What the daemon runs on: the file, with the objects set over the API (kept in the state
    store) winning object by object; each of them is named on stderr.

    The state store stays open for the command, which closes it: a process keeps one store.
    """
    from dnsauto.config.overlay import describe_overrides, effective_config

    with _loading():
        config, registry = _load(ctx)
        store = config.daemon.open_store()
        try:
            merged = effective_config(config, store, registry=registry)
            overrides = describe_overrides(store)
        except BaseException:
            store.close()
            raise
    for line in overrides:
        click.echo(f"note: {line} (wins over the file)", err=True)
    return merged, registry, store


def on_terminal() -> bool:
    return sys.stdout.isatty()


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


domain_option = click.option(
    "--domain",
    "-d",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="Only this domain (repeatable).",
)


def with_api_objects(config: Config, registry: Registry) -> tuple[Config, list[str]]:
    """The effective configuration and the objects the API overrides, when a state store
    exists (none is made here)."""

    from dnsauto.config.overlay import describe_overrides, effective_config

    try:
        if not config.daemon.store_exists():
            return config, []
        store = config.daemon.open_store()
    except (OSError, DnsautoError) as exc:
        reason = exc.message if isinstance(exc, DnsautoError) else exc.strerror
        return config, [f"objects set over the API not shown: cannot read the state: {reason}"]
    with store:
        return effective_config(config, store, registry=registry), describe_overrides(store)


@contextlib.asynccontextmanager
async def writing_engine(
    config: Config,
    registry: Registry,
    store: StateStore,
    domains: Collection[str],
    *,
    cluster: bool = True,
) -> AsyncIterator[Engine]:
    """The engine of a command that writes to the providers (``sync``, ``restore``). With
    [daemon.cluster] (and ``cluster``) it holds the leases of ``domains`` it could take while
    it runs, its batches fenced by them, and takes the providers' shared rate limits."""
    from dnsauto.config.cluster import ClusterSettings
    from dnsauto.service.cluster import command_leases
    from dnsauto.sync.engine import Engine

    settings = config.daemon.cluster if cluster else ClusterSettings()
    async with (
        command_leases(settings, store, domains) as leases,
        Engine(
            config,
            registry,
            store=store,
            fence=None if leases is None else leases.fence,
            rate_limits=None if leases is None else leases.rate_limits,
        ) as engine,
    ):
        yield engine
