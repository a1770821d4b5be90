"""What users and newcomers read agrees with the code: laws, manifest reference, layout, docstrings.

Each test reads a document and the thing it describes and fails on the first disagreement,
naming what to change. Other branches add files; these tests say where to mention them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploykit.cli import app
from deploykit.laws.rules import RULES, Law
from deploykit.manifest.fielddocs import field_docs, markdown

ROOT = Path(__file__).resolve().parents[2]
USER_FACING = ("deploykit", "components", "apps", "README.md", "docs")
NOT_THEIRS = re.compile(r"seed 0|shared/seeds|design\.md")


# -- the laws ---------------------------------------------------------------------------------


def _law_sections() -> dict[str, str]:
    text = (ROOT / "docs" / "laws.md").read_text()
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_law_has_a_section_that_names_its_rules() -> None:
    sections = _law_sections()
    assert set(sections) == {law.value for law in Law}, "one `## <law name>` section per Law"
    for rule in RULES.values():
        body = sections[rule.of.value]
        assert re.search(rf"\b{rule.id}\b", body), f"{rule.id} is not explained under {rule.of}"
        for part in ("**What.**", "**Why.**", "**Checked.**", "**Enforced.**"):
            assert part in body, f"docs/laws.md, {rule.of}: no {part}"


def test_every_lint_rule_id_is_in_the_laws_table() -> None:
    text = (ROOT / "docs" / "laws.md").read_text()
    for rule in RULES.values():
        row = f"| {rule.id} | {rule.severity.value} | [{rule.of.value}]("
        assert row in text, f"docs/laws.md has no table row for {rule.id}"
    assert set(re.findall(r"\bDK\d{3}\b", text)) == set(RULES), "a rule id that does not exist"


def _user_facing_files() -> Iterator[Path]:
    for name in USER_FACING:
        path = ROOT / name
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                yield file


def test_nothing_users_read_points_at_files_they_do_not_have() -> None:
    found = [
        f"{file.relative_to(ROOT)}:{number}: {line.strip()}"
        for file in _user_facing_files()
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1)
        if NOT_THEIRS.search(line)
    ]
    assert found == []


# -- the manifest reference -------------------------------------------------------------------


def test_every_manifest_field_has_a_description() -> None:
    assert [doc.path for doc in field_docs() if not doc.description.strip()] == []


def test_docs_manifest_md_is_generated_from_the_model() -> None:
    committed = (ROOT / "docs" / "manifest.md").read_text()
    assert committed == markdown(), (
        "docs/manifest.md is stale: run `deploykit render manifest-docs > docs/manifest.md`"
    )
    for doc in field_docs():
        nested = "." in doc.path or "[" in doc.path
        assert (f"| `{doc.path}` |" if nested else f"\n## {doc.path}\n") in committed


def test_render_manifest_docs_prints_the_reference() -> None:
    result = CliRunner().invoke(app, ["render", "manifest-docs"])
    assert result.exit_code == 0, result.output
    assert result.output == markdown()


def _leaf(path: str) -> str:
    return re.split(r"\.|\[\]\.", path.replace(".<name>", ""))[-1]


def test_validate_help_lists_every_field() -> None:
    result = CliRunner().invoke(app, ["validate", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    words = set(re.findall(r"[a-z_]+", result.output))
    assert sorted({_leaf(d.path) for d in field_docs()} - words) == []


def _manifest_sections() -> dict[str, str]:
    """Top-level key → the comments that document it: the block above it and those inside."""
    sections: dict[str, str] = {}
    above: list[str] = []
    current = ""
    for line in (ROOT / "deploykit.yaml").read_text().splitlines():
        key = re.match(r"([a-z_]+):", line)
        comment = line.partition("#")[2] if "#" in line else ""
        if key:
            current = key.group(1)
            sections[current] = "\n".join([*above, comment])
            above = []
        elif line.startswith("#"):
            above.append(comment)
        elif comment and current:  # an inline comment documents its line's key too
            sections[current] += "\n" + line.split("#")[0].strip() + " " + comment
    return sections


def test_the_commented_manifest_documents_every_field() -> None:
    sections = _manifest_sections()
    missing = []
    for doc in field_docs():
        section = doc.path.split(".")[0].split("[")[0]
        if section not in sections:
            missing.append(f"{section} (no such key in deploykit.yaml)")
        elif "." in doc.path and not re.search(rf"\b{_leaf(doc.path)}\b", sections[section]):
            missing.append(doc.path)
        elif not sections[section].strip():
            missing.append(f"{section} (no comment)")
    assert missing == [], "deploykit.yaml's comments do not mention these fields"


# -- the layout -------------------------------------------------------------------------------

IGNORED = re.compile(r"^(\..*|__pycache__|build|dist|.*\.egg-info)$")


def _layout_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def _names(column: str) -> list[str]:
    return [name.strip() for name in column.split(",") if name.strip()]


def _paths(description: str) -> list[str]:
    return re.findall(
        r"(?<![\w./-])(?:[\w.-]+/(?:[\w.-]+/?)*|[\w.-]+\.(?:py|md|yaml|toml)\b)", description
    )


def test_the_readme_layout_matches_the_tree() -> None:
    top: list[str] = []
    packages: list[str] = []
    problems: list[str] = []
    inside_package = False
    for line in _layout_block():
        indented = line.startswith(" ")
        first, _, description = line.strip().partition("  ")
        if not indented:
            inside_package = first == "deploykit/"
            top += _names(first)
            folder = ROOT / first if first.endswith("/") and "," not in first else ROOT
            for path in _paths(description):
                if not (folder / path).exists() and not (ROOT / path).exists():
                    problems.append(f"{first} names {path}, which does not exist")
        elif inside_package:
            packages += _names(first)
        else:
            problems.append(f"an indented line outside deploykit/: {line.strip()}")
    for name in top:
        if not (ROOT / name).exists():
            problems.append(f"{name} is in the layout and not in the tree")
    for name in packages:
        if not (ROOT / "deploykit" / name).exists():
            problems.append(f"deploykit/{name} is in the layout and not in the tree")
    folders = [p.name for p in ROOT.iterdir() if p.is_dir() and not IGNORED.match(p.name)]
    problems += [f"{f}/ is missing from the layout" for f in folders if f"{f}/" not in top]
    problems += [
        f"deploykit/{p.parent.name}/ is missing from the layout"
        for p in sorted((ROOT / "deploykit").glob("*/__init__.py"))
        if f"{p.parent.name}/" not in packages
    ]
    assert problems == []


# -- the package docstrings -------------------------------------------------------------------


def _packages() -> list[Path]:
    return sorted(init.parent for init in (ROOT / "deploykit").rglob("__init__.py"))


def _entries(docstring: str) -> dict[str, str]:
    """`file.py` → its text, for each line that starts with a file name (continuations joined)."""
    entries: dict[str, str] = {}
    current = None
    for line in docstring.splitlines():
        first = line.split(maxsplit=1)[0] if line.strip() else ""
        if first.endswith(".py"):
            current = first
            entries[current] = line
        elif current and line.startswith(" ") and line.strip():
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


@pytest.mark.parametrize("package", _packages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_package_docstring_lists_exactly_its_files(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    entries = _entries(docstring)
    files = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    assert sorted(set(entries) - files) == [], "listed in the docstring, not in the folder"
    assert sorted(files - set(entries)) == [], "in the folder, not listed in the docstring"
    unmarked = [n for n, text in entries.items() if not re.search(r"\b(pure|effectful)\b", text)]
    assert unmarked == [], "each file is marked pure or effectful"
