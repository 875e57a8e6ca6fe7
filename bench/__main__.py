"""``python -m bench [NAME ...] [--quick] [--output FILE]``: run benchmarks, print, record."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import Figure, discover

RESULTS = Path(__file__).resolve().parent / "results.json"


def _shown(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def print_table(figures: Sequence[Figure]) -> None:
    rows = [
        (
            f.key,
            _shown(f.value),
            f.unit,
            f.target or "",
            {True: "ok", False: "MISSED", None: ""}[f.met],
            f.meaning,
        )
        for f in figures
    ]
    headers = ("figure", "value", "unit", "target", "", "meaning")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:5])]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
    print(f"{line}  {headers[5]}")
    for row in rows:
        cells = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
        print(f"{cells}  {row[5]}")


def record(
    path: Path,
    name: str,
    figures: Sequence[Figure],
    quick: bool,
    prefixes: Sequence[str] = (),
) -> None:
    """Merge the figures of benchmark ``name`` into the JSON file at ``path``.

    Its earlier figures (keys under ``prefixes``, default its name) are replaced.
    """
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        document = {}
    runs = document.pop("runs", {})
    stale = tuple(f"{p}." for p in (prefixes or (name,)))
    document = {k: v for k, v in document.items() if not k.startswith(stale)}
    document.update({f.key: f.value for f in figures})
    runs[name] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "missed": [f.key for f in figures if f.met is False],
    }
    path.write_text(json.dumps({**dict(sorted(document.items())), "runs": runs}, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    benchmarks = discover()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run dnsauto's benchmarks, print their figures, merge them into a JSON file.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"default all: {', '.join(benchmarks)}"
    )
    parser.add_argument("--quick", action="store_true", help="few trials: a smoke run")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(benchmarks)}")
    missed = False
    for name in args.names or list(benchmarks):
        benchmark = benchmarks[name]
        print(f"== {name}: {benchmark.title}", flush=True)
        figures = benchmark.run(args.quick)
        print_table(figures)
        record(args.output, name, figures, args.quick, benchmark.key_prefixes)
        missed = missed or any(f.met is False for f in figures)
    print(f"figures written to {args.output}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
