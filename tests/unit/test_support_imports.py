"""Test support lives in `deploykit/testing/`: `bench/` and the package never reach into `tests/`,
and the kit itself never depends on its test support."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> Iterator[str]:
    """Every module `path` imports, at any depth of the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_nothing_outside_tests_imports_tests() -> None:
    users = {
        str(p.relative_to(ROOT))
        for p in sources("bench", "deploykit", "components", "apps")
        if any(m == "tests" or m.startswith("tests.") for m in imported(p))
    }
    assert users == set(), "move what they need to deploykit/testing"


def test_the_kit_does_not_depend_on_its_test_support() -> None:
    testing = ROOT / "deploykit/testing"
    users = {
        str(p.relative_to(ROOT))
        for p in sources("deploykit", "components", "apps")
        if not p.is_relative_to(testing)
        and any(m.startswith("deploykit.testing") for m in imported(p))
    }
    assert users == set()


def test_an_import_inside_a_function_counts_too(tmp_path: Path) -> None:
    script = tmp_path / "faults.py"
    script.write_text(
        "import sys\n\ndef main():\n    from tests.reliability.faults import Figures\n"
    )
    assert "tests.reliability.faults" in set(imported(script))
