"""docs/plugins.md stays true: its code blocks compile, their imports resolve, and a block
marked ``# from PATH`` is still what PATH holds (a line ``...`` stands for lines left out)."""

from __future__ import annotations

import ast
import re
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_SOURCE = re.compile(r"^# from (\S+)\n")


def blocks(language: str) -> list[tuple[int, str]]:
    text = DOC.read_text()
    return [
        (text[: m.start()].count("\n") + 1, m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) == language
    ]


def segments(code: str) -> list[str]:
    """The block's runs of lines between ``...`` lines, dedented."""
    parts = re.split(r"^[ \t]*\.\.\.[ \t]*\n", code, flags=re.MULTILINE)
    return [textwrap.dedent(p) for p in parts if p.strip()]


def quoted(lineno: int, code: str) -> list[tuple[int, str, str]]:
    source = _SOURCE.match(code)
    return [(lineno, source.group(1), code[source.end() :])] if source else []


PYTHON = blocks("python")
QUOTED = [q for lineno, code in PYTHON + blocks("toml") for q in quoted(lineno, code)]


def test_the_doc_has_code_to_check() -> None:
    assert len(PYTHON) >= 15
    assert len(QUOTED) >= 15


@pytest.mark.parametrize(("lineno", "path", "code"), QUOTED, ids=[f"L{q[0]}" for q in QUOTED])
def test_a_quoted_block_is_what_its_file_holds(lineno: int, path: str, code: str) -> None:
    lines = [line.strip() for line in (ROOT / path).read_text().splitlines()]
    text = "\n".join(lines)
    for segment in segments(code):
        wanted = "\n".join(line.strip() for line in segment.strip("\n").splitlines())
        assert f"\n{wanted}\n" in f"\n{text}\n", f"docs/plugins.md:{lineno}: not in {path}"


@pytest.mark.parametrize(("lineno", "code"), PYTHON, ids=[f"L{b[0]}" for b in PYTHON])
def test_a_python_block_compiles_and_its_imports_resolve(
    lineno: int, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "zonebox" / "src"))
    for segment in segments(code):
        body = textwrap.indent(segment, "    ")
        tree = ast.parse(f"async def _snippet():\n{body}", f"docs/plugins.md:{lineno}")
        compile(tree, f"docs/plugins.md:{lineno}", "exec")
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        namespace: dict[str, object] = {}
        exec(compile(ast.Module(body=imports, type_ignores=[]), "<imports>", "exec"), namespace)


def test_the_toml_blocks_parse() -> None:
    toml_blocks = blocks("toml")
    assert toml_blocks
    for lineno, code in toml_blocks:
        for segment in segments(code):
            try:
                tomllib.loads(segment)
            except tomllib.TOMLDecodeError as exc:
                raise AssertionError(f"docs/plugins.md:{lineno}: {exc}") from exc
