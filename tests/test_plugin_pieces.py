"""JSON encoded member by member is the text json.dumps makes, in many short calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dnsauto.plugin import pieces
from dnsauto.plugin.pieces import dumps_in_pieces

DOCUMENTS: list[Any] = [
    {},
    [],
    None,
    'ü\n"x"',
    1.5,
    {"a": [1, 2.5, None, True], "b": {}, "c": [], "d": {"e": {"f": {"g": {"h": "deep"}}}}},
    [[["x", {"y": ["z"]}]], {"ü": "é", "\u2028": "\ud7ff"}],
    {1: "a", False: "b", None: "c", 2.5: "d"},  # keys json.dumps turns into strings
    {
        "methodResponses": [
            ["x:Domain/set", {"created": {f"n{n}": {"id": n} for n in range(50)}}, "c0"]
        ]
    },
]


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("depth", [0, 1, 2, 4, 8])
@pytest.mark.parametrize("document", DOCUMENTS)
def test_a_document_encoded_in_pieces_is_the_text_of_json_dumps(
    document: Any, depth: int, ensure_ascii: bool
) -> None:
    expected = json.dumps(document, separators=(",", ":"), ensure_ascii=ensure_ascii)
    assert dumps_in_pieces(document, depth=depth, ensure_ascii=ensure_ascii) == expected


def test_each_member_of_the_outer_levels_is_encoded_by_a_call_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[Any] = []
    dumps = json.dumps

    def counted(value: Any, **kwargs: Any) -> str:
        encoded.append(value)
        return dumps(value, **kwargs)

    monkeypatch.setattr(pieces.json, "dumps", counted)
    rows = {f"d{n}.test": {"nextRun": None, "syncing": None} for n in range(100)}
    dumps_in_pieces({"version": 1, "domains": rows}, depth=2)
    assert [value for value in encoded if isinstance(value, dict)] == list(rows.values())
