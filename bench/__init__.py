"""dnsauto's benchmarks: ``uv run python -m bench [NAME ...] [--quick]``.

Each benchmark is a module of this package (not starting with ``_``) that defines

* ``TITLE``: one line saying what it measures, and
* ``run(quick: bool) -> list[Figure]``: runs it and returns its figures, and optionally
* ``PREFIXES``: the first parts of its figures' keys when they are not its own name
  (``("bulk_publish", "resync", "scaling")``).

``python -m bench`` finds the modules by themselves, runs the chosen ones (all by default),
prints a table and merges the figures into ``bench/results.json`` under dotted keys named
after the module (``propagation.poll_round_ms``) or its ``PREFIXES``. A figure may carry a
target; the command exits 1 when any figure misses its target.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

__all__ = ["Benchmark", "Figure", "discover"]


@dataclass(frozen=True)
class Figure:
    """One measured number."""

    key: str
    """Dotted name, starting with the benchmark's name (or one of its ``PREFIXES``)."""
    value: float | int | None
    unit: str
    meaning: str
    target: str = ""
    """What the figure must be, as text (``"<= 1100"``); empty when none."""
    met: bool | None = None
    """Whether the target is met; None when there is no target."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    run: Callable[[bool], list[Figure]]
    prefixes: tuple[str, ...] = ()
    """The first parts of its keys; its name when empty."""

    @property
    def key_prefixes(self) -> tuple[str, ...]:
        return self.prefixes or (self.name,)


def _benchmark(module: ModuleType) -> Benchmark | None:
    run = getattr(module, "run", None)
    if not callable(run):
        return None
    name = module.__name__.rpartition(".")[2]
    prefixes = tuple(str(p) for p in getattr(module, "PREFIXES", ()))
    return Benchmark(name, str(getattr(module, "TITLE", name)), run, prefixes)


def discover() -> dict[str, Benchmark]:
    """Every benchmark module of this package, by name."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        benchmark = _benchmark(importlib.import_module(f"{__name__}.{info.name}"))
        if benchmark is not None:
            found[benchmark.name] = benchmark
    return found
