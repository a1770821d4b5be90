"""Apply a `NewService`: check everything, then write the files and deploykit.yaml.

deploykit.yaml is edited as a round trip (ruamel.yaml keeps comments, order and flow style),
so the user's file changes by the new entry only. Nothing is written when the new manifest
does not load, breaks a law, or a file to write exists already.
"""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from deploykit.errors import ConfigError, ManifestError
from deploykit.manifest.load import parse_manifest
from deploykit.scaffold.plan import NewService, files, manifest_entry, refusals

__all__ = ["create_service"]


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    return yaml


def create_service(manifest_path: Path, new: NewService) -> list[Path]:
    """The files written (deploykit.yaml last). `ConfigError` and nothing written on refusal."""
    new.check()
    text = manifest_path.read_text(encoding="utf-8")
    before = parse_manifest(text, str(manifest_path))
    if new.name in before.services:
        raise ConfigError(
            f"{manifest_path}: services.{new.name} exists already; nothing was written"
        )
    yaml = _yaml()
    document = yaml.load(text)
    if document.get("services") is None:
        document["services"] = CommentedMap()
    document["services"][new.name] = manifest_entry(new, before.system)
    out = io.StringIO()
    yaml.dump(document, out)
    try:
        after = parse_manifest(out.getvalue(), str(manifest_path))
    except ManifestError as exc:
        raise ConfigError(
            f"with service {new.name!r} the manifest would not load; nothing was written:\n{exc}"
        ) from None
    if problems := refusals(before, after):
        raise ConfigError(
            f"{manifest_path}: the laws refuse service {new.name!r}; nothing was written:\n"
            + "\n".join(problems)
        )
    root = manifest_path.resolve().parent
    planned = {root / path: content for path, content in files(new).items()}
    taken = [p for p, content in planned.items() if p.exists() and (content or p.stat().st_size)]
    if taken:
        raise ConfigError(f"{taken[0]} exists already; nothing was written")
    written = []
    for path, content in planned.items():
        if path.exists():
            continue  # an empty package __init__.py of a previous service
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    manifest_path.write_text(out.getvalue(), encoding="utf-8")
    return [*written, manifest_path]
