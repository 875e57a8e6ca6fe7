"""JSON text encoded member by member, so that encoding a large document lets other threads run.

``json.dumps`` encodes in one C call that holds the GIL until it returns: 3 MB (the status
file of 16,000 domains, a /set of 16,000 creates' answer) held the event loop for 70 ms and
more. Here the outer objects and arrays are taken apart and each member is one call, between
which the interpreter switches threads as usual; the text is the same as ``json.dumps``'s.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps_in_pieces"]


def dumps_in_pieces(value: Any, *, depth: int = 2, ensure_ascii: bool = True) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=...)``, with the objects and
    arrays of the top ``depth`` levels encoded member by member."""
    if depth <= 0 or not value or not isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)
    inner = depth - 1
    if isinstance(value, list):
        members = (dumps_in_pieces(v, depth=inner, ensure_ascii=ensure_ascii) for v in value)
        return "[" + ",".join(members) + "]"
    if not all(isinstance(key, str) for key in value):  # json.dumps's own key conversions
        return json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)
    pairs = (
        json.dumps(key, ensure_ascii=ensure_ascii)
        + ":"
        + dumps_in_pieces(v, depth=inner, ensure_ascii=ensure_ascii)
        for key, v in value.items()
    )
    return "{" + ",".join(pairs) + "}"
