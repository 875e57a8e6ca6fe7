"""Checking a fake provider API against real recorded traffic (vcrpy cassettes).

:func:`replay` sends a cassette's requests, in order, to a fake and compares each answer with
the recorded one: the status code, and the shape of the JSON body (its keys and the types of
their values, recursively; list items against the recorded items). Ids the fake makes up differ
from the recorded ones, so each recorded id met in an answer is mapped to the fake's and
replaced in the requests that follow.

The cassettes live in ``shared/cassettes/<provider>/`` beside the repository (``../shared``
from its root); :func:`cassette_dir` finds them from a worktree too, or from
``$DNSAUTO_SHARED``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml

__all__ = [
    "Interaction",
    "cassette_dir",
    "json_shape_mismatches",
    "load_cassette",
    "replay",
    "shared_dir",
]

_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Interaction:
    """One recorded request and its answer."""

    method: str
    path: str
    """Path and query, without the API's base path prefix."""
    body: Any
    status: int
    answer: Any


def shared_dir() -> Path | None:
    """The shared reference folder: ``$DNSAUTO_SHARED``, or ``../shared`` beside the repository
    (beside the main checkout when this is a git worktree)."""
    if os.environ.get("DNSAUTO_SHARED"):
        return Path(os.environ["DNSAUTO_SHARED"])
    candidates = [_REPO_ROOT.parent / "shared"]
    git = _REPO_ROOT / ".git"
    if git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(git.read_text().split(":", 1)[1].strip())
        candidates.append(gitdir.parents[2].parent / "shared")
    return next((c for c in candidates if c.is_dir()), None)


def cassette_dir(provider: str) -> Path | None:
    shared = shared_dir()
    folder = shared / "cassettes" / provider if shared else None
    return folder if folder is not None and folder.is_dir() else None


def _json(text: Any) -> Any:
    if not text or not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def load_cassette(path: Path, base_path: str = "") -> list[Interaction]:
    """The interactions of a vcrpy cassette, paths relative to ``base_path``.

    Cassettes recorded under Python 2 tag their strings ``!!python/unicode``; the tag is dropped.
    """
    text = path.read_text(encoding="utf-8").replace("!!python/unicode ", "")
    data = yaml.safe_load(text)
    found = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        parts = urlsplit(request["uri"])
        route = parts.path.removeprefix(base_path) + (f"?{parts.query}" if parts.query else "")
        body = _json(request.get("body"))
        found.append(
            Interaction(
                method=request["method"],
                path=route,
                body=body
                if body not in ({}, None) or request["method"] not in ("GET", "DELETE")
                else None,
                status=response["status"]["code"],
                answer=_json((response.get("body") or {}).get("string")),
            )
        )
    return found


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def json_shape_mismatches(recorded: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs in shape from ``recorded``: missing or extra keys, other types."""
    if _kind(recorded) != _kind(actual):
        return [f"{path}: recorded {_kind(recorded)}, fake {_kind(actual)}"]
    if isinstance(recorded, dict):
        found = [f"{path}.{k}: missing" for k in recorded if k not in actual]
        found += [f"{path}.{k}: not in the recording" for k in actual if k not in recorded]
        for key in recorded.keys() & actual.keys():
            found += json_shape_mismatches(recorded[key], actual[key], f"{path}.{key}")
        return found
    if isinstance(recorded, list) and recorded:
        found = []
        for index, item in enumerate(actual):
            found += json_shape_mismatches(
                recorded[min(index, len(recorded) - 1)], item, f"{path}[{index}]"
            )
        return found
    return []


def _learn_ids(recorded: Any, actual: Any, ids: dict[str, str]) -> None:
    if isinstance(recorded, dict) and isinstance(actual, dict):
        for key in recorded.keys() & actual.keys():
            r, a = recorded[key], actual[key]
            if key == "id" and _is_id(r) and _is_id(a) and r != a:
                ids[str(r)] = str(a)
            else:
                _learn_ids(r, a, ids)
    elif isinstance(recorded, list) and isinstance(actual, list):
        for r, a in zip(recorded, actual, strict=False):
            _learn_ids(r, a, ids)


def _is_id(value: Any) -> bool:
    """Ids are strings or (DNSimple, DigitalOcean, Bunny) integers."""
    return isinstance(value, str | int) and not isinstance(value, bool)


def _substitute(text: str, ids: dict[str, str]) -> str:
    """``text`` with each recorded id replaced by the fake's, as a whole word only: recorded
    integer id 5 must not change the 5 inside 57894."""
    for recorded, fake in ids.items():
        text = re.sub(rf"(?<![\w-]){re.escape(recorded)}(?![\w-])", fake, text)
    return text


async def replay(
    interactions: list[Interaction],
    base_url: str,
    headers: dict[str, str],
    sign: Callable[[str, str, str], Mapping[str, str]] | None = None,
) -> list[str]:
    """Send ``interactions`` to the fake at ``base_url``; every difference found, as text.

    ``sign`` gives the headers of each request from its method, URL and JSON body text, for
    APIs that sign every request (OVH).
    """
    ids: dict[str, str] = {}
    problems: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for number, item in enumerate(interactions, 1):
            path = _substitute(item.path, ids)
            body = json.loads(_substitute(json.dumps(item.body), ids)) if item.body else None
            data = json.dumps(body) if body is not None else ""
            extra = {"Content-Type": "application/json"} if body is not None else {}
            if sign is not None:
                extra |= sign(item.method, base_url + path, data)
            async with session.request(
                item.method, base_url + path, data=data.encode() or None, headers=extra
            ) as response:
                text = await response.text()
            where = f"#{number} {item.method} {item.path}"
            if response.status != item.status:
                problems.append(f"{where}: recorded HTTP {item.status}, fake {response.status}")
            answer = _json(text)
            problems += [f"{where}: {m}" for m in json_shape_mismatches(item.answer, answer)]
            _learn_ids(item.answer, answer, ids)
    return problems
